import { spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile, lstat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDmanError } from '../../shared/errors.js';
import { compileTrack, type TrackMatcher } from '../../shared/patterns/index.js';
import { createListingCache, walkTracked, walkTrackedSliced, walkTrackedSync, type ListingCache, type WalkEntry, type WalkFs, type WalkOptions, type WalkSkip } from './walk.js';

let home: string;
beforeEach(async () => { home = await mkdtemp(join(tmpdir(), 'dman-walk-')); });
afterEach(async () => { await rm(home, { recursive: true, force: true }); });

async function put(rel: string, data = 'x'): Promise<void> {
  await mkdir(dirname(join(home, rel)), { recursive: true });
  await writeFile(join(home, rel), data);
}

/** Fault-injecting file-system calls, written once as sync calls; the async walk gets them wrapped. */
interface TestFs { readdirSync(abs: string): Dirent[]; lstatSync(abs: string): Stats }
const asAsync = (fs: TestFs): WalkFs => ({ readdir: async (abs) => fs.readdirSync(abs), lstat: async (abs) => fs.lstatSync(abs) });

type Mode = 'async' | 'sync' | 'sliced';
async function collect(matcher: TrackMatcher, opts: Omit<WalkOptions, 'fs'> & { fs?: TestFs } = {}, mode: Mode = 'async'): Promise<{ entries: WalkEntry[]; skips: WalkSkip[] }> {
  const skips: WalkSkip[] = [];
  const onSkip = (s: WalkSkip) => { skips.push(s); opts.onSkip?.(s); };
  const onTemp = opts.onTemp;
  if (mode === 'sync') return { entries: walkTrackedSync(home, matcher, { onSkip, onTemp, ...(opts.fs ? { fs: opts.fs } : {}) }), skips };
  if (mode === 'sliced') {
    const entries: WalkEntry[] = [];
    // Slices of 0 ms: one step each, so every step boundary is exercised.
    for await (const slice of walkTrackedSliced(home, matcher, { onSkip, onTemp, sliceMs: 0, ...(opts.fs ? { fs: opts.fs } : {}) })) entries.push(...slice);
    return { entries, skips };
  }
  const entries: WalkEntry[] = [];
  for await (const e of walkTracked(home, matcher, { ...opts, fs: opts.fs ? asAsync(opts.fs) : undefined, onSkip })) entries.push(e);
  return { entries, skips };
}
const paths = (entries: WalkEntry[]) => entries.map((e) => e.path).sort();

// Wraps a matcher to record or disturb what the walk asks (fault injection).
function spy(m: TrackMatcher, hooks: { tracked?: (p: string) => void; descend?: (p: string) => void } = {}) {
  const asked: string[] = [];
  const w: TrackMatcher = {
    patterns: m.patterns,
    explain: (p) => m.explain(p),
    explainDir: (p) => m.explainDir(p),
    isTracked: (p) => { asked.push(p); hooks.tracked?.(p); return m.isTracked(p); },
    shouldDescend: (p) => { asked.push(`${p}/`); hooks.descend?.(p); return m.shouldDescend(p); },
  };
  return { matcher: w, asked };
}

