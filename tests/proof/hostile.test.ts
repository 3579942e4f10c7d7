// The hostile-input corpus (issue 9), beyond tests/integration/serverBadInput.test.ts: tar-slip
// classes from node-tar's and Syncthing's advisories (PAX overrides, symlink-then-file, hard links
// to other users, GNU long names, negative and lying sizes, NUL), traversal in every form on every
// endpoint that takes a path or a user, an entry-count bomb, a 10 GB gzip bomb streamed (never on
// disk) with the server's memory growth measured, and slow-header connections. After each: a 4xx,
// the server up, alice's data unchanged, nothing written outside the data dir. Every archive in
// the corpus is refused, none is stored as a "harmless" literal name.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DiskStore } from '../../server/store/DiskStore.js';
import { rawTar, sha, startHarness, type Harness, type RawTarEntry } from '../integration/serverHarness.js';

let h: Harness;
let root: string;
const ORIGINAL = 'original\n';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dman-hostile-'));
  h = await startHarness({ store: new DiskStore({ dataDir: join(root, 'data'), fsync: false }), limits: { entries: 1000, decompressedBytes: 64 * 1024 * 1024, blobBytes: 8 * 1024 * 1024, bodyBytes: 64 * 1024 * 1024, jsonBytes: 256 * 1024, heartbeatMs: 15_000 } });
  expect((await publish(rawTar([{ path: 'alice/.bashrc', data: ORIGINAL }]))).status).toBe(200);
  expect((await publish(rawTar([{ path: 'bob/.bashrc', data: 'bob\n' }]), h.tokens.bob)).status).toBe(200);
});
afterAll(async () => {
  await h.close();
  await rm(root, { recursive: true, force: true });
});
afterEach(async () => {
  expect((await h.req('/health')).status).toBe(200);
  const m = await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json();
  const paths = (m.entries as Array<{ path: string; hash: string; deleted: boolean }>);
  expect(paths.find((e) => e.path === '.bashrc')).toMatchObject({ hash: sha(ORIGINAL), deleted: false });
  // Whatever a hostile request managed to store stays a plain name inside alice's tree.
  for (const e of paths) expect(e.path.split('/').some((seg) => seg === '..' || seg === '.' || seg === '' || seg.includes('\0'))).toBe(false);
  const b = await (await h.req('/v1/users/bob/manifest', { token: h.tokens.bob })).json();
  expect(b.entries.map((e: { path: string; hash: string }) => `${e.path}:${e.hash}`)).toEqual([`.bashrc:${sha('bob\n')}`]);
  expect(await readdir(root)).toEqual(['data']);
});

function publish(body: Buffer | Readable, token = h.tokens.alice, headers: Record<string, string> = {}) {
  return h.req('/publish', { method: 'POST', token, headers: { 'content-type': 'application/x-tar', ...headers }, body: body as unknown as RequestInit['body'], ...(body instanceof Readable ? { duplex: 'half' } : {}) } as RequestInit & { token: string });
}

/** A tar header block with hand-set fields (for sizes and types a normal packer refuses). */
function headerBlock(fields: { path: string; size?: number; type?: string; linkpath?: string }): Buffer {
  const b = Buffer.alloc(512);
  new Header({ path: fields.path, size: fields.size ?? 0, type: (fields.type ?? 'File') as 'File', mode: 0o644, mtime: new Date(1_700_000_000_000), uid: 0, gid: 0, linkpath: fields.linkpath }).encode(b, 0);
  return b;
}
/** Re-checksums a header block after a manual edit. */
function fixSum(b: Buffer): Buffer {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}
/** A PAX extended header record set (`typeflag x`) followed by the entry it overrides. */
function paxThen(records: Record<string, string>, entry: Buffer, data = Buffer.alloc(0)): Buffer {
  const body = Buffer.concat(Object.entries(records).map(([k, v]) => {
    const rest = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(rest) + 1;
    while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
    return Buffer.from(`${len}${rest}`);
  }));
  const hdr = headerBlock({ path: 'PaxHeader', size: body.length, type: 'ExtendedHeader' });
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  return Buffer.concat([hdr, body, pad(body.length), entry, data, pad(data.length), Buffer.alloc(1024)]);
}
function gnuLongName(name: string, entry: Buffer): Buffer {
  const body = Buffer.from(`${name}\0`);
  const hdr = headerBlock({ path: '././@LongLink', size: body.length, type: 'GNUDumpDir' });
  hdr.write('L', 156, 'latin1');
  fixSum(hdr);
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  return Buffer.concat([hdr, body, pad(body.length), entry, Buffer.from('x'), pad(1), Buffer.alloc(1024)]);
}

