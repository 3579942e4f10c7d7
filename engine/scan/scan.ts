// Scan: turns the tracked files under a home into LocalFile records, hashing only what the
// stat cache cannot vouch for. A file that vanishes or keeps changing while being hashed is
// reported as skipped, never fatal.
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { isTempName } from '../fs/atomic.js';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';
import { isConflictCopy, type LocalFile } from '../plan/planSync.js';

/** One tracked file as the walker found it: a `/`-separated path relative to home, and its lstat. */
export interface WalkedFile { path: string; stats: Stats }

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
  /** When the entry was recorded (ms); a file modified in that same instant is hashed again. */
  at: number;
}

export type StatCache = Map<string, StatCacheEntry>;

export interface ScanOptions {
  home: string;
  files: AsyncIterable<WalkedFile> | Iterable<WalkedFile>;
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

/** Hashes a file with SHA-256: small files in one read (most dotfiles), larger ones streamed. */
export async function hashFile(abs: string, sizeHint = Infinity, fs: FileSystem = nodeFileSystem): Promise<{ hash: string; size: number }> {
  if (sizeHint <= SMALL_FILE) {
    const data = await fs.readFile(abs);
    return { hash: createHash('sha256').update(data).digest('hex'), size: data.length };
  }
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of fs.createReadStream(abs, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { hash: h.digest('hex'), size };
}

function sameStat(a: Stats, c: StatCacheEntry): boolean {
  return a.size === c.size && a.mtimeMs === c.mtimeMs && a.ctimeMs === c.ctimeMs && a.ino === c.ino && (a.mode & 0o177777) === c.mode;
}

/** Records what the engine itself wrote, so the next scan does not see it as a local change. */
export function cacheEntryFor(stats: Stats, hash: string, at: number, target?: string): StatCacheEntry {
  return { size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino, mode: stats.mode & 0o177777, hash, at, ...(target !== undefined ? { target } : {}) };
}

function toLocal(stats: Stats, hash: string, target?: string): LocalFile {
  if (stats.isSymbolicLink()) return { kind: 'symlink', hash, size: Buffer.byteLength(target ?? ''), mode: 0, mtime: Math.floor(stats.mtimeMs), target };
  return { kind: 'file', hash, size: stats.size, mode: stats.mode & 0o7777, mtime: Math.floor(stats.mtimeMs) };
}

/** Scans the walked files, updating `cache` in place (entries for paths not seen, within `scope` if given, are dropped). */
export async function scan(opts: ScanOptions): Promise<ScanResult> {
  const now = opts.now ?? Date.now;
  const fs = opts.fs ?? nodeFileSystem;
  const limit = Math.max(1, opts.concurrency ?? 8);
  const result: ScanResult = { files: new Map(), skipped: [], hashed: 0, cacheHits: 0 };
  const seen = new Set<string>();
  const running = new Set<Promise<void>>();
  let done = 0;

  /** Takes a cache hit at once and returns null; otherwise starts hashing and returns the job. */
  const take = (f: WalkedFile): Promise<void> | null => {
    const base = f.path.slice(f.path.lastIndexOf('/') + 1);
    if (isTempName(base) || isConflictCopy(f.path)) return null;
    if (!f.stats.isFile() && !f.stats.isSymbolicLink()) return null;
    seen.add(f.path);
    const cached = opts.cache.get(f.path);
    // A hit needs the same stat and a file not modified in the instant it was recorded (racy clean).
    if (cached && sameStat(f.stats, cached) && f.stats.mtimeMs < cached.at - 2) {
      result.cacheHits++;
      result.files.set(f.path, toLocal(f.stats, cached.hash, cached.target));
      opts.onProgress?.(++done, f.path);
      return null;
    }
    const job = hashOne(f).finally(() => running.delete(job));
    running.add(job);
    return job;
  };
  if (Array.isArray(opts.files)) {
    // A list (the blocking walk, statPaths): no await per file, only while hashes are in flight.
    const list = opts.files as WalkedFile[];
    for (let i = 0; i < list.length; i++) if (take(list[i]!) && running.size >= limit) await Promise.race(running);
  } else {
    for await (const f of opts.files) if (take(f) && running.size >= limit) await Promise.race(running);
  }
  await Promise.all(running);
  if (opts.scope) {
    for (const p of opts.scope) if (!seen.has(p)) opts.cache.delete(p);
  } else {
    for (const p of opts.cache.keys()) if (!seen.has(p)) opts.cache.delete(p);
  }
  return result;

  async function hashOne(f: WalkedFile): Promise<void> {
    const abs = join(opts.home, f.path);
    let stats = f.stats;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        let hash: string;
        let target: string | undefined;
        const blocking = opts.blocking === true && stats.size <= SMALL_FILE;
        if (stats.isSymbolicLink()) {
          target = blocking ? fs.readlinkSync(abs) : await fs.readlink(abs);
          hash = hashTarget(target);
        } else if (blocking) {
          hash = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
        } else {
          hash = (await hashFile(abs, stats.size, fs)).hash;
        }
        result.hashed++;
        const after = blocking ? fs.lstatSync(abs) : await fs.lstat(abs);
        if (after.size === stats.size && after.mtimeMs === stats.mtimeMs && after.ino === stats.ino && after.isSymbolicLink() === stats.isSymbolicLink()) {
          opts.cache.set(f.path, cacheEntryFor(after, hash, now(), target));
          result.files.set(f.path, toLocal(after, hash, target));
          opts.onProgress?.(++done, f.path);
          return;
        }
        stats = after; // changed while hashed: try again with the new stat
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
        seen.delete(f.path);
        opts.onProgress?.(++done, f.path);
        return;
      }
    }
    opts.cache.delete(f.path);
    seen.delete(f.path);
    result.skipped.push({ path: f.path, reason: 'kept changing while being scanned; it will be picked up on the next run' });
    opts.onProgress?.(++done, f.path);
  }
}
