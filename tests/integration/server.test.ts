// The sync server over real HTTP: publish, install, compare, history, restore, CAS, push stream.
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Parser, type ReadEntry } from 'tar';
import { BULK_BLOBS_CONTENT_TYPE, bulkBlobHeader } from '../../shared/protocol.js';
import { rawTar, sha, startHarness as startServer, type Harness } from './serverHarness.js';

let h: Harness;

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function untar(buf: Buffer): Promise<Record<string, { data: string; type: string; linkpath?: string }>> {
  const out: Record<string, { data: string; type: string; linkpath?: string }> = {};
  await new Promise<void>((resolve, reject) => {
    const p = new Parser({ strict: true });
    p.on('entry', (e: ReadEntry) => {
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () => { out[e.path] = { data: Buffer.concat(chunks).toString(), type: e.type, linkpath: e.linkpath }; });
    });
    p.on('end', () => resolve());
    p.on('error', reject);
    p.end(buf);
  });
  return out;
}

async function putBlob(user: string, data: string, token: string) {
  return h.req(`/v1/users/${user}/blobs/${sha(data)}`, { method: 'PUT', token, headers: { 'content-type': 'application/octet-stream' }, body: data });
}

async function commit(user: string, ops: unknown[], token: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return h.req(`/v1/users/${user}/commit`, { ...json({ ops, ...extra }), token, headers: { 'content-type': 'application/json', ...headers } });
}

