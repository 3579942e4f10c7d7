// `dman init` (the built CLI): the interactive flow driven through a real pseudo-terminal
// (python3's pty module spawns it and sends keys), the --yes flow for scripts, Ctrl-C, and the
// live Redis connection test.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { getService, uniqueId } from '../setup/testServices.js';
import { startHarness, type Harness } from './serverHarness.js';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'bin', 'dman.js');
let dir: string;
let h: Harness;

const KEY = { up: '\x1b[A', down: '\x1b[B', enter: '\r', space: ' ', ctrlC: '\x03' };

// Spawns argv in a pty; for each [regex, keys] step waits for the regex in the (ANSI-stripped)
// output that follows the previous match, then types the keys. Exit code = the child's.
const PTY_DRIVER = String.raw`
import json, os, pty, re, select, sys, time
steps = json.loads(sys.argv[1]); argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
buf = b''; pos = 0
def text(): return re.sub(r'\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r', '', buf.decode('utf8', 'replace'))
def pump(t):
    global buf
    r, _, _ = select.select([fd], [], [], t)
    if not r: return True
    try: d = os.read(fd, 65536)
    except OSError: d = b''
    if not d: return False
    buf += d; return True
for expect, keys in steps:
    deadline = time.time() + 25
    while True:
        m = re.search(expect, text()[pos:])
        if m: pos += m.end(); break
        if time.time() > deadline or not pump(0.2):
            sys.stdout.write(text()); sys.stdout.write('\n[pty driver] gave up waiting for: ' + expect + '\n'); os.kill(pid, 9); sys.exit(97)
    time.sleep(0.05)
    os.write(fd, keys.encode())
while pump(5): pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(text())
sys.exit(os.waitstatus_to_exitcode(status))
`;

interface Run { code: number; stdout: string; stderr: string }

function envFor(name: string): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, name, 'home'), XDG_CONFIG_HOME: join(dir, name, 'xdg'), TERM: 'xterm', DMAN_CREDENTIAL_STORE: 'file' };
}

