// `dman login` / `dman logout` (the built CLI) against a real server on 127.0.0.1, and the
// token precedence every client command uses (resolveToken).
import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCredentialStore, resolveToken, resolveTokenSource, resolveTokenSync } from '../../cli/credentials.js';
import { startHarness, type Harness } from './serverHarness.js';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'bin', 'dman.js');
let dir: string;
let h: Harness;

interface Run { code: number; stdout: string; stderr: string }

function dman(args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  const full = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'xdg'), DMAN_CREDENTIAL_STORE: 'file', ...env };
  return new Promise((res) => {
    const child = execFile(process.execPath, [bin, ...args], { cwd: join(dir, 'home'), env: full, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

const credFile = () => join(dir, 'xdg', 'dman', 'credentials.json');

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  dir = await mkdtemp(join(tmpdir(), 'dman-login-'));
  await mkdir(join(dir, 'home'));
  await mkdir(join(dir, 'xdg'));
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dman login', () => {
  it('verifies the token, shows user and device, and stores it in a 0600 file outside the config', async () => {
    const r = await dman(['login', '--server', `${h.url}/`, '--token', h.tokens.alice]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('as user alice, device laptop');
    const st = await stat(credFile());
    expect(st.mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(credFile(), 'utf8'));
    expect(saved.logins[h.url]).toMatchObject({ token: h.tokens.alice, user: 'alice', device: 'laptop' });
    // the token is not echoed
    expect(r.stdout).not.toContain(h.tokens.alice);
  });

  it('reads the token from stdin with --token - and prints JSON', async () => {
    const r = await dman(['--json', 'login', '--server', h.url, '--token', '-'], {}, `${h.tokens.bob}\n`);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, user: 'bob', device: 'desktop', stored: 'file' });
  });

  it('refuses a wrong token in one line and stores nothing new', async () => {
    const before = await readFile(credFile(), 'utf8');
    const r = await dman(['login', '--server', h.url, '--token', 'not-a-real-token-000000000000']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`the server at ${h.url} does not accept this token`);
    expect(await readFile(credFile(), 'utf8')).toBe(before);
  });

  it('says where and what to do when the server is down; --verbose adds the cause chain', async () => {
    const r = await dman(['login', '--server', 'http://127.0.0.1:1', '--token', 'x'.repeat(20)]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/127\.0\.0\.1:1/);
    const v = await dman(['--verbose', 'login', '--server', 'http://127.0.0.1:1', '--token', 'x'.repeat(20)]);
    expect(v.stderr).toContain('caused by:');
  });

  it('in a terminal, asks for the token without echoing it', async () => {
    // python3's pty module gives the CLI a real terminal; the token is typed after the prompt appears.
    const driver = String.raw`
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0: os.execvp(sys.argv[1], sys.argv[1:])
buf = b''; typed = False; end = time.time() + 40
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try: d = os.read(fd, 65536)
        except OSError: break
        if not d: break
        buf += d
    if not typed and b'Device token' in buf:
        time.sleep(0.05); os.write(fd, os.environ['TYPE_TOKEN'].encode() + b'\r'); typed = True
_, st = os.waitpid(pid, 0)
sys.stdout.write(buf.decode('utf8', 'replace')); sys.exit(os.waitstatus_to_exitcode(st))
`;
    const r = await new Promise<Run>((res) => {
      execFile('python3', ['-c', driver, process.execPath, bin, 'login', '--server', h.url], {
        env: { PATH: process.env.PATH ?? '', HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'xdg-tty'), DMAN_CREDENTIAL_STORE: 'file', TERM: 'xterm', TYPE_TOKEN: h.tokens.bob },
        timeout: 60_000,
      }, (err, stdout, stderr) => res({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }));
    });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('as user bob, device desktop');
    expect(r.stdout).not.toContain(h.tokens.bob);
    const saved = JSON.parse(await readFile(join(dir, 'xdg-tty', 'dman', 'credentials.json'), 'utf8'));
    expect(saved.logins[h.url].token).toBe(h.tokens.bob);
  });

  it('with no token and no terminal, says so instead of hanging', async () => {
    const r = await dman(['login', '--server', h.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no terminal');
  });

  it('uses a keychain tool (secret-tool) when one is on PATH, passing the secret on stdin', async () => {
    const fake = join(dir, 'fakebin');
    await mkdir(fake, { recursive: true });
    const vault = join(dir, 'vault');
    // A stand-in for libsecret's CLI: one file per server attribute; argv is logged so the test can check no token leaks into it.
    await writeFile(join(fake, 'secret-tool'), `#!/bin/sh
echo "$@" >> "${vault}.argv"
op=$1; shift
for last in "$@"; do :; done
key=$(echo "$last" | sed 's/[^a-zA-Z0-9]/_/g')
case $op in
  store) cat > "${vault}.$key" ;;
  lookup) [ -f "${vault}.$key" ] && cat "${vault}.$key" || exit 1 ;;
  clear) rm -f "${vault}.$key" ;;
esac
`);
    await chmod(join(fake, 'secret-tool'), 0o755);
    const env = { PATH: `${fake}:${process.env.PATH}`, DMAN_CREDENTIAL_STORE: 'auto' };
    const r = await dman(['login', '--server', h.url, '--token', h.tokens.alice], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Secret Service keyring');
    expect(await readFile(`${vault}.argv`, 'utf8')).not.toContain(h.tokens.alice);
    const store = await createCredentialStore({ env: { ...process.env, ...env } });
    expect((await store.get(h.url))?.token).toBe(h.tokens.alice);
    const out = await dman(['logout', '--server', h.url], env);
    expect(out.stderr).toBe('');
    expect(out.stdout).toContain('Forgot the token');
    expect(await store.get(h.url)).toBeNull();
  });
});

describe('dman login without a Secret Service', () => {
  it('falls back to the 0600 file when secret-tool is on PATH but cannot store, and says so', async () => {
    const fake = join(dir, 'nodbus');
    await mkdir(fake, { recursive: true });
    await writeFile(join(fake, 'secret-tool'), '#!/bin/sh\necho "Cannot autolaunch D-Bus without X11 \\$DISPLAY" >&2\nexit 1\n');
    await chmod(join(fake, 'secret-tool'), 0o755);
    const file = join(dir, 'nodbus', 'credentials.json');
    const env = { PATH: `${fake}:${process.env.PATH}`, DMAN_CREDENTIAL_STORE: 'auto', DMAN_CREDENTIALS_FILE: file };
    const r = await dman(['login', '--server', h.url, '--token', h.tokens.alice], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Token stored in ${file}.`);
    expect(r.stderr).toMatch(/warning: the keychain could not store the token \(secret-tool could not store the token: Cannot autolaunch D-Bus.*\); kept it in .*credentials\.json \(mode 0600\)/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(resolveTokenSync({ server_url: h.url }, { env })).toBe(h.tokens.alice);
    const strict = await dman(['login', '--server', h.url, '--token', h.tokens.alice], { ...env, DMAN_CREDENTIAL_STORE: 'keychain' });
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('Cannot autolaunch D-Bus');
    const out = await dman(['logout', '--server', h.url], env);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('Forgot the token');
    await expect(stat(file)).rejects.toThrow();
  });
});

describe('dman logout', () => {
  it('--revoke with only the device token revokes that token itself, then forgets it', async () => {
    const minted = await (await h.req('/v1/admin/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', device: 'spare' }), token: h.tokens.admin })).json() as { token: string; info: { id: string } };
    await dman(['login', '--server', h.url, '--token', minted.token]);
    const r = await dman(['logout', '--server', h.url, '--revoke']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Revoked token ${minted.info.id}`);
    const store = await createCredentialStore({ env: { DMAN_CREDENTIALS_FILE: credFile(), DMAN_CREDENTIAL_STORE: 'file' } });
    expect(await store.get(h.url)).toBeNull();
    expect((await h.req('/v1/whoami', { token: minted.token })).status).toBe(401);
    // other tokens of the same user are untouched
    expect((await h.req('/v1/whoami', { token: h.tokens.alice })).status).toBe(200);
    // the admin token is untouched
    expect((await h.req('/v1/whoami', { token: h.tokens.admin })).status).toBe(200);
  });

  it('a wrong --admin-token is refused with a clear message and revokes nothing', async () => {
    await dman(['login', '--server', h.url, '--token', h.tokens.bob]);
    const r = await dman(['logout', '--server', h.url, '--revoke', '--admin-token', h.tokens.alice]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused to revoke');
    expect((await h.req('/v1/whoami', { token: h.tokens.bob })).status).toBe(200);
  });

  it('--revoke --admin-token revokes the stored token on the server', async () => {
    await dman(['login', '--server', h.url, '--token', h.tokens.alice]);
    const r = await dman(['logout', '--server', h.url, '--revoke', '--admin-token', h.tokens.admin]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Revoked token ${h.tokens.aliceId}`);
    expect((await h.req('/v1/whoami', { token: h.tokens.alice })).status).toBe(401);
  });

  it('with nothing stored, says there was nothing to forget', async () => {
    const r = await dman(['logout', '--server', 'http://127.0.0.1:9']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing to forget');
  });
});

describe('resolveToken', () => {
  it('prefers $DMAN_AUTH_TOKEN, then the stored login, then auth_token from the config', async () => {
    const file = join(dir, 'prec', 'credentials.json');
    const env = { DMAN_CREDENTIALS_FILE: file, DMAN_CREDENTIAL_STORE: 'file', PATH: '' };
    const config = { server_url: 'http://h.lan:3626', auth_token: 'from-config' };
    expect(await resolveTokenSource(config, { env })).toEqual({ token: 'from-config', source: 'config' });
    const store = await createCredentialStore({ env });
    await store.set('http://h.lan:3626/', { token: 'from-login', user: 'alice', device: 'd', savedAt: 1 });
    expect(await resolveTokenSource(config, { env })).toEqual({ token: 'from-login', source: 'login' });
    expect(await resolveToken(config, { env: { ...env, DMAN_AUTH_TOKEN: 'from-env' } })).toBe('from-env');
    // a login for another server is not used
    expect(await resolveToken({ server_url: 'http://other:1' }, { env })).toBeUndefined();
  });

  it('has a synchronous twin with the same precedence (used by the sync commands and doctor)', async () => {
    const file = join(dir, 'prec-sync', 'credentials.json');
    const env = { DMAN_CREDENTIALS_FILE: file, DMAN_CREDENTIAL_STORE: 'file', PATH: '' };
    const config = { server_url: 'http://s.lan:3626', auth_token: 'from-config' };
    expect(resolveTokenSync(config, { env })).toBe('from-config');
    await (await createCredentialStore({ env })).set(config.server_url, { token: 'from-login', user: 'a', device: 'd', savedAt: 1 });
    expect(resolveTokenSync(config, { env })).toBe('from-login');
    expect(resolveTokenSync(config, { env: { ...env, DMAN_AUTH_TOKEN: 'from-env' } })).toBe('from-env');
  });

  it('a client command (dman compare) uses the stored login when the config has no token', async () => {
    const cfg = join(dir, 'compare.yaml');
    await mkdir(join(dir, 'bobhome'), { recursive: true });
    await writeFile(join(dir, 'bobhome', '.zshrc'), 'x\n');
    await writeFile(cfg, `server_url: ${h.url}\ntrack: [.zshrc]\nusers:\n  bob:\n    home: ${join(dir, 'bobhome')}\n`, { mode: 0o600 });
    const env = { DMAN_DATA_DIR: join(dir, 'data') };
    const before = await dman(['--config', cfg, 'compare'], env);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/token/i);
    expect((await dman(['login', '--server', h.url, '--token', h.tokens.bob])).code).toBe(0);
    const after = await dman(['--config', cfg, 'compare'], env);
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('.zshrc');
    await dman(['logout', '--server', h.url]);
  });

  it('reports a damaged credentials file with the file and the fix', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, '{nope');
    await expect(resolveToken({ server_url: 'http://h:1' }, { env: { DMAN_CREDENTIALS_FILE: file, DMAN_CREDENTIAL_STORE: 'file' } }))
      .rejects.toThrow(/bad\.json are damaged/);
  });
});
