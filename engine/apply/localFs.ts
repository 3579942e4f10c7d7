// The engine's writes to a home: downloads land atomically (temp in the same directory +
// fsync + rename) with the stored mode, symlinks are swapped in with a rename, deletes and
// conflict copies never follow a symlinked parent out of the home.
import { createHash } from 'node:crypto';
import { sha256Hex } from '../util/sha256.js';
import type { Stats } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform, pipeline } from 'node:stream';
import { DmanError } from '../../shared/errors.js';
import type { Entry } from '../../shared/protocol.js';
import { fsyncDir, tempPathFor, writeFileAtomic } from '../fs/atomic.js';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';

/** Refuses `dir` (or, when it does not exist yet, its first existing ancestor) unless it resolves inside `realHome`; returns the real path of the folder checked. */
async function realFolderInside(realHome: string, dir: string, rel: string, fs: FileSystem): Promise<string> {
  // Walk up to the first existing ancestor; it must resolve inside the home.
  for (;;) {
    try {
      const real = await fs.realpath(dir);
      if (real !== realHome && !real.startsWith(realHome + sep)) {
        throw new DmanError('UNSAFE_PATH', `refusing to write "${rel}": its folder resolves outside the home (${real})`, { hint: 'a symlinked folder is in the way; move it and sync again', context: { path: rel } });
      }
      return real;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const up = dirname(dir);
      if (up === dir) throw err;
      dir = up;
    }
  }
}

/** Returns the absolute path of `rel` under `home`, refusing a parent that is a symlink or leaves the home. */
export async function safeTarget(home: string, rel: string, fs: FileSystem = nodeFileSystem): Promise<string> {
  const abs = join(home, ...rel.split('/'));
  await realFolderInside(await fs.realpath(home), dirname(abs), rel, fs);
  return abs;
}

function hashing(expected: string, rel: string): Transform {
  const h = createHash('sha256');
  return new Transform({
    transform(chunk: Buffer, _enc, cb) { h.update(chunk); cb(null, chunk); },
    flush(cb) {
      const got = h.digest('hex');
      cb(got === expected ? null : new DmanError('HASH_MISMATCH', `the download of "${rel}" hashed to ${got}, not ${expected}`, { hint: 'run again; if it persists the server copy is damaged', context: { path: rel } }));
    },
  });
}

/** Refuses a folder at `abs` with files in it (the server holds a file there); changes nothing. */
async function refuseFullDir(abs: string, rel: string, fs: FileSystem): Promise<void> {
  const st = await fs.lstat(abs).catch(() => null);
  if (st?.isDirectory() && (await fs.readdir(abs)).length > 0) throw fullDir(rel);
}

function fullDir(rel: string): DmanError {
  return new DmanError('CONFLICT', `"${rel}" is a folder here with files in it, but the server holds a file`, { hint: 'move the folder away (or the files in it) and sync again', context: { path: rel } });
}

/** Makes room for a file at `abs`: an empty directory in the way is removed, a non-empty one is an error. */
async function clearDirInTheWay(abs: string, rel: string, fs: FileSystem): Promise<void> {
  const st = await fs.lstat(abs).catch(() => null);
  if (!st?.isDirectory()) return;
  if ((await fs.readdir(abs)).length > 0) throw fullDir(rel);
  await fs.rmdir(abs);
}

/** The error of an install that found the target changed on disk since the scan (the edit is kept). */
export function changedLocally(rel: string): DmanError {
  return new DmanError('CONFLICT', `"${rel}" changed on disk during the download; the local edit is kept`, { hint: 'the next run publishes it or raises a conflict', context: { path: rel, changedLocally: true } });
}

/** True for the error of changedLocally. */
export function isChangedLocally(err: unknown): boolean {
  return err instanceof DmanError && err.context?.changedLocally === true;
}

/**
 * Installs a server entry (file or symlink) at `rel`; returns the lstat of what landed. With
 * `unchanged`, the target's lstat is checked right before the rename (after the download), and an
 * edit saved meanwhile is kept: the install throws changedLocally(rel) instead.
 */
