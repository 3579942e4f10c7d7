// The token matrix: every endpoint × another user's token → 403 revealing nothing; admin-only
// endpoints × a device token → 403; a revoked token → 401 on the very next request; throttling.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORBIDDEN_MESSAGE } from '../../server/http/context.js';
import { BULK_BLOBS_CONTENT_TYPE, bulkBlobHeader } from '../../shared/protocol.js';
import { ADMIN_SHARED, rawTar, sha, startHarness, type Harness } from './serverHarness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ throttle: { maxFailures: 5, windowMs: 60_000, blockMs: 60_000 } });
  const r = await h.req('/publish', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/x-tar' }, body: rawTar([{ path: 'alice/.bashrc', data: 'secret-ish alias\n' }]) });
  expect(r.status).toBe(200);
});
afterAll(async () => { await h.close(); });

const H = sha('secret-ish alias\n');
const J = { 'content-type': 'application/json' };
const B = { 'content-type': 'application/octet-stream' };

/** Every user-scoped endpoint, as a request aimed at user `u`. */
const endpoints: Array<[string, (u: string) => [string, RequestInit]]> = [
  ['changes', (u) => [`/v1/users/${u}/changes?since=0`, {}]],
  ['manifest', (u) => [`/v1/users/${u}/manifest`, {}]],
  ['events', (u) => [`/v1/users/${u}/events`, {}]],
  ['blob put', (u) => [`/v1/users/${u}/blobs/${sha('x')}`, { method: 'PUT', headers: B, body: 'x' }]],
  ['bulk blobs', (u) => [`/v1/users/${u}/blobs`, { method: 'POST', headers: { 'content-type': BULK_BLOBS_CONTENT_TYPE }, body: `${bulkBlobHeader(sha('x'), 1)}x` }]],
  ['blob head', (u) => [`/v1/users/${u}/blobs/${H}`, { method: 'HEAD' }]],
  ['blob get', (u) => [`/v1/users/${u}/blobs/${H}`, {}]],
  ['commit', (u) => [`/v1/users/${u}/commit`, { method: 'POST', headers: J, body: JSON.stringify({ ops: [{ path: '.bashrc', baseRev: null, deleted: true }] }) }]],
  ['history', (u) => [`/v1/users/${u}/history?path=.bashrc`, {}]],
  ['restore', (u) => [`/v1/users/${u}/restore`, { method: 'POST', headers: J, body: JSON.stringify({ path: '.bashrc', rev: 1 }) }]],
  ['compare', (u) => ['/compare?include_same=1', { method: 'POST', headers: J, body: JSON.stringify([{ user: u, path: '.bashrc', sha256: H }]) }]],
  ['compare by users', (u) => ['/compare', { method: 'POST', headers: J, body: JSON.stringify({ entries: [], users: [u] }) }]],
  ['publish', (u) => ['/publish', { method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: rawTar([{ path: `${u}/.bashrc`, data: 'overwrite' }]) }]],
  ['install', (u) => ['/install', { method: 'POST', headers: J, body: JSON.stringify({ users: [u] }) }]],
  ['install paths', (u) => ['/install', { method: 'POST', headers: J, body: JSON.stringify({ paths: [{ user: u, path: '.bashrc' }] }) }]],
  ['prune', (u) => ['/prune', { method: 'POST', headers: J, body: JSON.stringify({ user: u, keep: [] }) }]],
  ['upload', (u) => [`/upload?user=${u}&path=.bashrc`, { method: 'PUT', headers: B, body: 'overwrite' }]],
  ['download', (u) => [`/download?user=${u}&path=.bashrc`, {}]],
];

const adminOnly: Array<[string, RequestInit]> = [
  ['/v1/admin/tokens', { method: 'POST', headers: J, body: JSON.stringify({ user: 'bob', device: 'evil' }) }],
  ['/v1/admin/tokens', {}],
  ['/v1/admin/tokens/tok_whatever', { method: 'DELETE' }],
  ['/v1/admin/audit', {}],
];

