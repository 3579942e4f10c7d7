// `dman doctor` against a real server on loopback (running, stopped, Redis without persistence)
// and with machine facts that fail: clock skew, a low inotify limit, a state dir inside a home.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDoctor, startupFinding, type Finding } from '../../cli/commands/doctor.js';
import { buildInfo } from '../../cli/version.js';
import { tempDirs } from '../../engine/testing/engineFixture.js';
import { startHarness, type Harness } from './serverHarness.js';

const root = join(import.meta.dirname, '../..');
const dirs = tempDirs();
let h: Harness | undefined;
afterEach(async () => { await h?.close(); h = undefined; await dirs.cleanup(); });

interface Setup { cfg: string; home: string; base: string }

async function setup(url: string, token: string, extra: { users?: string[]; stateDir?: string; track?: string } = {}): Promise<Setup> {
  const base = await dirs.make('dman-doctor-');
  const home = join(base, 'home');
  await mkdir(home);
  await writeFile(join(home, '.bashrc'), 'x\n');
  const users = (extra.users ?? ['alice']).map((u) => `  ${u}:\n    home: ${u === 'alice' ? home : join(base, u)}\n`).join('');
  const cfg = join(base, 'dman.yaml');
  await writeFile(cfg, `server_url: ${url}\nauth_token: ${token}\nstate_dir: ${extra.stateDir ?? join(base, 'state')}\ntrack: ['${extra.track ?? '.bashrc'}']\nusers:\n${users}`, { mode: 0o600 });
  return { cfg, home, base };
}

