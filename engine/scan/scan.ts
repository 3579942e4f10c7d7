// Scan: turns the tracked files under a home into LocalFile records, hashing only what the
// stat cache cannot vouch for. A file that vanishes or keeps changing while being hashed is
// reported as skipped, never fatal.
import { createHash } from 'node:crypto';
import type { StatLike } from '../fs/lstatLight.js';
import { join } from 'node:path';
import { sha256Hex } from '../util/sha256.js';
import { isTempName } from '../fs/atomic.js';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';
import { isConflictCopy, type LocalFile } from '../plan/planSync.js';

/** One tracked file as the walker found it: a `/`-separated path relative to home, and its lstat. */
export interface WalkedFile { path: string; stats: StatLike }

/** What the stat cache remembers about a path so an unchanged file is not hashed again. */
export interface StatCacheEntry {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
  hash: string;
  /** Symlink target, for kind=symlink. */
  target?: string;
  /** When the content was read (ms): a file whose mtime is within RACY_MS before it is hashed again. */
  at: number;
}

export type StatCache = Map<string, StatCacheEntry>;

/**
 * What a stat cache may offer besides Map (the state's PackedMap does): the hash of `path`'s
 * entry when it vouches for a regular file with this lstat (the same size, mtime, ctime, inode
 * and mode bits, and an mtime more than `racyMs` older than the entry's `at`), without building
 * the entry; undefined when it does not (or holds a symlink). A quiet scan asks this of every file.
 */
export interface StatProbe {
  hashIfVouched(path: string, size: number, mtimeMs: number, ctimeMs: number, ino: number, mode: number, racyMs: number): string | undefined;
}

const statProbeOf = (cache: StatCache): StatProbe | null =>
  (typeof (cache as Partial<StatProbe>).hashIfVouched === 'function' ? (cache as unknown as StatProbe) : null);

/** What a scan reads: a list (a blocking walk, statPaths), or an async walk yielding files one by one or in slices (walkTrackedSliced). */
export type WalkedFiles = AsyncIterable<WalkedFile | readonly WalkedFile[]> | Iterable<WalkedFile>;

export interface ScanOptions {
  home: string;
  files: WalkedFiles;
  cache: StatCache;
  /** Parallel hashes (default 8). */
  concurrency?: number;
  /** ms since the epoch, injected for tests. */
  now?: () => number;
  onProgress?: (done: number, path: string) => void;
  /** A scoped scan (statPaths): only cache entries of these paths may be dropped; the rest were not looked at. */
  scope?: ReadonlySet<string>;
  /** File-system calls (default node:fs). */
  fs?: FileSystem;
  /**
   * Hash small files and symlinks with blocking reads (one-shot commands only): an async read
   * of a dotfile is four thread-pool round trips (open, stat, read, close) plus the lstat after,
   * which cost more than reading and hashing it. Files over 256 KiB are still streamed.
   */
  blocking?: boolean;
  /**
   * Gets each regular file the scan hashed, with its cache entry, once the lstat after the read
   * showed the file unchanged: files of up to WHOLE_FILE bytes with the bytes read (the hashed
   * ones; a publish uses them for its secret check and upload instead of reading the file again),
   * larger ones (streamed) with null.
   */
  onContent?: (path: string, data: Buffer | null, entry: StatCacheEntry) => void;
  /**
   * Asked between slices of the scan (after each slice of a sliced walk, and every SLICE_MS of a
   * blocking scan's hashing): a promise to wait for before going on (a publish holding as many
   * read bytes as it may until the server took some; ScanContents.wait), or null.
   */
  pause?: () => Promise<void> | null;
}

export interface ScanResult {
  files: Map<string, LocalFile>;
  skipped: Array<{ path: string; reason: string }>;
  hashed: number;
  cacheHits: number;
}

/** Returns the SHA-256 of a symlink target string (the hash a symlink entry carries). */
export function hashTarget(target: string): string {
  return createHash('sha256').update(target).digest('hex');
}

const SMALL_FILE = 256 * 1024;
/** Files up to this size are read whole when their bytes are wanted (onContent); larger ones are streamed. */
export const WHOLE_FILE = 4 * 1024 * 1024;
/** How long a blocking scan holds the event loop at most between two turns of it (as the sliced walk does). */
const SLICE_MS = 8;
/** A file modified less than this before it was read is hashed again on the next scan (longer than a kernel clock tick). */
const RACY_MS = 10;

/** Hashes a file with SHA-256: small files in one read (most dotfiles), larger ones streamed. */
export async function hashFile(abs: string, sizeHint = Infinity, fs: FileSystem = nodeFileSystem): Promise<{ hash: string; size: number }> {
  if (sizeHint <= SMALL_FILE) {
    const data = await fs.readFile(abs);
    return { hash: sha256Hex(data), size: data.length };
  }
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(abs, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hash: h.digest('hex'), size };
}