const tarSlip: Array<[string, () => Buffer]> = [
  ['PAX path override with ".."', () => paxThen({ path: 'alice/../../escape' }, headerBlock({ path: 'alice/benign', size: 1 }), Buffer.from('x'))],
  ['PAX path override absolute', () => paxThen({ path: '/tmp/dman-escape' }, headerBlock({ path: 'alice/benign', size: 1 }), Buffer.from('x'))],
  ['PAX path override into another user', () => paxThen({ path: 'bob/.bashrc' }, headerBlock({ path: 'alice/benign', size: 1 }), Buffer.from('x'))],
  ['PAX linkpath override absolute', () => paxThen({ linkpath: '/etc/shadow' }, headerBlock({ path: 'alice/l', type: 'SymbolicLink', linkpath: 'ok' }))],
  ['PAX path with a NUL byte', () => paxThen({ path: 'alice/a\0/../../x' }, headerBlock({ path: 'alice/benign', size: 1 }), Buffer.from('x'))],
  ['PAX negative size', () => paxThen({ size: '-512' }, headerBlock({ path: 'alice/neg', size: 0 }))],
  ['GNU long name with ".."', () => gnuLongName(`alice/${'a/'.repeat(60)}../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../escape`, headerBlock({ path: 'alice/short', size: 1 }))],
  ['negative size in base-256', () => { const b = headerBlock({ path: 'alice/neg', size: 0 }); b.fill(0xff, 124, 136); return Buffer.concat([fixSum(b), Buffer.alloc(1024)]); }],
  ['size larger than the archive', () => Buffer.concat([headerBlock({ path: 'alice/lies', size: 1 << 20 }), Buffer.alloc(512, 0x41)])],
];

const entryCases: Array<[string, RawTarEntry[]]> = [
  ['symlink then a file through it (absolute)', [{ path: 'alice/d', type: 'SymbolicLink', linkpath: '/tmp' }, { path: 'alice/d/x', data: 'x' }]],
  ['symlink then a file through it (relative)', [{ path: 'alice/d', type: 'SymbolicLink', linkpath: '..' }, { path: 'alice/d/x', data: 'x' }]],
  ['symlink to a symlink climbing out', [{ path: 'alice/a', type: 'SymbolicLink', linkpath: 'b' }, { path: 'alice/b', type: 'SymbolicLink', linkpath: '../../..' }]],
  ['hard link to another user\'s file', [{ path: 'alice/h', type: 'Link', linkpath: 'bob/.bashrc' }]],
  ['hard link to /etc/passwd', [{ path: 'alice/h', type: 'Link', linkpath: '/etc/passwd' }]],
  ['a name with a backslash traversal', [{ path: 'alice/..\\..\\escape', data: 'x' }]],
  ['a Windows drive path', [{ path: 'C:/Windows/x', data: 'x' }]],
  ['a user name that is "."', [{ path: './.bashrc', data: 'x' }]],
  ['another user\'s name', [{ path: 'bob/.bashrc', data: 'overwrite' }]],
];

