// The control socket's protocol: one JSON request line from `dman sync`, then from the host one
// ack line and one reply line. No imports beyond node: (the fast client loads it).
import { createHash } from 'node:crypto';

declare const __DMAN_VERSION__: string | undefined;
declare const __DMAN_COMMIT__: string | undefined;
declare const __DMAN_BUILD_TIME__: string | undefined;

/** This build: client and host must be the very same build (same render code), else the client runs the sync itself. */
export function buildId(): string {
  const v = typeof __DMAN_VERSION__ === 'string' ? __DMAN_VERSION__ : '0.0.0-dev';
  const c = typeof __DMAN_COMMIT__ === 'string' ? __DMAN_COMMIT__ : 'unknown';
  const t = typeof __DMAN_BUILD_TIME__ === 'string' ? __DMAN_BUILD_TIME__ : 'unbuilt';
  return `${v}+${c}@${t}`;
}

/** Environment variables that change what a sync does (state dir, token, credentials, server): host and client must agree on them. */
export const SYNC_ENV_KEYS = ['HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'DMAN_DATA_DIR', 'DMAN_AUTH_TOKEN', 'DMAN_TOKEN', 'DMAN_SERVER_URL', 'DMAN_CREDENTIALS_FILE', 'DMAN_CREDENTIAL_STORE'] as const;

/**
 * The environment variables a config text names as `$VAR` or `${VAR}` (home, state_dir, data_dir,
 * TLS files… expand them, shared/config/expand.ts): a host whose values differ would sync another
 * place. A regex over the whole text, no YAML parser: a name in a comment only costs a needless
 * decline, never a wrong run.
 */
export function configVarNames(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g)) names.add((m[1] ?? m[2])!);
  return [...names].sort();
}

/** A hash of the SYNC_ENV_KEYS values and of `extraKeys` (the config's `$VAR`s; the token is never sent as is). */
export function envFingerprint(env: Readonly<Record<string, string | undefined>>, extraKeys: readonly string[] = []): string {
  const h = createHash('sha256');
  for (const k of SYNC_ENV_KEYS) h.update(`${k}=${env[k] ?? '\u0000unset'}\n`);
  for (const k of [...new Set(extraKeys)].sort()) h.update(`$${k}=${env[k] ?? '\u0000unset'}\n`);
  return h.digest('hex');
}

/** A line the host sends every KEEPALIVE_MS while the run goes on (after the ack, before the reply). */
export interface ControlKeepAlive { alive: true }
export const KEEPALIVE_MS = 1000;
/** How long the client waits without a line from the host mid-run before giving up (DMAN_CONTROL_SILENCE_MS overrides it, for tests). */
export const SILENCE_LIMIT_MS = 10_000;

/** The flags the fast path understands; everything else goes through the full CLI. */
export interface SyncFlags { yes: boolean; json: boolean; quiet: boolean; verbose: boolean; dryRun: boolean }

export interface ControlRequest {
  op: 'sync';
  args: SyncFlags;
  build: string;
  env: string;
  /** The config file's real path, as the client resolved it. */
  config: string;
  cwd: string;
  pid: number;
}

/** What the host says first: it will run the request, or why not (then the client runs the sync itself). */
export type ControlAck = { accepted: true; host: { kind: string; pid: number } } | { accepted: false; reason: string };

/** The output, in the order the CLI would write it, and the exit code. */
export interface ControlReply {
  chunks: Array<[1 | 2, string]>;
  exitCode: number;
}

/** The longest request line the host reads. */
export const MAX_REQUEST_BYTES = 16 * 1024;
