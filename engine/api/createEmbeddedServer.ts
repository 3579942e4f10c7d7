// The embedded sync server: when the wizard chose "this machine hosts the server", the app runs
// `dman serve` as a child process (so a server crash never takes the UI down), restarts it when
// it dies, and stops it on exit. Its config lives in <dataDir>/server/server.yaml (mode 0600)
// with a random admin token, which only this process uses, to mint device tokens.
import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import type { storageFieldsSchema } from '../../shared/api.js';
import { DmanError } from '../../shared/errors.js';
import { tokenCreateReplySchema } from '../../shared/protocol.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { Logger } from '../log.js';

export type StorageFields = z.infer<typeof storageFieldsSchema>;

export interface EmbeddedServerOptions {
  /** The app's data dir; the server keeps everything under <dataDir>/server. */
  dataDir: string;
  /** How to run the CLI: [executable, ...args] before `serve` (e.g. [process.execPath, 'bin/dman.js']). */
  command: string[];
  /** Extra environment (Electron passes ELECTRON_RUN_AS_NODE=1). */
  env?: Record<string, string>;
  log: Logger;
  /** Preferred port (default 3626); a free one is picked when it is taken. */
  port?: number;
  spawn?: (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;
  fetch?: typeof fetch;
  /** How long to wait for /health after a start (default 20 s). */
  startTimeoutMs?: number;
}

/** The embedded server: start (or restart with new storage), mint tokens, stop. */
export interface EmbeddedServer {
  /** Starts the server with this storage (restarting it if it runs with other settings); resolves to its URL once healthy. */
  start(storage: StorageFields): Promise<{ url: string; dataDir: string | null }>;
  /** Starts it with the storage saved by the last start, if any (app launch). */
  resume(): Promise<{ url: string } | null>;
  /** The URL while running, else null. */
  url(): string | null;
  /** The child's process id while running (diagnostics and tests). */
  pid(): number | null;
  /** Mints a device token for user on this server, with the admin token only this process knows. */
  createDeviceToken(user: string, device: string): Promise<string>;
  /** Stops the server and stops restarting it. */
  stop(): Promise<void>;
}

const savedSchema = z.object({ storage: z.record(z.string(), z.unknown()), port: z.number().int(), adminToken: z.string() });

/** Finds a free loopback port, preferring `preferred`. */
export async function freePort(preferred = 0): Promise<number> {
  const tryPort = (p: number) => new Promise<number | null>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(p, '127.0.0.1', () => { const got = (s.address() as { port: number }).port; s.close(() => resolve(got)); });
  });
  return (preferred ? await tryPort(preferred) : null) ?? (await tryPort(0))!;
}

/** Builds the server's config file text for a storage choice. */
export function serverConfigYaml(storage: StorageFields, dir: string, adminToken: string, port: number): string {
  const doc: Record<string, unknown> = { auth_token: adminToken, listen: `127.0.0.1:${port}`, storage_driver: storage.driver };
  if (storage.driver === 'disk') doc.data_dir = storage.dataDir ?? join(dir, 'data');
  const conn = { addr: storage.addr, socket: storage.socket, password: storage.password, tls: storage.tls || undefined };
  if (storage.driver === 'redis') doc.redis = { ...conn, username: storage.username, db: storage.db ? Number(storage.db) : undefined };
  if (storage.driver === 'mariadb') doc.db = { ...conn, user: storage.username, db: storage.db };
  return `# Written by the dman app for its embedded server. The auth_token is this server's admin token.\n${stringify(JSON.parse(JSON.stringify(doc)))}`;
}

