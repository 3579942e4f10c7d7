// The engine's writes to a home: downloads land atomically (temp in the same directory +
// fsync + rename) with the stored mode, symlinks are swapped in with a rename, deletes and
// conflict copies never follow a symlinked parent out of the home.
import { createHash } from 'node:crypto';
import { lstat, mkdir, realpath, rename, rm, rmdir, symlink, unlink, readdir } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform, pipeline } from 'node:stream';
import { DmanError } from '../../shared/errors.js';
import type { Entry } from '../../shared/protocol.js';
import { fsyncDir, tempPathFor, writeFileAtomic } from '../fs/atomic.js';

/** Returns the absolute path of `rel` under `home`, refusing a parent that is a symlink or leaves the home. */
export async function safeTarget(home: string, rel: string): Promise<string> {
  const abs = join(home, ...rel.split('/'));
  const realHome = await realpath(home);
  let dir = dirname(abs);
  // Walk up to the first existing ancestor; it must resolve inside the home.
  for (;;) {
    try {
      const real = await realpath(dir);
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
async function clearDirInTheWay(abs: string, rel: string): Promise<void> {
  const st = await lstat(abs).catch(() => null);
  if (!st?.isDirectory()) return;
  if ((await readdir(abs)).length > 0) throw new DmanError('CONFLICT', `"${rel}" is a folder here with files in it, but the server holds a file`, { hint: 'move the folder away (or the files in it) and sync again', context: { path: rel } });
  await rmdir(abs);
}

/** Installs a server entry (file or symlink) at `rel`; returns the lstat of what landed. */
export async function installEntry(home: string, rel: string, entry: Entry, download: () => Promise<Readable>): Promise<Stats> {
  const abs = await safeTarget(home, rel);
  await mkdir(dirname(abs), { recursive: true });
  await clearDirInTheWay(abs, rel);
  if (entry.kind === 'symlink') {
    const tmp = tempPathFor(abs);
    await symlink(entry.target ?? '', tmp);
    try {
      await rename(tmp, abs);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await fsyncDir(dirname(abs));
    return lstat(abs);
  }
  const data = await download();
  const verified = hashing(entry.hash!, rel);
  // pipeline forwards a failing download into `verified`, whose iteration then throws.
  pipeline(data, verified, () => {});
  await writeFileAtomic(abs, verified, { mode: entry.mode || 0o644 });
  return lstat(abs);
}

/** Writes text the engine produced (a merge) atomically, keeping `mode`. */
export async function writeLocal(home: string, rel: string, data: Uint8Array, mode: number): Promise<Stats> {
  const abs = await safeTarget(home, rel);
  await writeFileAtomic(abs, data, { mode });
  return lstat(abs);
}

/** Deletes the file or symlink at `rel` (a remote tombstone), then empty parent folders up to the home. */
export async function deleteLocal(home: string, rel: string): Promise<void> {
  const abs = await safeTarget(home, rel);
  await rm(abs, { force: true });
  let dir = dirname(abs);
  while (dir.length > home.length && dir.startsWith(home)) {
    try {
      await rmdir(dir);
    } catch {
      break;
    }
    dir = dirname(dir);
  }
  await fsyncDir(dirname(abs)).catch(() => {});
}

/** Keeps the local version of `rel` as `copyRel` (keep-both) by renaming it; never replaces an earlier copy. Returns the name used. */
export async function keepCopy(home: string, rel: string, copyRel: string): Promise<string> {
  const from = await safeTarget(home, rel);
  let name = copyRel;
  for (let n = 2; await lstat(await safeTarget(home, name)).then(() => true, () => false); n++) name = `${copyRel}-${n}`;
  const to = await safeTarget(home, name);
  await rename(from, to);
  await fsyncDir(dirname(to));
  return name;
}

/** Reads a Readable fully (small blobs: merges). */
export async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}
