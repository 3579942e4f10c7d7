// Observability against a real server on loopback: the op id crosses from client to server
// logs, metrics move after known traffic, /status breaks latency down, the audit trail records
// an auth failure and a prune (and `dman audit` shows them), the dashboard logs in and renders.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DmanError } from '../../shared/errors.js';
import { MemoryStore } from '../../server/store/MemoryStore.js';
import { createEngine } from '../../engine/createEngine.js';
import { createLogger } from '../../engine/log.js';
import { tempDirs, testConfig } from '../../engine/testing/engineFixture.js';
import { sha, startHarness, type Harness } from './serverHarness.js';

const root = join(import.meta.dirname, '../..');
const dirs = tempDirs();
let h: Harness | undefined;
afterEach(async () => { await h?.close(); h = undefined; await dirs.cleanup(); });

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { lines, stream };
}

/** Runs the CLI from source and resolves with its exit status and output. */
function cli(cfg: string, args: string[], env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), '--config', cfg, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, DMAN_TOKEN: '', ...env } }, (err, stdout, stderr) => {
      done({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Reads one sample from Prometheus text: the value of `name{labels}` (0 when absent). */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (!labels && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function commitFile(hh: Harness, token: string, path: string, text: string, baseRev = 0) {
  const buf = Buffer.from(text);
  await hh.req(`/v1/users/alice/blobs/${sha(buf)}`, { method: 'PUT', token, body: buf, headers: { 'content-type': 'application/octet-stream' } });
  return hh.req('/v1/users/alice/commit', { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops: [{ path, baseRev, hash: sha(buf), size: buf.length }] }) });
}

describe('observability', () => {
  it('logs a sync under one op id on the client and the server, with the user on server lines', async () => {
    const server = capture();
    const client = capture();
    h = await startHarness({ driver: 'disk', log: createLogger({ stream: server.stream, level: 'info' }) });
    const home = await dirs.make('dman-obs-home-');
    await writeFile(join(home, '.bashrc'), 'export A=1\n');
    await mkdir(join(home, '.config'), { recursive: true });
    await writeFile(join(home, '.config/app.conf'), 'x=1\n');
    const engine = createEngine({
      config: testConfig(home, { server_url: h.url, auth_token: h.tokens.alice }),
      log: createLogger({ stream: client.stream, level: 'debug' }),
      stateDir: await dirs.make('dman-obs-state-'),
    });
    const report = await engine.sync({ direction: 'both' });
    await engine.close();
    expect(report.users[0]!.counts.published).toBe(2);

    const clientOps = new Set(client.lines.filter((l) => l.msg === 'server request').map((l) => l.op as string));
    // The run has one op id: the report's, on every request of the run and on its summary line.
    expect([...clientOps]).toEqual([report.opId]);
    expect(client.lines.find((l) => l.msg === 'sync run done')).toMatchObject({ op: report.opId, user: 'alice', mod: 'engine' });
    const serverLines = server.lines.filter((l) => l.msg === 'request');
    for (const op of clientOps) {
      const mine = serverLines.filter((l) => l.op === op);
      // One grep for the op id finds the run on both sides.
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.every((l) => l.user === 'alice' && l.device === 'laptop')).toBe(true);
    }
    const commits = serverLines.filter((l) => l.route === '/v1/users/:user/commit');
    expect(commits.length).toBe(1);
    expect(clientOps.has(commits[0]!.op as string)).toBe(true);
    // Tokens never reach either log.
    const all = JSON.stringify([...server.lines, ...client.lines]);
    expect(all).not.toContain(h.tokens.alice);
  });

  it('moves the metrics after known traffic and breaks latency down in /status', async () => {
    h = await startHarness({ driver: 'disk' });
    const before = await (await h.req('/metrics')).text();
    for (let i = 0; i < 3; i++) expect((await h.req('/v1/whoami', { token: h.tokens.alice })).status).toBe(200);
    expect((await h.req('/v1/whoami', { token: 'dman_not-a-real-token-0000000000000000000000000000' })).status).toBe(401);
    expect((await commitFile(h, h.tokens.alice, '.vimrc', 'set nu\n')).status).toBe(200);
    const after = await (await h.req('/metrics')).text();

    const whoami = 'method="GET",route="/v1/whoami",status="200"';
    expect(sample(after, 'dman_http_requests_total', whoami) - sample(before, 'dman_http_requests_total', whoami)).toBe(3);
    expect(sample(after, 'dman_auth_failures_total', 'reason="invalid"') - sample(before, 'dman_auth_failures_total', 'reason="invalid"')).toBe(1);
    expect(sample(after, 'dman_commit_ops_count', 'driver="disk"') - sample(before, 'dman_commit_ops_count', 'driver="disk"')).toBe(1);
    expect(sample(after, 'dman_commit_ops_sum', 'driver="disk"')).toBe(1);
    expect(sample(after, 'dman_store_op_duration_seconds_count', 'driver="disk",op="commit",outcome="ok"')).toBe(1);
    expect(sample(after, 'dman_store_op_duration_seconds_count', 'driver="disk",op="putBlob",outcome="ok"')).toBe(1);
    expect(sample(after, 'dman_http_bytes_in_total')).toBeGreaterThan(sample(before, 'dman_http_bytes_in_total'));
    expect(sample(after, 'dman_store_up', 'driver="disk"')).toBe(1);
    expect(sample(after, 'dman_commits_in_flight', 'driver="disk"')).toBe(0);
    expect(sample(after, 'dman_blob_uploads_in_flight', 'driver="disk"')).toBe(0);
    expect(after).toMatch(/dman_build_info\{version="test",commit="unknown"\} 1/);

    const status = await (await h.req('/status', { token: h.tokens.admin })).json();
    expect(status.uptimeS).toBeGreaterThanOrEqual(0);
    expect(status.commit).toBe('unknown');
    expect(status.driverState).toEqual({ up: true, lastError: null });
    const w = status.breakdown.routes['GET /v1/whoami'];
    expect(w).toMatchObject({ count: 4, errors: 0 });
    expect(w.p50).toBeGreaterThan(0);
    expect(w.p99).toBeGreaterThanOrEqual(w.p95);
    expect(w.p95).toBeGreaterThanOrEqual(w.p50);
    expect(status.breakdown.store.commit.count).toBe(1);
    const health = await (await h.req('/health')).json();
    expect(health).toMatchObject({ ok: true, commit: 'unknown' });
  });

  it('records an auth failure and a prune in the audit trail, and `dman audit` shows them', async () => {
    h = await startHarness({ driver: 'disk' });
    expect((await h.req('/v1/whoami', { token: 'dman_wrong-token-00000000000000000000000000000000000' })).status).toBe(401);
    expect((await commitFile(h, h.tokens.alice, '.a', 'a\n')).status).toBe(200);
    expect((await commitFile(h, h.tokens.alice, '.b', 'b\n')).status).toBe(200);
    const prune = await h.req('/prune', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', keep: ['.a'] }) });
    expect((await prune.json()).removed).toEqual(['.b']);

    const { records } = await (await h.req('/v1/admin/audit', { token: h.tokens.admin })).json();
    expect(records.find((r: { action: string }) => r.action === 'auth')).toMatchObject({ outcome: 'denied', user: null, source: '127.0.0.1' });
    expect(records.find((r: { action: string }) => r.action === 'prune')).toMatchObject({ outcome: 'ok', user: 'alice', details: { removed: 1 } });
    expect(JSON.stringify(records)).not.toContain('dman_wrong-token');

    const cfgDir = await dirs.make('dman-obs-cfg-');
    const cfg = join(cfgDir, 'dman.yaml');
    await writeFile(cfg, `server_url: ${h.url}\nusers:\n  alice:\n    home: ${cfgDir}\n`, { mode: 0o600 });
    // Asynchronous: the server runs in this process and must keep answering while the CLI waits.
    const run = (...args: string[]) => cli(cfg, args, { DMAN_TOKEN: h!.tokens.admin });
    const json = await run('audit', '--json', '--since', '1h');
    expect(json.status).toBe(0);
    const out = JSON.parse(json.stdout) as { records: Array<{ action: string; user: string | null }> };
    expect(out.records.map((r) => r.action)).toEqual(expect.arrayContaining(['auth', 'prune']));
    const alice = JSON.parse((await run('audit', '--json', '--user', 'alice')).stdout) as { records: Array<{ user: string | null }> };
    expect(alice.records.length).toBeGreaterThan(0);
    expect(alice.records.every((r) => r.user === 'alice')).toBe(true);
    const text = await run('audit', '--since', '1h');
    expect(text.stdout).toMatch(/\bauth\s+denied\b/);
    expect(text.stdout).toMatch(/\bprune\s+ok\s+alice\b/);
    const future = await run('audit', '--json', '--since', new Date(Date.now() + 3_600_000).toISOString());
    expect(JSON.parse(future.stdout).records).toEqual([]);
    const bad = await cli(cfg, ['audit', '--token', h.tokens.alice], {});
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/admin token/);
  });

  it('serves the dashboard to admins only: ?token= becomes an HttpOnly cookie and leaves the URL', async () => {
    h = await startHarness({ driver: 'disk' });
    await commitFile(h, h.tokens.alice, '.zshrc', 'x\n');
    const anon = await h.req('/dashboard');
    expect(anon.status).toBe(401);
    expect(await anon.text()).toContain('/dashboard?token=ADMIN_TOKEN');
    expect((await h.req('/dashboard', { token: h.tokens.alice })).status).toBe(403);
    expect((await h.req(`/dashboard?token=${h.tokens.alice}`, { redirect: 'manual' })).status).toBe(403);

    const login = await h.req(`/dashboard?token=${encodeURIComponent(h.tokens.admin)}`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/dashboard');
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^dman_dash=[A-Za-z0-9_-]{40,}; Path=\/; HttpOnly; SameSite=Strict/);
    expect(cookie).not.toContain(h.tokens.admin);
    const session = cookie.split(';')[0]!;

    const page = await h.req('/dashboard', { headers: { cookie: session } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await page.text();
    expect(html).toContain('<td>alice</td>');
    expect(html).toContain('dashboard.login');
    expect(html).not.toMatch(/<script>(?!<)/);
    for (const asset of ['dashboard.js', 'dashboard.css', 'uPlot.iife.min.js']) expect((await h.req(`/dashboard/assets/${asset}`)).status).toBe(200);

    const data = await (await h.req('/v1/admin/dashboard.json?html=1', { headers: { cookie: session } })).json();
    expect(data.users).toEqual([expect.objectContaining({ user: 'alice', files: 1 })]);
    expect(data.panels.users).toContain('alice');
    expect((await h.req('/v1/admin/dashboard.json', { headers: { cookie: 'dman_dash=forged' } })).status).toBe(401);

    // Revoking the admin token ends its dashboard session.
    const ad = (await (await h.req('/v1/admin/tokens', { token: h.tokens.admin })).json()).tokens.find((t: { admin: boolean; device: string }) => t.admin && t.device === 'ops');
    expect((await h.req(`/v1/admin/tokens/${ad.id}`, { method: 'DELETE', token: h.tokens.admin })).status).toBe(200);
    expect((await h.req('/v1/admin/dashboard.json', { headers: { cookie: session } })).status).toBe(401);
  });

  it('shows a storage driver that goes down: store_up 0, the error in /health and /status, and back up', async () => {
    // Injected fault: a memory store whose database "goes away".
    let down = false;
    const store = new MemoryStore();
    const health = store.health.bind(store);
    const headRev = store.headRev.bind(store);
    store.health = async () => (down ? { ok: false, latencyMs: 0, error: 'connect ECONNREFUSED 127.0.0.1:6379' } : health());
    store.headRev = async (u: string) => { if (down) throw new DmanError('STORE_UNAVAILABLE', 'redis at 127.0.0.1:6379 is unreachable'); return headRev(u); };
    h = await startHarness({ store });
    const metric = async () => sample(await (await h!.req('/metrics')).text(), 'dman_store_up', 'driver="memory"');
    expect(await metric()).toBe(1);
    down = true;
    expect((await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).status).toBe(503);
    expect(await metric()).toBe(0);
    const st = await (await h.req('/status', { token: h.tokens.admin })).json();
    expect(st.driverState).toMatchObject({ up: false, lastError: { op: 'health', message: 'connect ECONNREFUSED 127.0.0.1:6379' } });
    const hl = await h.req('/health');
    expect(hl.status).toBe(503);
    expect((await hl.json()).storage.error).toContain('ECONNREFUSED');
    down = false;
    expect((await h.req('/health')).status).toBe(200);
    expect(await metric()).toBe(1);
  });

  it('audits the background retention pass when it removes history', async () => {
    h = await startHarness({ driver: 'disk', retention: { versions: 0, days: 0, afterCommit: false, gcIntervalMs: 50 } });
    expect((await commitFile(h, h.tokens.alice, '.gitconfig', 'v1\n')).status).toBe(200);
    expect((await commitFile(h, h.tokens.alice, '.gitconfig', 'v2\n', 1)).status).toBe(200);
    await expect.poll(async () => (await (await h!.req('/v1/admin/audit', { token: h!.tokens.admin })).json()).records.find((r: { action: string }) => r.action === 'retention'), { timeout: 10_000 })
      .toMatchObject({ outcome: 'ok', source: 'server', details: { versionsRemoved: 1 } });
  });
});
