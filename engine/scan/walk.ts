// Walks a home directory and yields the files the track patterns select. The scanner, `dman ls`
// and the wizard preview call it; it never follows a link, prunes directories no pattern can
// reach, and treats a file that vanishes or cannot be read as a reported skip, never a failure.
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
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

/**
 * Yields every tracked regular file and symlink under `home` (our own temp files excepted),
 * pruning with matcher.shouldDescend. Throws DmanError IO only when `home` itself is unusable.
 */
export async function* walkTracked(home: string, matcher: TrackMatcher, opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const root = resolve(home);
  const fs = opts.fs ?? nodeFs;
  const limit = Math.max(1, opts.concurrency ?? 16);
  const skip = (s: WalkSkip) => opts.onSkip?.(s);
  await checkHome(root);

  let pending: string[] = [''];
  while (pending.length > 0) {
    opts.signal?.throwIfAborted();
    const batch = pending.splice(0, limit);
    const listings = await Promise.all(batch.map(async (dir) => {
      const abs = dir === '' ? root : join(root, dir);
      try {
        return { dir, entries: await fs.readdir(abs) };
      } catch (err) {
        skip(skipFor(dir, abs, err));
        return { dir, entries: [] as Dirent[] };
      }
    }));

    const subdirs: string[] = [];
    const candidates: { path: string; abs: string; known: boolean }[] = [];
    for (const { dir, entries } of listings) {
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const d of entries) {
        const path = dir === '' ? d.name : `${dir}/${d.name}`;
        const abs = join(root, path);
        if (d.isDirectory()) {
          if (matcher.shouldDescend(path)) subdirs.push(path);
        } else if (d.isFile() || d.isSymbolicLink()) {
          if (!isTempName(d.name) && matcher.isTracked(path)) candidates.push({ path, abs, known: true });
        } else if (d.isSocket() || d.isFIFO() || d.isBlockDevice() || d.isCharacterDevice()) {
          if (matcher.isTracked(path)) skip(specialSkip(path, abs, d));
        } else {
          // DT_UNKNOWN (some network and FUSE file systems): lstat decides.
          candidates.push({ path, abs, known: false });
        }
      }
    }

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
        const c = chunk[k], st = stats[k];
        if (!st) continue;
        if (st.isFile() || st.isSymbolicLink()) {
          if (c.known || (!isTempName(c.abs) && matcher.isTracked(c.path))) yield { path: c.path.normalize('NFC'), abs: c.abs, stat: st };
        } else if (st.isDirectory()) {
          // Replaced by a directory since readdir, or a DT_UNKNOWN directory.
          if (matcher.shouldDescend(c.path)) subdirs.push(c.path);
        } else if (matcher.isTracked(c.path)) {
          skip(specialSkip(c.path, c.abs, st));
        }
      }
    }
    // Depth first, so the pending list stays as small as the tree is deep.
    pending = subdirs.concat(pending);
  }
}

async function checkHome(root: string): Promise<void> {
  let st: Stats;
  try {
    st = await stat(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new DmanError('IO', code === 'ENOENT' ? `home directory ${root} does not exist` : `cannot read home directory ${root} (${code})`, {
      hint: 'create the directory or fix `home` for this user in dman.yaml',
      context: { path: root },
      cause: err,
    });
  }
  if (!st.isDirectory()) {
    throw new DmanError('IO', `home ${root} is not a directory`, { hint: 'fix `home` for this user in dman.yaml', context: { path: root } });
  }
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
