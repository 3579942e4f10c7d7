// Helpers for tests/e2e/electron.spec.ts: find the Electron binary (without require('electron'),
// which would try to download it), give the app a private keyring on Linux, and launch the tray
// app with every folder it writes (home, config, data, Chromium profile) in a temp dir.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { _electron as electron, type ElectronApplication, type Page } from '@playwright/test';

export const root = resolve(import.meta.dirname, '../..');

/** The Electron executable, or null and why there is none here. */
export function electronBinary(): { path: string | null; why: string } {
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const pkgDir = join(root, 'node_modules', 'electron');
  const name = existsSync(join(pkgDir, 'path.txt')) ? readFileSync(join(pkgDir, 'path.txt'), 'utf8').trim() : null;
  if (override) {
    const p = join(override, name ?? 'electron');
    return existsSync(p) ? { path: p, why: '' } : { path: null, why: `ELECTRON_OVERRIDE_DIST_PATH is set but ${p} does not exist` };
  }
  if (!name) return { path: null, why: 'no Electron binary: node_modules/electron/path.txt is missing (the binary download is not possible here); set ELECTRON_OVERRIDE_DIST_PATH to an unpacked Electron' };
  const p = join(pkgDir, 'dist', name);
  return existsSync(p) ? { path: p, why: '' } : { path: null, why: `no Electron binary at ${p}` };
}

/** The build outputs the app needs; a clear error when one is missing. */
export function assertBuilt(): void {
  const missing = ['dist/main.js', 'dist/preload.cjs', 'dist/renderer/index.html', 'dist/cli.js', 'bin/dman.js'].filter((f) => !existsSync(join(root, f)));
  if (missing.length > 0) throw new Error(`the Electron e2e test needs a build: ${missing.join(', ')} missing; run npm run build`);
}

export interface Keyring {
  /** Environment for the app: the private session bus, and the password store electronPreload.cjs asks for. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const hasCommand = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/**
 * Linux only: a private D-Bus session with its own unlocked GNOME Keyring in `dir`, so the app's
 * safeStorage has a real keyring (the app refuses to keep the token in plain text, as on a
 * desktop without one) and the test never touches the user's own keyring.
 */
export async function startPrivateKeyring(dir: string): Promise<Keyring> {
  const missing = ['dbus-daemon', 'dbus-send', 'gnome-keyring-daemon'].filter((c) => !hasCommand(c));
  if (missing.length > 0) {
    throw new Error(`the Electron e2e test needs a keyring for safeStorage on Linux, but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed; `
      + 'install them (Debian/Ubuntu: apt-get install dbus gnome-keyring libsecret-1-0)');
  }
  const run = join(dir, 'run');
  const data = join(dir, 'data');
  await mkdir(run, { recursive: true, mode: 0o700 });
  await mkdir(data, { recursive: true });
  const base = { ...process.env, HOME: dir, XDG_RUNTIME_DIR: run, XDG_DATA_HOME: data } as Record<string, string>;

  const bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { env: base, stdio: ['ignore', 'pipe', 'pipe'] });
  let busErr = '';
  bus.stderr!.on('data', (d: Buffer) => { busErr += d.toString(); });
  const address = await new Promise<string>((ok, fail) => {
    let out = '';
    const t = setTimeout(() => fail(new Error(`dbus-daemon printed no address in 10 s: ${busErr}`)), 10_000);
    bus.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0]!;
      if (out.includes('\n') && line.startsWith('unix:')) { clearTimeout(t); ok(line.trim()); }
    });
    bus.once('exit', (code) => { clearTimeout(t); fail(new Error(`dbus-daemon exited (${code}): ${busErr}`)); });
  });
  const env = { ...base, DBUS_SESSION_BUS_ADDRESS: address };

  const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  let krErr = '';
  keyring.stderr!.on('data', (d: Buffer) => { krErr += d.toString(); });
  keyring.stdin!.end('dman-e2e'); // --unlock reads the login keyring's password from stdin (creating it)
  const stop = async () => { await stopChild(keyring); await stopChild(bus); };

  // Ready once the Secret Service name is on the bus.
  for (let i = 0; ; i++) {
    const r = spawnSync('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.secrets'], { env, encoding: 'utf8' });
    if (r.stdout?.includes('boolean true')) break;
    if (keyring.exitCode !== null || i >= 100) {
      await stop();
      throw new Error(`gnome-keyring-daemon did not offer the Secret Service on the private bus: ${krErr || r.stderr}`);
    }
    await new Promise((w) => setTimeout(w, 100));
  }
  return { env: { DBUS_SESSION_BUS_ADDRESS: address, DMAN_E2E_PASSWORD_STORE: 'gnome-libsecret' }, stop };
}

export interface DmanApp {
  app: ElectronApplication;
  win: Page;
  home: string;
  configFile: string;
  dataDir: string;
  /** What the app printed on stderr so far (attached to a failed test). */
  output(): string;
  close(): Promise<void>;
}

/** Launches the tray app from the repo (package.json "main" → dist/main.js) with every folder in `dir`. */
export async function launchDman(executablePath: string, dir: string): Promise<DmanApp> {
  const home = join(dir, 'home');
  const configFile = join(dir, 'config', 'dman.yaml');
  const dataDir = join(dir, 'app-data');
  const profile = join(dir, 'profile');
  const xdg = join(dir, 'xdg');
  for (const d of [home, dataDir, profile, join(xdg, 'config'), join(xdg, 'cache'), join(xdg, 'data')]) await mkdir(d, { recursive: true });
  const keyring = process.platform === 'linux' ? await startPrivateKeyring(join(dir, 'keyring')) : null;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HOME: home,
    USERPROFILE: home,
    XDG_CONFIG_HOME: join(xdg, 'config'),
    XDG_CACHE_HOME: join(xdg, 'cache'),
    XDG_DATA_HOME: join(xdg, 'data'),
    DMAN_CONFIG: configFile,
    DMAN_DATA_DIR: dataDir,
    DMAN_E2E: '1',
    DMAN_E2E_USER_DATA: profile,
    DMAN_LOG_LEVEL: 'warn',
    ...keyring?.env,
  };
  delete env.DMAN_AUTH_TOKEN; // the token must come from the wizard and the keyring
  delete env.ELECTRON_RUN_AS_NODE;
  let app: ElectronApplication;
  try {
    // The repo folder, not dist/main.js: Electron then takes the repo as the app path, where
    // main.ts finds bin/dman.js (the embedded server) and the tray icons, as in the packaged app.
    // Linux: Chromium's password store is the private keyring, asked for on the command line
    // and again by electronPreload.cjs (see there why). macOS: a mock keychain, so a run never
    // writes to the user's login keychain. Windows: DPAPI, its key kept in the temp profile.
    const platformArgs = process.platform === 'linux' ? ['--password-store=gnome-libsecret'] : process.platform === 'darwin' ? ['--use-mock-keychain'] : [];
    const args = [...platformArgs, '-r', join(root, 'tests', 'e2e', 'electronPreload.cjs'), root];
    app = await electron.launch({ executablePath, args, cwd: dir, env });
  } catch (err) {
    await keyring?.stop();
    throw err;
  }
  let out = '';
  app.process().stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  app.process().stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  const win = await app.firstWindow();
  return {
    app, win, home, configFile, dataDir,
    output: () => out,
    async close() {
      const proc = app.process();
      const closed = app.close().catch(() => {});
      const t = setTimeout(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); }, 30_000);
      await closed;
      clearTimeout(t);
      await keyring?.stop();
    },
  };
}
