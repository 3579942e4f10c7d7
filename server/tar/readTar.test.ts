import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DmanError } from '../../shared/errors.js';
import { Header } from 'tar';
import { metaProblem, readTar, splitEntryName, symlinkTargetProblem } from './readTar.js';
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

/** A PAX record as tar writes it: "LEN key=value\n", LEN counting the whole record. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(rest) + 1;
  while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
  return `${len}${rest}`;
}

describe('metaProblem', () => {
  it.each([
    [paxRecord('path', 'alice/.bashrc'), null],
    [paxRecord('size', '1024') + paxRecord('mtime', '1700000000.5'), null],
    [paxRecord('SCHILY.xattr.user.bin', 'a\0b\x01'), null],
    ['alice/.config/long/name\0', null],
    ['alice/.config/long/name\0\0\0', null],
    [paxRecord('path', 'alice/a\0/../../x'), /sets "path" to "alice\/a\\x00\/\.\.\/\.\.\/x", which contains a NUL byte \(the name would be cut to "alice\/a"\)/],
    [paxRecord('linkpath', 'ok\0/etc'), /sets "linkpath".*NUL byte/],
    [paxRecord('size', '-512'), /sets "size" to "-512", which is not a size in bytes/],
    [paxRecord('size', '0x10'), /sets "size" to "0x10"/],
    [paxRecord('size', ''), /sets "size" to ""/],
    ['alice/a\0/../../x\0', /GNU long name.*"alice\/a\\x00\/\.\.\/\.\.\/x".*cut to "alice\/a"/],
  ])('%j', (raw, want) => {
    const p = metaProblem(raw);
    if (want === null) expect(p).toBeNull(); else expect(p).toMatch(want);
  });
});

describe('readTar refuses the forms node-tar reads as harmless names', () => {
  const opts = { maxEntries: 10, maxEntryBytes: 100, maxTotalBytes: 1000 };
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  const header = (path: string, size: number, type = 'File') => {
    const b = Buffer.alloc(512);
    new Header({ path, size, type: type as 'File', mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }).encode(b, 0);
    return b;
  };
  const fixSum = (b: Buffer) => {
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of b) sum += x;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return b;
  };
  const pax = (records: string, then: Buffer, data = Buffer.alloc(0)) => {
    const body = Buffer.from(records);
    return Buffer.concat([header('PaxHeader', body.length, 'ExtendedHeader'), body, pad(body.length), then, data, pad(data.length), Buffer.alloc(1024)]);
  };
  const read = (b: Buffer) => readTar(Readable.from([b]), opts);

  it('a PAX path with a NUL byte', async () => {
    await expect(read(pax(paxRecord('path', 'alice/a\0/../../x'), header('alice/benign', 1), Buffer.from('x')))).rejects.toMatchObject({
      code: 'UNSAFE_PATH', message: expect.stringMatching(/^tar entry "alice\/a" was refused: its PAX extended header sets "path"/), hint: expect.stringMatching(/re-create the archive/),
    });
  });
  it('a PAX negative size', async () => {
    await expect(read(pax(paxRecord('size', '-512'), header('alice/neg', 0)))).rejects.toMatchObject({ code: 'UNSAFE_PATH', message: expect.stringMatching(/"alice\/neg".*"size" to "-512"/) });
  });
  it('a negative size in base-256, and an empty size field', async () => {
    const neg = header('alice/neg', 0);
    neg.fill(0xff, 124, 136);
    await expect(read(Buffer.concat([fixSum(neg), Buffer.alloc(1024)]))).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/"alice\/neg" was refused: its header has no valid size/) });
    const empty = header('alice/empty', 0);
    empty.fill(0, 124, 136);
    await expect(read(Buffer.concat([fixSum(empty), Buffer.alloc(1024)]))).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/"alice\/empty".*no valid size/) });
  });
  it('a bad PAX header at the very end, with no entry after it', async () => {
    const body = Buffer.from(paxRecord('path', 'alice/a\0b'));
    await expect(read(Buffer.concat([header('PaxHeader', body.length, 'ExtendedHeader'), body, pad(body.length), Buffer.alloc(1024)]))).rejects.toMatchObject({ code: 'UNSAFE_PATH', message: expect.stringMatching(/ends with an extended header that was refused/) });
  });
  it('but takes a valid PAX size, a PAX xattr with binary bytes and a PAX long path', async () => {
    const long = `alice/${'deep/'.repeat(30)}f`;
    const items = await read(pax(paxRecord('size', '3') + paxRecord('SCHILY.xattr.user.b', 'a\0b') + paxRecord('path', long), header('alice/short', 0), Buffer.from('abc')));
    expect(items.map((i) => [i.path, i.data.toString()])).toEqual([[long.slice(6), 'abc']]);
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
