// Two users of one home with other patterns, in a long-running engine: each user's walks use a
// listing cache of their own, and a walk stops trusting a cache that a newer walk took over (found
// in review: with one cache per home, the watcher's start runs of both users walked at once, the
// second reset the cache to its patterns, the first trusted those listings, missed files the other
// user does not track, and its run deleted them on the server).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { createEngine } from '../createEngine.js';
import { silentLogger } from '../log.js';
import { createMemoryRemote } from '../remote/MemoryRemote.js';
import { testConfig, tempDirs } from '../testing/engineFixture.js';
import { compileTrack } from '../../shared/patterns/index.js';
import { createListingCache, walkTrackedSliced, walkTrackedSync } from './walk.js';

const dirs = tempDirs();
afterEach(async () => {
  vi.useRealTimers();
  await dirs.cleanup();
});

it('a watcher never deletes a file of one user because another user of the same home walked at the same time', async () => {
  const h = await dirs.make('dman-listing-users-home-');
  const stateDir = await dirs.make('dman-listing-users-state-');
  // Enough files at the top that alice's walk takes several slices before it reads .config.
  for (let i = 0; i < 600; i++) await writeFile(join(h, `f${String(i).padStart(4, '0')}`), `${i}`);
  await mkdir(join(h, '.config'), { recursive: true });
  await writeFile(join(h, '.config/a.conf'), 'a');
  await writeFile(join(h, '.config/x.txt'), 'x');
  // Folders made this moment are within the racy window; the clock says an hour later.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + 3_600_000);
  const remote = createMemoryRemote();
  const base = testConfig(h, { device: 'a' });
  const config = { ...base, users: { alice: { home: h, track: ['**'] }, bob: { home: h, track: ['.config/*.conf'] } } };

  // A first sync (users one after the other) publishes everything.
  const first = createEngine({ config, remote, log: silentLogger(), stateDir, noSyncState: true, rescanMs: 0 });
  await first.sync({ direction: 'both' });
  await first.close();
  expect((await remote.changes('alice', 0)).entries.filter((e) => !e.deleted).map((e) => e.path)).toContain('.config/x.txt');

  // A watcher starts: both users' start runs at once, nothing changed on disk.
  const engine = createEngine({ config, remote, log: silentLogger(), stateDir, noSyncState: true, rescanMs: 0 });
  const done = new Map<string, unknown>();
  const both = new Promise<void>((resolve) => {
    engine.on((e) => {
      if ((e.type === 'synced' || e.type === 'error') && e.user !== undefined) done.set(e.user, e);
      if (done.size === 2) resolve();
    });
  });
  await engine.watch();
  await both;
  await engine.close();

  const alice = done.get('alice') as { type: string; report?: { actions: Array<{ type: string; path: string }> } };
  expect(alice.type).toBe('synced');
  // Nothing changed on disk: the server still holds alice's .config/x.txt, and her run did nothing.
  const live = (await remote.changes('alice', 0)).entries;
  const x = live.filter((e) => e.path === '.config/x.txt');
  expect(x[x.length - 1]!.deleted ?? false).toBe(false);
  expect(alice.report!.actions.map((a) => [a.type, a.path])).toEqual([]);
});

it('a sliced walk never trusts memos another walk with other patterns put in the same ListingCache meanwhile', async () => {
  const h = await dirs.make('dman-listing-users-home-');
  for (let i = 0; i < 40; i++) await writeFile(join(h, `f${String(i).padStart(2, '0')}`), `${i}`);
  await mkdir(join(h, '.config'), { recursive: true });
  await writeFile(join(h, '.config/a.conf'), 'a');
  await writeFile(join(h, '.config/x.txt'), 'x');
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() + 3_600_000);
  const alice = compileTrack(['**']), bob = compileTrack(['.config/*.conf']);
  const cache = createListingCache();
  // alice's walk takes its first slice (the top folder's first entries)...
  const a = walkTrackedSliced(h, alice, { listings: cache, sliceEntries: 8 });
  const got = [...((await a.next()).value ?? [])].map((e) => e.path);
  // ...bob's whole walk runs on the same cache (as two users' runs of one home in a watcher)...
  for await (const slice of walkTrackedSliced(h, bob, { listings: cache })) void slice;
  // ...and alice's walk goes on: it must still find everything alice tracks.
  for await (const slice of a) for (const e of slice) got.push(e.path);
  expect(got).toEqual(walkTrackedSync(h, alice).map((e) => e.path));
});
