// The host side of the control socket: a long-lived `dman watch` listens here so that `dman sync`
// for the same config runs in its engine (already loaded: no start-up, no state load, a warm
// connection) instead of loading everything itself and waiting for the same per-user lock.
// The engine runs one cycle per user at a time, so a request that arrives mid-run waits for it
// and then runs a fresh cycle: the answer reflects the disk as of when the user asked.
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, chmodSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import {
  buildId, configVarNames, envFingerprint, KEEPALIVE_MS, MAX_REQUEST_BYTES, type ControlAck, type ControlKeepAlive, type ControlReply, type ControlRequest, type SyncFlags,
} from './protocol.js';
import { checkSocketFile, controlSocketPath, currentUid, ensureControlDir, MAX_SOCKET_PATH } from './socketPath.js';

export interface ControlLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ControlServerOptions {
  /** The config file the host's engine was built from. */
  configFile: string;
  /** Who serves ("dman watch"): the client says so with DMAN_DEBUG=1. */
  kind: string;
  /** Runs one sync and returns what `dman sync` would print and its exit code. */
  handle(args: SyncFlags, req: ControlRequest): Promise<ControlReply>;
  /** Why the host cannot run a request right now (its engine differs from what a cold run would build); null when it can. */
  refuse?(): string | null;
  log?: ControlLog;
  env?: Readonly<Record<string, string | undefined>>;
  uid?: number;
  /** The build clients must be (default: this one; tests and benches run unbundled hosts against the built client). */
  build?: string;
  /** How often to send a keep-alive line while a run goes on (default KEEPALIVE_MS). */
  keepAliveMs?: number;
}

export interface ControlServer {
  path: string;
  /** Requests served so far. */
  served(): number;
  close(): Promise<void>;
}

const hashOf = (file: string): string | null => {
  try { return createHash('sha256').update(readFileSync(file)).digest('hex'); } catch { return null; }
};

/** The config file's mode and mtime: warnings collected at start (a config open to others…) depend on them. */
const statOf = (file: string): string | null => {
  try { const st = statSync(file); return `${st.mode}:${Math.floor(st.mtimeMs)}`; } catch { return null; }
};

/** Resolves true when something accepts connections at `path`. */
function isLive(path: string): Promise<boolean> {
  return new Promise((done) => {
    const s = createConnection(path);
    const t = setTimeout(() => { s.destroy(); done(true); }, 500);
    s.once('connect', () => { clearTimeout(t); s.destroy(); done(true); });
    s.once('error', () => { clearTimeout(t); done(false); });
  });
}

/** Checks a request line's shape (anything else is refused). */
export function parseRequest(line: string): ControlRequest | null {
  let v: unknown;
  try { v = JSON.parse(line); } catch { return null; }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  const a = r.args as Record<string, unknown> | undefined;
  if (r.op !== 'sync' || typeof a !== 'object' || a === null) return null;
  for (const k of ['yes', 'json', 'quiet', 'verbose', 'dryRun'] as const) if (typeof a[k] !== 'boolean') return null;
  for (const k of ['build', 'env', 'config', 'cwd'] as const) if (typeof r[k] !== 'string') return null;
  if (typeof r.pid !== 'number') return null;
  return r as unknown as ControlRequest;
}

/**
 * Listens on the control socket for `configFile`. Returns null (and logs why) when it cannot:
 * another host already serves this config, the directory is not private, the path is too long.
 * The host then simply runs without it; `dman sync` runs on its own as before.
 */
