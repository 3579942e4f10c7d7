import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import { tempDirs } from '../testing/engineFixture.js';
import { deleteLocal, installEntry, installFiles, keepCopy, safeTarget } from './localFs.js';
import { isDmanError } from '../../shared/errors.js';
import { isTempName } from '../fs/atomic.js';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const entry = (over: Partial<Entry>): Entry => ({ path: 'f', kind: 'file', hash: null, size: 0, mode: 0o644, mtime: 1, rev: 1, deleted: false, device: 'd', updatedAt: 1, ...over });

describe('local writes', () => {
  it('installs a file atomically with its mode, leaving no temp file', async () => {
    const home = await dirs.make('dman-apply-');
    const st = await installEntry(home, 'a/b/f', entry({ hash: sha('hello'), size: 5, mode: 0o600 }), async () => Readable.from([Buffer.from('hello')]));
    expect(await readFile(join(home, 'a/b/f'), 'utf8')).toBe('hello');
    expect((await stat(join(home, 'a/b/f'))).mode & 0o777).toBe(0o600);
    expect(st.ino).toBe((await lstat(join(home, 'a/b/f'))).ino);
    expect(await readdir(join(home, 'a/b'))).toEqual(['f']);
  });

  it('refuses a download whose hash does not match and keeps the old file', async () => {
    const home = await dirs.make('dman-apply-');
    await writeFile(join(home, 'f'), 'old');
    await expect(installEntry(home, 'f', entry({ hash: sha('good') }), async () => Readable.from([Buffer.from('evil')]))).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    expect(await readFile(join(home, 'f'), 'utf8')).toBe('old');
    expect(await readdir(home)).toEqual(['f']);
  });

  it('swaps in a symlink and replaces an empty directory in the way', async () => {
    const home = await dirs.make('dman-apply-');
    await mkdir(join(home, 'l'));
    await installEntry(home, 'l', entry({ kind: 'symlink', hash: sha('target'), target: 'target', mode: 0 }), async () => { throw new Error('no download for symlinks'); });
    expect(await readlink(join(home, 'l'))).toBe('target');
  });

  it('never writes through a symlinked folder that leaves the home', async () => {
    const home = await dirs.make('dman-apply-');
    const outside = await dirs.make('dman-outside-');
    await symlink(outside, join(home, 'out'));
    await expect(safeTarget(home, 'out/f')).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    await expect(installEntry(home, 'out/f', entry({ hash: sha('x') }), async () => Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    expect(await readdir(outside)).toEqual([]);
  });

  it('deletes a file and its emptied folders, but not the home', async () => {
    const home = await dirs.make('dman-apply-');
    await mkdir(join(home, 'a/b'), { recursive: true });
    await writeFile(join(home, 'a/b/f'), 'x');
    await writeFile(join(home, 'keep'), 'x');
    await deleteLocal(home, 'a/b/f');
    expect(await readdir(home)).toEqual(['keep']);
  });

  it('keeps every conflict copy, even two in the same second', async () => {
    const home = await dirs.make('dman-apply-');
    await writeFile(join(home, 'f'), 'one');
    expect(await keepCopy(home, 'f', 'f.dman-conflict-d-20260101T000000Z')).toBe('f.dman-conflict-d-20260101T000000Z');
    await writeFile(join(home, 'f'), 'two');
    expect(await keepCopy(home, 'f', 'f.dman-conflict-d-20260101T000000Z')).toBe('f.dman-conflict-d-20260101T000000Z-2');
    expect(await readFile(join(home, 'f.dman-conflict-d-20260101T000000Z'), 'utf8')).toBe('one');
    expect(await readFile(join(home, 'f.dman-conflict-d-20260101T000000Z-2'), 'utf8')).toBe('two');
  });

  describe('installFiles (batched)', () => {
    const served = (blobs: Record<string, string | null>) => async function* (hashes: string[]) {
      for (const h of hashes) if (h in blobs) yield { hash: h, data: blobs[h] === null ? null : Buffer.from(blobs[h]!) };
    };

    it('lands each file with its mode, verifies every blob, and reports per file what failed', async () => {
      const home = await dirs.make('dman-batch-');
      await mkdir(join(home, 'empty-dir'));
      await writeFile(join(home, 'bad'), 'old bad');
      const out = await installFiles(home, [
        { rel: 'a/one', hash: sha('same'), mode: 0o600 },
        { rel: 'a/two', hash: sha('same'), mode: 0o755 },
        { rel: 'empty-dir', hash: sha('x'), mode: 0o644, dirInTheWay: true },
        { rel: 'bad', hash: sha('good'), mode: 0o644 },
        { rel: 'gone', hash: sha('gone'), mode: 0o644 },
      ], served({ [sha('same')]: 'same', [sha('x')]: 'x', [sha('good')]: 'tampered', [sha('gone')]: null }));
      const by = Object.fromEntries(out.map((r) => [r.rel, r]));
      expect(Object.keys(by).sort()).toEqual(['a/one', 'a/two', 'bad', 'empty-dir', 'gone']);
      expect(await readFile(join(home, 'a/one'), 'utf8')).toBe('same');
      expect((await stat(join(home, 'a/one'))).mode & 0o777).toBe(0o600);
      expect((await stat(join(home, 'a/two'))).mode & 0o777).toBe(0o755);
      expect(by['a/two']!.stats!.ino).toBe((await lstat(join(home, 'a/two'))).ino);
      expect(await readFile(join(home, 'empty-dir'), 'utf8')).toBe('x');
      expect(isDmanError(by.bad!.error, 'HASH_MISMATCH')).toBe(true);
      expect(await readFile(join(home, 'bad'), 'utf8')).toBe('old bad');
      expect(isDmanError(by.gone!.error, 'NOT_FOUND')).toBe(true);
      expect((await readdir(home)).sort()).toEqual(['a', 'bad', 'empty-dir']);
      expect((await readdir(join(home, 'a'))).sort()).toEqual(['one', 'two']);
    });

    it('keeps every target as it was and leaves no temp file when the fetch breaks off', async () => {
      const home = await dirs.make('dman-batch-');
      await writeFile(join(home, 'f1'), 'old 1');
      const broken = async function* (hashes: string[]) {
        yield { hash: hashes[0]!, data: Buffer.from('new 1') };
        throw new Error('connection reset');
      };
      await expect(installFiles(home, [{ rel: 'f1', hash: sha('new 1'), mode: 0o644 }, { rel: 'f2', hash: sha('new 2'), mode: 0o644 }], broken)).rejects.toThrow('connection reset');
      expect(await readFile(join(home, 'f1'), 'utf8')).toBe('old 1');
      expect(await readdir(home)).toEqual(['f1']);
    });

    it('makes no folder and removes no empty folder in the way when the fetch breaks off', async () => {
      const home = await dirs.make('dman-batch-');
      await mkdir(join(home, 'empty-dir'));
      await mkdir(join(home, 'a'));
      await writeFile(join(home, 'a/old'), 'old');
      const broken = async function* (hashes: string[]) {
        for (const h of hashes) yield { hash: h, data: Buffer.from(h === sha('x') ? 'x' : 'y') };
        throw new Error('connection reset');
      };
      await expect(installFiles(home, [
        { rel: 'empty-dir', hash: sha('x'), mode: 0o644, dirInTheWay: true },
        { rel: 'a/new/deep/f', hash: sha('y'), mode: 0o644 },
        { rel: 'b/f', hash: sha('y'), mode: 0o644 },
      ], broken)).rejects.toThrow('connection reset');
      expect((await readdir(home)).sort()).toEqual(['a', 'empty-dir']);
      expect((await lstat(join(home, 'empty-dir'))).isDirectory()).toBe(true);
      expect(await readdir(join(home, 'empty-dir'))).toEqual([]);
      expect(await readdir(join(home, 'a'))).toEqual(['old']);
    });

    it('lands a file in new folders with its temp in the first existing folder, and leaves no temp', async () => {
      const home = await dirs.make('dman-batch-');
      const out = await installFiles(home, [{ rel: 'n1/n2/f', hash: sha('deep'), mode: 0o640 }], served({ [sha('deep')]: 'deep' }));
      expect(out.map((r) => [r.rel, r.error])).toEqual([['n1/n2/f', undefined]]);
      expect(await readFile(join(home, 'n1/n2/f'), 'utf8')).toBe('deep');
      expect((await stat(join(home, 'n1/n2/f'))).mode & 0o777).toBe(0o640);
      expect(await readdir(home)).toEqual(['n1']);
      expect(await readdir(join(home, 'n1'))).toEqual(['n2']);
    });

    it('refuses a folder swapped for a symlink out of the home between the fetch and the rename; the rest lands', async () => {
      const home = await dirs.make('dman-batch-');
      const outside = await dirs.make('dman-outside-');
      await mkdir(join(home, 'd'));
      await writeFile(join(home, 'd/f'), 'old');
      // The swap runs on the first folder made: after every blob is fetched and every temp fsynced,
      // before any rename (every mkdir waits for it).
      let swap: Promise<void> | null = null;
      let fetched = false;
      const fs: FileSystem = {
        ...nodeFileSystem,
        mkdir: async (p, o) => {
          expect(fetched).toBe(true);
          swap ??= (async () => {
            await rename(join(home, 'd'), join(home, 'd-moved'));
            await symlink(outside, join(home, 'd'));
            await symlink(outside, join(home, 'n')); // a folder that did not exist at the fetch
          })();
          await swap;
          return nodeFileSystem.mkdir(p, o);
        },
      };
      const fetch = async function* (hashes: string[]) {
        for (const h of hashes) yield { hash: h, data: Buffer.from(h === sha('new') ? 'new' : 'other') };
        fetched = true;
      };
      const out = await installFiles(home, [
        { rel: 'd/f', hash: sha('new'), mode: 0o644 },
        { rel: 'd/g', hash: sha('new'), mode: 0o644 },
        { rel: 'n/f', hash: sha('new'), mode: 0o644 },
        { rel: 'e/f', hash: sha('other'), mode: 0o644 },
        { rel: 'top', hash: sha('other'), mode: 0o644 },
      ], fetch, fs);
      expect(swap).not.toBeNull();
      const by = Object.fromEntries(out.map((r) => [r.rel, r]));
      expect(Object.keys(by).sort()).toEqual(['d/f', 'd/g', 'e/f', 'n/f', 'top']);
      for (const rel of ['d/f', 'd/g', 'n/f']) {
        expect(isDmanError(by[rel]!.error, 'UNSAFE_PATH')).toBe(true);
        expect((by[rel]!.error as Error).message).toContain(`"${rel}"`);
      }
      expect(await readdir(outside)).toEqual([]);
      expect(await readFile(join(home, 'e/f'), 'utf8')).toBe('other');
      expect(await readFile(join(home, 'top'), 'utf8')).toBe('other');
      expect(by['e/f']!.stats).toBeDefined();
      expect(by.top!.stats).toBeDefined();
      // The temp of n/f (in the home, the first existing folder at the fetch) is removed.
      expect((await readdir(home)).sort()).toEqual(['d', 'd-moved', 'e', 'n', 'top']);
      // The moved folder keeps its old file; the temps written into it before the swap are named as ours.
      expect(await readFile(join(home, 'd-moved/f'), 'utf8')).toBe('old');
      expect((await readdir(join(home, 'd-moved'))).filter((n) => n !== 'f').every(isTempName)).toBe(true);
    });

    it('refuses a folder that leads out of the home', async () => {
      const home = await dirs.make('dman-batch-');
      const outside = await dirs.make('dman-outside-');
      await symlink(outside, join(home, 'link'));
      const out = await installFiles(home, [{ rel: 'link/f', hash: sha('x'), mode: 0o644 }], served({ [sha('x')]: 'x' }));
      expect(isDmanError(out[0]!.error, 'UNSAFE_PATH')).toBe(true);
      expect(await readdir(outside)).toEqual([]);
    });
  });
});
