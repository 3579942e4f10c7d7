// Local state per (server URL, user): the base of every path, a mirror of the server's entries
// with the change-feed cursor, the stat cache and open conflicts. In memory the three per-path maps
// are columns sharing one string per path (PackedMap.ts). Per user, a snapshot (format 3, binary
// with a checksum: stateFile.ts; format-2 JSON snapshots still load) written
// with writeFileAtomic (a crash leaves the previous snapshot or the new one, never a torn one)
// plus an append-only journal of the records each save changed, so a watch run that touched
// one file appends a line instead of rewriting megabytes. Each journal line carries a checksum
// and the snapshot's generation: a torn or foreign line ends the replay there (the state then
// lags, which only causes a re-check). The journal is folded into a new snapshot when it grows
// past a share of the snapshot, on load after a torn tail, and at close.
// The engine saves only after the files it reports landed (or the server acknowledged), so the
// state never claims more than the disk holds.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import { lazySchema } from '../../shared/lazySchema.js';
import { entrySchema, type Entry } from '../../shared/protocol.js';
import type { ConflictRecord } from '../Engine.js';
import { fsyncDir, writeFileAtomic } from '../fs/atomic.js';
import type { BaseRecord } from '../plan/planSync.js';
import type { StatCache, StatCacheEntry } from '../scan/scan.js';
import { releaseBuffer } from '../util/releaseBuffer.js';
import { capYoungGeneration, holdYoungGeneration } from '../util/youngGeneration.js';
import { acquireRunLock } from './runLock.js';
import { DELETED, packedMaps, PackedMap } from './PackedMap.js';
import { decodeSnapshot, encodeSnapshot, snapshotPieces } from './stateFile.js';
import { TrackedMap } from './TrackedMap.js';

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
  /**
   * A token that changes whenever another process saved the state (its mtime), or null when none is saved.
   * The first call after a load gives the token of the files that load read (stat'ed as it read them), without
   * another stat; every other call looks at the disk.
   */
  stamp?(serverUrl: string, user: string): Promise<number | null>;
  /** Folds a long journal into the snapshot (at close; file stores only). */
  compact?(serverUrl: string, user: string, state: UserState): Promise<void>;
  /** Whether compact would write anything, judged from what this process knows (no I/O): lets close skip the lock. */
  compactDue?(serverUrl: string, user: string, state: UserState): boolean;
}

/** The highest rev in a server mirror (0 when empty), without building a record per row. */
export function maxRemoteRev(remote: Map<string, Entry>): number {
  if (remote instanceof PackedMap) return Math.max(0, remote.maxOf(0));
  let max = 0;
  for (const e of remote.values()) if (e.rev > max) max = e.rev;
  return max;
}

/** How many entries of a server mirror are not deletions, without building a record per row. */
export function liveRemoteCount(remote: Map<string, Entry>): number {
  if (remote instanceof PackedMap) return remote.countWithout(DELETED);
  let n = 0;
  for (const e of remote.values()) if (!e.deleted) n++;
  return n;
}

/** Returns an empty state (first run against a server). */
export function emptyUserState(): UserState {
  const { base, statCache, remote } = packedMaps();
  return { cursor: 0, remote, base, statCache, conflicts: new TrackedMap(), lastSyncAt: null };
}

/** The JSON snapshot format written before format 3 (still read). */
const FORMAT = 2;
/** Stands for "the same hash as the base row of this path": most rows agree, and 64 hex chars per row add up. */
const SAME = '=';
/** The snapshot's header fields; the row arrays are checked by hand in decode (zod walking and copying 100,000 rows costs more than the rest of the load). */
const envelopeHeader = lazySchema(() => z.object({
  format: z.literal(FORMAT),
  serverUrl: z.string(),
  user: z.string(),
  cursor: z.number().int().nonnegative(),
  lastSyncAt: z.number().nullable(),
  /** Which journal lines belong to this snapshot (older snapshots have none: 0). */
  gen: z.number().int().nonnegative().optional(),
}));
interface Envelope extends z.infer<ReturnType<typeof envelopeHeader>> {
  base: unknown[][];
  cache: unknown[][];
  remote: unknown[][];
  conflicts: unknown[];
}