describe.each(['memory', 'disk', 'redis', 'mariadb'] as const)('server on the %s store', (driver) => {
const startHarness = (over: Parameters<typeof startServer>[0] = {}) => startServer({ driver, ...over });
beforeEach(async () => { h = await startHarness(); });
afterEach(async () => { await h.close(); });

describe('seed endpoints', () => {
  it('publishes a gzip tar and installs it back byte for byte, gzip when asked', async () => {
    const tar = rawTar([
      { path: 'alice/.bashrc', data: 'export A=1\n' },
      { path: 'alice/.config/nvim/init.lua', data: 'vim.o.number = true\n', mode: 0o600 },
      { path: 'alice/.vim', type: 'SymbolicLink', linkpath: '.config/nvim' },
    ]);
    const pub = await h.req('/publish', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/x-tar', 'content-encoding': 'gzip' }, body: gzipSync(tar) });
    expect(pub.status).toBe(200);
    expect(await pub.json()).toEqual({ ok: true, users: { alice: { rev: 3, files: 3, unchanged: 0 } } });

    // Publishing the same archive again changes nothing (no new revs).
    const again = await h.req('/publish', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/x-tar' }, body: tar });
    expect((await again.json()).users.alice).toEqual({ rev: 3, files: 0, unchanged: 3 });

    const inst = await h.req('/install', { ...json({ users: ['alice'] }), token: h.tokens.alice, headers: { 'content-type': 'application/json', 'accept-encoding': 'gzip' } });
    expect(inst.status).toBe(200);
    expect(inst.headers.get('content-type')).toBe('application/x-tar');
    // fetch transparently gunzips; the header proves the wire was gzip.
    expect(inst.headers.get('content-encoding')).toBe('gzip');
    const files = await untar(Buffer.from(await inst.arrayBuffer()));
    expect(files['alice/.bashrc']!.data).toBe('export A=1\n');
    expect(files['alice/.config/nvim/init.lua']!.data).toBe('vim.o.number = true\n');
    expect(files['alice/.vim']).toMatchObject({ type: 'SymbolicLink', linkpath: '.config/nvim' });

    const gz = await h.req('/install?gzip=1', { ...json({ paths: [{ user: 'alice', path: '.bashrc' }] }), token: h.tokens.alice, headers: { 'content-type': 'application/json', 'accept-encoding': 'identity' } });
    const raw = Buffer.from(await gz.arrayBuffer());
    const only = await untar(gz.headers.get('content-encoding') === 'gzip' && raw[0] === 0x1f ? gunzipSync(raw) : raw);
    expect(Object.keys(only)).toEqual(['alice/.bashrc']);
  });

  it('compares without content: same, changed, missing on either side', async () => {
    await h.req('/publish', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/x-tar' }, body: rawTar([{ path: 'alice/a', data: 'A' }, { path: 'alice/b', data: 'B' }, { path: 'alice/c', data: 'C' }]) });
    const body = { entries: [{ user: 'alice', path: 'a', sha256: sha('A') }, { user: 'alice', path: 'b', sha256: sha('B2') }, { user: 'alice', path: 'd', sha256: sha('D') }] };
    const r = await h.req('/compare', { ...json(body), token: h.tokens.alice });
    const out = await r.json();
    expect(out.counts).toEqual({ same: 1, changed: 1, missing_remote: 1, missing_local: 1 });
    expect(out.results.map((x: { path: string; status: string }) => `${x.path}:${x.status}`).sort()).toEqual(['b:changed', 'c:missing_local', 'd:missing_remote']);
    const all = await (await h.req('/compare?include_same=1', { ...json(body.entries), token: h.tokens.alice })).json();
    expect(all.results).toHaveLength(4);
  });

  it('uploads, downloads, and prunes with an audit record', async () => {
    const up = await h.req('/upload?user=alice&path=.gitconfig', { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream' }, body: '[user]\n' });
    expect(up.status).toBe(200);
    await h.req('/upload?user=alice&path=.old', { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
    const down = await h.req('/download?user=alice&path=.gitconfig', { token: h.tokens.alice });
    expect(await down.text()).toBe('[user]\n');
    const pr = await h.req('/prune', { ...json({ user: 'alice', keep: ['.gitconfig'] }), token: h.tokens.alice });
    expect(await pr.json()).toMatchObject({ removed: ['.old'], dryRun: false });
    expect((await h.req('/download?user=alice&path=.old', { token: h.tokens.alice })).status).toBe(404);
    const audit = await (await h.req('/v1/admin/audit', { token: h.tokens.admin })).json();
    expect(audit.records.some((r: { action: string; user: string }) => r.action === 'prune' && r.user === 'alice')).toBe(true);
    const history = await (await h.req('/v1/users/alice/history?path=.old', { token: h.tokens.alice })).json();
    expect(history.versions.map((v: { deleted: boolean }) => v.deleted)).toEqual([true, false]);
  });
});

describe('/v1', () => {
  it('commits with CAS: of two writers on the same base exactly one wins, the other gets 409 with the current entry', async () => {
    expect((await putBlob('alice', 'v1', h.tokens.alice)).status).toBe(201);
    expect((await putBlob('alice', 'v1', h.tokens.alice)).status).toBe(200);
    const c1 = await commit('alice', [{ path: '.zshrc', baseRev: 0, hash: sha('v1'), size: 2 }], h.tokens.alice);
    expect(c1.status).toBe(200);
    const base = (await c1.json()).rev as number;
    await putBlob('alice', 'from-laptop', h.tokens.alice);
    await putBlob('alice', 'from-desktop', h.tokens.alice);
    const [a, b] = await Promise.all([
      commit('alice', [{ path: '.zshrc', baseRev: base, hash: sha('from-laptop'), size: 11 }], h.tokens.alice, { device: 'laptop' }),
      commit('alice', [{ path: '.zshrc', baseRev: base, hash: sha('from-desktop'), size: 12 }], h.tokens.alice, { device: 'desktop' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const loser = a.status === 409 ? a : b;
    const body = await loser.json();
    expect(body.error.code).toBe('CONFLICT');
    expect(body.conflicts[0]).toMatchObject({ path: '.zshrc', expected: base });
    expect(body.conflicts[0].current.rev).toBe(base + 1);
    const history = await (await h.req('/v1/users/alice/history?path=.zshrc', { token: h.tokens.alice })).json();
    expect(history.versions).toHaveLength(2);
  });

  it('applies a retried commit with the same idempotency key once', async () => {
    await putBlob('alice', 'x', h.tokens.alice);
    const ops = [{ path: 'f', baseRev: 0, hash: sha('x'), size: 1 }];
    const r1 = await (await commit('alice', ops, h.tokens.alice, {}, { 'idempotency-key': 'key-12345678' })).json();
    const r2 = await (await commit('alice', ops, h.tokens.alice, {}, { 'idempotency-key': 'key-12345678' })).json();
    expect(r1.replayed).toBe(false);
    expect(r2).toMatchObject({ rev: r1.rev, replayed: true });
  });

  it('restores an earlier version as a new rev and audits it', async () => {
    for (const [i, v] of ['one', 'two'].entries()) {
      await putBlob('alice', v, h.tokens.alice);
      expect((await commit('alice', [{ path: 'p', baseRev: i, hash: sha(v), size: v.length }], h.tokens.alice)).status).toBe(200);
    }
    const r = await h.req('/v1/users/alice/restore', { ...json({ path: 'p', rev: 1, baseRev: 2 }), token: h.tokens.alice });
    expect(r.status).toBe(200);
    expect((await r.json()).rev).toBe(3);
    expect(await (await h.req('/download?user=alice&path=p', { token: h.tokens.alice })).text()).toBe('one');
    const stale = await h.req('/v1/users/alice/restore', { ...json({ path: 'p', rev: 1, baseRev: 1 }), token: h.tokens.alice });
    expect(stale.status).toBe(409);
    const audit = await (await h.req('/v1/admin/audit?user=alice', { token: h.tokens.admin })).json();
    expect(audit.records.filter((x: { action: string }) => x.action === 'restore').map((x: { outcome: string }) => x.outcome).sort()).toEqual(['failed', 'ok']);
  });

  it('streams blobs back, gzip when asked, and refuses a wrong hash storing nothing', async () => {
    const data = 'hello '.repeat(1000);
    expect((await putBlob('alice', data, h.tokens.alice)).status).toBe(201);
    const g = await h.req(`/v1/users/alice/blobs/${sha(data)}`, { token: h.tokens.alice, headers: { 'accept-encoding': 'gzip' } });
    expect(g.headers.get('content-encoding')).toBe('gzip');
    expect(await g.text()).toBe(data);
    expect((await h.req(`/v1/users/alice/blobs/${sha(data)}`, { method: 'HEAD', token: h.tokens.alice })).status).toBe(200);
    const wrong = await h.req(`/v1/users/alice/blobs/${sha('other')}`, { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream' }, body: data });
    expect(wrong.status).toBe(400);
    expect((await wrong.json()).error.code).toBe('HASH_MISMATCH');
    expect((await h.req(`/v1/users/alice/blobs/${sha('other')}`, { method: 'HEAD', token: h.tokens.alice })).status).toBe(404);
    const gzUp = await h.req(`/v1/users/alice/blobs/${sha('zipped!')}`, { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' }, body: gzipSync('zipped!') });
    expect(gzUp.status).toBe(201);
  });

  it("answers an upload by whether this user had the blob, never whether another user stored it (single and bulk)", async () => {
    const secret = 'alice private key material\n';
    expect((await putBlob('alice', secret, h.tokens.alice)).status).toBe(201);
    const first = await putBlob('bob', secret, h.tokens.bob);
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ hash: sha(secret), size: secret.length, created: true });
    const again = await putBlob('bob', secret, h.tokens.bob);
    expect(again.status).toBe(200);
    expect((await again.json()).created).toBe(false);
    // the bulk endpoint, for content alice has and bob does not yet
    const other = 'alice other file\n';
    expect((await putBlob('alice', other, h.tokens.alice)).status).toBe(201);
    const body = Buffer.concat([other, secret].flatMap((d) => [Buffer.from(bulkBlobHeader(sha(d), Buffer.byteLength(d))), Buffer.from(d)]));
    const bulk = await h.req('/v1/users/bob/blobs', { method: 'POST', token: h.tokens.bob, headers: { 'content-type': BULK_BLOBS_CONTENT_TYPE }, body });
    expect(bulk.status).toBe(200);
    expect((await bulk.json()).blobs).toEqual([
      { hash: sha(other), size: other.length, created: true },
      { hash: sha(secret), size: secret.length, created: false },
    ]);
  });

  it('pages the change feed and serves the manifest', async () => {
    for (let i = 0; i < 5; i++) {
      await putBlob('alice', `c${i}`, h.tokens.alice);
      await commit('alice', [{ path: `f${i}`, baseRev: 0, hash: sha(`c${i}`), size: 2 }], h.tokens.alice);
    }
    const p1 = await (await h.req('/v1/users/alice/changes?since=0&limit=2', { token: h.tokens.alice })).json();
    expect(p1).toMatchObject({ headRev: 5, more: true });
    expect(p1.entries.map((e: { rev: number }) => e.rev)).toEqual([1, 2]);
    const p2 = await (await h.req('/v1/users/alice/changes?since=4', { token: h.tokens.alice })).json();
    expect(p2.entries.map((e: { path: string }) => e.path)).toEqual(['f4']);
    const m = await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json();
    expect(m.entries).toHaveLength(5);
    const who = await (await h.req('/v1/whoami', { token: h.tokens.alice })).json();
    expect(who).toMatchObject({ user: 'alice', device: 'laptop', admin: false, protocol: 1 });
  });

  it('pushes a new rev over SSE within milliseconds of the commit', async () => {
    const ac = new AbortController();
    const res = await h.req('/v1/users/alice/events', { token: h.tokens.alice, signal: ac.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const nextRev = async (): Promise<number> => {
      for (;;) {
        const m = /data: (\{[^\n]*\})\n\n/.exec(buf);
        if (m) { buf = buf.slice(m.index + m[0].length); return JSON.parse(m[1]!).rev; }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += dec.decode(value);
      }
    };
    expect(await nextRev()).toBe(0);
    await putBlob('alice', 'sse', h.tokens.alice);
    const t0 = performance.now();
    await commit('alice', [{ path: 'x', baseRev: 0, hash: sha('sse'), size: 3 }], h.tokens.alice);
    expect(await nextRev()).toBe(1);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(500);
    const metrics = await (await h.req('/metrics')).text();
    expect(metrics).toMatch(/dman_sse_subscribers 1/);
    ac.abort();
  });

  it('sends heartbeats on an idle push stream and counts subscribers down on disconnect', async () => {
    await h.close();
    h = await startHarness({ limits: { heartbeatMs: 30 } });
    const ac = new AbortController();
    const res = await h.req('/v1/users/alice/events', { token: h.tokens.alice, signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes(': ping')) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await expect.poll(async () => (await (await h.req('/metrics')).text()).match(/dman_sse_subscribers (\d+)/)?.[1]).toBe('0');
  });

  it('ends open push streams when the server closes', async () => {
    const res = await h.req('/v1/users/alice/events', { token: h.tokens.alice });
    const reader = res.body!.getReader();
    await reader.read();
    await h.close();
    const ended = await reader.read().then((r) => r.done, () => true);
    expect(ended).toBe(true);
    h = await startHarness();
  });

  it('reports health without a token and status with one', async () => {
    const health = await h.req('/health');
    expect(await health.json()).toMatchObject({ ok: true, driver, storage: { ok: true } });
    expect((await h.req('/status')).status).toBe(401);
    await h.req('/upload?user=bob&path=b', { method: 'PUT', token: h.tokens.bob, headers: { 'content-type': 'application/octet-stream' }, body: 'bob' });
    const mine = await (await h.req('/status', { token: h.tokens.alice })).json();
    expect(mine.users.map((u: { user: string }) => u.user)).toEqual(['alice']);
    const all = await (await h.req('/status', { token: h.tokens.admin })).json();
    expect(all.users.find((u: { user: string }) => u.user === 'bob')).toMatchObject({ files: 1, bytes: 3 });
    expect(Object.keys(all.latency)).toContain('PUT /upload');
  });
});
});
