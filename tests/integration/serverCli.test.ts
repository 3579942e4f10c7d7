// `dman serve` and `dman token` as a user runs them: tokens on the server host (store) and
// through the admin API (--server), revocation, the open-network warning, clean Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const ADMIN = 'config-admin-token-for-the-cli-test-0123456789';
let dir: string;
let cfg: string;
const children = new Set<ChildProcess>();

const env = () => ({ ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), XDG_DATA_HOME: join(dir, 'share'), DMAN_CONFIG: '', DMAN_TOKEN: '' });

function dman(args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bin/dman.js'), '--config', cfg, ...args], { cwd: dir, env: env(), encoding: 'utf8' });
}

async function serve(args: string[]): Promise<{ child: ChildProcess; line: string; stderr: () => string }> {
  const child = spawn(process.execPath, [join(root, 'bin/dman.js'), '--config', cfg, ...args], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`dman serve exited with ${code}: ${err}`)));
  });
  return { child, line, stderr: () => err };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill(signal);
  return exited;
}

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  expect(b.status, b.stderr).toBe(0);
  dir = await mkdtemp(join(tmpdir(), 'dman-cli-'));
  cfg = join(dir, 'dman.yaml');
  await writeFile(cfg, `auth_token: ${ADMIN}\nstorage_driver: disk\ndata_dir: ${join(dir, 'data')}\nusers:\n  alice:\n    home: ${join(dir, 'home-alice')}\ntrack:\n  - .bashrc\n`);
  await chmod(cfg, 0o600);
}, 60_000);

afterAll(async () => {
  for (const c of children) await stop(c, 'SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('dman token and dman serve', () => {
  it('manages tokens on the host and through the admin API; a revoked token is refused at once', async () => {
    const created = dman(['--json', 'token', 'create', '--user', 'alice', '--device', 'laptop']);
    expect(created.status, created.stderr).toBe(0);
    const laptop = JSON.parse(created.stdout) as { token: string; info: { id: string } };

    const { child, line } = await serve(['--json', 'serve', '--addr', '127.0.0.1:0']);
    const { url, driver } = JSON.parse(line);
    expect(driver).toBe('disk');
    const who = await fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${laptop.token}` } });
    expect(await who.json()).toMatchObject({ user: 'alice', device: 'laptop' });

    // The store is locked by the running server: the local path says to use the admin API.
    const locked = dman(['token', 'list']);
    expect(locked.status).not.toBe(0);
    expect(locked.stderr).toMatch(/--server/);

    const listed = dman(['--json', 'token', 'list', '--server', url]);
    expect(listed.status, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).tokens.map((t: { device: string }) => t.device)).toContain('laptop');
    expect(listed.stdout).not.toContain(laptop.token);

    const unknown = dman(['token', 'create', '--user', 'mallory', '--device', 'x', '--server', url]);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toMatch(/user "mallory" is not configured/);

    const phone = dman(['--json', 'token', 'create', '--user', 'alice', '--device', 'phone', '--server', url]);
    expect(phone.status, phone.stderr).toBe(0);
    const phoneTok = JSON.parse(phone.stdout) as { token: string; info: { id: string } };
    expect((await fetch(`${url}/v1/users/alice/manifest`, { headers: { authorization: `Bearer ${phoneTok.token}` } })).status).toBe(200);

    const revoked = dman(['token', 'revoke', phoneTok.info.id, '--server', url]);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect((await fetch(`${url}/v1/users/alice/manifest`, { headers: { authorization: `Bearer ${phoneTok.token}` } })).status).toBe(401);

    const wrongToken = dman(['token', 'list', '--server', url, '--token', laptop.token]);
    expect(wrongToken.status).not.toBe(0);
    expect(wrongToken.stderr).toMatch(/admin token/);

    expect(await stop(child, 'SIGINT')).toBe(0);

    const after = dman(['--json', 'token', 'list']);
    expect(after.status, after.stderr).toBe(0);
    const phoneRec = JSON.parse(after.stdout).tokens.find((t: { id: string }) => t.id === phoneTok.info.id);
    expect(phoneRec.revokedAt).toEqual(expect.any(Number));
  });

  it('warns when listening beyond loopback without TLS', async () => {
    const { child, stderr } = await serve(['serve', '--addr', '0.0.0.0:0']);
    expect(stderr()).toMatch(/without TLS/);
    expect(await stop(child, 'SIGTERM')).toBe(0);
  });

  it('explains --help with an example', () => {
    for (const args of [['serve', '--help'], ['token', 'create', '--help']]) {
      const r = dman(args);
      expect(r.stdout).toMatch(/Example:\n {2}\$ dman /);
    }
  });
});
