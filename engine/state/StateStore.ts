// Local state per (server URL, user): the base of every path, a mirror of the server's entries
// with the change-feed cursor, the stat cache and open conflicts. One file per user written
// with writeFileAtomic, so a crash leaves the previous snapshot or the new one, never a torn one.
// The engine saves only after the files it reports landed (or the server acknowledged), so the
// state never claims more than the disk holds; a state that lags only causes a re-check.
import { createHash } from 'node:crypto';
import { readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import { entrySchema, type Entry } from '../../shared/protocol.js';
import type { ConflictRecord } from '../Engine.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { BaseRecord } from '../plan/planSync.js';
import type { StatCache, StatCacheEntry } from '../scan/scan.js';
import { acquireRunLock } from './runLock.js';

/** Everything the engine remembers about one user on one server. */
export interface UserState {
  /** The change-feed position: every entry with rev <= cursor is in `remote`. */
  cursor: number;
  remote: Map<string, Entry>;
  base: Map<string, BaseRecord>;
  statCache: StatCache;
  conflicts: Map<string, ConflictRecord>;
  lastSyncAt: number | null;
}

/** Loads and saves UserState. */
export interface StateStore {
  load(serverUrl: string, user: string): Promise<UserState>;
  save(serverUrl: string, user: string, state: UserState): Promise<void>;
  /** Takes the cross-process run lock of this user (file stores only). */
  lock?(serverUrl: string, user: string): Promise<() => Promise<void>>;
  /** A token that changes whenever another process saved the state (its mtime), or null when none is saved. */
  stamp?(serverUrl: string, user: string): Promise<number | null>;
}

/** Returns an empty state (first run against a server). */
export function emptyUserState(): UserState {
  return { cursor: 0, remote: new Map(), base: new Map(), statCache: new Map(), conflicts: new Map(), lastSyncAt: null };
}

const FORMAT = 2;
/** Stands for "the same hash as the base row of this path": most rows agree, and 64 hex chars per row add up. */
const SAME = '=';
const envelope = z.object({
  format: z.literal(FORMAT),
  serverUrl: z.string(),
  user: z.string(),
  cursor: z.number().int().nonnegative(),
  lastSyncAt: z.number().nullable(),
  // Rows are compact tuples, checked by hand below: zod per row is too slow for 100,000 paths.
  base: z.array(z.array(z.unknown())),
  cache: z.array(z.array(z.unknown())),
  remote: z.array(z.array(z.unknown())),
  conflicts: z.array(z.unknown()),
});

const conflictSchema = z.object({
  user: z.string(), path: z.string(), since: z.number(), reason: z.string(),
  local: z.object({ kind: z.enum(['file', 'symlink']), hash: z.string(), size: z.number(), mode: z.number() }).nullable(),
  remote: entrySchema.nullable(),
  baseRev: z.number().nullable(),
});

/** Names the folder of one server inside the state dir (readable, and unique per URL). */
export function serverDirName(serverUrl: string): string {
  const slug = serverUrl.replace(/^[a-z]+:\/\//i, '').replace(/[^A-Za-z0-9.-]+/g, '_').slice(0, 48);
  return `${slug}-${createHash('sha256').update(serverUrl).digest('hex').slice(0, 8)}`;
}

/** Stores state as one JSON file per user under `stateDir/<server>/<user>.json`. */
export function createFileStateStore(opts: { stateDir: string; onWarning?: (msg: string) => void; noSync?: boolean }): StateStore {
  const fileOf = (serverUrl: string, user: string): string => join(opts.stateDir, serverDirName(serverUrl), `${user}.json`);
  return {
    async load(serverUrl, user) {
      const file = fileOf(serverUrl, user);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyUserState();
        throw new DmanError('IO', `cannot read the sync state ${file}: ${(err as Error).message}`, { hint: 'check the permissions of the state directory', context: { file, user }, cause: err });
      }
      try {
        return decode(JSON.parse(text), serverUrl, user);
      } catch (err) {
        // A damaged state is set aside, never trusted: starting empty only makes the next run
        // compare everything again (equal files converge, different ones become conflicts).
        const aside = `${file}.corrupt-${Date.now()}`;
        await rename(file, aside).catch(() => {});
        opts.onWarning?.(`the sync state ${file} was unreadable (${(err as Error).message}); moved it to ${aside} and starting fresh`);
        return emptyUserState();
      }
    },
    lock: (serverUrl, user) => acquireRunLock(fileOf(serverUrl, user).replace(/\.json$/, '.lock'), { what: user }),
    async stamp(serverUrl, user) {
      const st = await stat(fileOf(serverUrl, user)).catch(() => null);
      return st ? st.mtimeMs : null;
    },
    async save(serverUrl, user, state) {
      const file = fileOf(serverUrl, user);
      const doc = encode(state, serverUrl, user);
      try {
        await writeFileAtomic(file, JSON.stringify(doc), { mode: 0o600, noSync: opts.noSync });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new DmanError(code === 'ENOSPC' ? 'DISK_FULL' : 'IO', `cannot write the sync state ${file}: ${(err as Error).message}`, { hint: code === 'ENOSPC' ? 'free some disk space and run again' : 'check the permissions of the state directory', context: { file, user }, cause: err });
      }
    },
  };
}

function encode(s: UserState, serverUrl: string, user: string): z.infer<typeof envelope> {
  return {
    format: FORMAT, serverUrl, user, cursor: s.cursor, lastSyncAt: s.lastSyncAt,
    base: [...s.base].map(([p, b]) => [p, b.rev, b.kind, b.hash, b.size, b.mode, b.deleted, b.target ?? null]),
    cache: [...s.statCache].map(([p, c]) => [p, c.size, c.mtimeMs, c.ctimeMs, c.ino, c.mode, c.hash === s.base.get(p)?.hash ? SAME : c.hash, c.at, c.target ?? null]),
    remote: [...s.remote.values()].map((e) => [e.path, e.kind, e.hash !== null && e.hash === s.base.get(e.path)?.hash ? SAME : e.hash, e.size, e.mode, e.mtime, e.rev, e.deleted, e.device, e.updatedAt, e.target ?? null]),
    conflicts: [...s.conflicts.values()],
  };
}

type BaseRow = [string, number, 'file' | 'symlink', string | null, number, number, boolean, string | null];
type CacheRow = [string, number, number, number, number, number, string, number, string | null];
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number';
const isStrOrNull = (v: unknown): boolean => v === null || typeof v === 'string';

function checkBaseRow(r: unknown[]): BaseRow {
  if (r.length !== 8 || !isStr(r[0]) || !isNum(r[1]) || (r[2] !== 'file' && r[2] !== 'symlink') || !isStrOrNull(r[3]) || !isNum(r[4]) || !isNum(r[5]) || typeof r[6] !== 'boolean' || !isStrOrNull(r[7])) {
    throw new Error(`a base row is malformed (${JSON.stringify(r).slice(0, 80)})`);
  }
  return r as BaseRow;
}
function checkCacheRow(r: unknown[]): CacheRow {
  if (r.length !== 9 || !isStr(r[0]) || !isNum(r[1]) || !isNum(r[2]) || !isNum(r[3]) || !isNum(r[4]) || !isNum(r[5]) || !isStr(r[6]) || !isNum(r[7]) || !isStrOrNull(r[8])) {
    throw new Error(`a stat-cache row is malformed (${JSON.stringify(r).slice(0, 80)})`);
  }
  return r as CacheRow;
}

type RemoteRow = [string, 'file' | 'symlink', string | null, number, number, number, number, boolean, string, number, string | null];
function checkRemoteRow(r: unknown[]): RemoteRow {
  if (r.length !== 11 || !isStr(r[0]) || (r[1] !== 'file' && r[1] !== 'symlink') || !isStrOrNull(r[2]) || !isNum(r[3]) || !isNum(r[4]) || !isNum(r[5]) || !isNum(r[6]) || typeof r[7] !== 'boolean' || !isStr(r[8]) || !isNum(r[9]) || !isStrOrNull(r[10])) {
    throw new Error(`a server-mirror row is malformed (${JSON.stringify(r).slice(0, 80)})`);
  }
  return r as RemoteRow;
}

function decode(raw: unknown, serverUrl: string, user: string): UserState {
  const doc = envelope.parse(raw);
  if (doc.serverUrl !== serverUrl || doc.user !== user) throw new Error(`it belongs to ${doc.user} on ${doc.serverUrl}`);
  const base = new Map<string, BaseRecord>();
  for (const row of doc.base) {
    const [p, rev, kind, hash, size, mode, deleted, target] = checkBaseRow(row);
    base.set(p, { rev, kind, hash, size, mode, deleted, ...(target !== null ? { target } : {}) });
  }
  const statCache: StatCache = new Map();
  for (const row of doc.cache) {
    const [p, size, mtimeMs, ctimeMs, ino, mode, hash, at, target] = checkCacheRow(row);
    const full = hash === SAME ? base.get(p)?.hash : hash;
    if (!full) throw new Error(`a stat-cache row of ${p} refers to a missing base`);
    const e: StatCacheEntry = { size, mtimeMs, ctimeMs, ino, mode, hash: full, at, ...(target !== null ? { target } : {}) };
    statCache.set(p, e);
  }
  const remote = new Map<string, Entry>();
  for (const row of doc.remote) {
    const [path, kind, hash, size, mode, mtime, rev, deleted, device, updatedAt, target] = checkRemoteRow(row);
    const full = hash === SAME ? base.get(path)?.hash ?? null : hash;
    if (hash === SAME && !full) throw new Error(`a remote row of ${path} refers to a missing base`);
    remote.set(path, { path, kind, hash: full, size, mode, mtime, rev, deleted, device, updatedAt, ...(target !== null ? { target } : {}) });
  }
  const conflicts = new Map<string, ConflictRecord>();
  for (const c of doc.conflicts) {
    const rec = conflictSchema.parse(c) as ConflictRecord;
    conflicts.set(rec.path, rec);
  }
  return { cursor: doc.cursor, lastSyncAt: doc.lastSyncAt, base, statCache, remote, conflicts };
}

/** Keeps state in memory (tests and the simulation). */
export function createMemoryStateStore(): StateStore & { snapshots: Map<string, string> } {
  const snapshots = new Map<string, string>();
  return {
    snapshots,
    async load(serverUrl, user) {
      const s = snapshots.get(`${serverUrl}\n${user}`);
      return s ? decode(JSON.parse(s), serverUrl, user) : emptyUserState();
    },
    async save(serverUrl, user, state) {
      snapshots.set(`${serverUrl}\n${user}`, JSON.stringify(encode(state, serverUrl, user)));
    },
  };
}
