// Walks a home directory and yields the files the track patterns select. The scanner, `dman ls`
// and the wizard preview call it; it never follows a link, prunes directories no pattern can
// reach, and treats a file that vanishes or cannot be read as a reported skip, never a failure.
import { lstatSync, readdirSync, statSync, type Dirent, type Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DmanError } from '../../shared/errors.js';
import type { TrackMatcher } from '../../shared/patterns/compileTrack.js';
import { isTempName } from '../fs/atomic.js';

/** A tracked regular file or symlink found by walkTracked. */
export interface WalkEntry {
  /** Home-relative, '/'-separated, NFC: the key the engine and the server use. */
  path: string;
  /** Absolute path on this machine, spelled as the file system spells it. */
  abs: string;
  /** lstat of the entry (a symlink is described, never followed). */
  stat: Stats;
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
  /** Stops the walk between batches; the iterator then throws the signal's reason. */
  signal?: AbortSignal;
  /** File-system calls (default node:fs/promises). */
  fs?: WalkFs;
}

const nodeFs: WalkFs = { readdir: (abs) => readdir(abs, { withFileTypes: true }), lstat: (abs) => lstat(abs) };

/** A directory read: where it was, and what it holds (sorted by name). */
interface Listing { dir: string; entries: Dirent[] }
/** A directory entry that needs an lstat; `known` when readdir already said it is a file or a symlink. */
interface Candidate { path: string; abs: string; known: boolean }

/** The absolute path of a home-relative path (cheaper than path.join, which normalizes again). */
const absOf = (root: string, path: string): string => (root.endsWith('/') ? root + path : `${root}/${path}`);

/** Sorts each listing, queues the folders to descend into, and returns the entries that need an lstat. */
function classify(root: string, listings: Listing[], matcher: TrackMatcher, subdirs: string[], skip: (s: WalkSkip) => void): Candidate[] {
  const candidates: Candidate[] = [];
  for (const { dir, entries } of listings) {
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (let i = 0; i < entries.length; i++) {
      const d = entries[i]!;
      const path = dir === '' ? d.name : `${dir}/${d.name}`;
      if (d.isDirectory()) {
        if (matcher.shouldDescend(path)) subdirs.push(path);
      } else if (d.isFile() || d.isSymbolicLink()) {
        if (!isTempName(d.name) && matcher.isTracked(path)) candidates.push({ path, abs: absOf(root, path), known: true });
      } else if (d.isSocket() || d.isFIFO() || d.isBlockDevice() || d.isCharacterDevice()) {
        if (matcher.isTracked(path)) skip(specialSkip(path, absOf(root, path), d));
      } else {
        // DT_UNKNOWN (some network and FUSE file systems): lstat decides.
        candidates.push({ path, abs: absOf(root, path), known: false });
      }
    }
  }
  return candidates;
}

/** NFC, without the cost of String#normalize for the all-ASCII names most homes hold. */
const nfc = (p: string): string => (/[\u0080-\uffff]/.test(p) ? p.normalize('NFC') : p);

/** Decides what an lstat'ed candidate is: an entry to yield, a folder to descend into, or a skip. */
function settle(c: Candidate, st: Stats, matcher: TrackMatcher, subdirs: string[], skip: (s: WalkSkip) => void): WalkEntry | null {
  if (st.isFile() || st.isSymbolicLink()) {
    if (c.known || (!isTempName(c.abs) && matcher.isTracked(c.path))) return { path: nfc(c.path), abs: c.abs, stat: st };
  } else if (st.isDirectory()) {
    // Replaced by a directory since readdir, or a DT_UNKNOWN directory.
    if (matcher.shouldDescend(c.path)) subdirs.push(c.path);
  } else if (matcher.isTracked(c.path)) {
    skip(specialSkip(c.path, c.abs, st));
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
    const candidates = classify(root, listings, matcher, subdirs, skip);
    for (let i = 0; i < candidates.length; i += limit) {
      const chunk = candidates.slice(i, i + limit);
      const stats = await Promise.all(chunk.map(async (c) => {
        try {
          return await fs.lstat(c.abs);
        } catch (err) {
          skip(skipFor(c.path, c.abs, err));
          return null;
        }
      }));
      for (let k = 0; k < chunk.length; k++) {
        const st = stats[k];
        const e = st ? settle(chunk[k]!, st, matcher, subdirs, skip) : null;
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
  lstatSync(abs: string): Stats;
  /** Checks the home itself (default node:fs statSync). */
  statSync?(abs: string): Stats;
}

const nodeFsSync: WalkFsSync = { readdirSync: (abs) => readdirSync(abs, { withFileTypes: true }), lstatSync: (abs) => lstatSync(abs) };

/**
 * walkTracked in one blocking pass: the same entries in the same order, the same skips. For a
 * one-shot command, which has nothing else to do meanwhile: synchronous lstat skips a promise
 * and a thread-pool hop per file, about half the time of the concurrent walk. Never for a
 * long-running process (it blocks the event loop for the whole walk).
 */
export function walkTrackedSync(home: string, matcher: TrackMatcher, opts: Pick<WalkOptions, 'onSkip' | 'signal'> & { fs?: WalkFsSync } = {}): WalkEntry[] {
  const root = resolve(home);
  const fs = opts.fs ?? nodeFsSync;
  const skip = (s: WalkSkip) => opts.onSkip?.(s);
  checkHomeSync(root, fs);
  const out: WalkEntry[] = [];
  // The same batches as walkTracked's default, so both yield the same order.
  const limit = 16;
  let pending: string[] = [''];
  while (pending.length > 0) {
    opts.signal?.throwIfAborted();
    const listings = pending.splice(0, limit).map((dir): Listing => {
      const abs = dir === '' ? root : absOf(root, dir);
      try {
        return { dir, entries: fs.readdirSync(abs) };
      } catch (err) {
        skip(skipFor(dir, abs, err));
        return { dir, entries: [] };
      }
    });
    const subdirs: string[] = [];
    const candidates = classify(root, listings, matcher, subdirs, skip);
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      let st: Stats;
      try {
        st = fs.lstatSync(c.abs);
      } catch (err) {
        skip(skipFor(c.path, c.abs, err));
        continue;
      }
      const e = settle(c, st, matcher, subdirs, skip);
      if (e) out.push(e);
    }
    pending = subdirs.concat(pending);
  }
  return out;
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

function checkHomeSync(root: string, fs: WalkFsSync): void {
  let st: Stats;
  try {
    st = fs.statSync ? fs.statSync(root) : statSync(root);
  } catch (err) {
    throw homeError(root, err);
  }
  if (!st.isDirectory()) throw notADirectory(root);
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
  const code = d.isSocket() ? 'socket' : d.isFIFO() ? 'fifo' : 'device';
  return { path, abs, reason: 'special', code, message: `is a ${code === 'fifo' ? 'named pipe' : code}, not a regular file or symlink; dman does not sync it` };
}
