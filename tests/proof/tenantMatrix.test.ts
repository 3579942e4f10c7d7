// The tenant matrix across drivers (issue 9): every user-scoped endpoint × every verb × every
// storage driver (memory, disk, Redis, MariaDB) with another user's token: denied (or no such
// route), nothing of alice's leaks, her data is unchanged, each denial is audited; and a revoked
// token fails on the very next request. Extends tests/integration/serverTokenMatrix.test.ts
// (one driver, the endpoints' own verbs) and reuses its harness.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_SHARED, rawTar, sha, startHarness, type Harness } from '../integration/serverHarness.js';

const SECRET = 'alias secret-ish=1\n';
const H = sha(SECRET);
const J = { 'content-type': 'application/json' };
const B = { 'content-type': 'application/octet-stream' };
const VERBS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH'] as const;

/** Every user-scoped endpoint aimed at user `u`, with a body that suits `verb`. */
const endpoints: Array<[string, (u: string) => string]> = [
  ['changes', (u) => `/v1/users/${u}/changes?since=0`],
  ['manifest', (u) => `/v1/users/${u}/manifest`],
  ['events', (u) => `/v1/users/${u}/events`],
  ['blob', (u) => `/v1/users/${u}/blobs/${H}`],
  ['blobs bulk', (u) => `/v1/users/${u}/blobs`],
  ['blobs fetch', (u) => `/v1/users/${u}/blobs/fetch`],
  ['commit', (u) => `/v1/users/${u}/commit`],
  ['history', (u) => `/v1/users/${u}/history?path=.bashrc`],
  ['restore', (u) => `/v1/users/${u}/restore`],
  ['upload', (u) => `/upload?user=${u}&path=.bashrc`],
  ['download', (u) => `/download?user=${u}&path=.bashrc`],
];
/** Seed endpoints that name the user in the body. */
const bodyEndpoints: Array<[string, string, (u: string) => RequestInit]> = [
  ['compare', '/compare?include_same=1', (u) => ({ method: 'POST', headers: J, body: JSON.stringify([{ user: u, path: '.bashrc', sha256: H }]) })],
  ['compare by users', '/compare', (u) => ({ method: 'POST', headers: J, body: JSON.stringify({ entries: [], users: [u] }) })],
  ['publish', '/publish', (u) => ({ method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: rawTar([{ path: `${u}/.bashrc`, data: 'overwrite' }]) })],
  ['install', '/install', (u) => ({ method: 'POST', headers: J, body: JSON.stringify({ users: [u] }) })],
  ['install paths', '/install', (u) => ({ method: 'POST', headers: J, body: JSON.stringify({ paths: [{ user: u, path: '.bashrc' }] }) })],
  ['prune', '/prune', (u) => ({ method: 'POST', headers: J, body: JSON.stringify({ user: u, keep: [] }) })],
];

function bodyFor(verb: string, name: string): RequestInit {
  if (verb === 'GET' || verb === 'HEAD' || verb === 'DELETE') return { method: verb };
  if (name === 'blob' || name === 'upload') return { method: verb, headers: B, body: 'x' };
  return { method: verb, headers: J, body: JSON.stringify({ ops: [{ path: '.bashrc', baseRev: null, deleted: true }], path: '.bashrc', rev: 1 }) };
}

