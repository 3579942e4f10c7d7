import { lstat, lutimes, mkdir, mkdtemp, readdir, rename, rm, symlink, unlink, utimes, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { packedMaps } from '../state/PackedMap.js';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';
import { scan, WHOLE_FILE, type StatCache, type WalkedFile } from './scan.js';

// A plain walker for these tests (the real one, walkTracked, applies track patterns).
async function* walkAll(home: string, dir = home): AsyncGenerator<WalkedFile> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const abs = join(dir, d.name);
    if (d.isDirectory()) yield* walkAll(home, abs);
    else yield { path: relative(home, abs).split(sep).join('/'), stats: await lstat(abs) };
  }
}
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const past = new Date(Date.now() - 60_000);

let home: string;
beforeEach(async () => { home = await mkdtemp(join(tmpdir(), 'dman-scan-')); });
afterEach(async () => { await rm(home, { recursive: true, force: true }); });

describe.each([false, true])('scan (blocking: %s)', (blocking) => {
  it('hands on the bytes it hashed of files up to WHOLE_FILE (null for larger ones), never bytes of a file that changed meanwhile', async () => {
    await writeFile(join(home, 'a'), 'alpha\n');
    await writeFile(join(home, 'mid'), Buffer.alloc(300_000, 'm'));
    await writeFile(join(home, 'huge'), Buffer.alloc(WHOLE_FILE + 1, 'h'));
    await writeFile(join(home, 'moving'), 'first\n');
    await symlink('a', join(home, 'link'));
    const got = new Map<string, Buffer | null>();
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    // 'moving' changes size after the walk saw it: the scan's first read is of other bytes than that lstat, so it reads again.
    await writeFile(join(home, 'moving'), 'second, longer\n');
    const cache: StatCache = new Map();
    const r = await scan({ home, blocking, files, cache, onContent: (p, data, entry) => {
      got.set(p, data);
      expect(entry).toBe(cache.get(p));
      if (data) expect(createHash('sha256').update(data).digest('hex')).toBe(entry.hash);
    } });
    expect([...got.keys()].sort()).toEqual(['a', 'huge', 'mid', 'moving']);
    expect(got.get('a')!.toString()).toBe('alpha\n');
    // Each file's bytes own their memory (not a slice of Node's shared pool), so the early upload can free them once sent.
    for (const p of ['a', 'mid', 'moving']) expect([got.get(p)!.byteOffset, got.get(p)!.buffer.byteLength]).toEqual([0, got.get(p)!.length]);
    expect(got.get('mid')!.length).toBe(300_000);
    expect(got.get('huge')).toBeNull();
    expect(got.get('moving')!.toString()).toBe('second, longer\n');
    expect(r.files.get('moving')).toMatchObject({ hash: sha('second, longer\n'), size: 15 });
  });

  it('waits for what pause hands it before it finishes, and asks again until pause says go on', async () => {
    for (let i = 0; i < 40; i++) await writeFile(join(home, `f${i}`), `file ${i}\n`);
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let asked = 0;
    let open = false;
    const pause = (): Promise<void> | null => { asked++; return open ? null : gate; };
    let finished = false;
    const run = scan({ home, blocking, files, cache: new Map(), pause }).then((r) => { finished = true; return r; });
    await new Promise((r) => setTimeout(r, 50));
    expect(asked).toBeGreaterThan(0);
    expect(finished).toBe(false);
    open = true;
    release();
    const r = await run;
    expect(r.files.size).toBe(40);
    expect(r.hashed).toBe(40);
  });

  it('hashes files and symlinks, keeps modes, and hashes nothing on a no-op rescan', async () => {
    await mkdir(join(home, '.config/nvim'), { recursive: true });
    await writeFile(join(home, '.zshrc'), 'export A=1\n');
    await writeFile(join(home, '.config/nvim/init.lua'), 'print(1)\n');
    await chmod(join(home, '.config/nvim/init.lua'), 0o755);
    await symlink('.zshrc', join(home, '.zshrc.link'));
    for (const p of ['.zshrc', '.config/nvim/init.lua']) await utimes(join(home, p), past, past);
    const cache: StatCache = new Map();
    const first = await scan({ home, blocking, files: walkAll(home), cache });
    expect(first.hashed).toBe(3);
    expect(first.files.get('.zshrc')).toMatchObject({ kind: 'file', hash: sha('export A=1\n'), mode: 0o644, size: 11 });
    expect(first.files.get('.config/nvim/init.lua')).toMatchObject({ mode: 0o755 });
    expect(first.files.get('.zshrc.link')).toMatchObject({ kind: 'symlink', hash: sha('.zshrc'), target: '.zshrc', mode: 0 });
    const second = await scan({ home, blocking, files: walkAll(home), cache, now: () => Date.now() + 10_000 });
    // The symlink was recorded in the same instant it was made, so only it may be rehashed.
    expect(second.hashed).toBeLessThanOrEqual(1);
    const third = await scan({ home, blocking, files: walkAll(home), cache, now: () => Date.now() + 10_000 });
    expect(third.hashed).toBe(0);
    expect(third.files).toEqual(first.files);
  });

  it('notices an edit with the same size and mtime through ctime/inode, and drops deleted paths from the cache', async () => {
    await writeFile(join(home, 'a'), 'one');
    await writeFile(join(home, 'b'), 'bee');
    await utimes(join(home, 'a'), past, past);
    await utimes(join(home, 'b'), past, past);
    const cache: StatCache = new Map();
    await scan({ home, blocking, files: walkAll(home), cache });
    await writeFile(join(home, 'a'), 'two');
    await utimes(join(home, 'a'), past, past);
    await unlink(join(home, 'b'));
    const r = await scan({ home, blocking, files: walkAll(home), cache });
    expect(r.files.get('a')?.hash).toBe(sha('two'));
    expect(r.files.has('b')).toBe(false);
    expect(cache.has('b')).toBe(false);
  });

  it('skips a file that vanishes between walk and hash, without failing', async () => {
    await writeFile(join(home, 'gone'), 'x');
    await writeFile(join(home, 'stay'), 'y');
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    await unlink(join(home, 'gone'));
    const r = await scan({ home, blocking, files: (async function* () { yield* files; })(), cache: new Map() });
    expect(r.skipped).toEqual([{ path: 'gone', reason: expect.stringContaining('vanished') }]);
    expect([...r.files.keys()]).toEqual(['stay']);
  });

  it('re-stats after hashing: a file changed since the walk is hashed again, not recorded with stale stats', async () => {
    await writeFile(join(home, 'f'), 'before');
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    await writeFile(join(home, 'f'), 'after, and longer');
    const cache: StatCache = new Map();
    const r = await scan({ home, blocking, files: (async function* () { yield* files; })(), cache });
    expect(r.files.get('f')).toMatchObject({ hash: sha('after, and longer'), size: 17 });
    expect(cache.get('f')!.size).toBe(17);
    expect(r.hashed).toBe(2);
  });

  it('hashes what the path holds when an editor-style save (a temp renamed over it) lands between the walk and the read, even with the same size and mtime', async () => {
    await writeFile(join(home, 'f'), 'old!\n');
    await utimes(join(home, 'f'), past, past);
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    // Only the inode tells the new file from the old one.
    await writeFile(join(home, 'f.tmp'), 'new!\n');
    await utimes(join(home, 'f.tmp'), past, past);
    await rename(join(home, 'f.tmp'), join(home, 'f'));
    const cache: StatCache = new Map();
    const r = await scan({ home, blocking, files, cache });
    expect(r.files.get('f')).toMatchObject({ kind: 'file', hash: sha('new!\n'), size: 5 });
    expect(cache.get('f')!.ino).toBe((await lstat(join(home, 'f'))).ino);
    expect(r.hashed).toBe(2);
  });

  it('records a symlink when the file the walk saw became one before the read (the read follows it; the path is what counts)', async () => {
    await writeFile(join(home, 'f'), 'file\n');
    await writeFile(join(home, 'other'), 'elsewhere\n');
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) if (f.path === 'f') files.push(f);
    await unlink(join(home, 'f'));
    await symlink('other', join(home, 'f'));
    const cache: StatCache = new Map();
    const r = await scan({ home, blocking, files, cache });
    expect(r.files.get('f')).toMatchObject({ kind: 'symlink', target: 'other', hash: sha('other') });
    expect(cache.get('f')!.target).toBe('other');
  });

  it('ignores conflict copies and our own temp files', async () => {
    await writeFile(join(home, 'f'), 'x');
    await writeFile(join(home, 'f.dman-conflict-laptop-20260101T000000Z'), 'y');
    await writeFile(join(home, '.f.dman-tmp-123-0123abcd'), 'z');
    const r = await scan({ home, blocking, files: walkAll(home), cache: new Map() });
    expect([...r.files.keys()]).toEqual(['f']);
  });

  it('rescans 10,000 unchanged files without hashing any', async () => {
    for (let d = 0; d < 100; d++) {
      await mkdir(join(home, `d${d}`));
      await Promise.all(Array.from({ length: 100 }, (_, i) => writeFile(join(home, `d${d}`, `f${i}`), `content ${d} ${i}\n`)));
    }
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    const cache: StatCache = new Map();
    const later = (): number => Date.now() + 10_000;
    const first = await scan({ home, blocking, files: (async function* () { yield* files; })(), cache, now: later });
    expect(first.hashed).toBe(10_000);
    const again = await scan({ home, blocking, files: (async function* () { yield* files; })(), cache, now: later });
    // How fast is the bench's question (bench/engine.bench.ts, the peers bench's no-op), not a test's.
    expect(again.hashed).toBe(0);
    expect(again.cacheHits).toBe(10_000);
    expect(again.files.size).toBe(10_000);
    expect(again.files.get('d7/f42')).toEqual(first.files.get('d7/f42'));
  });
});

