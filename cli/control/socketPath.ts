// Where a running `dman watch` listens for `dman sync` requests, and the checks both sides make
// before trusting that place. Only node: imports: the fast client (dist/fast.cjs) loads this before
// deciding whether to load the whole CLI.
//
// The socket lives in a directory only this user can enter: $XDG_RUNTIME_DIR/dman/ when the
// session has one, else <tmpdir>/dman-<uid>/. Its name is a hash of the config file's real
// path, so every way of naming the same dman.yaml (--config, DMAN_CONFIG, ./dman.yaml) meets
// the same engine. The directory is 0700 and the socket 0600, both owned by this user; a
// directory or socket owned by someone else, or open to others, is refused (never used, never
// deleted).
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** The longest unix socket path Linux and macOS accept (sun_path is 108 / 104 bytes with the NUL). */
export const MAX_SOCKET_PATH = 103;

/** The current user's uid (-1 where the platform has none). */
export const currentUid = (): number => (typeof process.getuid === 'function' ? process.getuid() : -1);

/** The control directory for this user: $XDG_RUNTIME_DIR/dman, else <tmpdir>/dman-<uid>. */
export function controlDir(env: Readonly<Record<string, string | undefined>>, uid = currentUid()): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && isAbsolute(runtime)) return join(runtime, 'dman');
  return join(tmpdir(), `dman-${uid}`);
}

/** The socket for the config file at `configRealPath` (already through realpath). */
export function controlSocketPath(configRealPath: string, env: Readonly<Record<string, string | undefined>>, uid = currentUid()): string {
  const key = createHash('sha256').update(configRealPath).digest('hex').slice(0, 16);
  return join(controlDir(env, uid), `${key}.sock`);
}

/** Why a path is not safe to use, or null when it is. */
export type Refusal = string | null;

function ownedPrivately(st: Stats, uid: number, what: string, path: string): Refusal {
  if (uid >= 0 && st.uid !== uid) return `${what} ${path} belongs to uid ${st.uid}, not to this user (uid ${uid})`;
  if ((st.mode & 0o077) !== 0) return `${what} ${path} is open to other users (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/** Checks the control directory: a real directory (not a link), owned by `uid`, no access for others. */
export function checkControlDir(dir: string, uid = currentUid()): Refusal {
  let st: Stats;
  try { st = lstatSync(dir); } catch (err) { return `${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`; }
  if (!st.isDirectory()) return `${dir} is not a directory`;
  return ownedPrivately(st, uid, 'directory', dir);
}

/** Creates the control directory 0700 if missing, then checks it (a directory left by another user is refused, never reused). */
export function ensureControlDir(dir: string, uid = currentUid()): Refusal {
  try { mkdirSync(dir, { recursive: true, mode: 0o700 }); } catch (err) { return `cannot create ${dir}: ${(err as Error).message}`; }
  return checkControlDir(dir, uid);
}

/** Checks a socket file before connecting to it: a socket, owned by `uid`, mode 0600 or tighter. */
export function checkSocketFile(path: string, uid = currentUid()): Refusal {
  let st: Stats;
  try { st = lstatSync(path); } catch (err) { return `${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`; }
  if (!st.isSocket()) return `${path} is not a socket`;
  return ownedPrivately(st, uid, 'socket', path);
}