describe.each(['memory', 'disk', 'redis', 'mariadb'] as const)('tenant matrix on the %s driver', (driver) => {
  let h: Harness;
  let denials = 0;
  beforeAll(async () => {
    h = await startHarness({ driver });
    const r = await h.req('/publish', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/x-tar' }, body: rawTar([{ path: 'alice/.bashrc', data: SECRET }]) });
    expect(r.status).toBe(200);
  }, 60_000);
  afterAll(async () => { await h?.close(); });

  it('denies bob every endpoint × verb on alice, leaking nothing', async () => {
    const seen: string[] = [];
    for (const [name, make] of endpoints) {
      for (const verb of VERBS) {
        const r = await h.req(make('alice'), { ...bodyFor(verb, name), token: h.tokens.bob, signal: AbortSignal.timeout(5_000) });
        const text = verb === 'HEAD' ? '' : await r.text();
        // 403 where the route exists; 404/405 where this verb has no route at all (checked below).
        expect([403, 404, 405], `${verb} ${name} as bob → ${r.status} ${text.slice(0, 200)}`).toContain(r.status);
        expect(text).not.toContain('secret-ish');
        if (r.status === 403) expect(text).not.toContain(H);
        if (r.status === 403) { denials++; seen.push(`${verb} ${name}`); }
        else {
          // No route for this verb: the owner gets the same answer, so the 404 says nothing about alice.
          const own = await h.req(make('alice'), { ...bodyFor(verb, name), token: h.tokens.alice, signal: AbortSignal.timeout(5_000) });
          expect([404, 405], `${verb} ${name} as alice`).toContain(own.status);
          await own.body?.cancel();
        }
      }
    }
    for (const [name, path, make] of bodyEndpoints) {
      const r = await h.req(path, { ...make('alice'), token: h.tokens.bob });
      const text = await r.text();
      expect(r.status, `${name} as bob → ${text.slice(0, 200)}`).toBe(403);
      expect(text).not.toContain('secret-ish');
      denials++;
    }
    // Every endpoint refuses bob with at least its own verb.
    for (const [name] of endpoints) expect(seen.some((s) => s.endsWith(` ${name}`)), name).toBe(true);
  }, 60_000);

  // The bulk fetch looks each blob up for the caller's own user, like the single GET: bob cannot
  // read alice's blob through his own user even when he knows its hash.
  it('fetches in bulk only the caller\'s own blobs', async () => {
    const ask = (u: string, token: string) => h.req(`/v1/users/${u}/blobs/fetch`, { method: 'POST', headers: J, body: JSON.stringify({ hashes: [H] }), token });
    const own = await ask('alice', h.tokens.alice);
    expect(own.status).toBe(200);
    expect(await own.text()).toBe(`${H} ${Buffer.byteLength(SECRET)}\n${SECRET}`);
    const other = await ask('bob', h.tokens.bob);
    expect(other.status).toBe(200);
    expect(await other.text()).toBe(`${H} -\n`);
  });

  it('leaves alice\'s data unchanged', async () => {
    const m = await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json();
    expect(m.entries.map((e: { path: string; hash: string; deleted: boolean }) => [e.path, e.hash, e.deleted])).toEqual([['.bashrc', H, false]]);
    const dl = await h.req('/download?user=alice&path=.bashrc', { token: h.tokens.alice });
    expect(await dl.text()).toBe(SECRET);
  });

  // Found by this proof: a valid token used on another user's data got 403 but left no audit record.
  it('audits every cross-user denial', async () => {
    expect(denials).toBeGreaterThan(0);
    const audit = await (await h.req('/v1/admin/audit?limit=1000', { token: h.tokens.admin })).json();
    const denied = (audit.records as Array<{ outcome: string; action: string }>).filter((r) => r.outcome === 'denied');
    expect(denied.length, `${denials} denials, ${denied.length} audited`).toBeGreaterThanOrEqual(denials);
    expect(JSON.stringify(audit)).not.toContain('secret-ish');
  });

  it('fails a revoked token on the very next request', async () => {
    const c = await h.req('/v1/admin/tokens', { method: 'POST', headers: J, body: JSON.stringify({ user: 'alice', device: 'phone' }), token: ADMIN_SHARED });
    expect(c.status).toBe(201);
    const { token, info } = await c.json();
    expect((await h.req('/v1/users/alice/manifest', { token })).status).toBe(200);
    expect((await h.req(`/v1/admin/tokens/${info.id}`, { method: 'DELETE', token: h.tokens.admin })).status).toBe(200);
    for (const [name, make] of endpoints.filter(([n]) => n !== 'blobs bulk' && n !== 'commit' && n !== 'restore' && n !== 'upload')) {
      expect((await h.req(make('alice'), { token, signal: AbortSignal.timeout(5_000) })).status, name).toBe(401);
    }
  });
});