function cli(cfg: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    // Without the machine's NODE_EXTRA_CA_CERTS, as a user's shell has it (the startup check would warn of it: its own test is below).
    const { NODE_EXTRA_CA_CERTS: _certs, ...base } = process.env;
    execFile(process.execPath, ['--import', 'tsx', join(root, 'cli/main.ts'), '--config', cfg, ...args], { cwd: root, encoding: 'utf8', env: { ...base, DMAN_AUTH_TOKEN: '' } }, (err, stdout, stderr) => {
      done({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const byCheck = (fs: Finding[], check: Finding['check']) => fs.filter((f) => f.check === check);
const level = (fs: Finding[], check: Finding['check']) => byCheck(fs, check).map((f) => f.level);
const env = { ...process.env, DMAN_AUTH_TOKEN: undefined };

describe('dman doctor', () => {
  it('passes every check against a healthy server and exits 0 (CLI, --json)', async () => {
    h = await startHarness({ driver: 'disk', version: buildInfo().version });
    const s = await setup(h.url, h.tokens.alice);
    const r = await cli(s.cfg, ['--json', 'doctor']);
    const out = JSON.parse(r.stdout) as { ok: boolean; findings: Finding[] };
    expect(out.findings.filter((f) => f.level === 'error' || f.level === 'warn')).toEqual([]);
    expect(r.status).toBe(0);
    expect(out.ok).toBe(true);
    for (const c of ['config', 'server', 'version', 'token', 'clock', 'storage', 'state', 'startup'] as const) expect(level(out.findings, c)).toEqual(['ok']);
    expect(byCheck(out.findings, 'token')[0]!.message).toContain('for alice on device laptop');
  });

  it('reports a stopped server with a fix and exits 1; the text output names the fix', async () => {
    h = await startHarness({ driver: 'disk' });
    const s = await setup(h.url, h.tokens.alice);
    await h.close();
    h = undefined;
    const r = await cli(s.cfg, ['doctor']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/✗ server\s+cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(r.stdout).toContain('fix: start it (`dman serve`)');
    expect(r.stdout).toMatch(/- token\s+skipped: server unreachable/);
    const typo = await cli(s.cfg, ['--log-level', 'verbose', 'doctor']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain("argument 'verbose' is invalid. Allowed choices are fatal, error, warn, info, debug, trace, silent");
  });

  it('flags a wrong token, an admin token, a token of another user, and a broken config', async () => {
    h = await startHarness({ driver: 'disk' });
    const wrong = await runDoctor({ configPath: (await setup(h.url, 'dman_revoked-or-wrong-000000000000000000000000000000')).cfg, env });
    expect(byCheck(wrong, 'token')[0]).toMatchObject({ level: 'error', message: expect.stringContaining('refuses this token (401)'), fix: expect.stringContaining('dman login') });
    expect(byCheck(wrong, 'token')[0]!.fix).not.toContain('auth_token');
    const admin = await runDoctor({ configPath: (await setup(h.url, h.tokens.admin)).cfg, env });
    expect(byCheck(admin, 'token')[0]).toMatchObject({ level: 'warn', fix: expect.stringContaining('dman token create') });
    const two = await runDoctor({ configPath: (await setup(h.url, h.tokens.alice, { users: ['alice', 'bob'] })).cfg, env });
    expect(byCheck(two, 'token')[0]).toMatchObject({ level: 'warn', message: expect.stringContaining('bob will get 403') });

    const s = await setup(h.url, h.tokens.alice);
    await writeFile(s.cfg, 'server_url: [not, a, url\n', { mode: 0o600 });
    const broken = await runDoctor({ configPath: s.cfg, env });
    expect(level(broken, 'config')).toContain('error');
    expect(level(broken, 'server')).toEqual(['skip']);
  });

  it('sends a user without a token to `dman login`, not to auth_token', async () => {
    h = await startHarness({ driver: 'disk' });
    const s = await setup(h.url, 'unused');
    await writeFile(s.cfg, (await readFile(s.cfg, 'utf8')).replace(/^auth_token:.*\n/m, ''), { mode: 0o600 });
    // No stored login either: an empty credentials file of this test's own.
    const saved = { store: process.env.DMAN_CREDENTIAL_STORE, file: process.env.DMAN_CREDENTIALS_FILE };
    process.env.DMAN_CREDENTIAL_STORE = 'file';
    process.env.DMAN_CREDENTIALS_FILE = join(s.base, 'credentials.json');
    try {
      const f = byCheck(await runDoctor({ configPath: s.cfg, env }), 'token')[0]!;
      expect(f).toMatchObject({ level: 'error', message: expect.stringContaining('not logged in'), fix: expect.stringContaining('run `dman login`') });
      expect(f.fix).not.toContain('put it in auth_token');
    } finally {
      for (const [k, v] of [['DMAN_CREDENTIAL_STORE', saved.store], ['DMAN_CREDENTIALS_FILE', saved.file]] as const) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
  });

  it('finds clock skew, a low inotify limit and a state dir inside a tracked home', async () => {
    h = await startHarness({ driver: 'disk' });
    const s = await setup(h.url, h.tokens.alice, { track: '**' });
    for (let i = 0; i < 10; i++) await writeFile(join(s.home, `.f${i}`), 'x');
    const limit = join(s.base, 'max_user_watches');
    await writeFile(limit, '5\n');
    const skewed = await runDoctor({ configPath: s.cfg, env, now: () => Date.now() - 600_000, watchLimitFile: limit });
    expect(byCheck(skewed, 'clock')[0]).toMatchObject({ level: 'error', message: expect.stringMatching(/this clock is (599|60[01]) s behind the server's/), fix: expect.stringContaining('set-ntp') });
    expect(byCheck(skewed, 'watches')[0]).toMatchObject({ level: 'error', message: expect.stringContaining('the limit is 5'), fix: expect.stringContaining('max_user_watches') });
    const slightly = await runDoctor({ configPath: s.cfg, env, now: () => Date.now() + 60_000, watchLimitFile: null });
    expect(level(slightly, 'clock')).toEqual(['warn']);
    expect(level(slightly, 'watches')).toEqual(['skip']);

    const inside = await setup(h.url, h.tokens.alice, { track: '**' });
    await writeFile(inside.cfg, (await readFile(inside.cfg, 'utf8')).replace(/state_dir: .*/, `state_dir: ${join(inside.home, '.local/state/dman')}`), { mode: 0o600 });
    const bad = await runDoctor({ configPath: inside.cfg, env, watchLimitFile: null });
    expect(byCheck(bad, 'state')[0]).toMatchObject({ level: 'error', message: expect.stringContaining("inside alice's tracked files"), fix: expect.stringContaining('!.local/state/dman/') });
  });

  it('warns of NODE_EXTRA_CA_CERTS, which every start parses, when the server is plain HTTP', async () => {
    h = await startHarness({ driver: 'disk' });
    const s = await setup(h.url, h.tokens.alice);
    const withCerts = await runDoctor({ configPath: s.cfg, env: { ...env, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' }, watchLimitFile: null });
    expect(byCheck(withCerts, 'startup')).toEqual([expect.objectContaining({
      level: 'warn', message: expect.stringMatching(/NODE_EXTRA_CA_CERTS is set \(\/etc\/ssl\/certs\/ca-certificates\.crt\).*plain HTTP/), fix: expect.stringContaining('env -u NODE_EXTRA_CA_CERTS'),
    })]);
    // A warning, not an error: the exit code stays 0 for it.
    expect(withCerts.some((f) => f.level === 'error')).toBe(false);
    const without = await runDoctor({ configPath: s.cfg, env: { ...env, NODE_EXTRA_CA_CERTS: undefined }, watchLimitFile: null });
    expect(byCheck(without, 'startup')).toEqual([expect.objectContaining({ level: 'ok', message: expect.stringContaining('is not set') })]);
    // Over HTTPS it may be what makes the server trusted: said, not flagged.
    expect(startupFinding({ NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem' }, 'https://sync.example.com')).toMatchObject({ level: 'ok', message: expect.stringContaining('keep it if the server') });
  });

  it('reports the storage warning of a Redis without persistence (admin token)', async () => {
    h = await startHarness({ driver: 'redis' });
    const s = await setup(h.url, h.tokens.admin);
    const f = await runDoctor({ configPath: s.cfg, env, watchLimitFile: null });
    expect(byCheck(f, 'storage')).toEqual([expect.objectContaining({ level: 'warn', message: expect.stringContaining('Redis persistence is off') })]);
  });
});
