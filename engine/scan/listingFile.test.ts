import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, readFileSync, readdirSync, statSync, writeFileSync, type Dirent } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compileTrack, type TrackMatcher } from '../../shared/patterns/index.js';
import { createEngine } from '../createEngine.js';
import { silentLogger } from '../log.js';
import { createMemoryRemote } from '../remote/MemoryRemote.js';
import { testConfig, tempDirs } from '../testing/engineFixture.js';
import { createHash } from 'node:crypto';
import { listingFileOf, loadListingFile, matcherKey, saveListingFile } from './listingFile.js';
import { createListingCache, walkTrackedSliced, walkTrackedSync, type ListingCache, type WalkEntry, type WalkFsSync, type WalkSkip } from './walk.js';

let home: string;
let state: string;
let file: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'dman-lst-home-'));
  state = await mkdtemp(join(tmpdir(), 'dman-lst-state-'));
  file = listingFileOf(state, 'http://127.0.0.1:1', 'alice');
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(home, { recursive: true, force: true });
  await rm(state, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function put(rel: string, data = 'x'): Promise<void> {
  await mkdir(dirname(join(home, rel)), { recursive: true });
  await writeFile(join(home, rel), data);
}

/** readdir that records which folders it read (home-relative, '' for the home). */
function recordingFs(base: WalkFsSync = { readdirSync: (abs) => readdirSync(abs, { withFileTypes: true }), lstatSync: (abs) => lstatSync(abs) }) {
  const read: string[] = [];
  const fs: WalkFsSync = { readdirSync: (abs) => { read.push(abs.slice(home.length + 1)); return base.readdirSync(abs); }, lstatSync: (abs) => base.lstatSync(abs) };
  return { fs, read };
}

/** A sliced walk (the engine's) with `cache`: what it yields and skips, and which folders it read. */
async function walkWith(cache: ListingCache, m: TrackMatcher, base?: WalkFsSync): Promise<{ entries: WalkEntry[]; skips: WalkSkip[]; read: string[] }> {
  const { fs, read } = recordingFs(base);
  const entries: WalkEntry[] = [];
  const skips: WalkSkip[] = [];
  for await (const slice of walkTrackedSliced(home, m, { fs, listings: cache, sliceMs: 0, onSkip: (s) => skips.push(s) })) entries.push(...slice);
  return { entries, skips, read };
}
/** A walk without any cache: the reference. */
function plainWalk(m: TrackMatcher, fs?: WalkFsSync): { entries: WalkEntry[]; skips: WalkSkip[] } {
  const skips: WalkSkip[] = [];
  return { entries: walkTrackedSync(home, m, { onSkip: (s) => skips.push(s), ...(fs ? { fs } : {}) }), skips };
}
const view = (a: WalkEntry[]) => a.map((e) => [e.path, e.abs, e.stat.ino, e.stat.mtimeMs, e.stat.size]);

/** A fresh process's cache: what the file holds (racy window shortened as the in-memory tests do). */
function loaded(m: TrackMatcher, racyMs = 10): { cache: ListingCache; folders: number } {
  const cache = createListingCache({ racyMs });
  return { cache, folders: loadListingFile(file, cache, home, m) };
}

/** Walks with a cache loaded from the file (as a new one-shot run), saves it, and checks it yields what a plain walk yields. */
async function run(m: TrackMatcher, base?: WalkFsSync, racyMs = 10) {
  const { cache, folders } = loaded(m, racyMs);
  const got = await walkWith(cache, m, base);
  const plain = plainWalk(m, base);
  expect(view(got.entries)).toEqual(view(plain.entries));
  expect(got.skips).toEqual(plain.skips);
  const saved = saveListingFile(file, cache);
  return { ...got, folders, saved };
}

async function tree(): Promise<void> {
  for (let d = 0; d < 4; d++) for (let f = 0; f < 3; f++) await put(`.d${d}/sub/f${f}`);
  await put('.cache/x');
  await put('top');
  await symlink(join(home, 'nowhere'), join(home, '.d0/dangling'));
  expect(spawnSync('mkfifo', [join(home, '.d1/pipe')]).status).toBe(0);
}
const ALL_FOLDERS = ['', '.d0', '.d0/sub', '.d1', '.d1/sub', '.d2', '.d2/sub', '.d3', '.d3/sub'];

describe('the listing cache file', () => {
  it('lets a new process skip reading the folders that did not change, and yields exactly what a fresh walk yields', async () => {
    await tree();
    const m = compileTrack(['**', '!.cache/']);
    await sleep(30);
    const first = await run(m);
    expect(first.folders).toBe(0); // no file yet
    expect(first.read.sort()).toEqual(ALL_FOLDERS);
    expect(first.saved).toBe(true);
    expect(first.skips.map((s) => [s.path, s.code])).toEqual([['.d1/pipe', 'fifo']]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dirname(file))).toEqual(['alice.listings']); // no temp file left

    const second = await run(m, undefined);
    expect(second.folders).toBe(ALL_FOLDERS.length);
    expect(second.read).toEqual([]);
    expect(second.skips.map((s) => [s.path, s.code])).toEqual([['.d1/pipe', 'fifo']]);
    // Nothing changed: the file is not written again.
    expect(second.saved).toBe(false);

    // Added, removed and renamed files, a folder replaced by another one, a folder removed.
    await writeFile(join(home, '.d0/sub/new'), 'n');
    await rm(join(home, '.d1/sub/f1'));
    await rename(join(home, '.d2/sub/f0'), join(home, '.d2/sub/g0'));
    await rm(join(home, '.d3'), { recursive: true });
    await mkdir(join(home, '.d3/sub'), { recursive: true });
    await writeFile(join(home, '.d3/sub/other'), 'o');
    await sleep(30);
    const third = await run(m);
    expect(third.read.sort()).toEqual(['', '.d0/sub', '.d1/sub', '.d2/sub', '.d3', '.d3/sub']);
    const paths = third.entries.map((e) => e.path);
    expect(paths).toContain('.d0/sub/new');
    expect(paths).toContain('.d2/sub/g0');
    expect(paths).toContain('.d3/sub/other');
    expect(paths).not.toContain('.d1/sub/f1');
    expect(paths).not.toContain('.d2/sub/f0');
    expect(paths).not.toContain('.d3/sub/f0');
    expect(third.saved).toBe(true);

    // A folder no longer there is forgotten, and the file saved again without it.
    await rm(join(home, '.d2'), { recursive: true });
    const fourth = await run(m);
    expect(fourth.read).toEqual(['']);
    expect(fourth.saved).toBe(true);
    expect([...loaded(m).cache.folders.keys()].sort()).toEqual(ALL_FOLDERS.filter((d) => !d.startsWith('.d2')));
  });

  it('keeps names that are not ASCII, folders holding nothing tracked, and entries readdir could not type', async () => {
    const nfd = 'cafe\u0301';
    await put(`.u/${nfd}`);
    await put('.u/a');
    await put('.u/b');
    await put('.t/x.dman-tmp-123-0123abcd'); // a folder holding a temp file is read by every walk
    await put('.u/dir/z');
    await mkdir(join(home, '.empty'));
    await put('.v/untracked.log');
    await put(`ré/${nfd}/é`);
    const untyped = new Set(['b', 'dir']);
    const unknownFs: WalkFsSync = {
      readdirSync: (abs) => readdirSync(abs, { withFileTypes: true }).map((d) => {
        if (!untyped.has(d.name)) return d;
        const no = () => false;
        return Object.assign(Object.create(Object.getPrototypeOf(d) as object) as Dirent, d, { isFile: no, isDirectory: no, isSymbolicLink: no, isSocket: no, isFIFO: no, isBlockDevice: no, isCharacterDevice: no });
      }),
      lstatSync: (abs) => lstatSync(abs),
    };
    const m = compileTrack(['**', '!.v/*.log']);
    await sleep(30);
    await run(m, unknownFs);
    const again = await run(m, unknownFs);
    expect(again.read).toEqual(['.t']);
    expect(loaded(m).cache.folders.has('.t')).toBe(false);
    expect(again.entries.map((e) => e.path)).toEqual(['.u/a', '.u/b', `.u/${nfd.normalize('NFC')}`, `ré/${nfd.normalize('NFC')}/é`.normalize('NFC'), '.u/dir/z']); // dir: typed by lstat, walked after the batch
    const u = loaded(m).cache.folders.get('.u')!;
    expect(u.names).toBe(['a', 'b', nfd, 'dir'].join('/'));
    expect([...u.unknown!]).toEqual(['b', 'dir']);
    expect(loaded(m).cache.folders.get(`ré/${nfd}`)!.names).toBe('é');
  });

  it('is refused for other patterns or another home, and then rewritten for them', async () => {
    await tree();
    const m = compileTrack(['**']);
    await sleep(30);
    await run(m);
    // The same patterns compiled again are the same key; another list (even reordered) is not.
    expect(loaded(compileTrack(['**'])).folders).toBe(ALL_FOLDERS.length + 1);
    const narrower = compileTrack(['**', '!.d1/']);
    expect(matcherKey(narrower)).not.toBe(matcherKey(m));
    const other = await run(narrower);
    expect(other.folders).toBe(0);
    expect(other.entries.some((e) => e.path.startsWith('.d1/'))).toBe(false);
    expect(other.saved).toBe(true);
    expect(loaded(narrower).folders).toBeGreaterThan(0);
    expect(loaded(m).folders).toBe(0);

    // Another home with the same tree shape: refused.
    const home2 = await mkdtemp(join(tmpdir(), 'dman-lst-home2-'));
    try {
      expect(loadListingFile(file, createListingCache(), home2, narrower)).toBe(0);
    } finally {
      await rm(home2, { recursive: true, force: true });
    }
  });

  it('trusts a folder only if it was not fresh when it was read, even when the file is loaded much later', async () => {
    await tree();
    const m = compileTrack(['**']);
    // Read at once: every folder changed within the (real, 2 s) racy window of that moment.
    const first = await run(m, undefined, 2000);
    expect(first.saved).toBe(true);
    // An hour later: the folders are old now, but what counts is when they were read: read again
    // (and saved again, read at a time when they were not fresh).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3_600_000);
    const second = await run(m, undefined, 2000);
    expect(second.folders).toBeGreaterThan(0);
    expect(second.read.sort()).toEqual([...ALL_FOLDERS, '.cache'].sort());
    expect(second.saved).toBe(true);
    const third = await run(m, undefined, 2000);
    expect(third.read).toEqual([]);
  });

  it('is refused after the clock went back past the time a folder was read', async () => {
    await tree();
    const m = compileTrack(['**']);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3_600_000);
    await run(m);
    expect((await run(m)).read).toEqual([]);
    // The clock steps back an hour (to the real time): every folder was "read in the future".
    vi.useRealTimers();
    const back = await run(m);
    expect(back.folders).toBe(0);
    expect(back.read.sort()).toEqual([...ALL_FOLDERS, '.cache'].sort());
    expect(back.saved).toBe(true);
  });

  it('ignores a damaged, truncated, foreign or malformed file, and writes it again', async () => {
    await tree();
    const m = compileTrack(['**']);
    await sleep(30);
    await run(m);
    const good = readFileSync(file);
    const count = loaded(m).folders;
    expect(count).toBeGreaterThan(0);

    const refused = async (bytes: Buffer | null, mode = 0o600) => {
      if (bytes) writeFileSync(file, bytes);
      chmodSync(file, mode);
      expect(loaded(m).folders).toBe(0);
      // A run with it reads everything, yields what a fresh walk yields, and writes a good file.
      const r = await run(m);
      expect(r.read.length).toBe(count);
      expect(r.saved).toBe(true);
      expect(loaded(m).folders).toBe(count);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    };
    const flipped = Buffer.from(good);
    flipped[flipped.length - 5] ^= 0x20;
    await refused(flipped);
    await refused(good.subarray(0, good.length - 7));
    await refused(good.subarray(0, 20));
    await refused(Buffer.alloc(0));
    await refused(Buffer.concat([Buffer.from('DMANLST0'), good.subarray(8)]));
    await refused(null, 0o666); // others may write it
    await refused(null, 0o620); // the group may write it
    // Well formed and checksummed, but another version, or a name that climbs out of its folder.
    const body = good.subarray(40).toString('utf8');
    const forged = (b: string) => { const buf = Buffer.from(b, 'utf8'); return Buffer.concat([good.subarray(0, 8), createHash('sha256').update(buf).digest(), buf]); };
    await refused(forged(`2${body.slice(1)}`));
    await refused(forged(body.replace('\0f0/f1/f2\0', '\0f0/../../../etc/passwd/f2\0')));
    await refused(forged(body.replace('\0f0/f1/f2\0', '\0f0//f2\0')));
    await refused(forged(body.replace('\0f0/f1/f2\0', '\0f0/f1/\0')));
    await refused(forged(body.replace('\0.d1\0', '\0..\0'))); // a folder named '..'
    await refused(forged(body.replace('\0sub\0', '\0.\0'))); // a subfolder '.'
    await refused(forged(`${body}\0extra`));
    if (process.getuid?.() === 0) {
      chownSync(file, 4242, 4242); // written by another user
      await refused(null);
    }
    // A missing file is no error either.
    await rm(file);
    expect(loaded(m).folders).toBe(0);
  });

  it('saves nothing when it cannot write, and never throws', async () => {
    await put('.a/x');
    const m = compileTrack(['**']);
    const cache = createListingCache({ racyMs: 10 });
    await walkWith(cache, m);
    writeFileSync(join(state, 'blocker'), 'not a folder');
    expect(saveListingFile(join(state, 'blocker', 'alice.listings'), cache)).toBe(false);
    expect(cache.changed).toBe(true); // still to save
    // A temp file left behind (by a process that died while writing) is replaced, not written into.
    await mkdir(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, 'stale and much longer than nothing at all', { mode: 0o644 });
    expect(saveListingFile(file, cache)).toBe(true);
    expect(cache.changed).toBe(false);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dirname(file))).toEqual(['alice.listings']);
    expect(loaded(m).folders).toBe(2);
  });
});

