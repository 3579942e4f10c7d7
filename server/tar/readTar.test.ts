import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DmanError } from '../../shared/errors.js';
import { readTar, splitEntryName, symlinkTargetProblem } from './readTar.js';
import { writeTar } from './writeTar.js';

describe('splitEntryName', () => {
  it.each([
    ['alice/.bashrc', { user: 'alice', path: '.bashrc' }],
    ['./alice/.config/a b', { user: 'alice', path: '.config/a b' }],
  ])('accepts %s', (name, want) => expect(splitEntryName(name)).toEqual(want));

  it.each([
    ['/etc/passwd', /absolute/], ['C:/x/y', /absolute/], ['alice/../x', /"\.\."/], ['../x/y', /"\.\."/],
    ['alice', /user\/path/], ['alice/', /empty/], ['alice/a\0b', /NUL/], ['alice/a\\b', /backslash/],
  ])('refuses %s', (name, why) => expect(splitEntryName(name)).toMatch(why));
});

describe('symlinkTargetProblem', () => {
  it.each([['.vim', '.config/nvim', null], ['.config/a', '../.bashrc', null], ['.config/a', '../../x', /outside/], ['x', '/etc', /absolute/], ['x', '', /empty/]])(
    '%s -> %s', (path, target, want) => {
      const p = symlinkTargetProblem(path, target);
      if (want === null) expect(p).toBeNull(); else expect(p).toMatch(want);
    });
});

describe('writeTar → readTar', () => {
  it('round-trips files (long names too) and symlinks', async () => {
    const long = `alice/${'deep/'.repeat(40)}file`;
    const tar = writeTar([
      { name: 'alice/.bashrc', kind: 'file', mode: 0o600, mtime: 1_700_000_000_000, size: 3, open: async () => Readable.from([Buffer.from('abc')]) },
      { name: long, kind: 'file', mode: 0o644, mtime: 0, size: 0, open: async () => Readable.from([]) },
      { name: 'alice/.vim', kind: 'symlink', mode: 0, mtime: 0, size: 0, target: '.config/nvim' },
    ]);
    const items = await readTar(tar, { maxEntries: 10, maxEntryBytes: 100, maxTotalBytes: 1000 });
    expect(items.map((i) => [i.path, i.kind, i.data.toString(), i.mode, i.target])).toEqual([
      ['.bashrc', 'file', 'abc', 0o600, undefined],
      [long.slice(6), 'file', '', 0o644, undefined],
      ['.vim', 'symlink', '', 0, '.config/nvim'],
    ]);
    expect(items[0]!.mtime).toBe(1_700_000_000_000);
  });

  it('refuses garbage that is not a tar', async () => {
    await expect(readTar(Readable.from([Buffer.alloc(2048, 7)]), { maxEntries: 10, maxEntryBytes: 100, maxTotalBytes: 1000 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('readTar on arbitrary bytes', () => {
  const opts = { maxEntries: 50, maxEntryBytes: 4096, maxTotalBytes: 65536 };
  const valid = async () => {
    const chunks: Buffer[] = [];
    for await (const c of writeTar([
      { name: 'alice/a', kind: 'file', mode: 0o644, mtime: 0, size: 600, open: async () => Readable.from([Buffer.alloc(600, 97)]) },
      { name: 'alice/l', kind: 'symlink', mode: 0, mtime: 0, size: 0, target: 'a' },
    ])) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  it('either accepts only safe items or fails with a DmanError, for random and mutated archives', async () => {
    const base = await valid();
    await fc.assert(fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
        fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 })
          .map((muts) => { const b = Buffer.from(base); for (const [i, v] of muts) b[i] = v; return b; }),
        fc.nat({ max: base.length }).map((n) => base.subarray(0, n)),
      ),
      async (bytes) => {
        try {
          const items = await readTar(Readable.from([bytes]), opts);
          for (const it of items) {
            expect(splitEntryName(`${it.user}/${it.path}`)).toEqual({ user: it.user, path: it.path });
            if (it.kind === 'symlink') expect(symlinkTargetProblem(it.path, it.target ?? '')).toBeNull();
          }
        } catch (err) {
          expect(err).toBeInstanceOf(DmanError);
        }
      },
    ), { numRuns: 300 });
  });
});
