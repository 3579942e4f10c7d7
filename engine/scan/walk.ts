// Walks a home directory and yields the files the track patterns select. The scanner, `dman ls`
// and the wizard preview call it; it never follows a link, prunes directories no pattern can
// reach, and treats a file that vanishes or cannot be read as a reported skip, never a failure.
import { readdirSync, statfsSync, statSync, type Dirent, type Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DmanError } from '../../shared/errors.js';
import type { TrackMatcher } from '../../shared/patterns/compileTrack.js';
import { isTempName } from '../fs/atomic.js';
import { lstatLight, type StatLike } from '../fs/lstatLight.js';

/** A tracked regular file or symlink found by walkTracked. */
export interface WalkEntry {
  /** Home-relative, '/'-separated, NFC: the key the engine and the server use. */
  path: string;
  /** Absolute path on this machine, spelled as the file system spells it. */
  abs: string;
  /** lstat of the entry (a symlink is described, never followed): an fs.Stats, or lstatLight's numbers from the blocking walk. */
  stat: StatLike;
  /** The same lstat under the name scan's WalkedFile gives it: a walk's entries go to scan as they are. */
  stats: StatLike;
}

/** Why walkTracked passed over something. */
export type WalkSkipReason = 'vanished' | 'permission' | 'special' | 'error';

/** Something walkTracked passed over, reported through onSkip. */
export interface WalkSkip {
  path: string;
  abs: string;
  reason: WalkSkipReason;
  /** The errno code (ENOENT, EACCES, …) or the kind of special file (socket, fifo, device). */
  code: string;
  message: string;
}

/** The two file-system calls the walk makes; tests inject faults through it. */
export interface WalkFs {
  readdir(abs: string): Promise<Dirent[]>;
  lstat(abs: string): Promise<Stats>;
  /** Checks the home itself (default node:fs stat). */
  stat?(abs: string): Promise<Stats>;
}

/** Options of walkTracked. */
export interface WalkOptions {
  /** How many directory reads or lstats run at once (default 16). */
  concurrency?: number;
  /** Called for every tracked entry skipped (special files, vanished, unreadable), and for unreadable directories. */
  onSkip?: (skip: WalkSkip) => void;
  /**
   * Called for each of our own temp files (tempPathFor's names) in a folder the walk read, which
   * it never yields: a crashed dman may have left them (the engine removes those whose process is
   * gone). A folder a listing cache remembers is not read, so its temp files are not seen again.
   */
  onTemp?: (path: string) => void;
  /** Stops the walk between batches; the iterator then throws the signal's reason. */
  signal?: AbortSignal;
  /** File-system calls (default node:fs/promises). */
  fs?: WalkFs;
}

const nodeFs: WalkFs = { readdir: (abs) => readdir(abs, { withFileTypes: true }), lstat: (abs) => lstat(abs) };

/** A directory read: where it was, and what it holds (sorted by name). */
interface Listing { dir: string; entries: Dirent[] }
/**
 * The entries that need an lstat, in order: their paths, and those readdir could not type
 * (DT_UNKNOWN: lstat decides whether they are tracked); the others readdir said are a file or a symlink.
 */
interface Candidates { paths: string[]; unknown: Set<string> | null }
const noCandidates = (): Candidates => ({ paths: [], unknown: null });

/** The absolute path of a home-relative path (cheaper than path.join, which normalizes again). */
const absOf = (root: string, path: string): string => (root.endsWith('/') ? root + path : `${root}/${path}`);

/** NFC, without the cost of String#normalize for the all-ASCII names most homes hold. */
const nfc = (p: string): string => (/[\u0080-\uffff]/.test(p) ? p.normalize('NFC') : p);

/**
 * Sorts each listing, queues the folders to descend into, and appends the entries that need an
 * lstat to `out`; with `memo`, also their names (and the DT_UNKNOWN ones) to remember the folder by.
 * Returns whether a listing held one of our temp files (reported to `onTemp`).
 */
