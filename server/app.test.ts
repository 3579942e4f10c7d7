import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DmanError } from '../shared/errors.js';
import { silentLogger } from '../engine/log.js';
import { createServer, isLoopback, parseListenAddr, type DmanServer } from './app.js';
import { mintToken } from './auth/tokens.js';
import { MemoryStore } from './store/MemoryStore.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
let server: DmanServer | undefined;
afterEach(async () => { await server?.close(); server = undefined; });

async function setup(retention = { versions: 20, days: 30, gcIntervalMs: 0 }) {
  const store = new MemoryStore();
  await store.open();
  const { token, record } = mintToken({ user: 'alice', device: 'laptop', admin: false, now: 1 });
  await store.putToken(record);
  server = createServer({ store, log: silentLogger(), retention, version: 'test', users: ['alice'] });
  const auth = { authorization: `Bearer ${token}` };
  const put = (data: string) => server!.app.inject({ method: 'PUT', url: `/v1/users/alice/blobs/${sha(data)}`, headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: data });
  const commit = (ops: unknown[], headers: Record<string, string> = {}) => server!.app.inject({ method: 'POST', url: '/v1/users/alice/commit', headers: { ...auth, ...headers }, payload: { ops } });
  return { store, auth, put, commit, tokenId: record.id };
}

describe('createServer', () => {
  it('echoes the x-dman-op header and audits under it', async () => {
    const { auth } = await setup();
    const r = await server!.app.inject({ method: 'GET', url: '/v1/whoami', headers: { ...auth, 'x-dman-op': 'op-1234' } });
    expect(r.headers['x-dman-op']).toBe('op-1234');
    const bad = await server!.app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer dman_${'z'.repeat(43)}`, 'x-dman-op': 'op-bad-1' } });
    expect(bad.statusCode).toBe(401);
    const generated = await server!.app.inject({ method: 'GET', url: '/health', headers: { 'x-dman-op': 'not valid op id!' } });
    expect(generated.headers['x-dman-op']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('applies retention after each commit', async () => {
    const { put, commit, store } = await setup({ versions: 1, days: 0, gcIntervalMs: 0 });
    for (const [i, v] of ['a', 'b', 'c', 'd'].entries()) {
      await put(v);
      expect((await commit([{ path: 'p', baseRev: i, hash: sha(v), size: 1 }])).statusCode).toBe(200);
    }
    expect((await store.history('alice', 'p')).length).toBeLessThanOrEqual(2);
  });

  it('after a commit, trims the history of the committed paths only', async () => {
    const { put, commit, store } = await setup({ versions: 1, days: 0, gcIntervalMs: 0 });
    const calls: Array<string[] | undefined> = [];
    const apply = store.applyRetention.bind(store);
    store.applyRetention = async (user, policy, now, opts) => {
      calls.push(opts?.paths ? [...opts.paths].sort() : undefined);
      return apply(user, policy, now, opts);
    };
    await put('a');
    expect((await commit([{ path: 'p', baseRev: 0, hash: sha('a'), size: 1 }, { path: 'q', baseRev: 0, hash: sha('a'), size: 1 }])).statusCode).toBe(200);
    expect((await commit([{ path: 'p', baseRev: 1, deleted: true }])).statusCode).toBe(200);
    expect((await commit([{ path: 'q', baseRev: 0, deleted: true }])).statusCode).toBe(409);
    await expect.poll(() => calls.length).toBe(2);
    expect(calls).toEqual([['p', 'q'], ['p']]);
  });
  it('audits a mass delete', async () => {
    const { put, commit, store } = await setup();
    await put('x');
    await commit(Array.from({ length: 12 }, (_, i) => ({ path: `f${i}`, baseRev: 0, hash: sha('x'), size: 1 })));
    const r = await commit(Array.from({ length: 12 }, (_, i) => ({ path: `f${i}`, baseRev: i + 1, deleted: true })));
    expect(r.statusCode).toBe(200);
    const audit = await store.listAudit({});
    expect(audit.find((a) => a.action === 'mass-delete')).toMatchObject({ user: 'alice', details: { deletes: 12 } });
  });

  it('runs a periodic blob GC that removes unreferenced blobs once their grace is over', async () => {
    const store = new MemoryStore();
    await store.open();
    const { token, record } = mintToken({ user: 'alice', device: 'laptop', admin: false, now: 1 });
    await store.putToken(record);
    server = createServer({ store, log: silentLogger(), retention: { versions: 20, days: 30, gcIntervalMs: 20, blobGraceMs: 0 }, version: 'test' });
    await server.listen('127.0.0.1:0');
    await server.app.inject({ method: 'PUT', url: `/v1/users/alice/blobs/${sha('orphan')}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, payload: 'orphan' });
    expect(await store.hasBlob('alice', sha('orphan'))).toBe(true);
    await expect.poll(() => store.hasBlob('alice', sha('orphan')), { timeout: 5000 }).toBe(false);
  });

  it('counts requests and auth failures in /metrics', async () => {
    await setup();
    await server!.app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: 'Bearer nope' } });
    const m = await server!.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.headers['content-type']).toContain('text/plain');
    expect(m.body).toMatch(/dman_auth_failures_total\{reason="invalid"\} 1/);
    expect(m.body).toMatch(/dman_http_requests_total\{method="GET",route="\/v1\/whoami",status="401"\} 1/);
    expect(m.body).toMatch(/dman_store_op_duration_seconds_count\{driver="memory",op="getTokenByHash",outcome="ok"\}/);
  });
});

