import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import { tempDirs } from '../testing/engineFixture.js';
import { deleteLocal, installEntry, installFiles, keepCopy, safeTarget } from './localFs.js';
import { isDmanError } from '../../shared/errors.js';

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