describe('one-shot engine runs with the listing cache file', () => {
  const dirs = tempDirs();
  afterEach(async () => {
    vi.useRealTimers();
    await dirs.cleanup();
  });

  it('two runs in a row see a file added in between, and the second starts from the folders the first saved', async () => {
    const h = await dirs.make('dman-lst-engine-home-');
    const stateDir = await dirs.make('dman-lst-engine-state-');
    await mkdir(join(h, '.config/app'), { recursive: true });
    await writeFile(join(h, '.config/app/a.conf'), 'a');
    await writeFile(join(h, '.zshrc'), 'z');
    // Folders made this moment are within the racy window: the clock says an hour later, so they are not.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3_600_000);
    const remote = createMemoryRemote();
    const config = testConfig(h, { device: 'a' });
    const oneShot = async () => {
      const engine = createEngine({ config, remote, log: silentLogger(), stateDir, noSyncState: true, blockingWalk: true });
      try { return (await engine.sync({ direction: 'both' })).users[0]!; } finally { await engine.close(); }
    };
    const lf = listingFileOf(stateDir, remote.url, 'alice');
    const first = await oneShot();
    expect(first.counts.published).toBe(2);
    const saved = createListingCache();
    expect(loadListingFile(lf, saved, h, compileTrack(config.users.alice!.track))).toBe(3);

    await writeFile(join(h, '.config/app/b.conf'), 'b');
    const second = await oneShot();
    expect(second.actions.map((a) => [a.type, a.path])).toEqual([['publish', '.config/app/b.conf']]);
    expect((await remote.changes('alice', 0)).entries.map((e) => e.path).sort()).toEqual(['.config/app/a.conf', '.config/app/b.conf', '.zshrc']);

    // The second run used the file: a name planted in a folder it did not read again is looked up
    // (lstat: it is not there, a skip, never a delete), and it read .config/app again (b.conf).
    const c = createListingCache();
    loadListingFile(lf, c, h, compileTrack(config.users.alice!.track));
    expect(c.folders.get('.config/app')!.names).toBe('a.conf/b.conf');
    c.folders.get('.config')!.names = 'ghost';
    c.changed = true;
    expect(saveListingFile(lf, c)).toBe(true);
    const third = await oneShot();
    expect(third.actions).toEqual([]);
    expect(third.skipped.map((s) => s.path)).toEqual(['.config/ghost']);
  });

  it('keeps a file per user when two users share a home with other patterns', async () => {
    const h = await dirs.make('dman-lst-engine-home-');
    const stateDir = await dirs.make('dman-lst-engine-state-');
    await mkdir(join(h, '.config/app'), { recursive: true });
    await writeFile(join(h, '.config/app/a.conf'), 'a');
    await writeFile(join(h, '.zshrc'), 'z');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3_600_000);
    const remote = createMemoryRemote();
    const base = testConfig(h, { device: 'a' });
    const config = { ...base, users: { alice: { home: h, track: ['**'] }, bob: { home: h, track: ['.config/'] } } };
    const oneShot = async () => {
      const engine = createEngine({ config, remote, log: silentLogger(), stateDir, noSyncState: true, blockingWalk: true });
      try { return (await engine.sync({ direction: 'both' })).users.map((u) => [u.user, u.counts.published]); } finally { await engine.close(); }
    };
    expect(await oneShot()).toEqual([['alice', 2], ['bob', 1]]);
    expect(await oneShot()).toEqual([['alice', 0], ['bob', 0]]);
    const count = (user: string, track: string[]) => loadListingFile(listingFileOf(stateDir, remote.url, user), createListingCache(), h, compileTrack(track));
    expect(count('alice', ['**'])).toBe(3);
    expect(count('bob', ['.config/'])).toBe(3);
  });
});