/** Creates the embedded-server supervisor. */
export function createEmbeddedServer(opts: EmbeddedServerOptions): EmbeddedServer {
  const dir = join(opts.dataDir, 'server');
  const cfgFile = join(dir, 'server.yaml');
  const stateFile = join(dir, 'embedded.json');
  const spawn = opts.spawn ?? nodeSpawn;
  const doFetch = opts.fetch ?? fetch;
  const log = opts.log.child({ mod: 'embedded-server' });
  let child: ChildProcess | null = null;
  let running: { url: string; port: number; adminToken: string; key: string } | null = null;
  let stopping = false;
  /** Counts stop() calls: a start that sees it change while it awaits gives up and leaves no server running. */
  let stops = 0;
  let restarts = 0;
  let restartTimer: NodeJS.Timeout | null = null;
  let lastStderr = '';

  const launch = (port: number) => {
    const [cmd, ...pre] = opts.command;
    const args = [...pre, '--config', cfgFile, 'serve', '--addr', `127.0.0.1:${port}`];
    // stdin is a pipe from this process, which the server reads until it ends (DMAN_SERVE_WITH_PARENT,
    // cli/commands/serve.ts): if this process dies without stopping it (kill -9, a crash), the
    // kernel closes the pipe and the server shuts down instead of holding the port and the data dir.
    const c = spawn(cmd, args, { env: { ...process.env, ...opts.env, DMAN_SERVE_WITH_PARENT: '1' }, stdio: ['pipe', 'ignore', 'pipe'] });
    child = c;
    lastStderr = '';
    c.stderr?.on('data', (d: Buffer) => { lastStderr = (lastStderr + d.toString()).slice(-2000); });
    c.on('exit', (code, signal) => {
      if (child === c) child = null;
      if (stopping || !running) return;
      restarts++;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(restarts, 6));
      log.warn({ code, signal, delay, stderr: lastStderr.slice(-400) }, 'embedded server exited; restarting');
      restartTimer = setTimeout(() => { restartTimer = null; if (running && !stopping) launch(running.port); }, delay);
    });
    return c;
  };

  const waitHealthy = async (url: string, c: ChildProcess) => {
    const until = Date.now() + (opts.startTimeoutMs ?? 20_000);
    let exited = false;
    c.once('exit', () => { exited = true; });
    while (Date.now() < until) {
      if (exited) break;
      try {
        const r = await doFetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    const why = lastStderr.trim().split('\n').slice(-3).join(' ') || 'it did not answer /health';
    throw new DmanError('STORE_UNAVAILABLE', `the embedded server did not start: ${why}`, { hint: 'check the storage settings (Test connection) and that the data folder is writable', context: { url, file: cfgFile } });
  };

  const stopChild = async () => {
    if (restartTimer) { clearTimeout(restartTimer); restartTimer = null; }
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { c.kill('SIGKILL'); }, 5000);
      c.once('exit', () => { clearTimeout(t); resolve(); });
      c.kill('SIGTERM');
    });
  };

  /** Thrown by a start that stop() overtook (the app is quitting): nothing is left running. Its context says `stopped: true`. */
  const stoppedWhileStarting = () => new DmanError('STORE_UNAVAILABLE', 'the embedded server was stopped while it started', { hint: 'the app is shutting down; start it again', context: { file: cfgFile, stopped: true } });

  /** Starts the server; `stopsAtStart` is what `stops` was when start() or resume() was called. */
  const startWith = async (storage: StorageFields, port: number, adminToken: string, stopsAtStart: number) => {
    const overtaken = () => stops !== stopsAtStart;
    const key = JSON.stringify(storage);
    if (running && running.key === key && child) return { url: running.url, dataDir: storage.driver === 'disk' ? storage.dataDir ?? join(dir, 'data') : null };
    stopping = true;
    await stopChild();
    stopping = false;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const p = await freePort(port);
    await writeFileAtomic(cfgFile, serverConfigYaml(storage, dir, adminToken, p), { mode: 0o600 });
    await writeFileAtomic(stateFile, JSON.stringify({ storage, port: p, adminToken }), { mode: 0o600 });
    // stop() ran during the awaits above: launching now would leave a server nobody stops.
    if (overtaken()) throw stoppedWhileStarting();
    const url = `http://127.0.0.1:${p}`;
    running = { url, port: p, adminToken, key };
    restarts = 0;
    const c = launch(p);
    try {
      await waitHealthy(url, c);
    } catch (err) {
      running = null;
      await stopChild();
      throw overtaken() ? stoppedWhileStarting() : err;
    }
    // Healthy, but stop() came meanwhile and stopped it.
    if (overtaken()) throw stoppedWhileStarting();
    log.info({ url, driver: storage.driver }, 'embedded server up');
    return { url, dataDir: storage.driver === 'disk' ? storage.dataDir ?? join(dir, 'data') : null };
  };

  const readSaved = async () => {
    try { return savedSchema.parse(JSON.parse(await readFile(stateFile, 'utf8'))); } catch { return null; }
  };

  return {
    async start(storage) {
      const stopsAtStart = stops;
      const saved = await readSaved();
      return startWith(storage, saved?.port ?? opts.port ?? 3626, saved?.adminToken ?? randomBytes(32).toString('base64url'), stopsAtStart);
    },
    async resume() {
      const stopsAtStart = stops;
      const saved = await readSaved();
      if (!saved) return null;
      const r = await startWith(saved.storage as StorageFields, saved.port, saved.adminToken, stopsAtStart);
      return { url: r.url };
    },
    url: () => (running && child ? running.url : null),
    pid: () => child?.pid ?? null,
    async createDeviceToken(user, device) {
      if (!running) throw new DmanError('USAGE', 'the embedded server is not running, so it cannot create a token', { hint: 'go back one step and start the server' });
      const res = await doFetch(`${running.url}/v1/admin/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${running.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user, device }),
      }).catch((cause: unknown) => { throw new DmanError('SERVER_UNREACHABLE', `cannot reach the embedded server at ${running?.url}`, { cause }); });
      const body: unknown = await res.json().catch(() => null);
      if (!res.ok) {
        const msg = (body as { error?: { message?: string } } | null)?.error?.message ?? `HTTP ${res.status}`;
        throw new DmanError(res.status === 400 ? 'BAD_REQUEST' : 'SERVER_ERROR', `the embedded server refused to create a token for ${user}: ${msg}`, { context: { url: running.url, user } });
      }
      return tokenCreateReplySchema().parse(body).token;
    },
    async stop() {
      stops++;
      stopping = true;
      running = null;
      await stopChild();
    },
  };
}
