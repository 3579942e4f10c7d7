// The engine's writes to a home: downloads land atomically (temp in the same directory +
// fsync + rename) with the stored mode, symlinks are swapped in with a rename, deletes and
// conflict copies never follow a symlinked parent out of the home.
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform, pipeline } from 'node:stream';
import { DmanError } from '../../shared/errors.js';
import type { Entry } from '../../shared/protocol.js';
import { fsyncDir, tempPathFor, writeFileAtomic } from '../fs/atomic.js';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';

/** Returns the absolute path of `rel` under `home`, refusing a parent that is a symlink or leaves the home. */
export async function safeTarget(home: string, rel: string, fs: FileSystem = nodeFileSystem): Promise<string> {
  const abs = join(home, ...rel.split('/'));
  const realHome = await fs.realpath(home);
  let dir = dirname(abs);
  // Walk up to the first existing ancestor; it must resolve inside the home.
  for (;;) {
    try {
      const real = await fs.realpath(dir);
      if (real !== realHome && !real.startsWith(realHome + sep)) {
        throw new DmanError('UNSAFE_PATH', `refusing to write "${rel}": its folder resolves outside the home (${real})`, { hint: 'a symlinked folder is in the way; move it and sync again', context: { path: rel } });
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      dir = dirname(dir);
    }
  }
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

/** Makes room for a file at `abs`: an empty directory in the way is removed, a non-empty one is an error. */
async function clearDirInTheWay(abs: string, rel: string, fs: FileSystem): Promise<void> {
  const st = await fs.lstat(abs).catch(() => null);
  if (!st?.isDirectory()) return;
  if ((await fs.readdir(abs)).length > 0) throw new DmanError('CONFLICT', `"${rel}" is a folder here with files in it, but the server holds a file`, { hint: 'move the folder away (or the files in it) and sync again', context: { path: rel } });
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
 * written to a temp file beside its target (fsynced, many at once, so the filesystem groups them
 * into few journal commits); then every temp is renamed over its target and each touched folder
 * is fsynced once. When this returns, every file reported as landed is durable; a crash at any
 * point leaves each file old or new (the caller records the new state only after this returns).
 * Per-file failures come back in the result; a failure of `fetchBlobs` (the server went away) is
 * thrown after removing the batch's temps, before any rename: every target stays as it was.
 */
export async function installFiles(home: string, files: readonly FileToInstall[], fetchBlobs: (hashes: string[]) => AsyncIterable<{ hash: string; data: Buffer | null }>, fs: FileSystem = nodeFileSystem): Promise<InstalledFile[]> {
  const out: InstalledFile[] = [];
  const fail = (rel: string, error: unknown): void => { out.push({ rel, error }); };
  // Per folder: the safety check of safeTarget and the mkdir, done once for all the files in it.
  const dirChecks = new Map<string, Promise<void>>();
  const prepareDir = (abs: string, rel: string): Promise<void> => {
    const dir = dirname(abs);
    let p = dirChecks.get(dir);
    if (!p) {
      p = safeTarget(home, rel, fs).then(() => fs.mkdir(dir, { recursive: true })).then(() => {});
      dirChecks.set(dir, p);
    }
    return p;
  };
  interface Landing { f: FileToInstall; abs: string; tmp?: string }
  const ready: Landing[] = [];
  await pool(files, 16, async (f) => {
    try {
      const abs = join(home, ...f.rel.split('/'));
      await prepareDir(abs, f.rel);
      if (f.dirInTheWay) await clearDirInTheWay(abs, f.rel, fs);
      ready.push({ f, abs });
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
    const tmp = tempPathFor(l.abs);
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
      const got = b.data === null ? null : createHash('sha256').update(b.data).digest('hex');
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
    // Nothing of this batch is renamed yet: drop the temps, keep every target as it was.
    await Promise.all(written.map((l) => fs.rm(l.tmp!, { force: true }).catch(() => {})));
    throw fetchError;
  }
  // Every temp is durable; now swap them in, then make the renames durable, one fsync per folder.
  const renamed: Landing[] = [];
  await pool(written, 16, async (l) => {
    try {
      // The last look before the swap: an edit saved while the batch downloaded is kept.
      if (l.f.unchanged && !l.f.unchanged(await fs.lstat(l.abs).catch(() => null))) throw changedLocally(l.f.rel);
      await fs.rename(l.tmp!, l.abs);
      renamed.push(l);
    } catch (err) {
      await fs.rm(l.tmp!, { force: true }).catch(() => {});
      fail(l.f.rel, err);
    }
  });
  const dirs = new Map<string, Landing[]>();
  for (const l of renamed) {
    const d = dirname(l.abs);
    const list = dirs.get(d);
    if (list) list.push(l); else dirs.set(d, [l]);
  }
  await pool([...dirs], 16, async ([dir, list]) => {
    try {
      await fsyncDir(dir, fs);
    } catch (err) {
      // Renamed but not known durable: report it, so the state does not claim it.
      for (const l of list) fail(l.f.rel, err);
      return;
    }
    for (const l of list) {
      try {
        out.push({ rel: l.f.rel, stats: await fs.lstat(l.abs) });
      } catch (err) {
        fail(l.f.rel, err);
      }
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