describe('a store that is down', () => {
  it('answers 503 STORE_UNAVAILABLE with the cause, and /health reports it', async () => {
    const real = new MemoryStore();
    const { token, record } = mintToken({ user: 'alice', device: 'laptop', admin: false, now: 1 });
    await real.putToken(record);
    const down = () => { throw new DmanError('STORE_UNAVAILABLE', 'redis at 127.0.0.1:6390 refused the connection', { hint: 'start Redis' }); };
    const store = new Proxy(real, { get: (t, p, r) => (p === 'changes' || p === 'health' ? async () => down() : Reflect.get(t, p, r)) });
    server = createServer({ store, log: silentLogger(), retention: { versions: 20, days: 30, gcIntervalMs: 0 }, version: 'test' });
    const r = await server.app.inject({ method: 'GET', url: '/v1/users/alice/changes', headers: { authorization: `Bearer ${token}` } });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'redis at 127.0.0.1:6390 refused the connection', hint: 'start Redis' } });
    const h = await server.app.inject({ method: 'GET', url: '/health' });
    expect(h.statusCode).toBe(503);
    expect(h.json()).toMatchObject({ ok: false, storage: { ok: false, error: /refused/ } });
  });

  it('hides internal error details from the reply', async () => {
    const real = new MemoryStore();
    const { token, record } = mintToken({ user: 'alice', device: 'laptop', admin: false, now: 1 });
    await real.putToken(record);
    const store = new Proxy(real, { get: (t, p, r) => (p === 'headRev' ? async () => { throw new Error('secret internal detail'); } : Reflect.get(t, p, r)) });
    server = createServer({ store, log: silentLogger(), retention: { versions: 20, days: 30, gcIntervalMs: 0 }, version: 'test' });
    const r = await server.app.inject({ method: 'GET', url: '/v1/users/alice/manifest', headers: { authorization: `Bearer ${token}` } });
    expect(r.statusCode).toBe(500);
    expect(r.body).not.toContain('secret');
  });
});

describe('arbitrary request bodies', () => {
  it('never get a 5xx from the JSON endpoints', async () => {
    const { auth } = await setup();
    const urls = ['/v1/users/alice/commit', '/v1/users/alice/restore', '/compare', '/install', '/prune'];
    const op = fc.record({ path: fc.oneof(fc.string(), fc.constant('a/../b'), fc.constant('.bashrc')), baseRev: fc.oneof(fc.integer(), fc.constant(null)), hash: fc.oneof(fc.string(), fc.constant(sha('x'))), deleted: fc.boolean(), size: fc.integer() }, { requiredKeys: [] });
    const body = fc.oneof(fc.json(), fc.record({ ops: fc.array(op, { maxLength: 3 }) }).map((v) => JSON.stringify(v)), fc.string());
    await fc.assert(fc.asyncProperty(fc.constantFrom(...urls), body, async (url, payload) => {
      const r = await server!.app.inject({ method: 'POST', url, headers: { ...auth, 'content-type': 'application/json' }, payload });
      expect(r.statusCode, `${url} ${payload.slice(0, 80)}: ${r.body.slice(0, 200)}`).toBeLessThan(500);
      if (r.statusCode >= 400 || String(r.headers['content-type']).includes('json')) expect(() => JSON.parse(r.body)).not.toThrow();
    }), { numRuns: 300 });
  });
});

describe('listen addresses', () => {
  it.each([
    ['127.0.0.1:3626', { host: '127.0.0.1', port: 3626 }],
    ['[::1]:0', { host: '::1', port: 0 }],
    [':8080', { host: '0.0.0.0', port: 8080 }],
  ])('parses %s', (addr, want) => expect(parseListenAddr(addr)).toEqual(want));

  it.each(['3626', 'host:99999', 'a:b'])('refuses %s', (addr) => expect(() => parseListenAddr(addr)).toThrow(/not a listen address/));

  it('knows loopback hosts', () => {
    expect([isLoopback('127.0.0.1'), isLoopback('::1'), isLoopback('localhost'), isLoopback('0.0.0.0'), isLoopback('192.168.1.2')]).toEqual([true, true, true, false, false]);
  });
});