/** Checks the snapshot's shape: the header with zod, the row lists by hand (each row is checked where it is read). */
function parseEnvelope(raw: unknown): Envelope {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('it is not a JSON object');
  const doc = raw as Record<string, unknown>;
  const header = envelopeHeader().parse({ format: doc.format, serverUrl: doc.serverUrl, user: doc.user, cursor: doc.cursor, lastSyncAt: doc.lastSyncAt, gen: doc.gen });
  const rows = (key: 'base' | 'cache' | 'remote'): unknown[][] => {
    const v = doc[key];
    if (!Array.isArray(v)) throw new Error(`its "${key}" is not a list`);
    for (let i = 0; i < v.length; i++) if (!Array.isArray(v[i])) throw new Error(`its "${key}" row ${i} is not a list`);
    return v as unknown[][];
  };
  if (!Array.isArray(doc.conflicts)) throw new Error('its "conflicts" is not a list');
  return { ...header, base: rows('base'), cache: rows('cache'), remote: rows('remote'), conflicts: doc.conflicts };
}

// Built on first use (lazySchema.ts), as the other schemas here: a sync without conflicts parses none.
const conflictSchema = lazySchema(() => z.object({
  user: z.string(), path: z.string(), since: z.number(), reason: z.string(),
  local: z.object({ kind: z.enum(['file', 'symlink']), hash: z.string(), size: z.number(), mode: z.number() }).nullable(),
  remote: entrySchema().nullable(),
  baseRev: z.number().nullable(),
}));

/** Names the folder of one server inside the state dir (readable, and unique per URL). */
export function serverDirName(serverUrl: string): string {
  const slug = serverUrl.replace(/^[a-z]+:\/\//i, '').replace(/[^A-Za-z0-9.-]+/g, '_').slice(0, 48);
  return `${slug}-${createHash('sha256').update(serverUrl).digest('hex').slice(0, 8)}`;
}

/** Folds the journal into a new snapshot once it exceeds this share of the snapshot's size. */
const COMPACT_SHARE = 0.25;
/** …but never for a journal smaller than this (a small home's snapshot is tiny). */
const COMPACT_MIN_BYTES = 256 * 1024;
/**
 * At close, a journal smaller than this is left for the next load to replay. A sync that changed
 * a hundred files appends ~70 KB; folding that into a 10,000-file snapshot at close cost the run
 * ~10-15 ms (a rewrite of megabytes, an fsync), replaying it costs the next load ~1 ms.
 */
const CLOSE_COMPACT_BYTES = 256 * 1024;

/** `old`: the snapshot is format 2 (JSON), or format 3 without the layout counts a load uses to skip work (pathBytes, hexes): the next save or close rewrites it. */
interface FileMeta { gen: number; snapshotBytes: number; journalBytes: number; torn: boolean; old?: boolean; loadStamp?: number }

/** The token `stamp` gives for a snapshot's and a journal's stats. */
const stampOf = (st: { mtimeMs: number }, jst: { mtimeMs: number; size: number } | null): number => st.mtimeMs * 2 + (jst ? jst.mtimeMs + jst.size : 0);

/**
 * A snapshot from this size on (about 20,000 files) decodes with V8's young generation held
 * where it is (what the decode makes lives as long as the state), which is then capped: a run
 * would keep the semi-spaces V8 grew into as RSS (util/youngGeneration.ts).
 */
const LARGE_STATE_BYTES = 4 << 20;

/** Reads a whole file and its stat from one open (the stat then describes exactly what was read, and costs no second lookup). */
function readWithStat(file: string): { data: Buffer; st: Stats } {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    return { data: readFileSync(fd), st };
  } finally {
    closeSync(fd);
  }
}