export async function installEntry(home: string, rel: string, entry: Entry, download: () => Promise<Readable>, unchanged?: (st: Stats | null) => boolean, fs: FileSystem = nodeFileSystem): Promise<Stats> {
  const abs = await safeTarget(home, rel, fs);
  await fs.mkdir(dirname(abs), { recursive: true });
  await clearDirInTheWay(abs, rel, fs);
  const beforeRename = unchanged ? async (): Promise<void> => {
    if (!unchanged(await fs.lstat(abs).catch(() => null))) throw changedLocally(rel);
  } : undefined;
  if (entry.kind === 'symlink') {
    const tmp = tempPathFor(abs);
    await fs.symlink(entry.target ?? '', tmp);
    try {
      await beforeRename?.();
      await fs.rename(tmp, abs);
    } catch (err) {
      await fs.unlink(tmp).catch(() => {});
      throw err;
    }
    await fsyncDir(dirname(abs), fs);
    return fs.lstat(abs);
  }
  const data = await download();
  const verified = hashing(entry.hash!, rel);
  // pipeline forwards a failing download into `verified`, whose iteration then throws.
  pipeline(data, verified, () => {});
  await writeFileAtomic(abs, verified, { mode: entry.mode || 0o644, beforeRename, fs });
  return fs.lstat(abs);
}

/** One file of a batched install: a plain file whose blob is small enough to hold in memory. */
export interface FileToInstall {
  rel: string;
  hash: string;
  mode: number;
  /** The scan saw a (possibly empty) folder at this path: remove it if empty, refuse if not. */
  dirInTheWay?: boolean;
  /** Checked on the target's lstat right before the rename: false keeps what is there (an edit saved during the download). */
  unchanged?: (st: Stats | null) => boolean;
}

/** What became of one file of a batched install: what landed (lstat), or why it did not (changedLocally(rel) when an edit was kept). */
export type InstalledFile = { rel: string; stats: Stats; error?: undefined } | { rel: string; error: unknown; stats?: undefined };

/** The bits the process umask would strip from a new file (read once; a chmod then restores them). */
let umaskBits: number | null = null;
function umaskOf(): number {
  if (umaskBits === null) {
    try { umaskBits = process.umask(); } catch { umaskBits = 0o777; } // unknown (a worker thread): always chmod
  }
  return umaskBits;
}

/** Runs `fn` over `items` with at most `limit` at once; never throws (fn handles its errors). */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/**
 * Installs many files with one durability pass instead of one per file: the blobs come from
 * `fetchBlobs` (a few requests for the whole batch); each is hash-verified as it arrives and
 * written to a temp file (fsynced, many at once, so the filesystem groups them into few journal
 * commits) beside its target, or, when the target's folder does not exist yet, in its first
 * existing ancestor. Nothing else in the home changes until the whole batch is fetched: then,
 * file by file, missing folders are made, an empty folder in the way is removed, the target is
 * looked at again (an edit saved meanwhile is kept), its folder is checked again to resolve
 * inside the home (a folder swapped for a symlink meanwhile is refused: UNSAFE_PATH, temp
 * removed), and the temp is renamed over it; last, each touched folder (and the parent of each
 * folder made) is fsynced once. When this returns, every file reported as landed is durable; a
 * crash at any point leaves each file old or new (the caller records the new state only after
 * this returns). Per-file failures come back in the result; a failure of `fetchBlobs` (the server
 * went away) is thrown after removing the batch's temps: every target, and every folder, stays as
 * it was.
 */
