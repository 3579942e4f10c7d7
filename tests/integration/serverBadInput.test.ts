// The bad-input corpus against a real server on a disk store: each gets a clear 4xx, the server
// stays up, and nothing lands outside the data dir or half-written inside it.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { maxHeaderSize } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DiskStore } from '../../server/store/DiskStore.js';
import { rawTar, sha, startHarness, type Harness, type RawTarEntry } from './serverHarness.js';

let h: Harness;
let root: string;
let dataDir: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dman-badinput-'));
  dataDir = join(root, 'data');
  h = await startHarness({
    store: new DiskStore({ dataDir, fsync: false }),
    limits: { entries: 100, decompressedBytes: 1024 * 1024, blobBytes: 256 * 1024, bodyBytes: 2 * 1024 * 1024, jsonBytes: 64 * 1024 },
  });
  const ok = await publish(rawTar([{ path: 'alice/.bashrc', data: 'original\n' }]));
  expect(ok.status).toBe(200);
});
afterAll(async () => {
  await h.close();
  await rm(root, { recursive: true, force: true });
});
afterEach(async () => {
  // The server is still up and alice's data is exactly what it was.
  expect((await h.req('/health')).status).toBe(200);
  const m = await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json();
  expect(m.entries.map((e: { path: string; hash: string }) => `${e.path}:${e.hash}`)).toEqual([`.bashrc:${sha('original\n')}`]);
  expect(await readdir(root)).toEqual(['data']);
});

function publish(body: Buffer, headers: Record<string, string> = {}, token = h.tokens.alice) {
  return h.req('/publish', { method: 'POST', token, headers: { 'content-type': 'application/x-tar', ...headers }, body });
}

async function expectRefused(r: Awaited<ReturnType<typeof publish>>, status: number, code: string, message: RegExp) {
  const body = await r.json();
  expect({ status: r.status, code: body.error?.code }).toEqual({ status, code });
  expect(body.error.message).toMatch(message);
}

/** Sends raw bytes over a socket and returns the raw reply (or '' when the server just closed). */
/** The JSON body of a raw HTTP/1.1 reply. */
function replyBody(reply: string): { error: { code: string; message: string; hint?: string } } {
  return JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string; hint?: string } };
}

function rawHttp(payload: string | Buffer, endAfter = true): Promise<string> {
  const u = new URL(h.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname);
    let out = '';
    s.on('data', (d) => { out += d.toString(); });
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(out) : reject(e)));
    s.write(payload, () => { if (endAfter) s.end(); });
  });
}

const tarCases: Array<[string, RawTarEntry[], RegExp]> = [
  ['a ".." segment', [{ path: 'alice/../bob/.bashrc', data: 'x' }], /"\.\." segment/],
  ['a ".." user', [{ path: '../etc/passwd', data: 'x' }], /"\.\." segment/],
  ['an absolute name', [{ path: '/etc/passwd', data: 'x' }], /absolute/],
  ['a symlink to an absolute path', [{ path: 'alice/.ssh', type: 'SymbolicLink', linkpath: '/etc/shadow' }], /absolute path outside/],
  ['a symlink climbing out of the home', [{ path: 'alice/.config/x', type: 'SymbolicLink', linkpath: '../../../etc' }], /outside the home/],
  ['a hard link', [{ path: 'alice/h', type: 'Link', linkpath: 'alice/.bashrc' }], /hard links/],
  ['a character device', [{ path: 'alice/dev', type: 'CharacterDevice' }], /CharacterDevice/],
  ['a FIFO', [{ path: 'alice/fifo', type: 'FIFO' }], /FIFO/],
  ['a path longer than 4096 bytes', [{ path: `alice/${'d/'.repeat(2100)}f`, data: 'x' }], /longer than 4096/],
  ['a name without a user', [{ path: 'bashrc', data: 'x' }], /not "user\/path"/],
  ['the same path twice', [{ path: 'alice/a', data: '1' }, { path: 'alice/a', data: '2' }], /twice/],
];