describe.each<Mode>(['async', 'sync', 'sliced'])('walkTracked (%s)', (mode) => {
  it('yields exactly the tracked files, with lstat and home-relative / paths', async () => {
    for (const f of ['.bashrc', '.zshrc', '.oh-my-zsh/plugins/git/git.plugin.zsh', '.oh-my-zsh/plugins/git/README.md',
      '.oh-my-zsh/themes/a.zsh-theme', '.oh-my-zsh/lib/x.zsh', 'docs/a.md', 'docs/config.yaml', 'docs/sub/config.yaml',
      'x/a', 'x/y/b', 'x/y/keep', 'My Documents/a b.txt', 'résumé/café.md', '.cache/big/blob', 'untracked.txt']) await put(f);
    const m = compileTrack(['.bashrc', '.zshrc', '.oh-my-zsh/plugins/**/*.zsh', '.oh-my-zsh/themes/*.zsh-theme', 'docs/', '!docs/config.yaml',
      'x/', '!x/y/', 'x/y/keep', 'My Documents/', 'résumé/*.md']);
    const { entries, skips } = await collect(m, {}, mode);
    expect(paths(entries)).toEqual(['.bashrc', '.oh-my-zsh/plugins/git/git.plugin.zsh', '.oh-my-zsh/themes/a.zsh-theme', '.zshrc',
      'My Documents/a b.txt', 'docs/a.md', 'docs/sub/config.yaml', 'résumé/café.md', 'x/a', 'x/y/keep'].sort());
    expect(skips).toEqual([]);
    const bashrc = entries.find((e) => e.path === '.bashrc')!;
    expect(bashrc.abs).toBe(join(home, '.bashrc'));
    expect(bashrc.stat.isFile()).toBe(true);
    expect(bashrc.stat.size).toBe(1);
  });

  it('never reads a directory that no pattern can reach', async () => {
    await put('.cache/deep/er/file');
    await put('.config/nvim/init.lua');
    await put('.config/chromium/Cache/data');
    const { matcher, asked } = spy(compileTrack(['.config/', '!.config/chromium/', '.cache2']));
    const { entries } = await collect(matcher, {}, mode);
    expect(paths(entries)).toEqual(['.config/nvim/init.lua']);
    expect(asked).toContain('.cache/'); // asked once, answered no
    expect(asked.filter((p) => p.startsWith('.cache/') && p !== '.cache/')).toEqual([]);
    expect(asked.filter((p) => p.startsWith('.config/chromium/') && p !== '.config/chromium/')).toEqual([]);
  });

  it('yields symlinks as links without following them, dangling ones too', async () => {
    await put('real/target.txt', 'hello');
    await put('realdir/inside.txt');
    await symlink(join(home, 'real/target.txt'), join(home, '.link'));
    await symlink(join(home, 'realdir'), join(home, '.dirlink'));
    await symlink(join(home, 'nowhere'), join(home, '.dangling'));
    const { entries, skips } = await collect(compileTrack(['.link', '.dirlink', '.dirlink/**', '.dangling']), {}, mode);
    expect(paths(entries)).toEqual(['.dangling', '.dirlink', '.link']);
    for (const e of entries) expect(e.stat.isSymbolicLink()).toBe(true);
    expect(skips).toEqual([]);
  });

  it('reports a tracked fifo and socket as skipped, and ignores untracked ones', async () => {
    expect(spawnSync('mkfifo', [join(home, '.pipe')]).status).toBe(0);
    expect(spawnSync('mkfifo', [join(home, 'other-pipe')]).status).toBe(0);
    const server: Server = createServer();
    await new Promise<void>((ok) => server.listen(join(home, '.sock'), ok));
    try {
      await put('.bashrc');
      const { entries, skips } = await collect(compileTrack(['.*']), {}, mode);
      expect(paths(entries)).toEqual(['.bashrc']);
      expect(skips.map((s) => [s.path, s.reason, s.code]).sort()).toEqual([['.pipe', 'special', 'fifo'], ['.sock', 'special', 'socket']]);
      expect(skips[0].message).toMatch(/not a regular file/);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });

  it('skips a file that vanishes between readdir and lstat, and goes on', async () => {
    await put('.a');
    await put('.b');
    await put('.c');
    const { matcher } = spy(compileTrack(['.*']), { tracked: (p) => { if (p === '.b') spawnSync('rm', ['-f', join(home, '.b')]); } });
    const { entries, skips } = await collect(matcher, {}, mode);
    expect(paths(entries)).toEqual(['.a', '.c']);
    expect(skips).toEqual([{ path: '.b', abs: join(home, '.b'), reason: 'vanished', code: 'ENOENT', message: 'vanished during the walk' }]);
  });

  it('skips a directory that vanishes before it is read', async () => {
    await put('.config/a/x');
    await put('.config/b/y');
    const { matcher } = spy(compileTrack(['.config/']), { descend: (p) => { if (p === '.config/a') spawnSync('rm', ['-rf', join(home, '.config/a')]); } });
    const { entries, skips } = await collect(matcher, {}, mode);
    expect(paths(entries)).toEqual(['.config/b/y']);
    expect(skips.map((s) => [s.path, s.reason])).toEqual([['.config/a', 'vanished']]);
  });

  it('reports an unreadable directory or file as a permission skip', async () => {
    await put('.config/locked/x');
    await put('.config/open/y');
    await put('.config/open/z');
    const eacces = (p: string) => Object.assign(new Error(`EACCES: permission denied, ${p}`), { code: 'EACCES' });
    const fs: TestFs = {
      readdirSync: (abs) => { if (abs.endsWith('locked')) throw eacces(abs); return readdirSync(abs, { withFileTypes: true }); },
      lstatSync: (abs) => { if (abs.endsWith('/z')) throw eacces(abs); return lstatSync(abs); },
    };
    const { entries, skips } = await collect(compileTrack(['.config/']), { fs }, mode);
    expect(paths(entries)).toEqual(['.config/open/y']);
    expect(skips.map((s) => [s.path, s.reason, s.code]).sort()).toEqual([['.config/locked', 'permission', 'EACCES'], ['.config/open/z', 'permission', 'EACCES']]);
  });

  it('leaves out our own temp files, and reports them to onTemp', async () => {
    await put('.bashrc');
    await put('..bashrc.dman-tmp-123-deadbeef');
    await put('.config/.x.toml.dman-tmp-9-0000abcd');
    await put('.config/x.toml');
    const temps: string[] = [];
    const { entries } = await collect(compileTrack(['**']), { onTemp: (p) => temps.push(p) }, mode);
    expect(paths(entries)).toEqual(['.bashrc', '.config/x.toml']);
    expect(temps.sort()).toEqual(['..bashrc.dman-tmp-123-deadbeef', '.config/.x.toml.dman-tmp-9-0000abcd']);
  });

  it('fails with a clear IO error when home is missing or not a directory', async () => {
    const missing = join(home, 'nope');
    const first = (dir: string) => (mode === 'sync' ? Promise.resolve().then(() => walkTrackedSync(dir, compileTrack(['**'])))
      : mode === 'sliced' ? walkTrackedSliced(dir, compileTrack(['**'])).next() : walkTracked(dir, compileTrack(['**'])).next());
    await expect(first(missing)).rejects.toSatisfy(
      (err: unknown) => isDmanError(err, 'IO') && /does not exist/.test((err as Error).message));
    await put('file');
    await expect(first(join(home, 'file'))).rejects.toSatisfy(
      (err: unknown) => isDmanError(err, 'IO') && /not a directory/.test((err as Error).message));
  });

  it('stops when its signal aborts', async () => {
    await put('.a/x');
    await put('.b/y');
    const ac = new AbortController();
    ac.abort(new Error('stopped'));
    if (mode === 'sync') expect(() => walkTrackedSync(home, compileTrack(['**']), { signal: ac.signal })).toThrow('stopped');
    else if (mode === 'sliced') await expect(walkTrackedSliced(home, compileTrack(['**']), { signal: ac.signal }).next()).rejects.toThrow('stopped');
    else await expect(walkTracked(home, compileTrack(['**']), { signal: ac.signal, concurrency: 1 }).next()).rejects.toThrow('stopped');
  });
});

describe('walkTracked (async only)', () => {
  it('walks a wide tree with bounded concurrency and finds every file', async () => {
    const want: string[] = [];
    for (let d = 0; d < 40; d++) for (let f = 0; f < 15; f++) { const p = `.config/app${d}/sub/f${f}.conf`; want.push(p); await put(p); }
    await put('.config/app0/sub/skip.txt');
    let inFlight = 0, peak = 0;
    const fs: WalkFs = {
      readdir: async (abs: string) => { inFlight++; peak = Math.max(peak, inFlight); try { return await readdir(abs, { withFileTypes: true }); } finally { inFlight--; } },
      lstat: async (abs: string) => { inFlight++; peak = Math.max(peak, inFlight); try { return await lstat(abs); } finally { inFlight--; } },
    };
    const entries = [] as WalkEntry[];
    for await (const e of walkTracked(home, compileTrack(['.config/**/*.conf']), { fs, concurrency: 4 })) entries.push(e);
    expect(paths(entries)).toEqual(want.sort());
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
  });
});

describe('walkTrackedSync', () => {
  it('yields what walkTracked yields, in the same order, with the same skips', async () => {
    for (let d = 0; d < 30; d++) for (let f = 0; f < 5; f++) await put(`.config/app${d}/sub${f % 2}/f${f}.conf`);
    await put('résumé/café.md');
    await put('.cache/x');
    await symlink(join(home, 'nowhere'), join(home, '.dangling'));
    expect(spawnSync('mkfifo', [join(home, '.pipe')]).status).toBe(0);
    const m = compileTrack(['**', '!.cache/']);
    const a = await collect(m, {}, 'async');
    const b = await collect(m, {}, 'sync');
    expect(a.entries.length).toBe(152);
    expect(b.entries.map((e) => [e.path, e.abs, e.stat.ino])).toEqual(a.entries.map((e) => [e.path, e.abs, e.stat.ino]));
    expect(b.skips).toEqual(a.skips);
  });
});

describe('walkTrackedSliced', () => {
  it('yields what walkTrackedSync yields, in the same order, with the same skips, for any slice length', async () => {
    for (let d = 0; d < 30; d++) for (let f = 0; f < 5; f++) await put(`.config/app${d}/sub${f % 2}/f${f}.conf`);
    for (let f = 0; f < 600; f++) await put(`.big/f${f}`); // more than one step's lstats in one folder
    await put('résumé/café.md');
    await symlink(join(home, 'nowhere'), join(home, '.dangling'));
    expect(spawnSync('mkfifo', [join(home, '.pipe')]).status).toBe(0);
    const m = compileTrack(['**', '!.cache/']);
    const b = await collect(m, {}, 'sync');
    expect(b.entries.length).toBe(752);
    for (const sliceMs of [0, 1, 1000]) {
      const skips: WalkSkip[] = [];
      const entries: WalkEntry[] = [];
      for await (const slice of walkTrackedSliced(home, m, { sliceMs, onSkip: (s) => skips.push(s) })) {
        expect(slice.length).toBeGreaterThan(0);
        entries.push(...slice);
      }
      expect(entries.map((e) => [e.path, e.abs, e.stat.ino])).toEqual(b.entries.map((e) => [e.path, e.abs, e.stat.ino]));
      expect(skips).toEqual(b.skips);
    }
  });

  it('ends a slice once it holds sliceEntries entries (plus what the last step lstat\'ed), yielding the same entries', async () => {
    for (let f = 0; f < 600; f++) await put(`.big/f${f}`); // one folder: steps of up to 256 lstats
    for (let d = 0; d < 40; d++) await put(`.d${d}/f`); // small folders: a step per batch of 16
    const m = compileTrack(['**']);
    const b = await collect(m, {}, 'sync');
    for (const sliceEntries of [1, 10, 300]) {
      const entries: WalkEntry[] = [];
      const sizes: number[] = [];
      for await (const slice of walkTrackedSliced(home, m, { sliceMs: 60_000, sliceEntries })) {
        sizes.push(slice.length);
        entries.push(...slice);
      }
      expect(entries.map((e) => [e.path, e.stat.ino])).toEqual(b.entries.map((e) => [e.path, e.stat.ino]));
      expect(Math.max(...sizes)).toBeLessThan(sliceEntries + 256);
      expect(sizes.length).toBeGreaterThan(sliceEntries === 300 ? 1 : 3);
    }
    // The default: a home of 640 files is more than one slice even when time does not end it.
    let slices = 0;
    for await (const slice of walkTrackedSliced(home, m, { sliceMs: 60_000 })) slices += slice.length > 0 ? 1 : 0;
    expect(slices).toBeGreaterThan(1);
  });

  it('lets the event loop run between slices', async () => {
    for (let d = 0; d < 100; d++) await put(`.d${d}/f`);
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 0);
    try {
      let slices = 0;
      // A slow lstat makes each step outlast the 1 ms slice.
      const fs = { readdirSync: (abs: string) => readdirSync(abs, { withFileTypes: true }), lstatSync: (abs: string) => { const until = Date.now() + 1; while (Date.now() < until); return lstatSync(abs); } };
      for await (const slice of walkTrackedSliced(home, compileTrack(['**']), { sliceMs: 1, fs })) slices += slice.length > 0 ? 1 : 0;
      expect(slices).toBeGreaterThan(3);
      expect(ticks).toBeGreaterThan(0);
    } finally {
      clearInterval(timer);
    }
  });
});

