import { spawnSync } from 'node:child_process';
import { chmod, lstat, mkdir, readFile, readdir, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DmanError, isDmanError } from '../shared/errors.js';
import { COMMIT_CHUNK_OPS, createEngine, type WalkFn } from './createEngine.js';
import { MAX_COMMIT_OPS } from '../shared/protocol.js';
import { walkTracked } from './scan/walk.js';
import { STALE_TEMP_MS } from './fs/staleTemps.js';
import type { Engine, EngineEvent } from './Engine.js';
import { silentLogger } from './log.js';
import type { ConflictPolicy } from './plan/planSync.js';
import { createMemoryNotifier } from './ports/Notifier.js';
import { nodeFileSystem, type FileSystem } from './ports/FileSystem.js';
import { createMemoryRemote, type MemoryRemote } from './remote/MemoryRemote.js';
import { createMemoryWatcher } from './watch/Watcher.js';
import { createMemoryStateStore } from './state/StateStore.js';
import { testConfig, tempDirs } from './testing/engineFixture.js';
import type { EffectiveConfig } from '../shared/config/schema.js';

const dirs = tempDirs();
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await dirs.cleanup();
});

async function machine(remote: MemoryRemote, device: string, over: Partial<EffectiveConfig> & { policy?: ConflictPolicy; blockingWalk?: boolean } = {}) {
  const { blockingWalk, ...configOver } = over;
  const home = await dirs.make(`dman-home-${device}-`);
  const stateDir = await dirs.make(`dman-state-${device}-`);
  const notifier = createMemoryNotifier();
  const stateStore = createMemoryStateStore();
  const engine = createEngine({ config: testConfig(home, { device, ...configOver }), remote, log: silentLogger(), stateDir, notifier, stateStore, blockingWalk });
  engines.push(engine);
  const events: EngineEvent[] = [];
  engine.on((e) => events.push(e));
  return { home, engine, notifier, events, stateStore, write: (p: string, s: string) => mkdir(join(home, p, '..'), { recursive: true }).then(() => writeFile(join(home, p), s)), read: (p: string) => readFile(join(home, p), 'utf8') };
}

const both = { direction: 'both' as const };

