// `dman sync` handed to a running `dman watch` for the same config (cli/control/), end to end with
// real processes: the built CLI, a real `dman serve` on 127.0.0.1, two machines. The delegated run
// must print what a cold run prints and exit the same way; any doubt falls back to the cold run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, realpath, rm, unlink, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCliServe } from './cliServe.js';

const root = new URL('../..', import.meta.url).pathname;
const ADMIN = 'e2e-admin-token-for-the-delegate-test-0123456789';
const PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n';
let dir: string;
let url: string;
const children = new Set<ChildProcess>();
const ajv = new Ajv2020({ strict: false });
let validateSync: ReturnType<typeof ajv.compile>;

interface Machine { name: string; home: string; cfg: string; token: string }
let A: Machine;
let B: Machine;

const env = (extra: Record<string, string> = {}) => ({
  ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), XDG_DATA_HOME: join(dir, 'share'), XDG_RUNTIME_DIR: join(dir, 'run'),
  DMAN_CONFIG: '', DMAN_TOKEN: '', DMAN_AUTH_TOKEN: '', DMAN_DEBUG: '', DMAN_NO_DAEMON: '', NO_COLOR: '1', ...extra,
});

function run(m: Machine | null, args: string[], extra: Record<string, string> = {}) {
  const cfg = m ? ['--config', m.cfg] : ['--config', join(dir, 'server.yaml')];
  const r = spawnSync(process.execPath, [join(root, 'bin/dman.js'), ...cfg, ...args], { cwd: dir, env: env(extra), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, all: `${r.stdout}\n${r.stderr}` };
}
const cold = (m: Machine, args: string[]) => run(m, args, { DMAN_NO_DAEMON: '1' });
const traced = (m: Machine, args: string[]) => run(m, args, { DMAN_DEBUG: '1' });
const G_FILES = ['.g1', '.g2', '.g3', '.g4', '.g5', '.g6', '.g7', '.g8'];
const DELEGATED = /dman: \[debug\] sync runs in dman watch \(pid (\d+)\)/;

/** Drops what differs between two runs of the same no-op (timings, run ids). */
function stable(text: string): string {
  return text.replace(/"(opId|totalMs|scanMs|fetchMs|planMs|applyMs)":"?[\w.-]*"?/g, '"$1":0').replace(/\d+(\.\d+)? ?m?s\b/g, 'N ms');
}

async function writeConfig(m: Machine, extra = ''): Promise<void> {
  await writeFile(m.cfg, [
    `server_url: ${url}`, `auth_token: ${m.token}`, `device: ${m.name}`, `state_dir: ${join(dir, `state-${m.name}`)}`,
    'conflict_policy: ask', 'mass_change:', '  ratio: 0.5', '  min_files: 2',
    'users:', '  alice:', `    home: ${m.home}`, 'track:', '  - "**"', extra,
  ].join('\n'));
  await chmod(m.cfg, 0o600);
}
async function put(m: Machine, path: string, text: string): Promise<void> {
  const abs = join(m.home, path);
  await mkdir(dirname(abs), { recursive: true });
  await writeFile(abs, text);
}
const read = (m: Machine, path: string) => readFile(join(m.home, path), 'utf8').catch(() => null);

async function machine(name: string): Promise<Machine> {
  const created = run(null, ['--json', 'token', 'create', '--user', 'alice', '--device', name, '--server', url, '--token', ADMIN]);
  expect(created.code, created.err).toBe(0);
  const m: Machine = { name, home: join(dir, `home-${name}`), cfg: join(dir, `${name}.yaml`), token: (JSON.parse(created.out) as { token: string }).token };
  await mkdir(m.home, { recursive: true });
  await writeConfig(m);
  return m;
}

async function socketOf(m: Machine): Promise<string> {
  return join(dir, 'run', 'dman', `${createHash('sha256').update(await realpath(m.cfg)).digest('hex').slice(0, 16)}.sock`);
}

function startWatch(m: Machine, extra: Record<string, string> = {}): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [join(root, 'bin/dman.js'), '--config', m.cfg, 'watch', '--rescan', '0'], { cwd: dir, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => { if (l.startsWith('watching')) resolve({ child, out: () => out }); });
    child.once('exit', (code) => reject(new Error(`dman watch exited with ${code}: ${out}`)));
  });
}
async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  await exited;
}

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  expect(b.status, b.stderr).toBe(0);
  dir = await mkdtemp(join(tmpdir(), 'dman-deleg-'));
  await mkdir(join(dir, 'run'), { mode: 0o700 });
  const started = await startCliServe({ dir, admin: ADMIN, env: env() });
  children.add(started.child);
  url = started.url;
  A = await machine('laptop');
  B = await machine('desktop');
  validateSync = ajv.compile(JSON.parse(await readFile(join(root, 'docs/schemas/sync.schema.json'), 'utf8')));
}, 60_000);