function classify(root: string, listings: Listing[], matcher: TrackMatcher, subdirs: string[], skip: (s: WalkSkip) => void, out: Candidates, memo: FolderMemo | null = null, onTemp?: (path: string) => void): boolean {
  const names: string[] | null = memo ? [] : null;
  let temps = false;
  for (const { dir, entries } of listings) {
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (let i = 0; i < entries.length; i++) {
      const d = entries[i]!;
      const path = dir === '' ? d.name : `${dir}/${d.name}`;
      if (d.isDirectory()) {
        if (matcher.shouldDescend(path)) subdirs.push(path);
      } else if (d.isFile() || d.isSymbolicLink()) {
        if (isTempName(d.name)) {
          temps = true;
          onTemp?.(path);
        } else if (matcher.isTracked(path)) {
          out.paths.push(path);
          names?.push(d.name);
        }
      } else if (d.isSocket() || d.isFIFO() || d.isBlockDevice() || d.isCharacterDevice()) {
        if (matcher.isTracked(path)) skip(specialSkip(path, absOf(root, path), d));
      } else {
        // DT_UNKNOWN (some network and FUSE file systems): lstat decides.
        out.paths.push(path);
        (out.unknown ??= new Set()).add(path);
        if (memo) {
          names!.push(d.name);
          (memo.unknown ??= new Set()).add(d.name);
        }
      }
    }
  }
  if (memo) memo.names = names!.join('/');
  return temps;
}


/** Decides what an lstat'ed candidate is: an entry to yield, a folder to descend into, or a skip. */
function settle(path: string, known: boolean, abs: string, st: StatLike, matcher: TrackMatcher, subdirs: string[], skip: (s: WalkSkip) => void): WalkEntry | null {
  if (st.isFile() || st.isSymbolicLink()) {
    if (known || (!isTempName(abs) && matcher.isTracked(path))) return { path: nfc(path), abs, stat: st, stats: st };
  } else if (st.isDirectory()) {
    // Replaced by a directory since readdir, or a DT_UNKNOWN directory.
    if (matcher.shouldDescend(path)) subdirs.push(path);
  } else if (matcher.isTracked(path)) {
    skip(specialSkip(path, abs, st));
  }
  return null;
}

/**
 * Yields every tracked regular file and symlink under `home` (our own temp files excepted),
 * pruning with matcher.shouldDescend. Throws DmanError IO only when `home` itself is unusable.
 */
export async function* walkTracked(home: string, matcher: TrackMatcher, opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const root = resolve(home);
  const fs = opts.fs ?? nodeFs;
  const limit = Math.max(1, opts.concurrency ?? 16);
  const skip = (s: WalkSkip) => opts.onSkip?.(s);
  await checkHome(root, fs);

  let pending: string[] = [''];
  while (pending.length > 0) {
    opts.signal?.throwIfAborted();
    const batch = pending.splice(0, limit);
    const listings = await Promise.all(batch.map(async (dir): Promise<Listing> => {
      const abs = dir === '' ? root : absOf(root, dir);
      try {
        return { dir, entries: await fs.readdir(abs) };
      } catch (err) {
        skip(skipFor(dir, abs, err));
        return { dir, entries: [] };
      }
    }));

    const subdirs: string[] = [];
    const candidates = noCandidates();
    classify(root, listings, matcher, subdirs, skip, candidates, null, opts.onTemp);
    for (let i = 0; i < candidates.paths.length; i += limit) {
      const chunk = candidates.paths.slice(i, i + limit);
      const stats = await Promise.all(chunk.map(async (p) => {
        try {
          return await fs.lstat(absOf(root, p));
        } catch (err) {
          skip(skipFor(p, absOf(root, p), err));
          return null;
        }
      }));
      for (let k = 0; k < chunk.length; k++) {
        const st = stats[k];
        const p = chunk[k]!;
        const e = st ? settle(p, !candidates.unknown?.has(p), absOf(root, p), st, matcher, subdirs, skip) : null;
        if (e) yield e;
      }
    }
    // Depth first, so the pending list stays as small as the tree is deep.
    pending = subdirs.concat(pending);
  }
}

/** The synchronous file-system calls of walkTrackedSync; tests inject faults through it. */
export interface WalkFsSync {
  readdirSync(abs: string): Dirent[];
  lstatSync(abs: string): StatLike;
  /** Checks the home itself (default node:fs statSync). */
  statSync?(abs: string): Stats;
}

const nodeFsSync: WalkFsSync = { readdirSync: (abs) => readdirSync(abs, { withFileTypes: true }), lstatSync: lstatLight };

/** Options of the blocking walks. */
export type WalkSyncOptions = Pick<WalkOptions, 'onSkip' | 'onTemp' | 'signal'> & {
  fs?: WalkFsSync;
  /** What earlier walks of the same home with the same matcher found in each folder (long-running processes; see createListingCache). */
  listings?: ListingCache;
};

/** The most entries one step of the blocking walk lstats (a step of a sliced walk is short even in a huge folder). */
const LSTATS_PER_STEP = 256;