// A state's stat cache (PackedMap) answers hits through StatProbe, without building entries: the same answers as a Map's.
const cacheKinds: Array<[string, () => StatCache]> = [['Map', () => new Map()], ['PackedMap', () => packedMaps().statCache]];

describe('a blocking scan', () => {
  it('checks each file it read on the descriptor it read it through: one open and one fstat per file, no lstat of the path after', async () => {
    for (let i = 0; i < 5; i++) await writeFile(join(home, `f${i}`), `content ${i}\n`);
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    const calls = new Map<string, number>();
    const count = (op: string): void => { calls.set(op, (calls.get(op) ?? 0) + 1); };
    const fs: FileSystem = {
      ...nodeFileSystem,
      openSync: (p, f) => { count('open'); return nodeFileSystem.openSync(p, f); },
      fstatSync: (fd) => { count('fstat'); return nodeFileSystem.fstatSync(fd); },
      lstatSync: (p) => { count('lstat'); return nodeFileSystem.lstatSync(p); },
      readFileSync: (p) => { count('readFile'); return nodeFileSystem.readFileSync(p); },
    };
    const cache: StatCache = new Map();
    const r = await scan({ home, blocking: true, files, cache, fs });
    expect(Object.fromEntries(calls)).toEqual({ open: 5, fstat: 5 });
    for (let i = 0; i < 5; i++) expect(r.files.get(`f${i}`)).toMatchObject({ hash: sha(`content ${i}\n`) });
  });

  it('hashes again by streaming a small file that grew past what it reads whole while the scan ran, and hands on no bytes of it', async () => {
    await writeFile(join(home, 'grows'), 'small\n');
    await writeFile(join(home, 'same'), 'same\n');
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    const big = 'x'.repeat(WHOLE_FILE + 10);
    await writeFile(join(home, 'grows'), big); // after the walk, before the read
    const handed: Array<[string, number | null]> = [];
    const cache: StatCache = new Map();
    const r = await scan({ home, blocking: true, files, cache, onContent: (p, data) => handed.push([p, data ? data.length : null]) });
    expect(r.skipped).toEqual([]);
    expect(r.files.get('grows')).toMatchObject({ hash: sha(big), size: big.length });
    expect(cache.get('grows')).toMatchObject({ hash: sha(big), size: big.length });
    expect(r.files.get('same')).toMatchObject({ hash: sha('same\n') });
    expect(handed.sort()).toEqual([['grows', null], ['same', 5]]);
  });
});