function inPty(name: string, args: string[], steps: Array<[string, string]>): Promise<Run> {
  return new Promise((res) => {
    execFile('python3', ['-c', PTY_DRIVER, JSON.stringify(steps), process.execPath, bin, ...args], { env: envFor(name), cwd: join(dir, name), timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

function plain(name: string, args: string[]): Promise<Run> {
  return new Promise((res) => {
    execFile(process.execPath, [bin, ...args], { env: envFor(name), cwd: join(dir, name), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

async function machine(name: string, files: Record<string, string> = {}): Promise<string> {
  const home = join(dir, name, 'home');
  await mkdir(home, { recursive: true });
  for (const [p, c] of Object.entries(files)) {
    await mkdir(join(home, p, '..'), { recursive: true });
    await writeFile(join(home, p), c);
  }
  return home;
}

const cfgFile = (name: string) => join(dir, name, 'xdg', 'dman', 'dman.yaml');

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  dir = await mkdtemp(join(tmpdir(), 'dman-init-'));
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dman init in a terminal', () => {
  it('walks through the questions with arrow keys, checks the server, counts files, and writes a linted 0600 file', async () => {
    const home = await machine('tty', { '.bashrc': 'a', '.zshrc': 'b', '.gitconfig': 'c', '.ssh/config': 'd', '.oh-my-zsh/custom/x.zsh': 'e' });
    const r = await inPty('tty', ['init'], [
      ['What runs on this machine', KEY.up + KEY.up + KEY.enter], // default "both" → up twice → client
      ['Server URL', `${h.url}${KEY.enter}`],
      ['ok: dman server', ''],
      ['Your user name', `alice${KEY.enter}`],
      ['Home of alice', KEY.enter],
      ['Add another user', KEY.enter],
      ['Which groups of files', KEY.down + KEY.space + KEY.enter], // untick oh-my-zsh
      ['When a file changed both', KEY.down + KEY.down + KEY.down + KEY.enter], // keep-both
      ['Wrote ', ''],
    ]);
    expect(r.code, r.stdout).toBe(0);
    // the group list showed what each group selects here now
    expect(r.stdout).toMatch(/shell\s+2 files here/);
    expect(r.stdout).toMatch(/ssh\s+1 file here/);
    const text = await readFile(cfgFile('tty'), 'utf8');
    const cfg = parse(text);
    expect(cfg).toMatchObject({ server_url: h.url, conflict_policy: 'keep-both', users: { alice: { home } } });
    expect(cfg.track).toContain('.bashrc');
    expect(cfg.track).toContain('.ssh/config');
    expect(cfg.track.some((t: string) => t.startsWith('.oh-my-zsh'))).toBe(false);
    expect(cfg.listen).toBeUndefined();
    expect((await stat(cfgFile('tty'))).mode & 0o777).toBe(0o600);
    const lint = await plain('tty', ['config', 'lint']);
    expect(lint.stdout + lint.stderr).toContain('valid');
    expect(lint.code).toBe(0);
  });

  it('Ctrl-C leaves an existing file untouched, with no backup and no temp file', async () => {
    await machine('cancel');
    await mkdir(join(dir, 'cancel', 'xdg', 'dman'), { recursive: true });
    await writeFile(cfgFile('cancel'), 'server_url: http://old.lan:3626\n', { mode: 0o600 });
    const r = await inPty('cancel', ['init'], [
      ['exists\\. Replace it', `y${KEY.enter}`],
      ['What runs on this machine', KEY.down],
      ['client', KEY.ctrlC],
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain('nothing was written');
    expect(await readFile(cfgFile('cancel'), 'utf8')).toBe('server_url: http://old.lan:3626\n');
    expect(await readdir(join(dir, 'cancel', 'xdg', 'dman'))).toEqual(['dman.yaml']);
  });

  it('shows the exact Redis error, lets the user fix the address, and writes the redis block', async () => {
    const redis = await getService('redis');
    await machine('srv');
    const r = await inPty('srv', ['init', '--role', 'server'], [
      ['Address to serve on', KEY.enter],
      ['Where should the server store files', KEY.down + KEY.enter], // redis
      ['Connect to redis over', KEY.enter], // TCP
      ['Redis address', `127.0.0.1:1${KEY.enter}`],
      ['Redis ACL user', `${redis.username ?? ''}${KEY.enter}`],
      ['Redis password', `${redis.password ?? ''}${KEY.enter}`],
      ['Redis database number', KEY.enter],
      ['Use TLS for the Redis connection', KEY.enter], // default: no
      ['failed: .*ECONNREFUSED', ''],
      ['Change the connection settings', KEY.enter],
      ['Connect to redis over', KEY.enter],
      ['Redis address', `${redis.host}:${redis.port}${KEY.enter}`],
      ['Redis ACL user', `${redis.username ?? ''}${KEY.enter}`],
      ['Redis password', `${redis.password ?? ''}${KEY.enter}`],
      ['Redis database number', `3${KEY.enter}`],
      ['Use TLS for the Redis connection', KEY.enter],
      ['ok: redis answered', ''],
      ['Your user name', `bob${KEY.enter}`],
      ['Home of bob', KEY.enter],
      ['Add another user', KEY.enter],
      ['Wrote ', ''],
    ]);
    expect(r.code, r.stdout).toBe(0);
    const cfg = parse(await readFile(cfgFile('srv'), 'utf8'));
    expect(cfg).toMatchObject({ listen: '127.0.0.1:3626', storage_driver: 'redis', redis: { addr: `${redis.host}:${redis.port}`, db: 3 } });
    expect(cfg.server_url).toBeUndefined();
    expect(r.stdout).toContain('dman serve');
  });
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitForHealth(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dman serve exited with ${child.exitCode}: ${log()}`);
    try { if ((await fetch(`${url}/health`)).ok) return; } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`dman serve did not answer ${url}/health: ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the steps dman init prints', () => {
  it('run in the printed order on a fresh disk-storage machine: tokens, serve, login, compare, sync', async () => {
    await machine('steps', { '.gitconfig': '[user]\n  name = Dave\n' });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const init = await plain('steps', ['init', '--yes', '--role', 'both', '--serve-addr', `127.0.0.1:${port}`, '--groups', 'git', '--user', 'dave']);
    expect(init.code, init.stderr).toBe(0);
    const steps = init.stdout.split('\n').filter((l) => l.startsWith('  $ dman ')).map((l) => l.replace(/^ {2}\$ dman /, '').replace(/\s+#.*$/, '').split(' '));
    expect(steps.map((s) => s.slice(0, 2).join(' '))).toEqual(['token create', 'token create', 'serve', 'login', 'compare', 'sync']);
    const [devTok, adminTok, serve, login, compare, sync] = steps as [string[], string[], string[], string[], string[], string[]];
    expect(steps.findIndex((s) => s[0] === 'token')).toBeLessThan(steps.indexOf(serve));

    const device = await plain('steps', devTok);
    expect(device.code, device.stderr).toBe(0);
    const deviceToken = device.stdout.split('\n')[0]!;
    const admin = await plain('steps', adminTok);
    expect(admin.code, admin.stderr).toBe(0);
    const adminToken = admin.stdout.split('\n')[0]!;

    let log = '';
    const server = spawn(process.execPath, [bin, ...serve], { env: envFor('steps'), cwd: join(dir, 'steps'), stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d) => { log += d; });
    server.stderr!.on('data', (d) => { log += d; });
    try {
      await waitForHealth(url, server, () => log);
      // the store is locked while serve runs; the printed admin-API form works instead
      const locked = await plain('steps', devTok);
      expect(locked.code).not.toBe(0);
      const more = init.stdout.match(/#\s+dman (token create .* --server \S+ --token) ADMIN_TOKEN/)?.[1];
      expect(more).toBeDefined();
      const viaApi = await plain('steps', [...more!.replace('NAME', 'tablet').split(' '), adminToken]);
      expect(viaApi.code, viaApi.stderr).toBe(0);

      const l = await new Promise<Run>((res) => {
        const c = execFile(process.execPath, [bin, ...login, '--token', '-'], { env: envFor('steps'), cwd: join(dir, 'steps'), timeout: 60_000 }, (err, stdout, stderr) => res({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr }));
        c.stdin!.end(`${deviceToken}\n`);
      });
      expect(l.code, l.stderr).toBe(0);
      const cmp = await plain('steps', compare);
      expect(cmp.code, cmp.stderr).toBe(0);
      const s = await plain('steps', sync);
      expect(s.code, s.stderr).toBe(0);
      const changes = await (await fetch(`${url}/v1/users/dave/changes?since=0`, { headers: { authorization: `Bearer ${deviceToken}` } })).json() as { entries: Array<{ path: string }> };
      expect(changes.entries.map((e) => e.path)).toContain('.gitconfig');
    } finally {
      server.kill('SIGTERM');
      if (server.exitCode === null) await new Promise((r) => server.once('exit', r));
    }
  });
});

describe('dman init for scripts', () => {
  it('--yes writes the defaults plus flags without a terminal', async () => {
    const home = await machine('yes', { '.gitconfig': 'x' });
    const r = await plain('yes', ['init', '--yes', '--role', 'both', '--serve-addr', '0.0.0.0:4000', '--groups', 'git,ssh', '--conflict-policy', 'merge', '--user', 'carol']);
    expect(r.stderr).not.toContain('dman:');
    expect(r.code).toBe(0);
    const cfg = parse(await readFile(cfgFile('yes'), 'utf8'));
    expect(cfg).toMatchObject({ server_url: 'http://127.0.0.1:4000', listen: '0.0.0.0:4000', storage_driver: 'disk', conflict_policy: 'merge', users: { carol: { home } } });
    expect(cfg.track).toEqual(['.gitconfig', '.gitignore_global', '.config/git/', '.ssh/config']);
  });

  it('refuses to replace a file without --force, and keeps a backup with it', async () => {
    const again = await plain('yes', ['init', '--yes', '--role', 'client', '--server-url', h.url]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists; nothing was written');
    const before = await readFile(cfgFile('yes'), 'utf8');
    const forced = await plain('yes', ['init', '--yes', '--force', '--role', 'client', '--server-url', h.url]);
    expect(forced.code).toBe(0);
    const files = await readdir(join(dir, 'yes', 'xdg', 'dman'));
    const backup = files.find((f) => f.startsWith('dman.yaml.bak-'));
    expect(backup).toBeDefined();
    expect(await readFile(join(dir, 'yes', 'xdg', 'dman', backup!), 'utf8')).toBe(before);
    expect((await stat(join(dir, 'yes', 'xdg', 'dman', backup!))).mode & 0o777).toBe(0o600);
    expect(parse(await readFile(cfgFile('yes'), 'utf8')).server_url).toBe(h.url);
  });

  it('takes the TLS flags and a password file, and the written file lints', async () => {
    await machine('tls');
    const d = join(dir, 'tls');
    await writeFile(join(d, 'ca.pem'), 'ca');
    await writeFile(join(d, 'db.pw'), 'pw-from-file\n', { mode: 0o600 });
    const out = join(d, 'dman.yaml');
    const r = await plain('tls', ['init', '--yes', '--no-check', '--role', 'server', '--storage', 'mariadb', '--db-addr', 'db.lan:3306', '--db-password-file', 'db.pw',
      '--db-tls-ca', 'ca.pem', '--db-tls-server-name', 'db.internal', '--db-tls-insecure-skip-verify', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(parse(await readFile(out, 'utf8')).db).toEqual({ addr: 'db.lan:3306', db: 'dman', user: 'dman', password: 'pw-from-file', tls: true, tls_ca: join(d, 'ca.pem'), tls_server_name: 'db.internal', tls_insecure_skip_verify: true });
    const lint = await plain('tls', ['--config', out, 'config', 'lint']);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    const redis = await plain('tls', ['init', '--yes', '--no-check', '--force', '--role', 'server', '--storage', 'redis', '--redis-addr', 'r.lan:6380', '--redis-tls', '-o', out]);
    expect(redis.code, redis.stderr).toBe(0);
    expect(parse(await readFile(out, 'utf8')).redis).toEqual({ addr: 'r.lan:6380', db: 0, tls: true });
  });

  it('without a terminal and without --yes, says so instead of hanging', async () => {
    await machine('notty');
    const r = await plain('notty', ['init']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('there is no terminal here');
    expect(r.stderr).toContain('--yes');
  });

  it('names a bad flag value and what to use', async () => {
    await machine('bad');
    const r = await plain('bad', ['init', '--yes', '--role', 'client', '--server-url', 'nas.lan:3626', '-o', join(dir, 'bad', 'x.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--server-url "nas.lan:3626"');
    const g = await plain('bad', ['init', '--yes', '--role', 'client', '--groups', 'shell,vim', '--no-check', '-o', join(dir, 'bad', 'x.yaml')]);
    expect(g.stderr).toContain('unknown groups: vim');
    await expect(stat(join(dir, 'bad', 'x.yaml'))).rejects.toThrow();
  });

  it('with --yes and a Redis that does not answer, fails with the exact error and writes nothing', async () => {
    await machine('down');
    const out = join(dir, 'down', 'dman.yaml');
    const r = await plain('down', ['init', '--yes', '--role', 'server', '--storage', 'redis', '--redis-addr', '127.0.0.1:1', '-o', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the redis connection test failed: .*ECONNREFUSED 127\.0\.0\.1:1/);
    await expect(stat(out)).rejects.toThrow();
    const skip = await plain('down', ['init', '--yes', '--no-check', '--role', 'server', '--storage', 'redis', '--redis-addr', '127.0.0.1:1', '-o', out]);
    expect(skip.code).toBe(0);
    expect(parse(await readFile(out, 'utf8')).redis).toEqual({ addr: '127.0.0.1:1', db: 0 });
  });

  it('tests a MariaDB connection: the exact error for a wrong password, then success over the socket', async () => {
    const maria = await getService('mariadb');
    const name = `init_${uniqueId()}`;
    const admin = await mysql.createConnection({ host: maria.host, port: maria.port, user: maria.user, password: maria.password });
    try {
      await admin.query(`CREATE DATABASE \`${name}\``);
      await machine('maria');
      const out = join(dir, 'maria', 'dman.yaml');
      const base = ['init', '--yes', '--role', 'server', '--storage', 'mariadb', '--db-name', name, '--db-user', maria.user, '-o', out];
      const bad = await plain('maria', [...base, '--db-addr', `${maria.host}:${maria.port}`, '--db-password', 'wrong-password']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/the mariadb connection test failed: .*Access denied for user/);
      await expect(stat(out)).rejects.toThrow();
      const via = maria.socket ? ['--db-socket', maria.socket] : ['--db-addr', `${maria.host}:${maria.port}`];
      const good = await plain('maria', [...base, ...via, ...(maria.password ? ['--db-password', maria.password] : [])]);
      expect(good.stderr).toContain('ok: mariadb answered');
      expect(good.code).toBe(0);
      expect(parse(await readFile(out, 'utf8'))).toMatchObject({ storage_driver: 'mariadb', db: { db: name, user: maria.user, ...(maria.socket ? { socket: maria.socket } : {}) } });
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    }
  });
});
