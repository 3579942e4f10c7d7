// HttpRemote against a scripted HTTP server on 127.0.0.1:0 (faults injected per request).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isDmanError } from '../../shared/errors.js';
import { createHttpRemote as createRemote } from './HttpRemote.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;
let server: Server | undefined;
const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string; raw: Buffer }> = [];
let connections = 0;

async function serve(handlers: Handler[]): Promise<string> {
  let i = 0;
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts);
      const body = raw.toString();
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, raw });
      handlers[Math.min(i++, handlers.length - 1)]!(req, res, body);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}
afterEach(async () => {
  seen.length = 0;
  connections = 0;
  const s = server;
  server = undefined;
  if (!s) return;
  s.closeAllConnections();
  await new Promise((r) => s.close(r));
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => (_q, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const changes = { entries: [], headRev: 7, more: false };

/** Every test runs over node:http (the default) and over the fetch seam, which must keep its power to inject faults. */
describe.each([['node:http', false], ['fetch', true]] as const)('HttpRemote over %s', (_name, viaFetch) => {
  const createHttpRemote = (o: Parameters<typeof createRemote>[0]): ReturnType<typeof createRemote> => createRemote({ ...(viaFetch ? { fetch } : {}), ...o });
  it('sends the token and the op id, and parses the reply', async () => {
    const url = await serve([json(200, changes)]);
    const r = createHttpRemote({ url, token: 'dman_secret', opId: 'op-123' });
    expect(await r.changes('alice', 3)).toEqual(changes);
    expect(seen[0]!.url).toBe('/v1/users/alice/changes?since=3&limit=1000');
    expect(seen[0]!.headers.authorization).toBe('Bearer dman_secret');
    expect(seen[0]!.headers['x-dman-op']).toBe('op-123');
  });

  it('retries a 503 after Retry-After, then succeeds', async () => {
    const url = await serve([json(503, { error: { code: 'STORE_UNAVAILABLE', message: 'redis down' } }, { 'retry-after': '0' }), json(200, changes)]);
    const r = createHttpRemote({ url });
    expect((await r.changes('alice', 0)).headRev).toBe(7);
    expect(seen).toHaveLength(2);
  });

  it('gives up on a persistent 503 with a retryable error naming the URL', async () => {
    const url = await serve([json(503, { error: { code: 'STORE_UNAVAILABLE', message: 'redis down' } }, { 'retry-after': '0' })]);
    const err = await createHttpRemote({ url, retries: 1 }).changes('alice', 0).catch((e: unknown) => e);
    expect(isDmanError(err, 'STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain(url);
    expect(seen).toHaveLength(2);
  });

  it('maps 401, 403 and 500 to clear errors without retrying', async () => {
    const url = await serve([
      json(401, { error: { code: 'AUTH_INVALID', message: 'bad token' } }),
      json(403, { error: { code: 'FORBIDDEN', message: 'not yours' } }),
      json(500, { error: { code: 'INTERNAL', message: 'boom' } }),
    ]);
    const r = createHttpRemote({ url });
    await expect(r.changes('alice', 0)).rejects.toMatchObject({ code: 'AUTH_INVALID', hint: expect.stringMatching(/auth_token/) });
    await expect(r.changes('alice', 0)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(r.changes('alice', 0)).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(seen).toHaveLength(3);
  });

  it('refuses a reply that is not JSON or not the protocol shape', async () => {
    const url = await serve([(_q, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<html>proxy</html>'); }, json(200, { entries: 'nope' })]);
    const r = createHttpRemote({ url });
    await expect(r.changes('alice', 0)).rejects.toMatchObject({ code: 'PROTOCOL', message: expect.stringContaining('not JSON') });
    await expect(r.changes('alice', 0)).rejects.toMatchObject({ code: 'PROTOCOL', message: expect.stringContaining('does not understand') });
  });

  it('returns 409 commit conflicts as a value and sends the idempotency key', async () => {
    const url = await serve([json(409, { error: { code: 'CONFLICT', message: 'stale' }, conflicts: [{ path: 'f', expected: 1, current: null }] })]);
    const r = createHttpRemote({ url });
    const out = await r.commit('alice', [{ path: 'f', baseRev: 1, deleted: true }], { idempotencyKey: 'key-12345678', device: 'd' });
    expect(out).toEqual({ ok: false, conflicts: [{ path: 'f', expected: 1, current: null }] });
    expect(seen[0]!.headers['idempotency-key']).toBe('key-12345678');
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ ops: [{ path: 'f', baseRev: 1 }], device: 'd' });
  });

  it('says SERVER_UNREACHABLE with the URL when nothing listens', async () => {
    const err = await createHttpRemote({ url: 'http://127.0.0.1:9', retries: 0, timeoutMs: 5000 }).health().catch((e: unknown) => e);
    expect(isDmanError(err, 'SERVER_UNREACHABLE')).toBe(true);
    expect((err as Error).message).toContain('http://127.0.0.1:9');
  });

  it('follows the push stream and reconnects after it drops', async () => {
    let conn = 0;
    const url = await serve([(_q, res) => {
      conn++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: rev\ndata: ${JSON.stringify({ user: 'alice', rev: conn * 10 })}\n\n`);
      if (conn === 1) setTimeout(() => res.destroy(), 10);
    }]);
    const revs: number[] = [];
    const states: boolean[] = [];
    const stop = createHttpRemote({ url, reconnectDelaysMs: [10] }).subscribe('alice', (rev) => revs.push(rev), (c) => states.push(c));
    const t0 = Date.now();
    while (revs.length < 2 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
    stop();
    expect(revs).toEqual([10, 20]);
    expect(states.slice(0, 3)).toEqual([true, false, true]);
  });

  it('sends a bulk upload as header and bytes per blob, with the right length, and checks the reply', async () => {
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const blobs = [Buffer.from('one\n'), Buffer.alloc(0), Buffer.from([0, 255, 10, 13, 200]), Buffer.alloc(300_000, 7)].map((data) => ({ hash: sha(data), data }));
    const reply = { blobs: blobs.map((b) => ({ hash: b.hash, size: b.data.length, created: true })) };
    const url = await serve([json(200, reply), json(200, { blobs: reply.blobs.slice(1) })]);
    const r = createHttpRemote({ url, retries: 0 });
    await r.putBlobs!('alice', blobs);
    const want = Buffer.concat(blobs.flatMap((b) => [Buffer.from(`${b.hash} ${b.data.length}\n`), b.data]));
    expect(seen[0]!.raw.equals(want)).toBe(true);
    expect(seen[0]!.headers['content-length']).toBe(String(want.length));
    expect(seen[0]!.headers['content-type']).toBe('application/x-dman-blobs');
    // A reply that accounts for fewer blobs than were sent is refused.
    await expect(r.putBlobs!('alice', blobs)).rejects.toMatchObject({ code: 'PROTOCOL' });
  });

  it('gives up on a request that gets no reply within timeoutMs (SERVER_UNREACHABLE, retryable)', async () => {
    const url = await serve([() => { /* never answers */ }]);
    const err = await createHttpRemote({ url, retries: 0, timeoutMs: 200 }).changes('alice', 0).catch((e: unknown) => e);
    expect(isDmanError(err, 'SERVER_UNREACHABLE')).toBe(true);
    expect((err as Error).message).toMatch(/no reply within 0.2 s/);
  });

  it('times out a reply whose body stalls after the headers', async () => {
    const url = await serve([(_q, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.write('{"entries":'); }]);
    const err = await createHttpRemote({ url, retries: 0, timeoutMs: 200 }).changes('alice', 0).catch((e: unknown) => e);
    expect(isDmanError(err, 'SERVER_UNREACHABLE')).toBe(true);
  });

  it('streams a blob from getBlob and maps a missing one to NOT_FOUND', async () => {
    const big = Buffer.alloc(200_000, 'x');
    const url = await serve([(_q, res) => { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.end(big); }, json(404, { error: { code: 'NOT_FOUND', message: 'no blob' } })]);
    const r = createHttpRemote({ url });
    const parts: Buffer[] = [];
    for await (const c of await r.getBlob('alice', 'a'.repeat(64))) parts.push(c as Buffer);
    expect(Buffer.concat(parts).equals(big)).toBe(true);
    await expect(r.getBlob('alice', 'b'.repeat(64))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('streams a putBlob body from a stream made again for each attempt', async () => {
    const url = await serve([json(503, { error: { code: 'STORE_UNAVAILABLE', message: 'down' } }), json(201, {})]);
    let made = 0;
    await createHttpRemote({ url, retries: 1 }).putBlob('alice', 'c'.repeat(64), () => { made++; return Readable.from([Buffer.from('hello '), Buffer.from('world')]); }, 11);
    expect(made).toBe(2);
    expect(seen.map((q) => q.body)).toEqual(['hello world', 'hello world']);
  });

  describe('getBlobs', () => {
    const sha = (t: string): string => createHash('sha256').update(t).digest('hex');
    const [A, B, C] = ['alpha\n', 'bravo bravo\n', ''];
    const frame = (t: string): string => `${sha(t)} ${Buffer.byteLength(t)}\n${t}`;
    const frames = (body: string): Handler => (_q, res) => {
      res.writeHead(200, { 'content-type': 'application/x-dman-blobs' });
      // Split mid-frame, so the reader has to join chunks.
      const b = Buffer.from(body);
      res.write(b.subarray(0, 70));
      res.end(b.subarray(70));
    };
    const all = async (it: AsyncIterable<{ hash: string; data: Buffer | null }>): Promise<Record<string, string | null>> => {
      const out: Record<string, string | null> = {};
      for await (const b of it) out[b.hash] = b.data === null ? null : b.data.toString();
      return out;
    };

    it('reads framed blobs and the missing marker, and asks again for what a capped reply left out', async () => {
      const url = await serve([frames(frame(A) + `${sha('gone')} -\n`), frames(frame(B) + frame(C))]);
      const got = await all(createHttpRemote({ url }).getBlobs!('alice', [sha(A), sha('gone'), sha(B), sha(C), sha(A)]));
      expect(got).toEqual({ [sha(A)]: A, [sha('gone')]: null, [sha(B)]: B, [sha(C)]: C });
      expect(seen.map((r) => [r.method, r.url])).toEqual([['POST', '/v1/users/alice/blobs/fetch'], ['POST', '/v1/users/alice/blobs/fetch']]);
      expect(JSON.parse(seen[0]!.body)).toEqual({ hashes: [sha(A), sha('gone'), sha(B), sha(C)] });
      expect(JSON.parse(seen[1]!.body)).toEqual({ hashes: [sha(B), sha(C)] });
    });

    it('falls back to one GET per blob against a server without the fetch endpoint (404), and remembers it', async () => {
      const url = await serve([
        json(404, { error: { code: 'NOT_FOUND', message: 'no route POST /v1/users/alice/blobs/fetch' } }),
        (q, res) => {
          const text = [A, B].find((t) => q.url!.endsWith(sha(t)));
          if (text === undefined) { res.writeHead(404, { 'content-type': 'application/json' }); res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no blob' } })); return; }
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(text);
        },
      ]);
      const r = createHttpRemote({ url, opId: 'op-1' });
      expect(await all(r.getBlobs!('alice', [sha(A), sha(B), sha('gone')]))).toEqual({ [sha(A)]: A, [sha(B)]: B, [sha('gone')]: null });
      expect(await all(r.withOp('op-2').getBlobs!('alice', [sha(B)]))).toEqual({ [sha(B)]: B });
      expect(seen.filter((q) => q.method === 'POST')).toHaveLength(1);
      expect(seen.filter((q) => q.method === 'GET')).toHaveLength(4);
    });

    it('refuses a reply with a blob it did not ask for, a bad header or a cut body (PROTOCOL)', async () => {
      for (const body of [frame(B), 'not a header\n', `${sha(A)} 99\nalpha\n`]) {
        const url = await serve([frames(body)]);
        const err = await all(createHttpRemote({ url, retries: 0 }).getBlobs!('alice', [sha(A)])).catch((e: unknown) => e);
        expect(isDmanError(err, 'PROTOCOL'), `${body}: ${String(err)}`).toBe(true);
        expect((err as Error).message).toContain('/blobs/fetch');
        server!.closeAllConnections();
        await new Promise((r) => server!.close(r));
        server = undefined;
      }
    });
  });
});

describe('HttpRemote transports', () => {
  it('keeps one connection alive across requests and views (node:http)', async () => {
    const url = await serve([json(200, changes)]);
    const r = createRemote({ url });
    await r.changes('alice', 0);
    await r.changes('alice', 0);
    await r.withOp('op-2').changes('alice', 0);
    expect(seen).toHaveLength(3);
    expect(connections).toBe(1);
  });

  it('fails a request whose reply body is cut after the headers; a whole reply after it parses', async () => {
    const cut: Handler = (_q, res) => {
      // What arrives parses as a whole reply: only the cut tells it is not one.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' });
      res.write(JSON.stringify({ ...changes, headRev: 99 }));
      setTimeout(() => res.socket?.destroy(), 10);
    };
    const url = await serve([cut, json(200, changes)]);
    const r = createRemote({ url, retries: 0 });
    const err = await r.changes('alice', 0).then((c) => c.headRev, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((await r.changes('alice', 0)).headRev).toBe(7);
  });

  it('sends a request once more on a new connection when a kept-alive one was closed under it', async () => {
    const url = await serve([json(200, changes), (q) => q.socket.destroy(), json(200, changes)]);
    // No retries at the Remote's level: the transport alone recovers from a stale connection.
    const r = createRemote({ url, retries: 0 });
    await r.changes('alice', 0);
    expect((await r.changes('alice', 1)).headRev).toBe(7);
    expect(seen.map((q) => q.url)).toEqual(['/v1/users/alice/changes?since=0&limit=1000', '/v1/users/alice/changes?since=1&limit=1000', '/v1/users/alice/changes?since=1&limit=1000']);
    expect(connections).toBe(2);
  });

  it('never sends a request that is unsafe to repeat (a restore, no idempotency key) a second time when a kept-alive connection breaks after the server read it', async () => {
    const url = await serve([json(200, changes), (q) => q.socket.destroy(), json(200, { rev: 9, entries: [], replayed: false })]);
    const r = createRemote({ url, retries: 0 });
    await r.changes('alice', 0);
    const err = await r.restore('alice', 'f', 3, 2, 'd').catch((e: unknown) => e);
    expect(isDmanError(err, 'SERVER_UNREACHABLE')).toBe(true);
    expect(seen.map((q) => q.url)).toEqual(['/v1/users/alice/changes?since=0&limit=1000', '/v1/users/alice/restore']);
  });

  it('sends a commit once more on a new connection only with the same idempotency key (the server replays it)', async () => {
    const url = await serve([json(200, changes), (q) => q.socket.destroy(), json(200, { rev: 9, entries: [], replayed: true })]);
    const r = createRemote({ url, retries: 0 });
    await r.changes('alice', 0);
    const out = await r.commit('alice', [{ path: 'f', baseRev: 1, deleted: true }], { idempotencyKey: 'key-12345678', device: 'd' });
    expect(out).toMatchObject({ ok: true, replayed: true });
    expect(seen.slice(1).map((q) => q.headers['idempotency-key'])).toEqual(['key-12345678', 'key-12345678']);
  });

  it('times out a streamed reply whose body stalls (getBlob) instead of waiting forever', async () => {
    const url = await serve([(_q, res) => { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.write('abc'); }]);
    const body = await createRemote({ url, retries: 0, timeoutMs: 200 }).getBlob('alice', 'a'.repeat(64));
    const err = await (async () => { for await (const _ of body) { /* reads until it stalls */ } })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as NodeJS.ErrnoException).code).toBe('ETIMEDOUT');
  });

  it('times out streamed requests that get no reply: a blob fetch and a streamed upload', async () => {
    const url = await serve([() => { /* never answers */ }]);
    const r = createRemote({ url, retries: 0, timeoutMs: 200 });
    const fetchErr = await (async () => { for await (const _ of r.getBlobs!('alice', ['a'.repeat(64)])) { /* none */ } })().catch((e: unknown) => e);
    expect(isDmanError(fetchErr, 'SERVER_UNREACHABLE')).toBe(true);
    const putErr = await r.putBlob('alice', 'c'.repeat(64), () => Readable.from([Buffer.from('hello')]), 5).catch((e: unknown) => e);
    expect(isDmanError(putErr, 'SERVER_UNREACHABLE')).toBe(true);
  });

  it('does not time out a streamed reply that a slow reader leaves unread (the server is not the one stalling)', async () => {
    const big = Buffer.alloc(4 << 20, 'x');
    const url = await serve([(_q, res) => { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.end(big); }]);
    const body = await createRemote({ url, retries: 0, timeoutMs: 300 }).getBlob('alice', 'a'.repeat(64));
    // Nothing reads it for several timeouts: the socket idles because this side does not read.
    await new Promise((r) => setTimeout(r, 1200));
    let n = 0;
    for await (const c of body) n += (c as Buffer).length;
    expect(n).toBe(big.length);
  });

  it('lets go of a blob fetch reply it refuses mid-stream (an open reply would hold its connection, and the process, forever)', async () => {
    const sha = (t: string): string => createHash('sha256').update(t).digest('hex');
    let closed!: () => void;
    const gone = new Promise<void>((r) => { closed = r; });
    const url = await serve([(q, res) => {
      q.socket.once('close', closed);
      res.writeHead(200, { 'content-type': 'application/x-dman-blobs' });
      // A blob that was not asked for, and the reply stays open.
      res.write(`${sha('other')} 5\nother`);
    }]);
    const err = await (async () => { for await (const _ of createRemote({ url, retries: 0 }).getBlobs!('alice', [sha('alpha')])) { /* none */ } })().catch((e: unknown) => e);
    expect(isDmanError(err, 'PROTOCOL')).toBe(true);
    await gone;
  });

  it('lets a fetch passed in inject faults: a reset connection is retried, a broken reply body fails the request', async () => {
    const url = await serve([json(200, changes)]);
    let calls = 0;
    const faulty = (async (input: string | URL | Request, init?: RequestInit) => {
      calls++;
      if (calls === 1) throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
      return fetch(input, init);
    }) as typeof fetch;
    expect((await createRemote({ url, fetch: faulty }).changes('alice', 0)).headRev).toBe(7);
    expect(calls).toBe(2);
    expect(seen).toHaveLength(1);
    const err = await createRemote({ url, retries: 0, fetch: (async () => { throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }); }) as typeof fetch }).changes('alice', 0).catch((e: unknown) => e);
    expect(isDmanError(err, 'SERVER_UNREACHABLE')).toBe(true);
    expect((err as Error).message).toContain('ECONNREFUSED');
  });
});