describe('walkTrackedSliced with a listing cache', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function walkWith(cache: ListingCache, m: TrackMatcher): Promise<{ entries: WalkEntry[]; skips: WalkSkip[]; read: string[] }> {
    const read: string[] = [];
    const fs = { readdirSync: (abs: string) => { read.push(abs.slice(home.length)); return readdirSync(abs, { withFileTypes: true }); }, lstatSync: (abs: string) => lstatSync(abs) };
    const entries: WalkEntry[] = [];
    const skips: WalkSkip[] = [];
    for await (const slice of walkTrackedSliced(home, m, { fs, listings: cache, sliceMs: 0, onSkip: (s) => skips.push(s) })) entries.push(...slice);
    return { entries, skips, read };
  }
  const same = (a: WalkEntry[]) => a.map((e) => [e.path, e.stat.ino, e.stat.mtimeMs]);

  it('reads a folder again only when its times changed, and finds what a walk without it finds', async () => {
    for (let d = 0; d < 5; d++) for (let f = 0; f < 3; f++) await put(`.d${d}/sub/f${f}`);
    await put('.cache/x');
    await symlink(join(home, 'nowhere'), join(home, '.d0/dangling'));
    expect(spawnSync('mkfifo', [join(home, '.d1/pipe')]).status).toBe(0);
    const m = compileTrack(['**', '!.cache/']);
    const cache = createListingCache({ racyMs: 10 });
    await sleep(30); // older than the racy window, and a later change lands in another clock tick
    const first = await walkWith(cache, m);
    expect(first.read.length).toBe(11); // the home, .d0-.d4 and their sub folders
    const plain = await collect(m, {}, 'sync');
    expect(same(first.entries)).toEqual(same(plain.entries));
    expect(first.skips).toEqual(plain.skips);

    const second = await walkWith(cache, m);
    expect(second.read).toEqual([]);
    expect(same(second.entries)).toEqual(same(first.entries));
    expect(second.skips).toEqual(first.skips);

    // A file added, one removed, a folder removed: only the folders whose entries changed are read again.
    await writeFile(join(home, '.d2/sub/new'), 'n');
    await rm(join(home, '.d3/sub/f1'));
    await rm(join(home, '.d4'), { recursive: true });
    const third = await walkWith(cache, m);
    expect(third.read.sort()).toEqual(['', '/.d2/sub', '/.d3/sub']);
    const plain3 = await collect(m, {}, 'sync');
    expect(same(third.entries)).toEqual(same(plain3.entries));
    expect(third.entries.map((e) => e.path)).toContain('.d2/sub/new');
    expect(third.entries.map((e) => e.path)).not.toContain('.d3/sub/f1');
    expect([...cache.folders.keys()].some((k) => k.startsWith('.d4'))).toBe(false);

    // The folders just read had changed within the racy window then: the next walk reads them again.
    await sleep(30);
    expect((await walkWith(cache, m)).read.length).toBeLessThanOrEqual(3);
    // An edit of a file's content changes no folder: nothing is read, and the new stat is there.
    await writeFile(join(home, '.d0/sub/f0'), 'longer content');
    const fourth = await walkWith(cache, m);
    expect(fourth.read).toEqual([]);
    expect(fourth.entries.find((e) => e.path === '.d0/sub/f0')?.stat.size).toBe(14);
  });

  it('reads every folder on every walk where the file system is not known to keep folder times, or a folder changed within the racy window', async () => {
    await put('.a/x');
    await put('.b/y');
    await sleep(30);
    const m = compileTrack(['**']);
    const untrusted = createListingCache({ racyMs: 10 });
    untrusted.devices.set(lstatSync(home).dev, false);
    await walkWith(untrusted, m);
    expect((await walkWith(untrusted, m)).read.length).toBe(3);
    const racy = createListingCache({ racyMs: 60_000 });
    await walkWith(racy, m);
    expect((await walkWith(racy, m)).read.length).toBe(3);
  });

  it('remembers a folder as its names joined in one string, and a remembered walk yields what a plain walk yields (NFD names, DT_UNKNOWN entries, temp names, empty folders)', async () => {
    const nfd = 'cafe\u0301';
    await put(`.u/${nfd}`);
    await put('.u/a');
    await put('.u/b');
    await put('.t/x.dman-tmp-123-0123abcd'); // our own temp name: never yielded
    await put('.t/kept');
    await mkdir(join(home, '.u/dir'));
    await put('.u/dir/z');
    await mkdir(join(home, '.empty'));
    await put('.v/untracked.log');
    await sleep(30);
    // readdir that cannot type 'b' nor 'dir' (DT_UNKNOWN, as some network and FUSE file systems): lstat decides.
    const untyped = new Set(['b', 'dir']);
    const unknownFs = {
      readdirSync: (abs: string) => readdirSync(abs, { withFileTypes: true }).map((d) => {
        if (!untyped.has(d.name)) return d;
        const no = () => false;
        return Object.assign(Object.create(Object.getPrototypeOf(d) as object) as Dirent, d, { isFile: no, isDirectory: no, isSymbolicLink: no, isSocket: no, isFIFO: no, isBlockDevice: no, isCharacterDevice: no });
      }),
      lstatSync: (abs: string) => lstatSync(abs),
    };
    const m = compileTrack(['**', '!.v/*.log']);
    const cache = createListingCache({ racyMs: 10 });
    const walk = async () => {
      const entries: WalkEntry[] = [];
      const skips: WalkSkip[] = [];
      for await (const slice of walkTrackedSliced(home, m, { fs: unknownFs, listings: cache, sliceMs: 0, onSkip: (s) => skips.push(s) })) entries.push(...slice);
      return { entries, skips };
    };
    const first = await walk();
    const second = await walk();
    const plain = await collect(m, { fs: unknownFs }, 'sync');
    const full = (a: WalkEntry[]) => a.map((e) => [e.path, e.abs, e.stat.ino]);
    expect(full(first.entries)).toEqual(full(plain.entries));
    expect(full(second.entries)).toEqual(full(plain.entries));
    expect(second.skips).toEqual(plain.skips);
    expect(second.entries.map((e) => e.path)).toEqual(['.t/kept', '.u/a', '.u/b', `.u/${nfd.normalize('NFC')}`, '.u/dir/z']);
    expect(second.entries.find((e) => e.path.startsWith('.u/caf'))!.abs).toBe(join(home, '.u', nfd));
    // One string of names per folder, in walk order; the DT_UNKNOWN ones also listed apart.
    const u = cache.folders.get('.u')!;
    expect(u.names).toBe(['a', 'b', nfd, 'dir'].join('/'));
    // A folder holding a temp file is not remembered: each walk reads it (and reports the file) until it is gone.
    expect(cache.folders.has('.t')).toBe(false);
    expect([...u.unknown!]).toEqual(['b', 'dir']);
    expect(cache.folders.get('.empty')!.names).toBe('');
    expect(cache.folders.get('.v')!.names).toBe('');
  });

  it('reads a folder holding a temp file on every walk, reporting the file each time, and remembers it once the file is gone', async () => {
    await put('.c/a');
    await put('.c/.a.dman-tmp-5-0000abcd');
    await put('.d/b');
    await sleep(30);
    const m = compileTrack(['**']);
    const cache = createListingCache({ racyMs: 10 });
    const walkTemps = async (): Promise<{ read: string[]; temps: string[] }> => {
      const read: string[] = [];
      const temps: string[] = [];
      const fs = { readdirSync: (abs: string) => { read.push(abs.slice(home.length)); return readdirSync(abs, { withFileTypes: true }); }, lstatSync: (abs: string) => lstatSync(abs) };
      for await (const slice of walkTrackedSliced(home, m, { fs, listings: cache, sliceMs: 0, onTemp: (p) => temps.push(p) })) void slice;
      return { read, temps };
    };
    expect(await walkTemps()).toEqual({ read: ['', '/.c', '/.d'], temps: ['.c/.a.dman-tmp-5-0000abcd'] });
    expect(await walkTemps()).toEqual({ read: ['/.c'], temps: ['.c/.a.dman-tmp-5-0000abcd'] });
    await rm(join(home, '.c/.a.dman-tmp-5-0000abcd'));
    await sleep(30);
    expect(await walkTemps()).toEqual({ read: ['/.c'], temps: [] });
    await sleep(30);
    expect(await walkTemps()).toEqual({ read: [], temps: [] });
  });

  it('says it changed only when a walk read a folder anew or forgot one (what the listing file saves)', async () => {
    await put('.a/x');
    await put('.b/y');
    await sleep(30);
    const m = compileTrack(['**']);
    const cache = createListingCache({ racyMs: 10 });
    expect(cache.changed).toBe(false);
    await walkWith(cache, m);
    expect(cache.changed).toBe(true);
    cache.changed = false;
    await walkWith(cache, m);
    expect(cache.changed).toBe(false); // every folder remembered
    await put('.a/z'); // .a read anew
    await walkWith(cache, m);
    expect(cache.changed).toBe(true);
    await sleep(30);
    await walkWith(cache, m); // .a was fresh when read: read once more
    cache.changed = false;
    await walkWith(cache, m);
    expect(cache.changed).toBe(false);
    // Another matcher forgets everything; so does a narrower one that no longer reaches a folder.
    await walkWith(cache, compileTrack(['.a/**']));
    expect(cache.changed).toBe(true);
    expect([...cache.folders.keys()].sort()).toEqual(['', '.a']);
  });

  it('starts over for another matcher', async () => {
    await put('.a/x');
    await put('.b/y');
    await sleep(30);
    const cache = createListingCache({ racyMs: 10 });
    await walkWith(cache, compileTrack(['**']));
    const other = await walkWith(cache, compileTrack(['.a/**']));
    expect(other.entries.map((e) => e.path)).toEqual(['.a/x']);
    expect(other.read.length).toBe(2);
  });
});