describe('tar archives', () => {
  it.each(tarCases)('refuses %s and stores nothing of the archive', async (_n, entries, message) => {
    // A good entry first: it must not be stored either, because the archive as a whole is refused.
    const r = await publish(rawTar([{ path: 'alice/good-first', data: 'g' }, ...entries]));
    expect(r.status).toBe(400);
    expect((await r.json()).error.message).toMatch(message);
  });

  it('refuses a gzip bomb at the decompressed-bytes limit', async () => {
    // 40 entries of 200 KiB: each under the per-file limit, together far over the per-request one.
    const bomb = gzipSync(rawTar(Array.from({ length: 40 }, (_, i) => ({ path: `alice/bomb${i}`, data: Buffer.alloc(200 * 1024) }))));
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expectRefused(await publish(bomb, { 'content-encoding': 'gzip' }), 413, 'PAYLOAD_TOO_LARGE', /larger than the limit of 1048576 bytes/);
    // The same bomb without the header (tar would gunzip it itself) still stops at the limits.
    const r = await publish(bomb);
    expect([400, 413]).toContain(r.status);
  });

  it('refuses too many entries', async () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ path: `alice/f${i}`, data: 'x' }));
    await expectRefused(await publish(rawTar(many)), 413, 'PAYLOAD_TOO_LARGE', /more than 100 entries/);
  });

  it('refuses a truncated archive', async () => {
    const full = rawTar([{ path: 'alice/big', data: Buffer.alloc(5000, 1) }], { end: false });
    await expectRefused(await publish(full.subarray(0, 2048)), 400, 'BAD_REQUEST', /malformed|truncated/i);
  });

  it('refuses a body that is not gzip although it says so', async () => {
    await expectRefused(await publish(rawTar([{ path: 'alice/x', data: 'x' }]), { 'content-encoding': 'gzip' }), 400, 'BAD_REQUEST', /not valid gzip/);
  });

  it('refuses a Content-Length over the limit before reading the body', async () => {
    const reply = await rawHttp(`POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.tokens.alice}\r\nContent-Type: application/x-tar\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n`, false);
    expect(reply).toMatch(/^HTTP\/1\.1 413/);
    expect(reply).toMatch(/over the limit/);
  });
});

describe('paths and users', () => {
  it('refuses a commit path with NUL, "..", or over 4096 bytes', async () => {
    for (const path of ['a\0b', '../x', 'a/../../b', `${'x'.repeat(4097)}`, '/abs']) {
      const r = await h.req('/v1/users/alice/commit', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops: [{ path, baseRev: null, deleted: true }] }) });
      expect(r.status, path.slice(0, 20)).toBe(400);
      expect((await r.json()).error.message).toMatch(/body\.ops\.0\.path/);
    }
  });

  it('refuses upload and download paths with NUL or traversal', async () => {
    for (const q of ['user=alice&path=%00x', 'user=alice&path=..%2F..%2Fetc%2Fpasswd', 'user=alice&path=%2Fetc%2Fpasswd']) {
      const up = await h.req(`/upload?${q}`, { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
      expect(up.status).toBe(400);
      expect((await h.req(`/download?${q}`, { token: h.tokens.alice })).status).toBe(400);
    }
  });

  it('refuses an unconfigured user and a percent-encoded traversal, even for an admin', async () => {
    const zed = await h.req('/v1/users/zed/changes', { token: h.tokens.admin });
    expect(zed.status).toBe(404);
    expect((await zed.json()).error.message).toMatch(/user "zed" is not configured/);
    for (const u of ['%2e%2e%2falice', '..%2Falice', 'alice%00']) {
      const r = await h.req(`/v1/users/${u}/changes`, { token: h.tokens.admin });
      expect(r.status, u).toBe(400);
      expect((await r.json()).error.message).toMatch(/user name is invalid/);
    }
    const pub = await publish(rawTar([{ path: 'zed/.bashrc', data: 'x' }]), {}, h.tokens.admin);
    expect(pub.status).toBe(404);
  });
});