/** Stores state as a snapshot `stateDir/<server>/<user>.json` (binary since format 3; the name stayed) plus an append-only `<user>.journal`. */
export function createFileStateStore(opts: { stateDir: string; onWarning?: (msg: string) => void; noSync?: boolean; compactShare?: number; compactMinBytes?: number }): StateStore {
  const fileOf = (serverUrl: string, user: string): string => join(opts.stateDir, serverDirName(serverUrl), `${user}.json`);
  const journalOf = (file: string): string => file.replace(/\.json$/, '.journal');
  /** What this process knows about each snapshot + journal pair since it last loaded or saved it. */
  const metas = new Map<string, FileMeta>();
  const ioError = (err: unknown, file: string, user: string, doing: string): DmanError => {
    const code = (err as NodeJS.ErrnoException).code;
    return new DmanError(code === 'ENOSPC' ? 'DISK_FULL' : 'IO', `cannot ${doing} the sync state ${file}: ${(err as Error).message}`, { hint: code === 'ENOSPC' ? 'free some disk space and run again' : 'check the permissions of the state directory', context: { file, user }, cause: err });
  };

  async function writeSnapshot(file: string, serverUrl: string, user: string, state: UserState): Promise<void> {
    const prev = metas.get(file);
    // Time-based, so a journal left from a snapshot that was lost or set aside never matches.
    const gen = Math.max((prev?.gen ?? 0) + 1, Date.now());
    // In pieces: no buffer of the snapshot's size on top of the state (23 MB at 100,000 files).
    const { size: snapshotBytes, pieces } = snapshotPieces(state, serverUrl, user, gen);
    try {
      await writeFileAtomic(file, Readable.from(pieces, { objectMode: true }), { mode: 0o600, noSync: opts.noSync });
    } catch (err) {
      throw ioError(err, file, user, 'write');
    }
    // The new snapshot holds everything; lines of the old generation are now ignored, so a
    // crash before this truncation loses nothing.
    // A journal that cannot be truncated (anything but "there is none") keeps its old lines: the
    // next save then writes a full snapshot again instead of appending after them.
    let truncated = true;
    const fh = await open(journalOf(file), 'r+').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') truncated = false;
      return null;
    });
    if (fh) {
      try { await fh.truncate(0); if (!opts.noSync) await fh.datasync(); } catch { truncated = false; } finally { await fh.close(); }
    }
    if (!truncated) opts.onWarning?.(`could not empty the sync state journal ${journalOf(file)}; the next save writes the whole state again`);
    metas.set(file, { gen, snapshotBytes, journalBytes: 0, torn: !truncated });
    untouchAll(state);
  }

  async function appendJournal(file: string, user: string, meta: FileMeta, state: UserState): Promise<void> {
    const line = journalLine(state, meta.gen);
    const jf = journalOf(file);
    try {
      meta.loadStamp = undefined;
      const fh = await open(jf, 'a', 0o600);
      try {
        await fh.write(line);
        if (!opts.noSync) await fh.datasync();
      } finally {
        await fh.close();
      }
      if (meta.journalBytes === 0 && !opts.noSync) await fsyncDir(dirname(jf));
    } catch (err) {
      // A partial line may be on disk now: the next save writes a fresh snapshot instead.
      meta.torn = true;
      throw ioError(err, jf, user, 'append to');
    }
    meta.journalBytes += Buffer.byteLength(line);
    untouchAll(state);
  }

  function compactDue(serverUrl: string, user: string, state: UserState): boolean {
    const meta = metas.get(fileOf(serverUrl, user));
    // Only a state equal to what is stored is folded: unsaved changes (a dry run's) stay unsaved.
    if (!meta || !isTracked(state) || anyTouched(state) || anyCleared(state)) return false;
    return meta.torn || !!meta.old || meta.journalBytes >= CLOSE_COMPACT_BYTES;
  }

  return {
    async load(serverUrl, user) {
      const file = fileOf(serverUrl, user);
      let data: Buffer;
      let st: Stats;
      try {
        // One blocking read: the async one goes through the thread pool in 512 KiB pieces, an
        // event-loop turn each, and decoding blocks the loop for longer than the read anyway.
        ({ data, st } = readWithStat(file));
      } catch (err) {
        metas.delete(file);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyUserState();
        throw new DmanError('IO', `cannot read the sync state ${file}: ${(err as Error).message}`, { hint: 'check the permissions of the state directory', context: { file, user }, cause: err });
      }
      let state: UserState;
      let gen: number;
      let old: boolean;
      const snapshotBytes = data.length;
      const large = snapshotBytes >= LARGE_STATE_BYTES;
      try {
        if (large) holdYoungGeneration();
        try {
          ({ state, gen, old } = decodeAny(data, serverUrl, user));
        } finally {
          if (large) capYoungGeneration();
        }
      } catch (err) {
        if (large) releaseBuffer(data);
        // A damaged state is set aside, never trusted: starting empty only makes the next run
        // compare everything again (equal files converge, different ones become conflicts).
        const aside = `${file}.corrupt-${Date.now()}`;
        await rename(file, aside).catch(() => {});
        metas.delete(file);
        opts.onWarning?.(`the sync state ${file} was unreadable (${(err as Error).message}); moved it to ${aside} and starting fresh`);
        return emptyUserState();
      }
      // The decode copied what it keeps: the file's bytes can go now rather than at V8's next full GC.
      if (large) releaseBuffer(data);
      let journal: { data: Buffer; st: Stats } | null = null;
      try { journal = readWithStat(journalOf(file)); } catch { /* no journal: the snapshot is all there is */ }
      const replayed = journal ? replayJournal(journal.data, gen, state) : { bytes: 0, torn: false };
      if (replayed.torn) opts.onWarning?.(`the sync state journal ${journalOf(file)} ends in an incomplete record (an interrupted save); the state is what was saved before it`);
      untouchAll(state);
      metas.set(file, { gen, snapshotBytes, journalBytes: replayed.bytes, torn: replayed.torn, old, loadStamp: stampOf(st, journal?.st ?? null) });
      return state;
    },
    lock: (serverUrl, user) => acquireRunLock(fileOf(serverUrl, user).replace(/\.json$/, '.lock'), { what: user }),
    async stamp(serverUrl, user) {
      const file = fileOf(serverUrl, user);
      const meta = metas.get(file);
      if (meta?.loadStamp !== undefined) {
        const token = meta.loadStamp;
        meta.loadStamp = undefined;
        return token;
      }
      const [st, jst] = await Promise.all([stat(file).catch(() => null), stat(journalOf(file)).catch(() => null)]);
      return st ? stampOf(st, jst) : null;
    },
    async save(serverUrl, user, state) {
      const file = fileOf(serverUrl, user);
      const meta = metas.get(file);
      const share = opts.compactShare ?? COMPACT_SHARE;
      const full = !meta || meta.torn || !!meta.old || !isTracked(state) || anyCleared(state)
        || meta.journalBytes > Math.max(opts.compactMinBytes ?? COMPACT_MIN_BYTES, share * meta.snapshotBytes);
      if (full) await writeSnapshot(file, serverUrl, user, state);
      else await appendJournal(file, user, meta, state);
    },
    async compact(serverUrl, user, state) {
      if (!compactDue(serverUrl, user, state)) return;
      await writeSnapshot(fileOf(serverUrl, user), serverUrl, user, state);
    },
    compactDue,
  };
}