describe('tar-slip classes on /publish', () => {
  it.each(tarSlip)('refuses %s', async (_n, make) => {
    const r = await publish(make());
    const text = await r.text();
    expect(r.status, text).toBeGreaterThanOrEqual(400);
    expect(r.status, text).toBeLessThan(500);
  });
  // node-tar reads these three as harmless-looking names (it cuts a PAX value at its NUL, ignores
  // a negative PAX size and takes a negative base-256 size as 0): the server refuses them by name.
  it.each([
    ['PAX path with a NUL byte', /tar entry "alice\/a" was refused: its PAX extended header sets "path" to "alice\/a\\x00\/\.\.\/\.\.\/x", which contains a NUL byte/],
    ['PAX negative size', /tar entry "alice\/neg" was refused: its PAX extended header sets "size" to "-512", which is not a size in bytes/],
    ['negative size in base-256', /tar entry "alice\/neg" was refused: its header has no valid size \(the size field is negative in base-256/],
  ])('says why it refuses the %s, and what to do', async (name, why) => {
    const r = await publish(tarSlip.find(([n]) => n === name)![1]());
    const body = await r.json() as { error: { message: string; hint?: string } };
    expect(r.status, JSON.stringify(body)).toBe(400);
    expect(body.error.message).toMatch(why);
    expect(body.error.hint).toMatch(/re-create the archive with tar/);
  });
  it.each(entryCases)('refuses %s', async (_n, entries) => {
    const r = await publish(rawTar([{ path: 'alice/good-first', data: 'g' }, ...entries]));
    expect(r.status, await r.clone().text()).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
  });
  it('refuses the same archives gzipped', async () => {
    for (const [name, make] of tarSlip) {
      const r = await publish(gzipSync(make()), h.tokens.alice, { 'content-encoding': 'gzip' });
      expect(r.status, name).toBeGreaterThanOrEqual(400);
      expect(r.status, name).toBeLessThan(500);
      await r.body?.cancel();
    }
  });
  it('still takes a valid archive with a PAX long name, a GNU long name and a PAX xattr record', async () => {
    const long = `alice/.config/${'deep/'.repeat(30)}pax`;
    const gnu = `alice/.config/${'gnu/'.repeat(30)}name`;
    const xattr = paxThen({ 'SCHILY.xattr.user.bin': 'a\0b', path: long }, headerBlock({ path: 'alice/short', size: 1 }), Buffer.from('p'));
    const r = await publish(Buffer.concat([xattr.subarray(0, xattr.length - 1024), gnuLongName(gnu, headerBlock({ path: 'alice/short2', size: 1 }))]));
    expect(r.status, await r.clone().text()).toBe(200);
    const m = await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json() as { entries: Array<{ path: string; hash: string }> };
    expect(m.entries.find((e) => e.path === long.slice(6))?.hash).toBe(sha('p'));
    expect(m.entries.find((e) => e.path === gnu.slice(6))?.hash).toBe(sha('x'));
  });
});

const TRAVERSALS = ['../bob/.bashrc', '..%2Fbob%2F.bashrc', '%2e%2e/bob/.bashrc', '.bashrc/../../bob/.bashrc', './.bashrc', '/etc/passwd', '..\\bob\\.bashrc', '.bashrc%00.txt', 'a//b', ''];
const J = { 'content-type': 'application/json' };
const pathEndpoints: Array<[string, (p: string) => [string, RequestInit]]> = [
  ['commit', (p) => ['/v1/users/alice/commit', { method: 'POST', headers: J, body: JSON.stringify({ ops: [{ path: decodeURIComponent(p.replace(/%25/g, '%')), baseRev: null, deleted: true }] }) }]],
  ['history', (p) => [`/v1/users/alice/history?path=${p}`, {}]],
  ['restore', (p) => ['/v1/users/alice/restore', { method: 'POST', headers: J, body: JSON.stringify({ path: decodeURIComponent(p.replace(/%25/g, '%')), rev: 1 }) }]],
  ['upload', (p) => [`/upload?user=alice&path=${p}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: 'overwrite' }]],
  ['download', (p) => [`/download?user=alice&path=${p}`, {}]],
  ['install paths', (p) => ['/install', { method: 'POST', headers: J, body: JSON.stringify({ paths: [{ user: 'alice', path: decodeURIComponent(p.replace(/%25/g, '%')) }] }) }]],
];

describe('traversal on every endpoint that takes a path', () => {
  it.each(pathEndpoints)('%s refuses every traversal form and leaks nothing of bob', async (_n, make) => {
    for (const t of TRAVERSALS) {
      const [path, init] = make(t);
      const r = await h.req(path, { ...init, token: h.tokens.alice });
      const text = await r.text();
      // Some forms decode to a plain missing name (404) rather than a refusal (400): never a 2xx with bob's data.
      expect(r.status, `${path} → ${text}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `${path} → ${text}`).toBeLessThan(500);
      expect(text).not.toContain('bob\n');
    }
  });

  it('decodes a query path once: a double-encoded "%252e%252e%252f" is the literal name "%2e%2e%2f"', async () => {
    const up = await h.req('/upload?user=carol&path=%252e%252e%252fbob', { method: 'PUT', token: h.tokens.admin, headers: { 'content-type': 'application/octet-stream' }, body: 'literal' });
    expect(up.status).toBe(200);
    expect((await up.json()).path).toBe('%2e%2e%2fbob');
    const down = await h.req('/download?user=carol&path=%252e%252e%252fbob', { token: h.tokens.admin });
    expect(await down.text()).toBe('literal');
  });

  it('stores unicode look-alikes of ".." as literal names inside the user, never as a path up', async () => {
    for (const name of ['\uff0e\uff0e', '\u2025', '.\u200b.', '\u002e\u0323.']) {
      const r = await h.req(`/upload?user=carol&path=${encodeURIComponent(`${name}/x`)}`, { method: 'PUT', token: h.tokens.admin, headers: { 'content-type': 'application/octet-stream' }, body: 'u' });
      expect([200, 201, 400]).toContain(r.status);
    }
    const m = await (await h.req('/v1/users/carol/manifest', { token: h.tokens.admin })).json();
    for (const e of m.entries as Array<{ path: string }>) expect(e.path.split('/')).not.toContain('..');
  });

  it.each(['..', '..%2Falice', '%2e%2e', 'alice%00', 'ALICE', 'alice%2F..%2Fbob'])('refuses the user "%s" on /v1 for alice\'s token', async (u) => {
    const r = await h.req(`/v1/users/${u}/manifest`, { token: h.tokens.alice });
    expect([400, 403, 404]).toContain(r.status);
    expect(await r.text()).not.toContain('.bashrc');
  });

  it.each(['..%2F..%2Fetc%2Fpasswd', 'zz', `${'a'.repeat(64)}`, '%2e%2e'])('refuses the blob hash "%s"', async (hash) => {
    const r = await h.req(`/v1/users/alice/blobs/${hash}`, { token: h.tokens.alice });
    expect([400, 404]).toContain(r.status);
  });
});