/**
 * Linux file systems that update a folder's mtime and ctime whenever an entry is added, removed
 * or renamed in it (statfs f_type): ext2/3/4, xfs, btrfs, tmpfs, f2fs, zfs, bcachefs. Elsewhere
 * (network, FUSE, overlay, other systems) every folder is read on every walk.
 */
const LISTING_FS_TYPES = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0xf2f52010, 0x2fc12fc1, 0xca451a4e]);
/**
 * A folder whose mtime or ctime is less than this older than the moment it was read is read
 * again on the next walk: a change in the same clock tick (up to 10 ms on Linux; 2 s on FAT)
 * would leave both as they were.
 */
const LISTING_RACY_MS = 2000;

/** What one folder held for the walk, and the folder's lstat when it was read. */
export interface FolderMemo {
  /** The folder (home-relative; the key it is remembered under). */
  dir: string;
  dev: number;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
  /** When it was read (wall-clock Date.now(), taken before its lstat: a saved memo is compared in a later process). */
  at: number;
  /** The walk that used it last. */
  gen: number;
  subdirs: string[];
  /**
   * The names of the entries to lstat, in order, joined by '/' (which no name holds): one string
   * per folder instead of a path and an object per file (issue 10: the paths of 100,000 files are
   * also in the state). Each walk builds the paths again; they die young.
   */
  names: string;
  /** The names readdir could not type (DT_UNKNOWN), if any. */
  unknown: Set<string> | null;
  skips: WalkSkip[];
}

/**
 * The folder listings a long-running process keeps between walks of a home: a folder whose
 * device, inode, mtime and ctime are as they were when it was read (and were not fresh then)
 * holds the same names, so the walk lstats the folder instead of reading it again (and skips
 * sorting it and asking the matcher about each name). Every file is still lstat'ed on every
 * walk; only the list of names is remembered. Used only on file systems known to keep folder
 * times (LISTING_FS_TYPES) and only for one home and matcher (another one starts it over).
 */
export interface ListingCache {
  root: string | null;
  matcher: TrackMatcher | null;
  folders: Map<string, FolderMemo>;
  /** Whether each device (st_dev) seen is a file system of LISTING_FS_TYPES. */
  devices: Map<number, boolean>;
  gen: number;
  /** LISTING_RACY_MS (tests shorten it). */
  racyMs: number;
  /** Set when a walk read a folder anew or forgot one (listingFile.ts saves the cache only then; it clears the flag). */
  changed: boolean;
}

/** An empty ListingCache. */
export function createListingCache(opts: { racyMs?: number } = {}): ListingCache {
  return { root: null, matcher: null, folders: new Map(), devices: new Map(), gen: 0, racyMs: opts.racyMs ?? LISTING_RACY_MS, changed: false };
}

function keepsFolderTimes(cache: ListingCache, st: StatLike, abs: string): boolean {
  let ok = cache.devices.get(st.dev);
  if (ok === undefined) {
    try { ok = process.platform === 'linux' && LISTING_FS_TYPES.has(statfsSync(abs).type); } catch { ok = false; }
    cache.devices.set(st.dev, ok);
  }
  return ok;
}

/** Appends the entries a remembered folder holds to `out`, as classify found them. */
function recall(m: FolderMemo, out: Candidates): void {
  if (m.names === '') return;
  const dir = m.dir;
  for (const name of m.names.split('/')) {
    const path = dir === '' ? name : `${dir}/${name}`;
    out.paths.push(path);
    if (m.unknown?.has(name)) (out.unknown ??= new Set()).add(path);
  }
}

/** A folder to classify: read now (with the memo to fill when it may be remembered), or remembered from an earlier walk. */
type FolderRead = { listing: Listing; memo: FolderMemo | null } | { remembered: FolderMemo };

/**
 * The blocking walk as small steps: each call reads one batch of up to 16 folders or lstats up
 * to LSTATS_PER_STEP of the entries they hold, appends what it found to `out`, and returns false
 * once the walk is over. Checks the home (throwing DmanError IO) when created.
 */