describe.each(cacheKinds)('scan cache hits (%s)', (_kind, newCache) => {
  it('give the same LocalFile as hashing (permission bits, symlink size in bytes), and leave out what is neither a file nor a symlink', async () => {
    await writeFile(join(home, 'plain'), 'plain\n');
    await chmod(join(home, 'plain'), 0o600);
    await writeFile(join(home, 'tool'), '#!/bin/sh\n');
    await chmod(join(home, 'tool'), 0o4755);
    await symlink('ziel/über/ß', join(home, 'link'));
    await mkdir(join(home, 'dir'));
    for (const p of ['plain', 'tool']) await utimes(join(home, p), past, past);
    const files: WalkedFile[] = [];
    for (const p of ['plain', 'tool', 'link', 'dir']) files.push({ path: p, stats: await lstat(join(home, p)) });
    const cache = newCache();
    const later = (): number => Date.now() + 10_000;
    const hashed = await scan({ home, files, cache, now: later });
    expect(hashed.hashed).toBe(3);
    expect(hashed.skipped).toEqual([]); // the folder is not looked at, not reported unreadable
    expect(hashed.files.get('tool')).toMatchObject({ kind: 'file', mode: 0o4755 });
    expect(hashed.files.get('link')).toMatchObject({ kind: 'symlink', size: Buffer.byteLength('ziel/über/ß'), mode: 0, target: 'ziel/über/ß' });
    const hits = await scan({ home, files, cache, now: later });
    expect(hits.hashed).toBe(0);
    expect(hits.cacheHits).toBe(3);
    expect(hits.skipped).toEqual([]);
    expect([...hits.files.keys()]).toEqual(['plain', 'tool', 'link']);
    // Strict: the same keys (no `target: undefined` on a file), the same values.
    for (const p of ['plain', 'tool', 'link']) expect(hits.files.get(p)).toStrictEqual(hashed.files.get(p));
  });

  it('hashes again a file whose permission bits alone changed, and takes its new mode', async () => {
    await writeFile(join(home, 'f'), 'x\n');
    await utimes(join(home, 'f'), past, past);
    const cache = newCache();
    const later = (): number => Date.now() + 10_000;
    await scan({ home, files: walkAll(home), cache, now: later });
    const entry = cache.get('f')!;
    // The same stat but for the mode (a chmod also moves ctime; here only the mode differs from the cache's record).
    cache.set('f', { ...entry, mode: (entry.mode & ~0o777) | 0o600 });
    const again = await scan({ home, files: walkAll(home), cache, now: later });
    expect(again.hashed).toBe(1);
    expect(again.files.get('f')).toMatchObject({ mode: (await lstat(join(home, 'f'))).mode & 0o7777 });
  });
});