describe('bodies and headers', () => {
  it('refuses malformed JSON with a clear message', async () => {
    for (const [path, ct] of [['/v1/users/alice/commit', 'application/json'], ['/compare', 'application/json'], ['/compare', 'text/plain']] as const) {
      const r = await h.req(path, { method: 'POST', token: h.tokens.alice, headers: { 'content-type': ct }, body: '{"ops": [' });
      expect(r.status).toBe(400);
      expect((await r.json()).error.message).toMatch(/not valid JSON/);
    }
  });

  it('refuses a JSON body over the limit', async () => {
    const r = await h.req('/compare', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ entries: [], pad: 'x'.repeat(100_000) }) });
    expect(r.status).toBe(413);
  });

  it('refuses a blob whose content does not match its hash', async () => {
    const r = await h.req(`/v1/users/alice/blobs/${sha('claimed')}`, { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream' }, body: 'actual' });
    await expectRefused(r, 400, 'HASH_MISMATCH', /./);
    expect((await h.req(`/v1/users/alice/blobs/${sha('claimed')}`, { method: 'HEAD', token: h.tokens.alice })).status).toBe(404);
  });

  it('stores nothing from a truncated blob upload', async () => {
    const data = 'y'.repeat(1000);
    const reply = await rawHttp(`PUT /v1/users/alice/blobs/${sha(data)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.tokens.alice}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n${data.slice(0, 300)}`);
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    // dman's error shape, not Node's raw {"error":"Bad Request","message":"Client Error"}
    expect(replyBody(reply)).toEqual({ error: { code: 'BAD_REQUEST', message: 'the request body ended before Content-Length bytes arrived', hint: expect.stringMatching(/send the request again/) } });
    // Wait until the server has seen the abort: a HEAD is answered after the aborted request settled.
    await expect.poll(async () => (await h.req(`/v1/users/alice/blobs/${sha(data)}`, { method: 'HEAD', token: h.tokens.alice })).status).toBe(404);
  });

  it('refuses a gzip bomb sent as a blob', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024);
    const r = await h.req(`/v1/users/alice/blobs/${sha(big)}`, { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' }, body: gzipSync(big) });
    expect(r.status).toBe(413);
  });

  it('answers oversized headers with 431 and keeps serving', async () => {
    const reply = await rawHttp(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(reply).toMatch(/^HTTP\/1\.1 431/);
    expect(replyBody(reply)).toEqual({ error: { code: 'BAD_REQUEST', message: `request headers are too large (limit ${maxHeaderSize} bytes)`, hint: expect.any(String) } });
    expect((await h.req('/health')).status).toBe(200);
  });

  it('answers a truncated JSON body (Content-Length larger than the bytes sent) with a clear 400 and keeps serving', async () => {
    const body = JSON.stringify({ ops: [{ path: 'x', baseRev: null, deleted: true }] });
    const reply = await rawHttp(`POST /v1/users/alice/commit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.tokens.alice}\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 50}\r\n\r\n${body}`);
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(replyBody(reply).error).toMatchObject({ code: 'BAD_REQUEST', message: 'the request body ended before Content-Length bytes arrived' });
    expect(await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json()).toMatchObject({ headRev: expect.any(Number) });
    expect((await h.req('/v1/users/alice/history?path=x', { token: h.tokens.alice })).status).toBe(200);
  });

  it('answers a malformed request line with the dman error shape', async () => {
    const reply = await rawHttp('NOT HTTP AT ALL\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(replyBody(reply).error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/^malformed HTTP request/) });
  });

  it('answers an unknown route with a JSON 404', async () => {
    const r = await h.req('/v2/nothing', { token: h.tokens.alice });
    expect(r.status).toBe(404);
    expect((await r.json()).error.code).toBe('NOT_FOUND');
  });
});

describe('uploads', () => {
  it('refuses an upload over the blob limit without storing it', async () => {
    const big = Buffer.alloc(300 * 1024, 1);
    const r = await h.req('/upload?user=alice&path=big', { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream' }, body: big });
    expect(r.status).toBe(413);
    expect((await h.req('/download?user=alice&path=big', { token: h.tokens.alice })).status).toBe(404);
  });
});

describe('headers', () => {
  it('refuses an idempotency key that is too short', async () => {
    const r = await h.req('/v1/users/alice/commit', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/json', 'idempotency-key': 'short' }, body: JSON.stringify({ ops: [{ path: 'x', baseRev: null, deleted: true }] }) });
    expect(r.status).toBe(400);
    expect((await r.json()).error.message).toMatch(/idempotency-key/);
  });
});