function syncWalker(home: string, matcher: TrackMatcher, opts: WalkSyncOptions): (out: WalkEntry[]) => boolean {
  const root = resolve(home);
  const fs = opts.fs ?? nodeFsSync;
  const skip = (s: WalkSkip) => opts.onSkip?.(s);
  const cache = opts.listings;
  const rootAt = Date.now();
  const rootStat = checkHomeSync(root, fs);
  if (cache && (cache.root !== root || cache.matcher !== matcher)) {
    cache.root = root;
    cache.matcher = matcher;
    if (cache.folders.size > 0) cache.changed = true;
    cache.folders.clear();
  }
  const gen = cache ? ++cache.gen : 0;
  // The same batches as walkTracked's default, so both yield the same order.
  const limit = 16;
  let pending: string[] = [''];
  let subdirs: string[] = [];
  let candidates = noCandidates();
  let next = 0;

  const readFolder = (dir: string): FolderRead => {
    const abs = dir === '' ? root : absOf(root, dir);
    let memo: FolderMemo | null = null;
    // Only while this is the newest walk on the cache: another walk (other patterns) may have taken it over meanwhile.
    if (cache && cache.gen === gen) {
      const at = dir === '' ? rootAt : Date.now();
      let st: StatLike | null = rootStat;
      if (dir !== '') {
        try { st = fs.lstatSync(abs); } catch { st = null; }
      }
      if (st && st.isDirectory() && keepsFolderTimes(cache, st, abs)) {
        const m = cache.folders.get(dir);
        if (m && m.dev === st.dev && m.ino === st.ino && m.mtimeMs === st.mtimeMs && m.ctimeMs === st.ctimeMs
          && m.mtimeMs < m.at - cache.racyMs && m.ctimeMs < m.at - cache.racyMs) {
          m.gen = gen;
          return { remembered: m };
        }
        memo = { dir, dev: st.dev, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, at, gen, subdirs: [], names: '', unknown: null, skips: [] };
      }
    }
    try {
      return { listing: { dir, entries: fs.readdirSync(abs) }, memo };
    } catch (err) {
      skip(skipFor(dir, abs, err));
      return { listing: { dir, entries: [] }, memo: null };
    }
  };

  /** The walk is over: forget the folders it did not meet (removed, or no longer reached). */
  const done = (): false => {
    if (cache && cache.gen === gen) {
      for (const [dir, m] of cache.folders) {
        if (m.gen !== gen) {
          cache.folders.delete(dir);
          cache.changed = true;
        }
      }
    }
    return false;
  };

  return (out) => {
    const paths = candidates.paths;
    if (next < paths.length) {
      const end = Math.min(paths.length, next + LSTATS_PER_STEP);
      for (; next < end; next++) {
        const p = paths[next]!;
        const abs = absOf(root, p);
        let st: StatLike;
        try {
          st = fs.lstatSync(abs);
        } catch (err) {
          skip(skipFor(p, abs, err));
          continue;
        }
        const e = settle(p, !candidates.unknown?.has(p), abs, st, matcher, subdirs, skip);
        if (e) out.push(e);
      }
      if (next < paths.length) return true;
    } else {
      if (pending.length === 0) return done();
      opts.signal?.throwIfAborted();
      // Every folder of the batch is read before any is classified, as walkTracked does (the same order of skips).
      const reads = pending.splice(0, limit).map(readFolder);
      candidates = noCandidates();
      for (const r of reads) {
        if ('remembered' in r) {
          const m = r.remembered;
          for (const d of m.subdirs) subdirs.push(d);
          for (const s of m.skips) skip(s);
          recall(m, candidates);
          continue;
        }
        const memo = r.memo;
        const temps = classify(root, [r.listing], matcher, memo ? memo.subdirs : subdirs, memo ? (s) => { memo.skips.push(s); skip(s); } : skip, candidates, memo, opts.onTemp);
        if (memo) {
          for (const d of memo.subdirs) subdirs.push(d);
          // A folder holding a temp file is read again by each walk (not remembered) until the file
          // is gone: the engine may keep one a while (its writer alive, or too recent) and look again.
          if (cache!.gen === gen && !temps) {
            cache!.folders.set(r.listing.dir, memo);
            cache!.changed = true;
          }
        }
      }
      next = 0;
      if (candidates.paths.length > 0) return true;
    }
    // This batch is done: depth first, as walkTracked.
    pending = subdirs.concat(pending);
    subdirs = [];
    candidates = noCandidates();
    next = 0;
    return pending.length > 0 || done();
  };
}

/**
 * walkTracked in one blocking pass: the same entries in the same order, the same skips. For a
 * one-shot command, which has nothing else to do meanwhile: synchronous lstat skips a promise
 * and a thread-pool hop per file, about half the time of the concurrent walk. A long-running
 * process uses walkTrackedSliced instead (this blocks the event loop for the whole walk).
 */
export function walkTrackedSync(home: string, matcher: TrackMatcher, opts: WalkSyncOptions = {}): WalkEntry[] {
  const step = syncWalker(home, matcher, opts);
  const out: WalkEntry[] = [];
  while (step(out));
  return out;
}