describe('createEngine with an in-process remote', () => {
  it.each([false, true])('publishes, installs with mode and symlinks, and a second run does nothing (no echo) (blocking walk: %s)', async (blockingWalk) => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a', { blockingWalk });
    const b = await machine(remote, 'b', { blockingWalk });
    await a.write('.zshrc', 'export A=1\n');
    await a.write('bin/tool', '#!/bin/sh\necho hi\n');
    await chmod(join(a.home, 'bin/tool'), 0o755);
    await symlink('.zshrc', join(a.home, '.zshrc.link'));
    const ra = await a.engine.sync(both);
    expect(ra.users[0]!.counts.published).toBe(3);
    const rb = await b.engine.sync(both);
    expect(rb.users[0]!.counts.installed).toBe(3);
    expect(await b.read('.zshrc')).toBe('export A=1\n');
    expect((await stat(join(b.home, 'bin/tool'))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(b.home, '.zshrc.link'))).toBe('.zshrc');
    for (const m of [a, b]) {
      const again = await m.engine.sync(both);
      expect(again.users[0]!.actions).toEqual([]);
    }
    await a.write('.new', 'n');
    const st = await a.engine.status();
    expect(st.online).toBe(true);
    expect(st.users[0]).toMatchObject({ user: 'alice', tracked: 4, pending: 1, conflicts: 0 });
    expect(st.users[0]!.lastSyncAt).not.toBeNull();
  });

  it('propagates a delete and a mode-only change', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b');
    await a.write('x', '1');
    await a.write('y', '2');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await rm(join(a.home, 'x'));
    await chmod(join(a.home, 'y'), 0o600);
    const ra = await a.engine.sync(both);
    expect(ra.users[0]!.counts).toMatchObject({ deleted: 1, published: 1 });
    await b.engine.sync(both);
    await expect(lstat(join(b.home, 'x'))).rejects.toThrow();
    expect((await stat(join(b.home, 'y'))).mode & 0o777).toBe(0o600);
  });

  it.each<[ConflictPolicy, (a: string, b: string, names: string[]) => void]>([
    ['ask', (_a, b) => expect(b).toBe('B\n')],
    ['server-wins', (a, b) => expect(b).toBe(a)],
    ['local-wins', (_a, b) => expect(b).toBe('B\n')],
    ['keep-both', (a, b, names) => { expect(b).toBe(a); expect(names.some((n) => /^f\.dman-conflict-b-\d{8}T\d{6}Z$/.test(n))).toBe(true); }],
  ])('settles a double edit under %s', async (policy, check) => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b', { policy });
    await a.write('f', 'base\n');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await a.write('f', 'A\n');
    await a.engine.sync(both);
    await b.write('f', 'B\n');
    const rb = await b.engine.sync(both);
    const rbActs = rb.users[0]!.actions.filter((x) => x.path === 'f');
    expect(rbActs).toHaveLength(1);
    check(await a.read('f'), await b.read('f'), await readdir(b.home));
    if (policy === 'ask') {
      expect(rb.users[0]!.conflicts.map((c) => c.path)).toEqual(['f']);
      expect(b.notifier.notices).toHaveLength(1);
      expect(b.events.some((e) => e.type === 'conflict')).toBe(true);
      // Asking again does not record a second conflict or notify twice.
      await b.engine.sync(both);
      expect(await b.engine.conflicts()).toHaveLength(1);
      expect(b.notifier.notices).toHaveLength(1);
      expect(await b.engine.conflictDetail('alice', 'f')).toMatchObject({ binary: false, base: 'base\n', local: 'B\n', remote: 'A\n' });
      await b.engine.resolve('alice', 'f', 'local');
      expect(await b.engine.conflicts()).toHaveLength(0);
      await a.engine.sync(both);
      expect(await a.read('f')).toBe('B\n');
    }
    // keep-both: the conflict copy is never published.
    expect(remote.entries('alice').some((e) => e.path.includes('dman-conflict'))).toBe(false);
  });

  it('merges non-overlapping text edits and falls back to ask on overlap', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b', { policy: 'merge' });
    await a.write('m', 'one\ntwo\nthree\n');
    await a.write('o', 'x\n');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await a.write('m', 'ONE\ntwo\nthree\n');
    await a.write('o', 'A\n');
    await a.engine.sync(both);
    await b.write('m', 'one\ntwo\nTHREE\n');
    await b.write('o', 'B\n');
    const rb = await b.engine.sync(both);
    expect(await b.read('m')).toBe('ONE\ntwo\nTHREE\n');
    expect(await b.read('o')).toBe('B\n');
    expect(rb.users[0]!.conflicts.map((c) => c.path)).toEqual(['o']);
    await a.engine.sync(both);
    expect(await a.read('m')).toBe('ONE\ntwo\nTHREE\n');
  });

  it('a file replaced by a folder, and back, reaches the other machine', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b');
    await a.write('d', 'file');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await rm(join(a.home, 'd'));
    await a.write('d/x', 'inside');
    await a.engine.sync(both);
    const rb = await b.engine.sync(both);
    expect(rb.users[0]!.errors).toEqual([]);
    expect(await b.read('d/x')).toBe('inside');
    await rm(join(a.home, 'd'), { recursive: true });
    await a.write('d', 'file again');
    await a.engine.sync(both);
    await b.engine.sync(both);
    expect(await b.read('d')).toBe('file again');
  });

  it('merge falls back to ask when the base version is no longer kept', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b', { policy: 'merge' });
    await a.write('m', 'one\ntwo\n');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await a.write('m', 'ONE\ntwo\n');
    await a.engine.sync(both);
    await b.write('m', 'one\nTWO\n');
    const getBlob = remote.getBlob.bind(remote);
    // The base is the first version; make the server forget it.
    const first = (await remote.history('alice', 'm')).at(-1)!.hash;
    remote.getBlob = async (user, hash) => {
      if (hash === first) throw new DmanError('NOT_FOUND', 'gone');
      return getBlob(user, hash);
    };
    const r = await b.engine.sync(both);
    expect(r.users[0]!.errors).toEqual([]);
    expect(r.users[0]!.conflicts[0]).toMatchObject({ path: 'm', reason: expect.stringContaining('no longer kept') });
    expect(await b.read('m')).toBe('one\nTWO\n');
  });

  it('an edit beats a concurrent delete', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b');
    await a.write('f', '1');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await rm(join(a.home, 'f'));
    await a.engine.sync(both);
    await b.write('f', 'edited');
    await b.engine.sync(both);
    await a.engine.sync(both);
    expect(await a.read('f')).toBe('edited');
  });

  it('stops a mass delete unless confirmed', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    for (let i = 0; i < 12; i++) await a.write(`f${i}`, String(i));
    await a.engine.sync(both);
    for (let i = 0; i < 12; i++) await rm(join(a.home, `f${i}`));
    const err = await a.engine.sync(both).catch((e: unknown) => e);
    expect(isDmanError(err, 'MASS_CHANGE')).toBe(true);
    expect(remote.entries('alice').filter((e) => !e.deleted)).toHaveLength(12);
    const ok = await a.engine.sync({ ...both, yes: true });
    expect(ok.users[0]!.counts.deleted).toBe(12);
  });

  it.each([false, true])('does not publish secrets unless allowed, and says why (blocking walk: %s)', async (blockingWalk) => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a', { blockingWalk });
    await a.write('.ssh/id_ed25519', 'whatever');
    await a.write('.ssh/id_ed25519.pub', 'ssh-ed25519 AAAA');
    await a.write('.aws/notes', 'key AKIAABCDEFGHIJKLMNOP here');
    await a.write('key.pem', '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n');
    const r = await a.engine.sync(both);
    const published = remote.entries('alice').map((e) => e.path).sort();
    expect(published).toEqual(['.ssh/id_ed25519.pub']);
    expect(r.users[0]!.skipped.map((s) => s.path).sort()).toEqual(['.aws/notes', '.ssh/id_ed25519', 'key.pem']);
    expect(r.users[0]!.skipped.find((s) => s.path === '.ssh/id_ed25519')!.reason).toMatch(/SSH private key.*secrets\.allow/);
    await a.engine.sync(both);
    expect(a.notifier.notices.filter((n) => n.path === '.ssh/id_ed25519')).toHaveLength(1);
    const b = await machine(remote, 'b2', { secrets: { allow: ['key.pem'] }, blockingWalk });
    await b.write('key.pem', '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n');
    await b.engine.sync(both);
    expect(remote.entries('alice').some((e) => e.path === 'key.pem')).toBe(true);
  });

  it.each([false, true])('removes temp files a crashed dman left, once their process is gone and they sat untouched; a dry run removes nothing (blocking walk: %s)', async (blockingWalk) => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a', { blockingWalk });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const old = new Date(Date.now() - STALE_TEMP_MS - 60_000);
    const stale = `.config/.x.toml.dman-tmp-${dead}-0000abcd`, recent = `.y.dman-tmp-${dead}-0000abce`, live = `.z.dman-tmp-${process.ppid}-0000abcf`;
    await a.write('.config/x.toml', 'x = 1\n');
    for (const p of [stale, recent, live]) await a.write(p, 'half-written');
    for (const p of [stale, live]) await utimes(join(a.home, p), old, old);
    await a.engine.sync({ ...both, dryRun: true });
    expect(await readdir(join(a.home, '.config'))).toContain(stale.split('/')[1]);
    const r = await a.engine.sync(both);
    expect(r.users[0]!.counts.published).toBe(1); // x.toml; no temp file is ever published
    expect(await readdir(join(a.home, '.config'))).toEqual(['x.toml']);
    expect((await readdir(a.home)).sort()).toEqual(['.config', live, recent].sort());
    expect(remote.entries('alice').map((e) => e.path)).toEqual(['.config/x.toml']);
  });

  it('keeps local changes pending while offline and catches up', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    await a.write('f', 'v1');
    await a.engine.sync(both);
    remote.down = true;
    await a.write('f', 'v2');
    const off = await a.engine.sync(both);
    expect(off.offline).toBe(true);
    expect(off.users[0]!.errors[0]!.code).toBe('SERVER_UNREACHABLE');
    remote.down = false;
    const on = await a.engine.sync(both);
    expect(on.users[0]!.counts.published).toBe(1);
    expect(remote.blobText(remote.entries('alice')[0]!.hash!)).toBe('v2');
  });

  it('a server that goes away mid-run keeps what landed and catches up later', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    await a.write('f', '1');
    const origCommit = remote.commit.bind(remote);
    remote.commit = async (...args) => { remote.down = true; return origCommit(...args); };
    const off = await a.engine.sync(both);
    expect(off.offline).toBe(true);
    expect(off.users[0]!.errors[0]!.code).toBe('SERVER_UNREACHABLE');
    remote.commit = origCommit;
    remote.down = false;
    const on = await a.engine.sync(both);
    expect(on.users[0]!.counts.published).toBe(1);
  });

  it('a server that lost its data gets the files published again, and nothing is deleted locally', async () => {
    const first = createMemoryRemote({ url: 'memory://same' });
    const a = await machine(first, 'a');
    await a.write('f', '1');
    await a.write('g', '2');
    await a.engine.sync(both);
    // Same URL, empty server: swap the remote's behaviour to a fresh one.
    const fresh = createMemoryRemote({ url: 'memory://same' });
    Object.assign(first, { changes: fresh.changes, commit: fresh.commit, putBlob: fresh.putBlob, hasBlob: fresh.hasBlob, getBlob: fresh.getBlob });
    const r = await a.engine.sync(both);
    expect(r.users[0]!.counts.published).toBe(2);
    expect(fresh.entries('alice').map((e) => e.path).sort()).toEqual(['f', 'g']);
    expect(await a.read('f')).toBe('1');
  });

  it('a crash before the state is saved only makes the next run re-check: no conflict, no loss', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b');
    await a.write('f', '1');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await a.write('f', '2');
    await a.engine.sync(both);
    // b installs '2' but "crashes" before its state is written.
    const crashing = { ...b.stateStore, save: async () => { throw new Error('power cut'); } };
    const b1 = createEngine({ config: testConfig(b.home, { device: 'b' }), remote, log: silentLogger(), stateDir: b.home, stateStore: crashing });
    engines.push(b1);
    await expect(b1.sync(both)).rejects.toThrow('power cut');
    expect(await b.read('f')).toBe('2');
    // A fresh process starts from the old state: the file on disk already matches the server.
    const b2 = createEngine({ config: testConfig(b.home, { device: 'b' }), remote, log: silentLogger(), stateDir: b.home, stateStore: b.stateStore });
    engines.push(b2);
    const r = await b2.sync(both);
    expect(r.users[0]!.counts).toMatchObject({ converged: 1, conflicts: 0, published: 0, installed: 0 });
    expect(remote.entries('alice').find((e) => e.path === 'f')!.rev).toBe(2);
  });

  it('an unreadable folder is skipped with a reason, never published as deletes', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    await a.write('secret-dir/a', '1');
    await a.write('secret-dir/b', '2');
    await a.write('open', '3');
    await a.engine.sync(both);
    // The walk cannot enter secret-dir (injected: as root, chmod 000 would not stop us).
    const walk: WalkFn = async function* (home, matcher, onSkip) {
      onSkip({ path: 'secret-dir', reason: 'permission denied' });
      for await (const e of walkTracked(home, matcher)) if (!e.path.startsWith('secret-dir/')) yield { path: e.path, stats: e.stat };
    };
    const a2 = createEngine({ config: testConfig(a.home, { device: 'a' }), remote, log: silentLogger(), stateDir: a.home, stateStore: a.stateStore, walk });
    engines.push(a2);
    const r = await a2.sync(both);
    expect(r.users[0]!.skipped).toEqual([{ path: 'secret-dir', reason: 'permission denied' }]);
    expect(r.users[0]!.actions).toEqual([]);
    expect(remote.entries('alice').filter((e) => e.deleted)).toEqual([]);
  });

  it('re-plans a path that changed on the server between fetch and commit (409) without failing the run', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b');
    await a.write('f', '1');
    await a.write('g', '1');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await b.write('f', 'b');
    await a.write('f', 'a');
    await a.write('g', '2');
    // b commits its f right after a fetched the change feed, so a's commit meets a stale baseRev.
    const origChanges = remote.changes.bind(remote);
    let raced = false;
    remote.changes = async (...args) => {
      const r = await origChanges(...args);
      if (!raced) { raced = true; await b.engine.sync(both); }
      return r;
    };
    const ra = await a.engine.sync(both);
    remote.changes = origChanges;
    expect(raced).toBe(true);
    expect(ra.users[0]!.errors).toEqual([]);
    expect(ra.users[0]!.conflicts.map((c) => c.path)).toEqual(['f']);
    expect(remote.blobText(remote.entries('alice').find((e) => e.path === 'g')!.hash!)).toBe('2');
    expect(await a.read('f')).toBe('a');
  });

  it('leaves paths this machine does not track alone, both ways', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    await a.write('.zshrc', '1');
    await a.write('.vimrc', '1');
    await a.engine.sync(both);
    // A narrower track list on b: .vimrc is not installed there, and b's own .vimrc stays.
    const b = await machine(remote, 'b', { track: ['.zshrc'] });
    await b.write('.vimrc', 'local only');
    await b.engine.sync(both);
    expect(await b.read('.zshrc')).toBe('1');
    expect(await b.read('.vimrc')).toBe('local only');
    // Un-tracking a synced file on a (same state, narrower list) never deletes it on the server.
    const a2 = createEngine({ config: testConfig(a.home, { device: 'a', track: ['.zshrc'] }), remote, log: silentLogger(), stateDir: a.home, stateStore: a.stateStore });
    engines.push(a2);
    const r = await a2.sync(both);
    expect(r.users[0]!.actions).toEqual([]);
    expect(remote.entries('alice').filter((e) => !e.deleted).map((e) => e.path).sort()).toEqual(['.vimrc', '.zshrc']);
  });

  it('watch: a watcher event publishes, the push stream installs on the other machine', async () => {
    const remote = createMemoryRemote();
    const wa = createMemoryWatcher();
    const homeA = await dirs.make('dman-home-wa-');
    const homeB = await dirs.make('dman-home-wb-');
    const notifierA = createMemoryNotifier();
    const ea = createEngine({ config: testConfig(homeA, { device: 'a' }), remote, log: silentLogger(), stateDir: homeA, stateStore: createMemoryStateStore(), watcher: wa, rescanMs: 0, notifier: notifierA });
    const eb = createEngine({ config: testConfig(homeB, { device: 'b' }), remote, log: silentLogger(), stateDir: homeB, stateStore: createMemoryStateStore(), watcher: createMemoryWatcher(), rescanMs: 0 });
    engines.push(ea, eb);
    await ea.watch();
    await eb.watch();
    expect(wa.started).toBe(true);
    const installed = new Promise<void>((resolve) => eb.on((e) => { if (e.type === 'synced' && e.report.counts.installed > 0) resolve(); }));
    await writeFile(join(homeA, '.gitconfig'), '[user]\n');
    wa.emit('alice', ['.gitconfig']);
    await installed;
    expect(await readFile(join(homeB, '.gitconfig'), 'utf8')).toBe('[user]\n');
    // A watch run the mass-change guard stops is reported once, not on every trigger.
    const stopped = new Promise<void>((resolve) => ea.on((e) => { if (e.type === 'error' && e.error.code === 'MASS_CHANGE') resolve(); }));
    const twelve = Array.from({ length: 12 }, (_, i) => `f${i}`);
    for (const f of twelve) await writeFile(join(homeA, f), 'x');
    wa.emit('alice', twelve); // a watcher reports every changed path: a watch run looks only at those
    for (let t0 = Date.now(); remote.entries('alice').filter((e) => !e.deleted).length < 13; ) {
      if (Date.now() - t0 > 10_000) throw new Error('the 12 files were not published');
      await new Promise((r) => setTimeout(r, 5));
    }
    await ea.sync(both); // settles any run still queued, so the deletes below are seen in one run
    for (const f of twelve) await rm(join(homeA, f));
    wa.emit('alice', twelve);
    await stopped;
    wa.emit('alice', ['f1']);
    await new Promise<void>((resolve) => ea.on((e) => { if (e.type === 'error') resolve(); }));
    expect(notifierA.notices.filter((n) => n.kind === 'error')).toHaveLength(1);
    expect(notifierA.notices[0]!.body).toMatch(/--yes/);
  });

  it('a selective run touches only the given globs and names the ones that matched nothing or are excluded', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a', { track: ['**', '!.cache/'] });
    await a.write('.zshrc', '1');
    await a.write('.config/nvim/init.lua', '1');
    await a.write('.config/git/config', '1');
    const r = await a.engine.sync({ ...both, only: ['.config/nvim/', 'nothing/**', '.cache/x'] });
    expect(remote.entries('alice').map((e) => e.path)).toEqual(['.config/nvim/init.lua']);
    expect(r.users[0]!.unmatchedOnly).toEqual(['nothing/**', '.cache/x']);
    expect(r.users[0]!.excludedOnly).toEqual([{ glob: '.cache/x', pattern: '!.cache/' }]);
  });

  it('compare lists per-path differences with direction', async () => {
    const remote = createMemoryRemote();
    const a = await machine(remote, 'a');
    const b = await machine(remote, 'b');
    await a.write('shared', '1');
    await a.write('gone', '1');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await b.write('shared', '2');
    await b.engine.sync(both);
    await a.write('new', 'n');
    await rm(join(a.home, 'gone'));
    const lines = await a.engine.compare();
    expect(lines.map((l) => [l.path, l.state, l.direction])).toEqual([
      ['gone', 'delete', 'remote'], ['new', 'add', 'remote'], ['shared', 'modify', 'local'],
    ]);
  });
});