describe('token matrix', () => {
  it.each(endpoints)('%s with another user\'s token → 403, identical for existing, empty and unknown users', async (_name, make) => {
    const replies: string[] = [];
    for (const target of ['alice', 'carol', 'zed', '..%2Falice']) {
      const [path, init] = make(target);
      const r = await h.req(path, { ...init, token: h.tokens.bob });
      expect(r.status, `${path} as bob`).toBe(403);
      const text = await r.text();
      if (init.method !== 'HEAD') {
        expect(JSON.parse(text).error).toMatchObject({ code: 'FORBIDDEN', message: FORBIDDEN_MESSAGE });
        expect(text).not.toMatch(/alice|bashrc|carol|zed|\b17\b/);
      }
      replies.push(text);
    }
    expect(new Set(replies).size).toBe(1);
    const ok = make('bob');
    const own = await h.req(ok[0], { ...ok[1], token: h.tokens.bob, signal: AbortSignal.timeout(5000) });
    expect(own.status, 'the same endpoint for the own user is not refused').not.toBe(403);
    await own.body?.cancel();
  });

  it('leaves alice\'s data untouched after the whole matrix', async () => {
    const m = await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json();
    expect(m.entries.map((e: { path: string; hash: string; deleted: boolean }) => [e.path, e.hash, e.deleted])).toEqual([['.bashrc', H, false]]);
  });

  it.each(adminOnly)('admin-only %s with a device token → 403', async (path, init) => {
    const r = await h.req(path, { ...init, token: h.tokens.alice });
    expect(r.status).toBe(403);
    expect((await r.json()).error.message).toBe('this endpoint needs an admin token');
  });

  it('DELETE /v1/whoami revokes only the caller\'s own token, never the shared auth_token', async () => {
    const mint = async (user: string, device: string): Promise<{ token: string; id: string }> => {
      const c = await h.req('/v1/admin/tokens', { method: 'POST', headers: J, body: JSON.stringify({ user, device }), token: h.tokens.admin });
      expect(c.status).toBe(201);
      const { token, info } = await c.json();
      return { token, id: info.id };
    };
    const mine = await mint('alice', 'tablet');
    const bobs = await mint('bob', 'tablet');
    const del = await h.req('/v1/whoami', { method: 'DELETE', token: mine.token });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ id: mine.id, revoked: true });
    expect((await h.req('/v1/whoami', { token: mine.token })).status).toBe(401);
    // nobody else lost access: alice's other device, bob's token of the same device name, the admin
    for (const t of [h.tokens.alice, bobs.token, h.tokens.bob, h.tokens.admin]) expect((await h.req('/v1/whoami', { token: t })).status).toBe(200);
    const shared = await h.req('/v1/whoami', { method: 'DELETE', token: ADMIN_SHARED });
    expect(shared.status).toBe(400);
    expect((await shared.json()).error.message).toMatch(/cannot be revoked/);
    expect((await h.req('/v1/whoami', { token: ADMIN_SHARED })).status).toBe(200);
    // without a token there is nothing to revoke
    expect((await h.req('/v1/whoami', { method: 'DELETE' })).status).toBe(401);
    const tokens = (await (await h.req('/v1/admin/tokens', { token: h.tokens.admin })).json()).tokens as Array<{ id: string; revokedAt: number | null }>;
    expect(tokens.filter((t) => t.revokedAt !== null).map((t) => t.id)).toEqual([mine.id]);
  });

  it('creates a token once, and a revoked token gets 401 on the next request', async () => {
    const c = await h.req('/v1/admin/tokens', { method: 'POST', headers: J, body: JSON.stringify({ user: 'alice', device: 'phone' }), token: ADMIN_SHARED });
    expect(c.status).toBe(201);
    const { token, info } = await c.json();
    expect(token).toMatch(/^dman_[A-Za-z0-9_-]{43}$/);
    const list = await (await h.req('/v1/admin/tokens', { token: h.tokens.admin })).json();
    expect(JSON.stringify(list)).not.toContain(token);
    expect(JSON.stringify(list)).not.toContain('hash');
    expect((await h.req('/v1/whoami', { token })).status).toBe(200);
    expect((await h.req(`/v1/admin/tokens/${info.id}`, { method: 'DELETE', token: h.tokens.admin })).status).toBe(200);
    const after = await h.req('/v1/users/alice/manifest', { token });
    expect(after.status).toBe(401);
    const audit = await (await h.req('/v1/admin/audit', { token: h.tokens.admin })).json();
    const actions = audit.records.map((r: { action: string }) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['token.create', 'token.revoke', 'auth']));
    expect(JSON.stringify(audit)).not.toContain(token);
  });
});

function getFrom(localAddress: string, token: string): Promise<{ status: number; retryAfter?: string }> {
  const u = new URL(`${h.url}/v1/whoami`);
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, path: u.pathname, localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined });
    });
    r.on('error', reject);
    r.end();
  });
}

describe('failed-auth throttling', () => {
  it('answers 429 with Retry-After to the guessing address while other addresses keep working', async () => {
    const bad = `dman_${'x'.repeat(43)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await getFrom('127.0.0.2', bad)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    const blocked = await getFrom('127.0.0.2', bad);
    expect(blocked.status).toBe(429);
    const wait = Number(blocked.retryAfter);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    // a valid token from the same address (a neighbour behind the same NAT) still gets in…
    expect((await getFrom('127.0.0.2', h.tokens.alice)).status).toBe(200);
    // …without lifting the block for the guesser, and more failures do not extend it
    for (let i = 0; i < 5; i++) await getFrom('127.0.0.2', bad);
    const still = await getFrom('127.0.0.2', bad);
    expect(still.status).toBe(429);
    expect(Number(still.retryAfter)).toBeLessThanOrEqual(wait);
    expect((await getFrom('127.0.0.3', h.tokens.alice)).status).toBe(200);
    expect((await getFrom('127.0.0.1', h.tokens.bob)).status).toBe(200);
  });
});

describe('reply shapes', () => {
  it('match the published schemas', async () => {
    const { auditReplySchema, manifestReplySchema, statusReplySchema, tokenListReplySchema } = await import('../../server/routes/replySchemas.js');
    expect(manifestReplySchema.safeParse(await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json()).success).toBe(true);
    expect(tokenListReplySchema.safeParse(await (await h.req('/v1/admin/tokens', { token: h.tokens.admin })).json()).success).toBe(true);
    expect(auditReplySchema.safeParse(await (await h.req('/v1/admin/audit', { token: h.tokens.admin })).json()).success).toBe(true);
    expect(statusReplySchema.safeParse(await (await h.req('/status', { token: h.tokens.admin })).json()).success).toBe(true);
  });
});