export async function installFiles(home: string, files: readonly FileToInstall[], fetchBlobs: (hashes: string[]) => AsyncIterable<{ hash: string; data: Buffer | null }>, fs: FileSystem = nodeFileSystem): Promise<InstalledFile[]> {
  const out: InstalledFile[] = [];
  const fail = (rel: string, error: unknown): void => { out.push({ rel, error }); };
  const realHomeP = fs.realpath(home);
  realHomeP.catch(() => {}); // awaited per file below; each file then reports the error
  // Per folder, a look that changes nothing: where the temps go (the real path of the folder, or
  // of its first existing ancestor), refusing early one that leads out of the home.
  const tempDirs = new Map<string, Promise<string>>();
  const tempDirFor = (abs: string, rel: string): Promise<string> => {
    const dir = dirname(abs);
    let p = tempDirs.get(dir);
    if (!p) {
      p = realHomeP.then((realHome) => realFolderInside(realHome, dir, rel, fs));
      tempDirs.set(dir, p);
    }
    return p;
  };
  interface Landing { f: FileToInstall; abs: string; tempDir: string; tmp?: string }
  const ready: Landing[] = [];
  await pool(files, 16, async (f) => {
    try {
      const abs = join(home, ...f.rel.split('/'));
      const tempDir = await tempDirFor(abs, f.rel);
      // A folder with files in it is refused before its blob is fetched (looked at again before the rename).
      if (f.dirInTheWay) await refuseFullDir(abs, f.rel, fs);
      ready.push({ f, abs, tempDir });
    } catch (err) {
      fail(f.rel, err);
    }
  });
  const byHash = new Map<string, Landing[]>();
  for (const l of ready) {
    const list = byHash.get(l.f.hash);
    if (list) list.push(l); else byHash.set(l.f.hash, [l]);
  }
  const umask = umaskOf();
  const written: Landing[] = [];
  const writeTemp = async (l: Landing, data: Buffer): Promise<void> => {
    const tmp = tempPathFor(join(l.tempDir, basename(l.abs)));
    const mode = l.f.mode || 0o644;
    let fh;
    try {
      fh = await fs.open(tmp, 'wx', mode);
      l.tmp = tmp;
      await fh.writeFile(data);
      if ((mode & umask) !== 0) await fh.chmod(mode); // the umask narrowed the create mode
      await fh.sync();
      await fh.close();
      fh = undefined;
      written.push(l);
    } catch (err) {
      await fh?.close().catch(() => {});
      if (l.tmp) await fs.rm(l.tmp, { force: true }).catch(() => {});
      l.tmp = undefined;
      fail(l.f.rel, err);
    }
  };
  // Writes run while the next blobs arrive, at most WRITES_AT_ONCE at a time.
  const WRITES_AT_ONCE = 32;
  const inFlight = new Set<Promise<void>>();
  const startWrite = async (l: Landing, data: Buffer): Promise<void> => {
    while (inFlight.size >= WRITES_AT_ONCE) await Promise.race(inFlight);
    const p = writeTemp(l, data).finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  let fetchError: unknown = null;
  try {
    for await (const b of fetchBlobs([...byHash.keys()])) {
      const list = byHash.get(b.hash);
      if (!list) continue;
      byHash.delete(b.hash);
      const got = b.data === null ? null : sha256Hex(b.data);
      for (const l of list) {
        if (b.data === null) fail(l.f.rel, new DmanError('NOT_FOUND', `the server has no blob ${b.hash} for "${l.f.rel}"`, { hint: 'run again; if it persists, publish the file again from a machine that has it', context: { path: l.f.rel } }));
        else if (got !== b.hash) fail(l.f.rel, new DmanError('HASH_MISMATCH', `the download of "${l.f.rel}" hashed to ${got}, not ${b.hash}`, { hint: 'run again; if it persists the server copy is damaged', context: { path: l.f.rel } }));
        else await startWrite(l, b.data);
      }
    }
    for (const [hash, list] of byHash) {
      for (const l of list) fail(l.f.rel, new DmanError('PROTOCOL', `the server did not send blob ${hash} for "${l.f.rel}"`, { hint: 'run again', context: { path: l.f.rel } }));
    }
  } catch (err) {
    fetchError = err;
  }
  await Promise.all(inFlight);
  if (fetchError) {
    // Nothing of this batch is renamed, no folder made or removed: drop the temps, keep every target as it was.
    await Promise.all(written.map((l) => fs.rm(l.tmp!, { force: true }).catch(() => {})));
    throw fetchError;
  }
  // Every temp is durable; now make the folders and swap the temps in, each checked right before
  // its rename, then make the renames durable, one fsync per folder.
  const mkdirs = new Map<string, Promise<unknown>>();
  const renamed: Array<{ l: Landing; dirs: string[] }> = [];
  await pool(written, 16, async (l) => {
    const rel = l.f.rel;
    try {
      const realHome = await realHomeP;
      const dir = dirname(l.abs);
      // Never make a folder through a symlink that leads out of the home.
      await realFolderInside(realHome, dir, rel, fs);
      let made = mkdirs.get(dir);
      if (!made) {
        made = fs.mkdir(dir, { recursive: true });
        mkdirs.set(dir, made);
      }
      const first = await made;
      // The last look before the swap: an edit saved while the batch downloaded is kept.
      if (l.f.unchanged && !l.f.unchanged(await fs.lstat(l.abs).catch(() => null))) throw changedLocally(rel);
      if (l.f.dirInTheWay) await clearDirInTheWay(l.abs, rel, fs);
      // The folder again, right before the rename: one swapped for a symlink since is refused.
      const realDir = await realFolderInside(realHome, dir, rel, fs);
      await fs.rename(l.tmp!, l.abs);
      // The folders whose entries changed: the target's, the temp's, and the parent of each folder made.
      const dirs = new Set([dir]);
      if (l.tempDir !== realDir) dirs.add(l.tempDir);
      if (typeof first === 'string') {
        for (let d = dir; d !== dirname(first) && d.length > dirname(first).length; ) {
          d = dirname(d);
          dirs.add(d);
        }
      }
      renamed.push({ l, dirs: [...dirs] });
    } catch (err) {
      await fs.rm(l.tmp!, { force: true }).catch(() => {});
      fail(rel, err);
    }
  });
  const syncs = new Map<string, Promise<unknown>>();
  const synced = (dir: string): Promise<unknown> => {
    let p = syncs.get(dir);
    if (!p) {
      p = fsyncDir(dir, fs).then(() => null, (err: unknown) => err ?? new Error(`fsync of ${dir} failed`));
      syncs.set(dir, p);
    }
    return p;
  };
  await pool(renamed, 16, async ({ l, dirs }) => {
    // Renamed but not known durable: report it, so the state does not claim it.
    for (const d of dirs) {
      const err = await synced(d);
      if (err) return fail(l.f.rel, err);
    }
    try {
      out.push({ rel: l.f.rel, stats: await fs.lstat(l.abs) });
    } catch (err) {
      fail(l.f.rel, err);
    }
  });
  return out;
}

/** Writes text the engine produced (a merge) atomically, keeping `mode`. */
export async function writeLocal(home: string, rel: string, data: Uint8Array, mode: number, fs: FileSystem = nodeFileSystem): Promise<Stats> {
  const abs = await safeTarget(home, rel, fs);
  await writeFileAtomic(abs, data, { mode, fs });
  return fs.lstat(abs);
}

/** Deletes the file or symlink at `rel` (a remote tombstone), then empty parent folders up to the home. */
export async function deleteLocal(home: string, rel: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  const abs = await safeTarget(home, rel, fs);
  await fs.rm(abs, { force: true });
  let dir = dirname(abs);
  while (dir.length > home.length && dir.startsWith(home)) {
    try {
      await fs.rmdir(dir);
    } catch {
      break;
    }
    dir = dirname(dir);
  }
  await fsyncDir(dirname(abs), fs).catch(() => {});
}

/** Keeps the local version of `rel` as `copyRel` (keep-both) by renaming it; never replaces an earlier copy. Returns the name used. */
export async function keepCopy(home: string, rel: string, copyRel: string, fs: FileSystem = nodeFileSystem): Promise<string> {
  const from = await safeTarget(home, rel, fs);
  let name = copyRel;
  for (let n = 2; await fs.lstat(await safeTarget(home, name, fs)).then(() => true, () => false); n++) name = `${copyRel}-${n}`;
  const to = await safeTarget(home, name, fs);
  await fs.rename(from, to);
  await fsyncDir(dirname(to), fs);
  return name;
}

/** Reads a Readable fully (small blobs: merges). */
export async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}
