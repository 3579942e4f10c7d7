// The client side of the control socket: `dman sync` asks a running `dman watch` for the same
// config to run the cycle and prints its answer. Any doubt (no host, stale socket, another build,
// other settings, a socket not private to this user) returns null and the caller runs the sync
// itself, exactly as before. Only node: imports (this is dist/fast.cjs, loaded before the CLI).
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createConnection } from 'node:net';
import { homedir } from 'node:os';
import { dirname } from 'node:path';
import { configCandidates } from '../../engine/config/candidates.js';
import { buildId, configVarNames, envFingerprint, SILENCE_LIMIT_MS, type ControlAck, type ControlReply, type ControlRequest, type SyncFlags } from './protocol.js';
import { checkControlDir, checkSocketFile, controlSocketPath, currentUid } from './socketPath.js';

/** How long to wait for the connection, and for the host's ack once connected. */
export const CONNECT_TIMEOUT_MS = 200;
export const ACK_TIMEOUT_MS = 2000;

/** Reads argv (after `node dman.js`) shaped `sync [--yes|-y] [--dry-run|-n] [--json] [--quiet|-q] [--verbose|-v] [--config FILE|-c FILE]`; anything else is null. */
export function parseFastArgv(args: readonly string[]): { flags: SyncFlags; configPath?: string } | null {
  const flags: SyncFlags = { yes: false, json: false, quiet: false, verbose: false, dryRun: false };
  let configPath: string | undefined;
  let sawSync = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'sync' && !sawSync) sawSync = true;
    else if (a === '--json') flags.json = true;
    else if (a === '--quiet' || a === '-q') flags.quiet = true;
    else if (a === '--verbose' || a === '-v') flags.verbose = true;
    // Options of the sync command itself: only after it, as commander wants them.
    else if (sawSync && (a === '--yes' || a === '-y')) flags.yes = true;
    else if (sawSync && (a === '--dry-run' || a === '-n')) flags.dryRun = true;
    else if ((a === '--config' || a === '-c') && i + 1 < args.length && !args[i + 1]!.startsWith('-') && configPath === undefined) configPath = args[++i];
    else if (a.startsWith('--config=') && a.length > 9 && configPath === undefined) configPath = a.slice(9);
    else return null;
  }
  return sawSync ? { flags, ...(configPath === undefined ? {} : { configPath }) } : null;
}

/** The config file the CLI would load, through realpath; null when there is none (the CLI then says so). */
export function findConfigReal(configPath: string | undefined, env: Readonly<Record<string, string | undefined>>, cwd = process.cwd(), home = homedir()): string | null {
  for (const c of configCandidates({ env, cwd, homedir: home, configPath })) {
    if (c.isExplicit || existsSync(c.path)) {
      try { return realpathSync(c.path); } catch { return null; }
    }
  }
  return null;
}

export interface DelegateIo {
  stdout(text: string): void;
  stderr(text: string): void;
  debug?(line: string): void;
}

/** The host took the request, then went silent: it may still be running it, so the client must not run it again. */
export interface HostSilent { silent: true; host: { kind: string; pid: number }; ms: number }

/**
 * Sends `req` to the socket; resolves to the reply, to a reason string when the caller should run
 * the sync itself, or to HostSilent when the host took the request and then sent nothing (no
 * keep-alive, no reply) for `silenceMs`.
 */
export function askHost(path: string, req: ControlRequest, onAck?: (ack: ControlAck & { accepted: true }) => void, silenceMs = SILENCE_LIMIT_MS): Promise<ControlReply | string | HostSilent> {
  return new Promise((done) => {
    let settled = false;
    let acked = false;
    let buf = '';
    const sock = createConnection(path);
    const finish = (v: ControlReply | string | HostSilent) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      done(v);
    };
    let timer = setTimeout(() => finish('no answer from the control socket in time'), CONNECT_TIMEOUT_MS);
    let host = { kind: 'dman', pid: 0 };
    const armSilence = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish({ silent: true, host, ms: silenceMs }), silenceMs);
    };
    sock.setEncoding('utf8');
    sock.once('connect', () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish('the host did not take the request in time'), ACK_TIMEOUT_MS);
      sock.write(`${JSON.stringify(req)}\n`);
    });
    sock.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let v: unknown;
        try { v = JSON.parse(line); } catch { finish('the host sent something that is not JSON'); return; }
        if (!acked) {
          const ack = v as ControlAck;
          if (ack.accepted !== true) { finish(`the host declined: ${(ack as { reason?: string }).reason ?? 'no reason'}`); return; }
          acked = true;
          // Accepted: the run may take as long as a sync takes, but the host says it is alive every second.
          host = ack.host;
          armSilence();
          onAck?.(ack);
          continue;
        }
        if ((v as { alive?: unknown }).alive === true) { armSilence(); continue; }
        const r = v as ControlReply;
        if (!Array.isArray(r.chunks) || typeof r.exitCode !== 'number') { finish('the host sent a malformed reply'); return; }
        finish(r);
        return;
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => finish(`cannot reach the control socket: ${err.code ?? err.message}`));
    sock.on('close', () => finish('the host closed the connection before answering'));
  });
}

/**
 * Runs `dman sync` through a running host when argv allows it and one serves this config.
 * Resolves to the exit code after printing the host's output, or null when the caller must run
 * the sync itself (nothing has been printed then, except debug lines).
 */
export async function delegateSync(args: readonly string[], env: Readonly<Record<string, string | undefined>>, io: DelegateIo): Promise<number | null> {
  const debug = io.debug ?? (() => {});
  if (env.DMAN_NO_DAEMON === '1' || process.platform === 'win32') return null;
  const parsed = parseFastArgv(args);
  if (!parsed) return null;
  const config = findConfigReal(parsed.configPath, env);
  if (!config) { debug('no config file found; running the sync here'); return null; }
  const uid = currentUid();
  const path = controlSocketPath(config, env, uid);
  const refusal = checkControlDir(dirname(path), uid) ?? checkSocketFile(path, uid);
  if (refusal) { debug(`no usable control socket (${refusal}); running the sync here`); return null; }
  // The host compares this with its own: HOME, XDG_*, DMAN_* and every $VAR the config names.
  let configText: string;
  try { configText = readFileSync(config, 'utf8'); } catch { debug(`cannot read ${config}; running the sync here`); return null; }
  const req: ControlRequest = { op: 'sync', args: parsed.flags, build: buildId(), env: envFingerprint(env, configVarNames(configText)), config, cwd: process.cwd(), pid: process.pid };
  const silence = Number(env.DMAN_CONTROL_SILENCE_MS);
  const reply = await askHost(path, req, (ack) => debug(`sync runs in ${ack.host.kind} (pid ${ack.host.pid}) through ${path}`), Number.isFinite(silence) && silence > 0 ? silence : SILENCE_LIMIT_MS);
  if (typeof reply === 'string') { debug(`${reply}; running the sync here`); return null; }
  if ('silent' in reply) {
    // Not a cold run: the host may still be running this sync, and two runs would race.
    io.stderr(`dman: the running ${reply.host.kind} (pid ${reply.host.pid}) took this sync, then stopped answering for ${Math.round(reply.ms / 1000)} s mid-run (control socket ${path})\n`
      + `  hint: check that process (is it stuck? \`kill ${reply.host.pid}\` stops it), or run \`DMAN_NO_DAEMON=1 dman sync\` to sync in this process\n`);
    return 1;
  }
  for (const [fd, text] of reply.chunks) (fd === 1 ? io.stdout : io.stderr)(text);
  return reply.exitCode;
}