describe('a home that cannot be listed', () => {
  it.each([false, true])('stops the run with a clear error and deletes nothing on the server (blocking walk: %s)', async (blockingWalk) => {
    const remote = createMemoryRemote();
    const home = await dirs.make('dman-home-unlistable-');
    const stateDir = await dirs.make('dman-state-unlistable-');
    let denied = false;
    const eacces = (p: string): Error => Object.assign(new Error(`EACCES: permission denied, scandir '${p}'`), { code: 'EACCES' });
    const fs: FileSystem = {
      ...nodeFileSystem,
      readdirTypes: (p) => (denied && p === home ? Promise.reject(eacces(p)) : nodeFileSystem.readdirTypes(p)),
      readdirTypesSync: (p) => { if (denied && p === home) throw eacces(p); return nodeFileSystem.readdirTypesSync(p); },
    };
    const engine = createEngine({ config: testConfig(home, { device: 'a' }), remote, log: silentLogger(), stateDir, stateStore: createMemoryStateStore(), blockingWalk, fs });
    engines.push(engine);
    for (const f of ['.bashrc', '.zshrc', '.gitconfig']) await writeFile(join(home, f), `${f}\n`);
    expect((await engine.sync(both)).users[0]!.counts.published).toBe(3);
    denied = true; // e.g. mode 0311 on the home, or EMFILE for a moment
    await expect(engine.sync(both)).rejects.toMatchObject({ code: 'IO', message: expect.stringContaining(`cannot list the home folder ${home}`) });
    const live = (await remote.changes('alice', 0)).entries.filter((e) => !e.deleted).map((e) => e.path).sort();
    expect(live).toEqual(['.bashrc', '.gitconfig', '.zshrc']);
  });
});

describe('a publish larger than one commit may be', () => {
  it('lands in atomic chunks under the server cap, and the other machine gets every file', async () => {
    expect(COMMIT_CHUNK_OPS).toBeLessThan(MAX_COMMIT_OPS);
    const remote = createMemoryRemote();
    const sizes: number[] = [];
    const commit = remote.commit.bind(remote);
    remote.commit = async (user, ops, opts) => {
      sizes.push(ops.length);
      return commit(user, ops, opts);
    };
    const a = await machine(remote, 'a');
    const n = COMMIT_CHUNK_OPS + 7;
    await mkdir(join(a.home, 'many'), { recursive: true });
    for (let i = 0; i < n; i += 500) await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, j) => writeFile(join(a.home, 'many', `f${i + j}`), `file ${i + j}\n`)));
    const r = await a.engine.sync(both);
    expect(r.users[0]!.counts.published).toBe(n);
    expect(sizes).toEqual([COMMIT_CHUNK_OPS, 7]);
    const b = await machine(remote, 'b');
    expect((await b.engine.sync(both)).users[0]!.counts.installed).toBe(n);
    expect(await b.read(`many/f${n - 1}`)).toBe(`file ${n - 1}\n`);
  }, 120_000);
});