describe('bombs', () => {
  it('refuses an entry-count bomb (10,000 empty entries in a tiny gzip)', async () => {
    const bomb = gzipSync(rawTar(Array.from({ length: 10_000 }, (_, i) => ({ path: `alice/e${i}`, data: '' }))));
    expect(bomb.length).toBeLessThan(200 * 1024);
    const r = await publish(bomb, h.tokens.alice, { 'content-encoding': 'gzip' });
    expect(r.status).toBe(413);
  });

  it('refuses a 10 GB gzip bomb streamed to it within 64 MB of memory growth', async () => {
    // Concatenated gzip members: one header member, then 16 MiB-of-zeros members, 640 of them (10 GiB
    // decompressed, ~10 MB on the wire). Generated as a stream; nothing touches the disk.
    const zeros = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
    const big = headerBlock({ path: 'alice/bomb', size: 0 });
    big[124] = 0x80; // base-256 size: 10 GiB
    big.writeUIntBE(10 * 1024 ** 3, 130, 6);
    const first = gzipSync(fixSum(big));
    let sent = 0;
    const body = Readable.from((function* () {
      yield first;
      for (let i = 0; i < 640; i++) { sent++; yield zeros; }
    })());
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
    try {
      const r = await publish(body, h.tokens.alice, { 'content-encoding': 'gzip' });
      await r.text();
      expect([400, 413]).toContain(r.status);
    } catch (err) {
      // The server may cut the upload short once it refuses: a reset is a refusal too.
      expect(String((err as Error).cause ?? err)).toMatch(/reset|closed|socket|terminated|EPIPE/i);
    } finally {
      clearInterval(timer);
    }
    expect(sent).toBeLessThan(640);
    expect((peak - base) / 1024 / 1024, 'MB of RSS growth').toBeLessThan(64);
  }, 60_000);
});

describe('slow and oversized headers', () => {
  it('keeps serving others while 50 connections trickle their headers', async () => {
    const u = new URL(h.url);
    const socks: Socket[] = [];
    try {
      for (let i = 0; i < 50; i++) {
        const s = connect(Number(u.port), u.hostname);
        s.on('error', () => {});
        s.write('GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Slow: ');
        socks.push(s);
      }
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) {
        for (const s of socks) s.write('a');
        expect((await h.req('/health')).status).toBe(200);
      }
      expect(performance.now() - t0).toBeLessThan(5_000);
    } finally {
      for (const s of socks) s.destroy();
    }
  });

  it('answers a 64 KiB header with 431 and a 1 MiB header line by closing', async () => {
    const r = await h.req('/health', { headers: { 'x-big': 'a'.repeat(64 * 1024) } }).catch((e: Error) => e);
    if (!(r instanceof Error)) expect(r.status).toBe(431);
    const raw = await new Promise<string>((resolve) => {
      const u = new URL(h.url);
      const s = connect(Number(u.port), u.hostname);
      let out = '';
      s.on('data', (d) => { out += d.toString(); });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
      s.write(`GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: ${'b'.repeat(1024 * 1024)}\r\n\r\n`);
    });
    expect(raw === '' || /^HTTP\/1\.1 431/.test(raw)).toBe(true);
  });
});