const mapsOf = (s: UserState): Array<Map<string, unknown>> => [s.base, s.statCache, s.remote, s.conflicts];
const tracked = (m: Map<string, unknown>): m is TrackedMap<string, unknown> | PackedMap<unknown> => m instanceof TrackedMap || m instanceof PackedMap;
function isTracked(s: UserState): boolean { return mapsOf(s).every(tracked); }
function anyCleared(s: UserState): boolean { return mapsOf(s).some((m) => tracked(m) && m.cleared); }
function anyTouched(s: UserState): boolean { return mapsOf(s).some((m) => tracked(m) && m.touched.size > 0); }
function untouchAll(s: UserState): void { for (const m of mapsOf(s)) if (tracked(m)) m.untouch(); }

// Journal rows (JSON, the same as format 2's snapshot rows).
const baseRow = (p: string, b: BaseRecord): unknown[] => [p, b.rev, b.kind, b.hash, b.size, b.mode, b.deleted, b.target ?? null];
const cacheRow = (p: string, c: StatCacheEntry): unknown[] => [p, c.size, c.mtimeMs, c.ctimeMs, c.ino, c.mode, c.hash, c.at, c.target ?? null];
const remoteRow = (e: Entry): unknown[] => [e.path, e.kind, e.hash, e.size, e.mode, e.mtime, e.rev, e.deleted, e.device, e.updatedAt, e.target ?? null];

/** One journal line: `<checksum> <json>\n`, the json holding the records the save changed (a deleted path is `[path]`). */
function journalLine(s: UserState, gen: number): string {
  const rows = <V>(m: Map<string, V>, row: (p: string, v: V) => unknown[]): unknown[][] => {
    const out: unknown[][] = [];
    for (const p of (m as TrackedMap<string, V> | PackedMap<V>).touched) { const v = m.get(p); out.push(v === undefined ? [p] : row(p, v)); }
    return out;
  };
  const body = JSON.stringify({
    g: gen, c: s.cursor, l: s.lastSyncAt,
    b: rows(s.base, baseRow), k: rows(s.statCache, (p, c) => cacheRow(p, c)), r: rows(s.remote, (_p, e) => remoteRow(e)),
    ...((s.conflicts as TrackedMap<string, ConflictRecord>).touched.size > 0 ? { x: [...s.conflicts.values()] } : {}),
  });
  return `${checksum(body)} ${body}\n`;
}