afterAll(async () => {
  for (const c of [...children]) await stop(c, 'SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dman sync through a running dman watch', () => {
  it('runs in the watch process, prints what a cold run prints (text and schema-valid --json), and syncs what was just saved', async () => {
    await put(A, '.bashrc', 'export A=1\n');
    await put(A, '.vimrc', 'set nu\n');
    await put(A, '.config/git/config', '[user]\n');
    // A secret held back: every run, cold or delegated, says so.
    await put(A, '.ssh/id_ed25519', PRIVATE_KEY);
    expect(cold(A, ['sync']).code).toBe(0);
    const w = await startWatch(A);
    try {
      const sock = await socketOf(A);
      expect((await lstat(sock)).mode & 0o777).toBe(0o600);
      expect((await lstat(dirname(sock))).mode & 0o777).toBe(0o700);

      const t = traced(A, ['sync']);
      expect(t.code, t.all).toBe(0);
      expect(Number(DELEGATED.exec(t.err)?.[1]), t.err).toBe(w.child.pid);

      const viaHost = run(A, ['sync']);
      const viaCold = cold(A, ['sync']);
      expect(viaHost.code).toBe(0);
      expect(viaHost.out).toMatch(/id_ed25519: not published: looks like a secret/);
      expect({ code: viaHost.code, out: stable(viaHost.out), err: stable(viaHost.err) }).toEqual({ code: viaCold.code, out: stable(viaCold.out), err: stable(viaCold.err) });

      const jHost = traced(A, ['--json', 'sync']);
      expect(jHost.err).toMatch(DELEGATED);
      const jCold = cold(A, ['sync', '--json']);
      const docHost = JSON.parse(jHost.out) as Record<string, unknown>;
      expect(validateSync(docHost), JSON.stringify(validateSync.errors)).toBe(true);
      expect(validateSync(JSON.parse(jCold.out))).toBe(true);
      expect(stable(jHost.out)).toBe(stable(jCold.out));
      expect(jHost.code).toBe(jCold.code);

      // -q prints nothing on success, as a cold run; a dry run too goes through the host.
      const q = traced(A, ['sync', '-q']);
      expect(q.out).toBe('');
      const dry = traced(A, ['sync', '--dry-run', '--json']);
      expect(dry.err).toMatch(DELEGATED);
      expect((JSON.parse(dry.out) as { dryRun: boolean }).dryRun).toBe(true);

      // A save made just before `dman sync` is on the server once it returns (the request waits for any run in progress, then runs a fresh one).
      await put(A, '.delegated', 'fresh\n');
      const s = traced(A, ['sync']);
      expect(s.code, s.all).toBe(0);
      expect(s.err).toMatch(DELEGATED);
      expect(cold(B, ['sync']).code).toBe(0);
      expect(await read(B, '.delegated')).toBe('fresh\n');

      // Anything but the plain flags runs cold (here --only), and so does DMAN_NO_DAEMON=1.
      const only = traced(A, ['sync', '--only', '.bashrc']);
      expect(only.code).toBe(0);
      expect(only.err).not.toMatch(DELEGATED);
      expect(run(A, ['sync'], { DMAN_DEBUG: '1', DMAN_NO_DAEMON: '1' }).err).not.toMatch(DELEGATED);
    } finally {
      await stop(w.child, 'SIGTERM');
    }
    // A clean stop removes the socket.
    await expect(lstat(await socketOf(A))).rejects.toThrow();
  }, 90_000);

  it('leaves conflicts and mass-change refusals exactly as a cold run does (exit 3, exit 1 until --yes)', async () => {
    await writeConfig(A);
    await writeConfig(B);
    for (const p of G_FILES) await put(A, p, `${p}\n`);
    expect(cold(A, ['sync']).code).toBe(0);
    expect(cold(B, ['sync']).code).toBe(0);
    // Both edit .bashrc; B publishes first; A's watch meets the conflict in its start run.
    await put(A, '.bashrc', 'export A=laptop\n');
    await put(B, '.bashrc', 'export A=desktop\n');
    expect(cold(B, ['sync']).code).toBe(0);
    const w = await startWatch(A);
    try {
      const viaHost = traced(A, ['sync']);
      expect(viaHost.err).toMatch(DELEGATED);
      expect(viaHost.code, viaHost.all).toBe(3);
      const viaCold = cold(A, ['sync']);
      expect(viaCold.code).toBe(3);
      expect(stable(viaHost.err.replace(/^dman: \[debug\].*\n/gm, ''))).toBe(stable(viaCold.err));
      expect(stable(viaHost.out)).toBe(stable(viaCold.out));
      const jHost = run(A, ['--json', 'sync']);
      expect(jHost.code).toBe(3);
      expect(validateSync(JSON.parse(jHost.out))).toBe(true);
      expect(cold(A, ['resolve', '.bashrc', '--keep', 'local']).code).toBe(0);

      // B deletes most files; A's sync would delete them here: the guard stops it, through the host as cold.
      expect(run(A, ['sync']).code).toBe(0);
      expect(cold(B, ['sync']).code).toBe(0);
      for (const p of G_FILES) await unlink(join(B.home, p));
      expect(cold(B, ['sync', '--yes']).code).toBe(0);
      const gHost = traced(A, ['sync']);
      expect(gHost.err).toMatch(DELEGATED);
      const gCold = cold(A, ["sync"]);
      expect(gCold.code).toBe(1);
      expect(gCold.err).toMatch(/stopped to be safe.*--yes/);
      expect(gHost.code).toBe(1);
      expect(stable(gHost.err.replace(/^dman: \[debug\].*\n/gm, ''))).toBe(stable(gCold.err));
      const gJson = run(A, ['--json', 'sync']);
      expect(gJson.code).toBe(1);
      expect((JSON.parse(gJson.out) as { error: { code: string } }).error.code).toBe('MASS_CHANGE');
      const yes = traced(A, ['sync', '--yes']);
      expect(yes.err).toMatch(DELEGATED);
      expect(yes.code, yes.all).toBe(0);
      expect(await read(A, '.g1')).toBeNull();
    } finally {
      await stop(w.child, 'SIGTERM');
    }
  }, 90_000);

  it('falls back to a cold run when the host was killed (stale socket), another build asks, or the config changed', async () => {
    await put(A, '.after-kill', 'x\n');
    const w = await startWatch(A);
    const sock = await socketOf(A);

    // Another build: the host declines, the client would run cold.
    const reply = await new Promise<string>((resolve, reject) => {
      const c = createConnection(sock, () => c.write(`${JSON.stringify({ op: 'sync', args: { yes: false, json: false, quiet: false, verbose: false, dryRun: false }, build: 'other-build', env: 'x', config: 'x', cwd: dir, pid: 1 })}\n`));
      let got = '';
      c.setEncoding('utf8');
      c.on('data', (d) => { got += d; });
      c.on('end', () => resolve(got));
      c.on('error', reject);
    });
    expect(JSON.parse(reply)).toMatchObject({ accepted: false, reason: expect.stringMatching(/another build/) });

    // The config changed since the watch loaded it: run cold, not with the old config.
    await writeConfig(A, '# edited\n');
    const changed = traced(A, ['sync']);
    expect(changed.code, changed.all).toBe(0);
    expect(changed.err).toMatch(/changed \(content, mode or mtime\) since dman watch started; running the sync here/);

    await stop(w.child, 'SIGKILL');
    expect((await lstat(sock)).isSocket()).toBe(true);
    await put(A, '.after-kill', 'y\n');
    const r = traced(A, ['sync']);
    expect(r.code, r.all).toBe(0);
    expect(r.err).toMatch(/ECONNREFUSED; running the sync here/);
    expect(r.out).toMatch(/published/);
    // The next watch replaces the stale socket and serves again.
    const w2 = await startWatch(A);
    try {
      expect(traced(A, ['sync']).err).toMatch(DELEGATED);
    } finally {
      await stop(w2.child, 'SIGTERM');
    }
  }, 90_000);
});

describe('what the host compares for each request', () => {
  it('after `dman login` with another token the watch declines (a cold run sends the new one); after `dman logout` it serves again', async () => {
    await writeConfig(A);
    // The stored login in a file under this test's XDG_CONFIG_HOME, never the real keychain.
    const file = { DMAN_CREDENTIAL_STORE: 'file' };
    const w = await startWatch(A, file);
    try {
      const before = run(A, ['sync'], { ...file, DMAN_DEBUG: '1' });
      expect(before.code, before.all).toBe(0);
      expect(before.err).toMatch(DELEGATED);
      const created = run(null, ['--json', 'token', 'create', '--user', 'alice', '--device', 'laptop-relogin', '--server', url, '--token', ADMIN]);
      expect(created.code, created.err).toBe(0);
      const login = run(A, ['login', '--token', (JSON.parse(created.out) as { token: string }).token], file);
      expect(login.code, login.all).toBe(0);
      const after = run(A, ['sync'], { ...file, DMAN_DEBUG: '1' });
      expect(after.code, after.all).toBe(0);
      expect(after.err).not.toMatch(DELEGATED);
      expect(after.err).toMatch(/the login changed since dman watch started .*; running the sync here/);
      const logout = run(A, ['logout'], file);
      expect(logout.code, logout.all).toBe(0);
      // Back to the config's auth_token, the one the watch's engine sends.
      expect(run(A, ['sync'], { ...file, DMAN_DEBUG: '1' }).err).toMatch(DELEGATED);
    } finally {
      await stop(w.child, 'SIGTERM');
    }
  }, 90_000);

  it('a client with another value for a $VAR in the config (here: the home) runs cold, not in the host with its home', async () => {
    const cfg = join(dir, 'varhome.yaml');
    // Home and state both under $MYHOME: two values of it are two separate machines' worth of files.
    await writeFile(cfg, (await readFile(A.cfg, 'utf8')).replace(/^ {4}home: .*$/m, '    home: $MYHOME/home').replace(/^state_dir: .*$/m, 'state_dir: ${MYHOME}/state'));
    await chmod(cfg, 0o600);
    await mkdir(join(dir, 'h1', 'home'), { recursive: true });
    await mkdir(join(dir, 'h2', 'home'), { recursive: true });
    const m: Machine = { ...A, cfg, home: join(dir, 'h1', 'home') };
    const w = await startWatch(m, { MYHOME: join(dir, 'h1') });
    try {
      const other = run(m, ['sync', '--dry-run'], { MYHOME: join(dir, 'h2'), DMAN_DEBUG: '1' });
      expect(other.code, other.all).toBe(0);
      expect(other.err).not.toMatch(DELEGATED);
      expect(other.err).toMatch(/other values for the \$VARs of .*varhome\.yaml; running the sync here/);
      const same = run(m, ['sync', '--dry-run'], { MYHOME: join(dir, 'h1'), DMAN_DEBUG: '1' });
      expect(same.code, same.all).toBe(0);
      expect(same.err).toMatch(DELEGATED);
    } finally {
      await stop(w.child, 'SIGTERM');
    }
  }, 90_000);
});

describe('dman sync through a running dman agent', () => {
  async function startAgent(cfg: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, [join(root, 'bin/dman.js'), '--config', cfg, '--json', 'agent', '--port', '0', '--data-dir', join(dir, 'agent-data')], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', () => resolve());
      child.once('exit', (code) => reject(new Error(`dman agent exited with ${code}: ${err}`)));
    });
    return child;
  }

  it('declines while its engine differs from a cold run\'s (here: its state dir), and dman sync runs on its own', async () => {
    // No state_dir in the config: the agent keeps its state in --data-dir, `dman sync` in the user data dir.
    const cfg = join(dir, 'nostate.yaml');
    await writeFile(cfg, (await readFile(A.cfg, 'utf8')).replace(/^state_dir: .*$/m, ''));
    await chmod(cfg, 0o600);
    const child = await startAgent(cfg);
    try {
      const t = spawnSync(process.execPath, [join(root, 'bin/dman.js'), '--config', cfg, 'sync'], { cwd: dir, env: env({ DMAN_DEBUG: '1' }), encoding: 'utf8' });
      expect(t.status, t.stderr).toBe(0);
      expect(t.stderr).toMatch(/declined: dman agent keeps its state in .*agent-data.*; running the sync here/);
    } finally {
      await stop(child, 'SIGTERM');
    }
  }, 90_000);

  it('runs in the agent\'s engine when it is what a cold run would build, with the same output', async () => {
    await writeConfig(A);
    const child = await startAgent(A.cfg);
    try {
      await put(A, '.agent-file', 'via agent\n');
      const t = traced(A, ['sync']);
      expect(t.code, t.all).toBe(0);
      expect(t.err, t.all).toMatch(/sync runs in dman agent \(pid (\d+)\)/);
      const viaHost = run(A, ['--json', 'sync']);
      const viaCold = cold(A, ['--json', 'sync']);
      expect(validateSync(JSON.parse(viaHost.out))).toBe(true);
      expect(stable(viaHost.out)).toBe(stable(viaCold.out));
      expect(cold(B, ['sync']).code).toBe(0);
      expect(await read(B, '.agent-file')).toBe('via agent\n');
    } finally {
      await stop(child, 'SIGTERM');
    }
  }, 90_000);
});