/**
 * Reads a regular file the walk saw at `size` bytes through one descriptor, then takes that
 * descriptor's fstat: it stands in for an lstat of the path after the read (it shows a write
 * during the read by size and mtime, and a file replaced before the open by its inode) at the
 * cost of neither a path lookup nor the fstat readFileSync makes before reading.
 */
function readWholeSync(fs: FileSystem, abs: string, size: number): { data: Buffer; after: StatLike } {
  const fd = fs.openSync(abs, 'r');
  try {
    // Memory of its own, also for a small file (allocUnsafe would slice Node's shared 8 KiB pool):
    // the early upload frees a file's bytes once the server has them (releaseBuffers), which a
    // pool slice cannot be, so the pools of a first publish's small files stayed allocated until a
    // full GC. 100,000 files: peak RSS 236-242 MB instead of 247-270, in the same time.
    const data = Buffer.allocUnsafeSlow(size);
    let got = 0;
    for (let n = -1; got < size && n !== 0; got += n) n = fs.readSync(fd, data, got, size - got, got);
    // Shorter than the walk saw: the fstat shows the new size, and the caller reads it again.
    return { data: got === size ? data : data.subarray(0, got), after: fs.fstatSync(fd) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Records what the engine itself wrote, so the next scan does not see it as a local change. */
export function cacheEntryFor(stats: StatLike, hash: string, at: number, target?: string): StatCacheEntry {
  return { size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino, mode: stats.mode & 0o177777, hash, at, ...(target !== undefined ? { target } : {}) };
}

/** The file-type bits of st_mode, and the two types a scan takes (what fs.Stats' isFile and isSymbolicLink test, without two calls per file). */
const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFLNK = 0o120000;

function toLocal(stats: StatLike, hash: string, target?: string): LocalFile {
  if ((stats.mode & S_IFMT) === S_IFLNK) return { kind: 'symlink', hash, size: Buffer.byteLength(target ?? ''), mode: 0, mtime: Math.floor(stats.mtimeMs), target };
  return { kind: 'file', hash, size: stats.size, mode: stats.mode & 0o7777, mtime: Math.floor(stats.mtimeMs) };
}

/** Scans the walked files, updating `cache` in place (entries for paths not seen, within `scope` if given, are dropped). */
export async function scan(opts: ScanOptions): Promise<ScanResult> {
  const now = opts.now ?? Date.now;
  const fs = opts.fs ?? nodeFileSystem;
  const limit = Math.max(1, opts.concurrency ?? 8);
  const result: ScanResult = { files: new Map(), skipped: [], hashed: 0, cacheHits: 0 };
  const running = new Set<Promise<void>>();
  let done = 0;
  // Cache hits (nearly every file of a quiet run) are counted here and added to result.cacheHits at the end.
  let hits = 0;
  const files = result.files, onProgress = opts.onProgress, probe = statProbeOf(opts.cache);

  /** Takes a cache hit at once and returns null; otherwise starts hashing and returns the job. */
  const take = (f: WalkedFile): Promise<void> | null => {
    // Both names have '.dman-' in them (the substring test is far cheaper than their regexes);
    // a temp name is anchored at the end without a '/', so the whole path answers for its last part.
    const path = f.path, st = f.stats;
    if (path.includes('.dman-') && (isTempName(path) || isConflictCopy(path))) return null;
    const mode = st.mode, type = mode & S_IFMT;
    if (type !== S_IFREG && type !== S_IFLNK) return null;
    // A hit needs the same stat and a file whose mtime's clock tick had ended when it was read (racy
    // clean): Linux stamps files with a coarse clock (a tick of 1 to 10 ms), so a second write in the
    // same tick as the first leaves mtime and ctime as they were.
    if (type === S_IFREG && probe !== null) {
      // The test below, on the cache's own columns: no entry is built per hit.
      const mtimeMs = st.mtimeMs, hash = probe.hashIfVouched(path, st.size, mtimeMs, st.ctimeMs, st.ino, mode & 0o177777, RACY_MS);
      if (hash !== undefined) {
        hits++;
        files.set(path, { kind: 'file', hash, size: st.size, mode: mode & 0o7777, mtime: Math.floor(mtimeMs) });
        if (onProgress !== undefined) onProgress(++done, path);
        return null;
      }
    }
    const cached = probe !== null && type === S_IFREG ? undefined : opts.cache.get(path);
    if (cached !== undefined) {
      const mtimeMs = st.mtimeMs;
      if (st.size === cached.size && mtimeMs === cached.mtimeMs && st.ctimeMs === cached.ctimeMs && st.ino === cached.ino
        && (mode & 0o177777) === cached.mode && mtimeMs < cached.at - RACY_MS) {
        hits++;
        // The LocalFile built here, not by toLocal: one shape per kind, no second look at the type.
        files.set(path, type === S_IFREG
          ? { kind: 'file', hash: cached.hash, size: cached.size, mode: mode & 0o7777, mtime: Math.floor(mtimeMs) }
          : { kind: 'symlink', hash: cached.hash, size: Buffer.byteLength(cached.target ?? ''), mode: 0, mtime: Math.floor(mtimeMs), target: cached.target });
        if (onProgress !== undefined) onProgress(++done, path);
        return null;
      }
    }
    const job = hashOne(f).finally(() => running.delete(job));
    running.add(job);
    return job;
  };
  // A list (the blocking walk, statPaths, a slice of the sliced walk): no await per file, only while hashes are in flight.
  // A blocking scan lets the event loop run every SLICE_MS of hashing too, not only between the
  // walk's slices: a publish's early uploads (onContent) go out meanwhile.
  let yieldAt = performance.now() + SLICE_MS;
  const pause = opts.pause;
  const paused = async (): Promise<void> => {
    for (let p = pause!(); p !== null; p = pause!()) await p;
  };
  const takeAll = async (list: readonly WalkedFile[]): Promise<void> => {
    for (let i = 0; i < list.length; i++) {
      if (take(list[i]!) && running.size >= limit) await Promise.race(running);
      if (opts.blocking && (i & 15) === 15 && performance.now() > yieldAt) {
        await new Promise<void>((resume) => setImmediate(resume));
        if (pause !== undefined) await paused();
        yieldAt = performance.now() + SLICE_MS;
      }
    }
    if (pause !== undefined) await paused();
  };
  if (Array.isArray(opts.files)) {
    await takeAll(opts.files as WalkedFile[]);
  } else {
    for await (const f of opts.files as AsyncIterable<WalkedFile | readonly WalkedFile[]>) {
      if (Array.isArray(f)) await takeAll(f as readonly WalkedFile[]);
      else if (take(f as WalkedFile) && running.size >= limit) await Promise.race(running);
    }
  }
  await Promise.all(running);
  result.cacheHits += hits;
  // What was seen is what result.files holds: a failed hash takes its path out of both. Every
  // path there has a cache entry, so a cache of the same size holds nothing else (a no-op run).
  const seen = result.files;
  if (opts.scope) {
    for (const p of opts.scope) if (!seen.has(p)) opts.cache.delete(p);
  } else if (opts.cache.size !== seen.size) {
    for (const p of opts.cache.keys()) if (!seen.has(p)) opts.cache.delete(p);
  }
  return result;

  async function hashOne(f: WalkedFile): Promise<void> {
    const abs = join(opts.home, f.path);
    let stats = f.stats;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        // Recorded as the entry's time: a write after this instant must show in the next scan.
        const readAt = now();
        let hash: string;
        let target: string | undefined;
        let data: Buffer | undefined;
        // The stat after the read: of the descriptor read (a blocking read of a regular file), else of the path.
        let after: StatLike | undefined;
        const whole = opts.onContent !== undefined && stats.size <= WHOLE_FILE;
        const blocking = opts.blocking === true && (stats.size <= SMALL_FILE || whole);
        if (stats.isSymbolicLink()) {
          target = blocking ? fs.readlinkSync(abs) : await fs.readlink(abs);
          hash = hashTarget(target);
        } else if (blocking) {
          ({ data, after } = readWholeSync(fs, abs, stats.size));
          hash = sha256Hex(data);
        } else if (whole) {
          data = await fs.readFile(abs);
          hash = sha256Hex(data);
        } else {
          hash = (await hashFile(abs, stats.size, fs)).hash;
        }
        result.hashed++;
        const fromFd = after !== undefined;
        after ??= blocking ? fs.lstatSync(abs) : await fs.lstat(abs);
        if (after.size === stats.size && after.mtimeMs === stats.mtimeMs && after.ino === stats.ino && after.isSymbolicLink() === stats.isSymbolicLink()) {
          const entry = cacheEntryFor(after, hash, readAt, target);
          opts.cache.set(f.path, entry);
          // Only bytes of the size the lstat shows: a read that raced a write in the same clock tick is left out.
          if (opts.onContent && after.isFile()) {
            if (data && whole) {
              if (data.length === after.size) opts.onContent(f.path, data, entry);
            } else if (!whole) opts.onContent(f.path, null, entry);
          }
          result.files.set(f.path, toLocal(after, hash, target));
          opts.onProgress?.(++done, f.path);
          return;
        }
        // Changed while hashed: try again with the new stat (the path's own: what was read may be a
        // file since renamed away, or the path a symlink or folder now).
        stats = fromFd ? fs.lstatSync(abs) : after;
        if (!stats.isFile() && !stats.isSymbolicLink()) break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        opts.cache.delete(f.path);
        if (code === 'ENOENT' || code === 'ENOTDIR') {
          result.skipped.push({ path: f.path, reason: 'vanished while being scanned' });
        } else {
          result.skipped.push({ path: f.path, reason: `unreadable (${code ?? (err as Error).message})` });
        }
        // A vanished or unreadable file is left out of this scan, so the plan leaves it alone.
        result.files.delete(f.path);
        opts.onProgress?.(++done, f.path);
        return;
      }
    }
    opts.cache.delete(f.path);
    result.skipped.push({ path: f.path, reason: 'kept changing while being scanned; it will be picked up on the next run' });
    opts.onProgress?.(++done, f.path);
  }
}