/** How long one slice of walkTrackedSliced may hold the event loop, by default. */
export const WALK_SLICE_MS = 8;
/**
 * How many entries make a slice of walkTrackedSliced full, by default (it may hold up to one
 * step's lstats more). A slice's entries (their lstat, paths) live until the scan has taken them:
 * an 8 ms slice of cache hits is a few thousand entries, megabytes, which outlive the engine's small
 * young generation (then kept at 2 MB; now capped at 8, util/youngGeneration.ts) and are promoted to the old one as garbage. At
 * 100,000 files that garbage set the watcher's peak RSS in its first full run (about 225 MB; 150
 * with slices of 256 entries, which die young). The extra turns of the event loop cost nothing measurable.
 */
export const WALK_SLICE_ENTRIES = 256;

/**
 * The blocking walk in slices of about `sliceMs` (default WALK_SLICE_MS) or `sliceEntries` entries
 * (default WALK_SLICE_ENTRIES), whichever comes first, yielding the entries of each slice as one array and letting the event loop run between slices (timers, sockets, the
 * watcher's events, a request in flight). The same entries, order and skips as walkTrackedSync,
 * at nearly its speed: for long-running processes, where the concurrent walk's promise and
 * thread-pool hop per file cost about twice the time and the whole walk must not block.
 */
export async function* walkTrackedSliced(home: string, matcher: TrackMatcher, opts: WalkSyncOptions & { sliceMs?: number; sliceEntries?: number } = {}): AsyncGenerator<WalkEntry[]> {
  const step = syncWalker(home, matcher, opts);
  const sliceMs = Math.max(0, opts.sliceMs ?? WALK_SLICE_MS);
  const maxEntries = Math.max(1, opts.sliceEntries ?? WALK_SLICE_ENTRIES);
  for (;;) {
    const out: WalkEntry[] = [];
    const until = performance.now() + sliceMs;
    let more = step(out);
    while (more && out.length < maxEntries && performance.now() < until) more = step(out);
    if (out.length > 0) yield out;
    if (!more) return;
    await new Promise<void>((resume) => setImmediate(resume));
  }
}

function homeError(root: string, err: unknown): DmanError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new DmanError('IO', code === 'ENOENT' ? `home directory ${root} does not exist` : `cannot read home directory ${root} (${code})`, {
    hint: 'create the directory or fix `home` for this user in dman.yaml',
    context: { path: root },
    cause: err,
  });
}
const notADirectory = (root: string): DmanError => new DmanError('IO', `home ${root} is not a directory`, { hint: 'fix `home` for this user in dman.yaml', context: { path: root } });

function checkHomeSync(root: string, fs: WalkFsSync): Stats {
  let st: Stats;
  try {
    st = fs.statSync ? fs.statSync(root) : statSync(root);
  } catch (err) {
    throw homeError(root, err);
  }
  if (!st.isDirectory()) throw notADirectory(root);
  return st;
}

async function checkHome(root: string, fs: WalkFs): Promise<void> {
  let st: Stats;
  try {
    st = await (fs.stat ? fs.stat(root) : stat(root));
  } catch (err) {
    throw homeError(root, err);
  }
  if (!st.isDirectory()) throw notADirectory(root);
}

function skipFor(path: string, abs: string, err: unknown): WalkSkip {
  const code = (err as NodeJS.ErrnoException)?.code ?? 'error';
  const reason: WalkSkipReason = code === 'ENOENT' || code === 'ENOTDIR' ? 'vanished' : code === 'EACCES' || code === 'EPERM' ? 'permission' : 'error';
  const message = reason === 'vanished' ? 'vanished during the walk' : reason === 'permission' ? 'permission denied' : `cannot read (${err instanceof Error ? err.message : String(err)})`;
  return { path, abs, reason, code, message };
}

function specialSkip(path: string, abs: string, d: { isSocket(): boolean; isFIFO(): boolean }): WalkSkip {
  return specialSkipOf(path, abs, d.isSocket() ? 'socket' : d.isFIFO() ? 'fifo' : 'device');
}

/** The skip of a special file of kind `code` (a WalkSkip's code for reason 'special'). */
export function specialSkipOf(path: string, abs: string, code: 'socket' | 'fifo' | 'device'): WalkSkip {
  return { path, abs, reason: 'special', code, message: `is a ${code === 'fifo' ? 'named pipe' : code}, not a regular file or symlink; dman does not sync it` };
}