export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer | null> {
  // Windows has no unix-socket files with owners and modes to check: `dman sync` runs on its own there.
  if (process.platform === 'win32') return null;
  const env = opts.env ?? process.env;
  const uid = opts.uid ?? currentUid();
  const log = opts.log;
  let configReal: string;
  try { configReal = realpathSync(opts.configFile); } catch { return null; }
  const path = controlSocketPath(configReal, env, uid);
  const skip = (why: string) => { log?.warn({ socket: path, why }, 'dman sync will not run through this process'); return null; };
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return skip('the control socket path is too long (set XDG_RUNTIME_DIR or TMPDIR to a shorter directory)');
  const dirRefusal = ensureControlDir(dirname(path), uid);
  if (dirRefusal) return skip(dirRefusal);
  let existing = true;
  try { lstatSync(path); } catch { existing = false; }
  if (existing) {
    const bad = checkSocketFile(path, uid);
    if (bad) return skip(bad);
    if (await isLive(path)) return skip('another dman process already serves this config');
    try { unlinkSync(path); } catch (err) { return skip(`cannot remove the stale socket: ${(err as Error).message}`); }
  }
  const configHash = hashOf(configReal);
  const configStat = statOf(configReal);
  let configText = '';
  try { configText = readFileSync(configReal, 'utf8'); } catch { /* configHash is null then: every request is declined */ }
  const build = opts.build ?? buildId();
  // The client hashes the same keys: SYNC_ENV_KEYS and the `$VAR`s of this (unchanged) config text.
  const envHash = envFingerprint(env, configVarNames(configText));
  const keepAliveMs = opts.keepAliveMs ?? KEEPALIVE_MS;
  let served = 0;
  const sockets = new Set<Socket>();

  const refuse = (req: ControlRequest): string | null => {
    if (req.build !== build) return `the running ${opts.kind} is another build (${build}; this client is ${req.build})`;
    if (req.config !== configReal) return `the running ${opts.kind} uses ${configReal}, not ${req.config}`;
    if (req.env !== envHash) return `the running ${opts.kind} has other DMAN_*/XDG_*/HOME settings or other values for the $VARs of ${configReal}`;
    if (hashOf(configReal) !== configHash || statOf(configReal) !== configStat) return `${configReal} changed (content, mode or mtime) since ${opts.kind} started`;
    return opts.refuse?.() ?? null;
  };

  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    let started = false;
    const send = (v: ControlAck | ControlReply | ControlKeepAlive) => { if (!sock.destroyed) sock.write(`${JSON.stringify(v)}\n`); };
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      if (started) return;
      buf += d;
      if (buf.length > MAX_REQUEST_BYTES) { started = true; send({ accepted: false, reason: 'request too long' }); sock.end(); return; }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      started = true;
      const req = parseRequest(buf.slice(0, nl));
      if (!req) { send({ accepted: false, reason: 'not a dman control request' }); sock.end(); return; }
      const why = refuse(req);
      if (why) { log?.info({ pid: req.pid, why }, 'dman sync request refused; it runs on its own'); send({ accepted: false, reason: why }); sock.end(); return; }
      send({ accepted: true, host: { kind: opts.kind, pid: process.pid } });
      log?.info({ pid: req.pid, args: req.args }, 'running dman sync for a client');
      // The client gives up after a silence (a stuck host): say we are alive while the run goes on.
      const alive = setInterval(() => send({ alive: true }), keepAliveMs);
      opts.handle(req.args, req).then((reply) => {
        clearInterval(alive);
        served++;
        send(reply);
        sock.end();
      }, (err: unknown) => {
        clearInterval(alive);
        // handle() renders its own errors; this is a bug, said as the CLI would.
        send({ chunks: [[2, `dman: ${(err as Error)?.message ?? String(err)}\n`]], exitCode: 1 });
        sock.end();
      });
    });
  });
  const ok = await new Promise<boolean>((done) => {
    server.once('error', (err) => { log?.warn({ socket: path, err: err.message }, 'cannot listen on the control socket'); done(false); });
    server.listen(path, () => done(true));
  });
  if (!ok) return null;
  // The directory is private already; the socket is too, for platforms that honour its mode.
  try { chmodSync(path, 0o600); } catch { /* best effort: the 0700 directory guards it */ }
  const ino = lstatSync(path).ino;
  server.on('error', (err) => log?.warn({ socket: path, err: err.message }, 'control socket error'));
  let closing: Promise<void> | null = null;
  return {
    path,
    served: () => served,
    close() {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        for (const s of sockets) s.destroy();
        // Remove the socket only if it is still ours (a later host may have replaced it).
        try { if (lstatSync(path).ino === ino) unlinkSync(path); } catch { /* gone already */ }
      });
      return closing;
    },
  };
}