describe('scan of the stat cache of a state', () => {
  const summary = (r: Awaited<ReturnType<typeof scan>>, cache: StatCache) => ({
    files: Object.fromEntries([...r.files].sort()), skipped: r.skipped.map((s) => s.path).sort(), hashed: r.hashed, cacheHits: r.cacheHits,
    cache: Object.fromEntries([...cache].sort()),
  });

  it('finds the same hits and misses in a PackedMap as in a plain Map', async () => {
    for (let i = 0; i < 20; i++) {
      await writeFile(join(home, `f${i}`), `content ${i}`);
      await utimes(join(home, `f${i}`), past, past);
    }
    await symlink('f1', join(home, 'link'));
    await lutimes(join(home, 'link'), past, past);
    const at = Date.now() + 10_000;
    const later = (): number => at;
    const plain: StatCache = new Map();
    const packed = packedMaps().statCache;
    const first = await scan({ home, files: walkAll(home), cache: plain, now: later });
    expect(summary(await scan({ home, files: walkAll(home), cache: packed, now: later }), packed)).toEqual(summary(first, plain));
    await writeFile(join(home, 'f3'), 'edited');
    const again = await scan({ home, files: walkAll(home), cache: plain, now: later });
    expect(again.hashed).toBe(1);
    expect(summary(await scan({ home, files: walkAll(home), cache: packed, now: later }), packed)).toEqual(summary(again, plain));
  });
});

describe('scan of a sliced walk', () => {
  it('reads slices (arrays of files) as it reads single files: the same result, the same cache', async () => {
    for (let i = 0; i < 25; i++) {
      await writeFile(join(home, `f${i}`), `content ${i}`);
      await utimes(join(home, `f${i}`), past, past);
    }
    const files: WalkedFile[] = [];
    for await (const f of walkAll(home)) files.push(f);
    async function* slices(): AsyncGenerator<WalkedFile[]> { for (let i = 0; i < files.length; i += 10) yield files.slice(i, i + 10); }
    const one = await scan({ home, files: walkAll(home), cache: new Map() });
    const cache: StatCache = new Map();
    const sliced = await scan({ home, files: slices(), cache });
    expect(sliced.hashed).toBe(25);
    expect(sliced.files).toEqual(one.files);
    expect([...cache.keys()].sort()).toEqual(files.map((f) => f.path).sort());
    const again = await scan({ home, files: slices(), cache, now: () => Date.now() + 10_000 });
    expect(again.hashed).toBe(0);
    expect(again.cacheHits).toBe(25);
  });
});

describe.each(cacheKinds)('scan and the racy-clean window (%s)', (_kind, newCache) => {
  it('hashes again a file modified within a clock tick (10 ms) before it was read, and trusts an older one', async () => {
    const T = Math.floor(Date.now() / 1000) * 1000 + 60_000;
    await writeFile(join(home, 'fresh'), 'same size 1');
    await writeFile(join(home, 'old'), 'same size 2');
    // fresh: modified 4 ms before the read (a write later in that tick would keep its mtime); old: 50 ms before.
    await utimes(join(home, 'fresh'), (T - 4) / 1000, (T - 4) / 1000);
    await utimes(join(home, 'old'), (T - 50) / 1000, (T - 50) / 1000);
    const cache = newCache();
    const first = await scan({ home, files: walkAll(home), cache, now: () => T });
    expect(first.hashed).toBe(2);
    const second = await scan({ home, files: walkAll(home), cache, now: () => T + 1000 });
    expect(second.hashed).toBe(1);
    expect(second.cacheHits).toBe(1);
    expect(second.files.get('old')?.hash).toBe(sha('same size 2'));
  });
});