const checksum = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);
/** A journal line's JSON: `g` generation, `c` cursor, `l` lastSyncAt, the base/stat-cache/mirror rows and the conflicts, if they changed. */
interface JournalRecord { g: number; c: number; l: number | null; b: unknown[][]; k: unknown[][]; r: unknown[][]; x?: unknown[] }
const isRows = (v: unknown): v is unknown[][] => Array.isArray(v) && v.every((r) => Array.isArray(r));

/**
 * Checks the shape of a journal line's JSON by hand (each row is then checked in full by its
 * check*Row): a zod parse of the rows, arrays of arrays of values, cost ~10 µs a row, ~5 ms of a
 * one-shot run's load once the journal nears its compaction size.
 */
function checkJournalRecord(v: unknown): JournalRecord {
  const r = v as Partial<Record<keyof JournalRecord, unknown>> | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || !Number.isSafeInteger(r.g) || !Number.isSafeInteger(r.c) || (r.c as number) < 0
    || !(r.l === null || Number.isFinite(r.l)) || !isRows(r.b) || !isRows(r.k) || !isRows(r.r) || (r.x !== undefined && !Array.isArray(r.x))) {
    throw new Error('a journal record is malformed');
  }
  return r as JournalRecord;
}

/** Applies the journal's intact lines of generation `gen` to the state; stops at the first torn or foreign one. */
function replayJournal(buf: Buffer, gen: number, state: UserState): { bytes: number; torn: boolean } {
  let at = 0;
  while (at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    if (nl === -1) return { bytes: at, torn: true };
    const line = buf.subarray(at, nl).toString('utf8');
    const sp = line.indexOf(' ');
    const body = line.slice(sp + 1);
    let rec: JournalRecord;
    try {
      if (sp !== 16 || checksum(body) !== line.slice(0, sp)) throw new Error('checksum');
      rec = checkJournalRecord(JSON.parse(body));
      // Lines of an older snapshot (a compaction that stopped before truncating) are already in it:
      // skipped, so a line of this snapshot after them still counts. A newer generation than the
      // snapshot's means the snapshot was set aside: the replay stops there.
      if (rec.g < gen) { at = nl + 1; continue; }
      if (rec.g !== gen) return { bytes: at, torn: true };
      // Checked in full before any of it is applied: a line counts entirely or not at all.
      const base = rec.b.map((r) => (r.length === 1 && isStr(r[0]) ? r[0] : checkBaseRow(r)));
      const cache = rec.k.map((r) => (r.length === 1 && isStr(r[0]) ? r[0] : checkCacheRow(r)));
      const remote = rec.r.map((r) => (r.length === 1 && isStr(r[0]) ? r[0] : checkRemoteRow(r)));
      const conflicts = rec.x?.map((c) => conflictSchema().parse(c) as ConflictRecord);
      // Indexed reads, not destructuring (the iterator protocol per row in code that runs once; see decodeV2).
      for (const r of base) {
        if (typeof r === 'string') { state.base.delete(r); continue; }
        const target = r[7];
        state.base.set(r[0], { rev: r[1], kind: r[2], hash: r[3], size: r[4], mode: r[5], deleted: r[6], ...(target !== null ? { target } : {}) });
      }
      for (const r of cache) {
        if (typeof r === 'string') { state.statCache.delete(r); continue; }
        const target = r[8];
        state.statCache.set(r[0], { size: r[1], mtimeMs: r[2], ctimeMs: r[3], ino: r[4], mode: r[5], hash: r[6], at: r[7], ...(target !== null ? { target } : {}) });
      }
      for (const r of remote) {
        if (typeof r === 'string') { state.remote.delete(r); continue; }
        const target = r[10];
        state.remote.set(r[0], { path: r[0], kind: r[1], hash: r[2], size: r[3], mode: r[4], mtime: r[5], rev: r[6], deleted: r[7], device: r[8], updatedAt: r[9], ...(target !== null ? { target } : {}) });
      }
      if (conflicts) {
        state.conflicts.clear();
        for (const c of conflicts) state.conflicts.set(c.path, c);
      }
      state.cursor = rec.c;
      state.lastSyncAt = rec.l;
    } catch {
      return { bytes: at, torn: true };
    }
    at = nl + 1;
  }
  return { bytes: at, torn: false };
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

/** Reads a snapshot of either format (3: binary; 2: JSON, written before); `old` when a rewrite would make the next load cheaper. */
function decodeAny(data: Buffer, serverUrl: string, user: string): { state: UserState; gen: number; old: boolean } {
  if (data[0] === 0x7b /* { */) return { ...decodeV2(JSON.parse(data.toString('utf8')), serverUrl, user), old: true };
  const { state, header } = decodeSnapshot(data, (c) => conflictSchema().parse(c) as ConflictRecord);
  if (header.serverUrl !== serverUrl || header.user !== user) throw new Error(`it belongs to ${header.user} on ${header.serverUrl}`);
  untouchAll(state);
  return { state, gen: header.gen, old: header.pathBytes === undefined || header.hexes === undefined };
}

function decodeV2(raw: unknown, serverUrl: string, user: string): { state: UserState; gen: number } {
  const doc = parseEnvelope(raw);
  if (doc.serverUrl !== serverUrl || doc.user !== user) throw new Error(`it belongs to ${doc.user} on ${doc.serverUrl}`);
  // Indexed reads, not array destructuring: that goes through the iterator protocol until the
  // loop is optimized, a few ms per 10,000 rows of a one-shot run.
  const { base, statCache, remote } = packedMaps();
  for (const m of [base, statCache, remote]) m.reserve(doc.base.length + 64);
  for (let i = 0; i < doc.base.length; i++) {
    const r = checkBaseRow(doc.base[i]!);
    const target = r[7];
    base.load(r[0], target !== null
      ? { rev: r[1], kind: r[2], hash: r[3], size: r[4], mode: r[5], deleted: r[6], target }
      : { rev: r[1], kind: r[2], hash: r[3], size: r[4], mode: r[5], deleted: r[6] });
  }
  for (let i = 0; i < doc.cache.length; i++) {
    const r = checkCacheRow(doc.cache[i]!);
    const p = r[0], target = r[8];
    const full = r[6] === SAME ? base.get(p)?.hash : r[6];
    if (!full) throw new Error(`a stat-cache row of ${p} refers to a missing base`);
    statCache.load(p, target !== null
      ? { size: r[1], mtimeMs: r[2], ctimeMs: r[3], ino: r[4], mode: r[5], hash: full, at: r[7], target }
      : { size: r[1], mtimeMs: r[2], ctimeMs: r[3], ino: r[4], mode: r[5], hash: full, at: r[7] });
  }
  for (let i = 0; i < doc.remote.length; i++) {
    const r = checkRemoteRow(doc.remote[i]!);
    const path = r[0], hash = r[2], target = r[10];
    const full = hash === SAME ? base.get(path)?.hash ?? null : hash;
    if (hash === SAME && !full) throw new Error(`a remote row of ${path} refers to a missing base`);
    remote.load(path, target !== null
      ? { path, kind: r[1], hash: full, size: r[3], mode: r[4], mtime: r[5], rev: r[6], deleted: r[7], device: r[8], updatedAt: r[9], target }
      : { path, kind: r[1], hash: full, size: r[3], mode: r[4], mtime: r[5], rev: r[6], deleted: r[7], device: r[8], updatedAt: r[9] });
  }
  const conflicts = new TrackedMap<string, ConflictRecord>();
  for (const c of doc.conflicts) {
    const rec = conflictSchema().parse(c) as ConflictRecord;
    conflicts.set(rec.path, rec);
  }
  const state: UserState = { cursor: doc.cursor, lastSyncAt: doc.lastSyncAt, base, statCache, remote, conflicts };
  untouchAll(state);
  return { state, gen: doc.gen ?? 0 };
}

/** Keeps state in memory (tests and the simulation). */
export function createMemoryStateStore(): StateStore & { snapshots: Map<string, Buffer> } {
  const snapshots = new Map<string, Buffer>();
  return {
    snapshots,
    async load(serverUrl, user) {
      const s = snapshots.get(`${serverUrl}\n${user}`);
      return s ? decodeAny(s, serverUrl, user).state : emptyUserState();
    },
    async save(serverUrl, user, state) {
      snapshots.set(`${serverUrl}\n${user}`, encodeSnapshot(state, serverUrl, user, 0));
    },
  };
}
