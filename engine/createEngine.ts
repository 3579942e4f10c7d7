// The engine's composition root: scan → fetch the change feed → plan → guards → apply → save
// the base. Each step is a small named function; planning is the pure planSync.
import { randomUUID } from 'node:crypto';
import type { Stats } from 'node:fs';
import type { StatLike } from './fs/lstatLight.js';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import picomatch from 'picomatch';
import { DmanError, isDmanError, isRetryable, toErrorValue, type ErrorValue } from '../shared/errors.js';
import type { CommitOpInput, Entry } from '../shared/protocol.js';
import { compileTrack, type TrackMatcher } from '../shared/patterns/index.js';
import type { EffectiveConfig } from '../shared/config/schema.js';
import type {
  CompareLine, ConflictRecord, Engine, EngineEvent, Resolution, StatusReport, SyncOptions, SyncReport, UserSyncReport,
} from './Engine.js';
import { deleteLocal, installEntry, installFiles, isChangedLocally, keepCopy, readAll, writeLocal, type FileToInstall } from './apply/localFs.js';
import type { Logger } from './log.js';
import { isBinary, mergeText } from './plan/mergeText.js';
import { planChanges, planPath, planSync, type BaseRecord, type ConflictPolicy, type LocalFile, type PlanAction } from './plan/planSync.js';
import { systemClock, type Clock } from './ports/Clock.js';
import { nodeFileSystem, type FileSystem } from './ports/FileSystem.js';
import type { Notifier } from './ports/Notifier.js';
import { createHttpRemote } from './remote/HttpRemote.js';
import { fetchAllChanges, type Remote } from './remote/Remote.js';
import { createScanContents, type ScanContents } from './publishEarly.js';
import { cacheEntryFor, scan, type ScanResult, type StatCacheEntry, type WalkedFile, type WalkedFiles } from './scan/scan.js';
import { statPaths } from './scan/statPaths.js';
import { createListingCache, walkTracked, walkTrackedSliced, walkTrackedSync, type ListingCache } from './scan/walk.js';
import { listingFileOf, loadListingFile, saveListingFile } from './scan/listingFile.js';
import { compileSecretAllow, secretReason } from './secrets.js';
import { mapLimit } from './util/mapLimit.js';
import { sha256Hex } from './util/sha256.js';
import { releaseBuffers } from './util/releaseBuffer.js';
import { removeStaleTemps } from './fs/staleTemps.js';
import { createFileStateStore, liveRemoteCount, maxRemoteRev, type StateStore, type UserState } from './state/StateStore.js';
import { avoidPretenuring, growthCollector, LARGE_HOME_FILES, releaseMemoryIfGrown } from './watch/releaseMemory.js';
import { capYoungGeneration, youngGenerationCheck } from './util/youngGeneration.js';
import type { Watcher } from './watch/Watcher.js';

/** Walks a home, yielding tracked files with their lstat and reporting what it could not read (injected in tests). */
/** Walks a home: its tracked files, what it skipped (onSkip), and our own temp files it passed over (onTemp; see WalkOptions.onTemp). */
export type WalkFn = (home: string, matcher: TrackMatcher, onSkip: (skip: { path: string; reason: string }) => void, onTemp?: (path: string) => void) => WalkedFiles;

export interface EngineDeps {
  config: EffectiveConfig;
  /** Default: an HttpRemote on config.server_url with config.auth_token. */
  remote?: Remote;
  clock?: Clock;
  /** The file system of the homes (default node:fs; tests and the simulation pass an in-memory one). */
  fs?: FileSystem;
  log: Logger;
  /** Where the base lives (never inside a tracked tree). */
  stateDir: string;
  stateStore?: StateStore;
  notifier?: Notifier;
  watcher?: Watcher;
  walk?: WalkFn;
  /** Hash small changed files (and read secret-check heads) with blocking calls: for one-shot commands only, never a long-running process. With an injected `fs`, walk with blocking calls too (on the real file system the walk is always the sliced blocking one). */
  blockingWalk?: boolean;
  /** Periodic rescan while watching, in ms (default 60 s; 0 disables). */
  rescanMs?: number;
  /** Skip fsyncs of the state file (benchmarks only). */
  noSyncState?: boolean;
}

const SECRET_HEAD_BYTES = 64 * 1024;
/** Bytes of whole small files a run keeps between its secret check and its upload. */
const KEEP_CONTENT_BYTES = 32 * 1024 * 1024;
/** Bytes of files the scan read whole that a full run keeps (and sends early) for its secret check and upload. */
const SCAN_CONTENT_BYTES = 64 * 1024 * 1024;
/**
 * Bytes held past which the scan waits for the server to take an early batch (publishEarly.ts
 * wait): a scan running ahead of a slower server (Redis, MariaDB, a remote link, a large home)
 * otherwise filled SCAN_CONTENT_BYTES, then read every later file twice. A first publish of
 * 100,000 files peaked at 347–355 MB instead of 361–411, in the same time.
 */
const SCAN_PAUSE_BYTES = 32 * 1024 * 1024;
/** Early upload batches: smaller than the publish's, so the first goes up soon after the scan starts. */
const EARLY_BATCH_FILES = 500;
/** Files in a run's first early batch (then 64, 128, … up to EARLY_BATCH_FILES): a run with a hundred changes sends most of them while it walks. */
const EARLY_FIRST_BATCH_FILES = 32;
const EARLY_BATCH_BYTES = 8 * 1024 * 1024;
const SMALL_BLOB_BYTES = 256 * 1024;
/** Parallel upload requests: a few keep the server's fsyncs and our reads overlapping without crowding 2 cores. */
const UPLOAD_CONCURRENCY = 4;
/** Files up to this size go up in bulk batches; larger ones stream one by one. */
const BULK_BLOB_BYTES = 1024 * 1024;
const BULK_BATCH_FILES = 1000;
const BULK_BATCH_BYTES = 16 * 1024 * 1024;
/** A run that changed nothing still records its time this often. */
const STATE_REFRESH_MS = 5 * 60_000;

type OnSkip = (skip: { path: string; reason: string }) => void;
async function* adaptWalk(home: string, matcher: TrackMatcher, onSkip: OnSkip, onTemp?: (path: string) => void, fs?: FileSystem): AsyncGenerator<WalkedFile> {
  const walkFs = fs ? { readdir: (p: string) => fs.readdirTypes(p), lstat: (p: string) => fs.lstat(p), stat: (p: string) => fs.stat(p) } : undefined;
  for await (const e of walkTracked(home, matcher, { onSkip: (s) => onSkip({ path: s.path, reason: s.message }), onTemp, fs: walkFs })) yield { path: e.path, stats: e.stat };
}
async function* adaptWalkSliced(home: string, matcher: TrackMatcher, onSkip: OnSkip, onTemp?: (path: string) => void, listings?: ListingCache): AsyncGenerator<WalkedFile[]> {
  // A walk entry is a WalkedFile as it is (path, stats).
  yield* walkTrackedSliced(home, matcher, { onSkip: (s) => onSkip({ path: s.path, reason: s.message }), onTemp, listings });
}
function adaptWalkSync(home: string, matcher: TrackMatcher, onSkip: OnSkip, onTemp?: (path: string) => void, fs?: FileSystem): WalkedFile[] {
  const walkFs = fs ? { readdirSync: (p: string) => fs.readdirTypesSync(p), lstatSync: (p: string) => fs.lstatSync(p), statSync: (p: string) => fs.statSync(p) } : undefined;
  return walkTrackedSync(home, matcher, { onSkip: (s) => onSkip({ path: s.path, reason: s.message }), onTemp, fs: walkFs }).map((e) => ({ path: e.path, stats: e.stat }));
}

function emptyCounts(): UserSyncReport['counts'] {
  return { published: 0, installed: 0, deleted: 0, converged: 0, conflicts: 0, skipped: 0, errors: 0, unchanged: 0 };
}

/** Creates the sync engine. */
/** Downloads landing at once during an install. */
const INSTALL_CONCURRENCY = 8;

/** Ops per commit request: well under the server's MAX_COMMIT_OPS and its JSON body limit. */
export const COMMIT_CHUNK_OPS = 5_000;
/** Heap growth between a large publish's commit chunks past which it runs a full GC (see publishAll). */
const COMMIT_GARBAGE_BYTES = 16 << 20;

export function createEngine(deps: EngineDeps): Engine {
  const { config } = deps;
  const clock = deps.clock ?? systemClock();
  const log = deps.log.child({ mod: 'engine' });
  const baseRemote = deps.remote ?? createHttpRemote({ url: config.server_url, token: config.auth_token, log });
  const stateStore = deps.stateStore ?? createFileStateStore({ stateDir: deps.stateDir, noSync: deps.noSyncState, onWarning: (m) => log.warn(m) });
  const fs = deps.fs ?? nodeFileSystem;
  const walkFs = deps.fs;
  // On the real file system the walk is blocking, in slices that let the event loop run between
  // them (the feed's request goes out meanwhile); an injected file system keeps the concurrent
  // walk (or the blocking one), whose interleavings the simulation exercises.
  // Each home's folder listings are kept between walks: a long-running engine keeps them in memory;
  // a one-shot run starts from the ones the previous run saved beside the user's state, and saves
  // them again after a whole walk that read or forgot a folder (listingFile.ts; a hint the walk checks).
  const listingCaches = new Map<string, ListingCache>();
  const listingFiles = new Map<ListingCache, string>();
  const listingsOf = (home: string, matcher: TrackMatcher): ListingCache => {
    // One cache and file per user (two users may share a home with other patterns).
    const user = Object.keys(config.users).find((u) => config.users[u]!.home === home && matchers.get(u) === matcher);
    const key = user === undefined ? home : `${home}\0${user}`;
    let c = listingCaches.get(key);
    if (!c) {
      listingCaches.set(key, (c = createListingCache()));
      if (user !== undefined && deps.blockingWalk) {
        const file = listingFileOf(deps.stateDir, baseRemote.url, user);
        loadListingFile(file, c, home, matcher);
        listingFiles.set(c, file);
      }
    }
    return c;
  };
  async function* savingListings(walked: AsyncGenerator<WalkedFile[]>, c: ListingCache): AsyncGenerator<WalkedFile[]> {
    yield* walked;
    const file = listingFiles.get(c);
    if (file !== undefined) saveListingFile(file, c);
  }
  const walk: WalkFn = deps.walk ?? (walkFs ? (deps.blockingWalk ? (h, m, s, t) => adaptWalkSync(h, m, s, t, walkFs) : (h, m, s, t) => adaptWalk(h, m, s, t, walkFs)) : (h, m, s, t) => { const c = listingsOf(h, m); return savingListings(adaptWalkSliced(h, m, s, t, c), c); });
  const isSecretAllowed = compileSecretAllow(config.secrets.allow);
  const listeners = new Set<(e: EngineEvent) => void>();
  const states = new Map<string, UserState>();
  const stamps = new Map<string, number | null>();
  /** Secrets the user was already told about (once per path per process). */
  const secretNotified = new Set<string>();
  const matchers = new Map<string, TrackMatcher>();
  /** One run at a time per user; watch triggers queue behind it. */
  const chains = new Map<string, Promise<unknown>>();
  let unsubscribers: Array<() => void> = [];
  let rescanTimer: NodeJS.Timeout | undefined;
  /** Turns the periodic rescan on when the watcher lost folders (set up by watch()). */
  let ensureRescan = (): void => {};
  /** False once the server answered a bulk upload with 404 (an older server): blobs then go one by one. */
  let bulkSupported = true;
  let closed = false;

  const emit = (e: EngineEvent): void => {
    for (const l of listeners) {
      try { l(e); } catch (err) { log.warn({ err: (err as Error).message }, 'event listener failed'); }
    }
  };

  function userNames(only?: string[]): string[] {
    const all = Object.keys(config.users);
    if (!only?.length) return all;
    for (const u of only) {
      if (!config.users[u]) throw new DmanError('USAGE', `no user "${u}" in the config`, { hint: `configured users: ${all.join(', ') || '(none)'}`, context: { user: u } });
    }
    return only;
  }
  function matcherOf(user: string): TrackMatcher {
    let m = matchers.get(user);
    if (!m) matchers.set(user, (m = compileTrack(config.users[user]!.track)));
    return m;
  }
  async function stateOf(user: string): Promise<UserState> {
    let s = states.get(user);
    if (!s) {
      states.set(user, (s = await stateStore.load(baseRemote.url, user)));
      if (stateStore.stamp) stamps.set(user, await stateStore.stamp(baseRemote.url, user));
    }
    return s;
  }
  function serialize<T>(user: string, fn: () => Promise<T>): Promise<T> {
    const prev = chains.get(user) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => locked(user, fn));
    chains.set(user, next);
    return next;
  }
  /** Runs fn under the cross-process lock, reloading the state when another process saved it. */
  async function locked<T>(user: string, fn: () => Promise<T>): Promise<T> {
    const release = await stateStore.lock?.(baseRemote.url, user);
    try {
      if (states.has(user) && stateStore.stamp && (await stateStore.stamp(baseRemote.url, user)) !== stamps.get(user)) states.delete(user);
      return await fn();
    } finally {
      if (stateStore.stamp) stamps.set(user, await stateStore.stamp(baseRemote.url, user).catch(() => null));
      await release?.();
    }
  }

  // ---- one user's run

  interface RunCtx {
    user: string;
    home: string;
    state: UserState;
    remote: Remote;
    opts: SyncOptions;
    policy: ConflictPolicy;
    report: UserSyncReport;
    now: number;
    /** Whole small files the secret check read, kept for the upload so it need not read them again. */
    contents?: Map<string, Buffer>;
    /** What a full run's scan read whole (kept, and sent early); see publishEarly.ts. */
    early?: ScanContents;
  }

  async function scanUser(user: string, state: UserState, onProgress?: (n: number) => void, early?: ScanContents, temps?: string[]): Promise<ScanResult> {
    const home = config.users[user]!.home;
    const walkSkips: ScanResult['skipped'] = [];
    // Before the walk: switched off once its first fs.Stats were seen to survive, pretenuring stays on for them.
    const large = state.statCache.size >= LARGE_HOME_FILES;
    if (large) avoidPretenuring();
    // A home the state knows nothing of yet (a first publish or install) may be of any size, and
    // V8 grows the young generation to 32 MB within its first second: capped from the start, a
    // first publish of 100,000 files peaked ~50 MB lower (10,000 files: ~25 MB), in the same time.
    // The cap cannot come later: V8 does not shrink a young generation it grew.
    const capped = large || state.statCache.size === 0;
    if (capped) capYoungGeneration();
    // A blocking walk holds the event loop: the young generation's cap is checked from here.
    const progress = capped ? (n: number) => { if ((n & 2047) === 0) youngGenerationCheck(); onProgress?.(n); } : (n: number) => onProgress?.(n);
    const result = await scan({ home, fs, files: walk(home, matcherOf(user), (sk) => walkSkips.push(sk), temps ? (p) => temps.push(p) : undefined), cache: state.statCache, now: () => clock.now(), onProgress: progress, blocking: deps.blockingWalk,
      ...(early ? { onContent: (p: string, data: Buffer | null, entry: StatCacheEntry) => early.offer(p, data, entry), pause: () => early.wait() } : {}) });
    // What the walk could not read (a folder without permission, a socket) is not a delete. A home
    // that cannot be listed at all stops the run: an empty listing would read as "every file deleted".
    const homeSkip = walkSkips.find((sk) => sk.path === '');
    if (homeSkip) {
      throw new DmanError('IO', `cannot list the home folder ${home} of ${user}: ${homeSkip.reason}`, {
        hint: 'check the folder\'s permissions (dman needs to read and enter it) and run again; nothing was synced',
        context: { user, path: home },
      });
    }
    for (const sk of walkSkips) result.skipped.push(sk);
    return result;
  }

  /** Brings the server mirror up to date; says how many entries changed, which paths, and whether it started over. */
  async function fetchRemote(user: string, state: UserState, remote: Remote): Promise<{ changed: number; paths: string[]; reset: boolean }> {
    const before = state.cursor;
    let { entries, headRev } = await fetchAllChanges(remote, user, state.cursor);
    const known = Math.max(before, maxRemoteRev(state.remote));
    let reset = false;
    if (headRev < known) {
      reset = true;
      // The server's history is behind what we saw: it was reset or replaced. Start the mirror
      // over; paths it lost are published again (the planner never deletes for a missing entry).
      log.warn({ user, headRev, known }, 'server head is behind revisions we saw; refetching everything');
      state.remote.clear();
      state.cursor = 0;
      ({ entries, headRev } = await fetchAllChanges(remote, user, 0));
    }
    for (const e of entries) state.remote.set(e.path, e);
    state.cursor = Math.max(state.cursor, headRev);
    return { changed: entries.length + (state.cursor !== before ? 1 : 0), paths: entries.map((e) => e.path), reset };
  }

  /** The paths a scoped run looks at: the reported ones, what we know below any of them (a removed folder), and the feed's. */
  function scopeOf(state: UserState, reported: ReadonlySet<string>, fromFeed: string[]): Set<string> {
    const set = new Set<string>(fromFeed);
    const folders: string[] = [];
    for (const p of reported) {
      if (!p || p.startsWith('/') || p.split('/').includes('..')) continue;
      set.add(p);
      if (!state.statCache.has(p) && !state.base.has(p)) folders.push(`${p}/`);
    }
    if (folders.length > 0) {
      for (const m of [state.statCache, state.base]) {
        for (const k of m.keys()) if (folders.some((f) => k.startsWith(f))) set.add(k);
      }
    }
    return set;
  }

  /** True when installing a file at `path` would meet a folder or file this scoped run did not look at. */
  function clashesWithFolder(state: UserState, scoped: ReadonlySet<string>, path: string): boolean {
    for (let j = path.indexOf('/'); j !== -1; j = path.indexOf('/', j + 1)) {
      const up = path.slice(0, j);
      if (state.statCache.has(up) || scoped.has(up)) return true;
    }
    const below = `${path}/`;
    for (const k of state.statCache.keys()) if (k.startsWith(below)) return true;
    for (const k of scoped) if (k.startsWith(below)) return true;
    return false;
  }

  function inScope(only: string[] | undefined): (p: string) => boolean {
    if (!only?.length) return () => true;
    const ms = only.map((g) => picomatch(g.replace(/\/$/, '/**'), { dot: true }));
    const prefixes = only.map((g) => g.replace(/\/+$/, '') + '/');
    return (p) => ms.some((m) => m(p)) || prefixes.some((pre) => p.startsWith(pre)) || only.includes(p);
  }

  /**
   * Runs one user's sync. With `paths` (the watcher's changed paths; the push stream passes none)
   * the run is scoped: it fetches the feed first, then looks only at those paths and the ones the
   * feed returned, and plans only them. Everything else is unchanged on both sides since the last
   * run (the periodic full run is the safety net for what a watcher misses). Where a scoped run
   * cannot answer exactly (a path became a folder, a file/folder clash, a server reset), it
   * falls back to the full run.
   */
  async function runUser(user: string, opts: SyncOptions, policyOverride?: ConflictPolicy, opId: string = randomUUID(), paths?: ReadonlySet<string>): Promise<UserSyncReport> {
    const t0 = performance.now();
    const home = config.users[user]!.home;
    const report: UserSyncReport = { user, home, actions: [], conflicts: [], skipped: [], errors: [], counts: emptyCounts(), unmatchedOnly: [], excludedOnly: [], timings: { scanMs: 0, fetchMs: 0, planMs: 0, applyMs: 0, totalMs: 0 } };
    const state = await stateOf(user);
    // The run's op id goes with every request (X-Dman-Op), so the server logs the run under it too.
    const remote = baseRemote.withOp(opId);
    const ctx: RunCtx = { user, home, state, remote, opts, policy: policyOverride ?? config.conflict_policy, report, now: clock.now() };
    /** Ends the early upload of a run that does not publish (or is past it): nothing goes up after the run returned. */
    const haltEarly = async (why: string): Promise<void> => {
      if (!ctx.early) return;
      log.debug({ user, why }, 'early upload stopped');
      await ctx.early.stop();
    };

    const cachedBefore = state.statCache.size;
    let dirty = false;
    /** Fetches the feed, or waits for the fetch `started` before the walk; the same handling of an offline server either way. */
    const fetchStep = async (started?: ReturnType<typeof fetchRemote>): Promise<Awaited<ReturnType<typeof fetchRemote>>> => {
      const t1 = performance.now();
      emit({ type: 'progress', user, phase: 'fetch', done: 0, total: 1 });
      try {
        const got = await (started ?? fetchRemote(user, state, remote));
        if (got.changed > 0) dirty = true;
        return got;
      } catch (err) {
        report.timings.totalMs = performance.now() - t0;
        if (isRetryable(err)) {
          // Offline: local changes stay pending (the base is untouched) and the next run catches up.
          report.errors.push(toErrorValue(err));
          report.counts.errors++;
          if (!opts.dryRun && dirty) await stateStore.save(baseRemote.url, user, state);
          throw Object.assign(err as Error, { partialReport: report });
        }
        throw err;
      } finally {
        report.timings.fetchMs += performance.now() - t1;
      }
    };
    let scanned: ScanResult | null = null;
    /** The paths a scoped run looks at and plans; null for a full run. */
    let scoped: Set<string> | null = null;
    if (paths && !opts.only?.length) {
      const feed = await fetchStep();
      if (!feed.reset) {
        const ts = performance.now();
        const set = scopeOf(state, paths, feed.paths);
        const looked = await statPaths(home, set, matcherOf(user), undefined, fs);
        if (looked.needsWalk === null) {
          scanned = await scan({ home, fs, files: looked.files, cache: state.statCache, now: () => clock.now(), scope: set });
          scanned.skipped.push(...looked.skipped);
          scoped = set;
        } else log.debug({ user, path: looked.needsWalk }, 'scoped run needs a full walk');
        report.timings.scanMs += performance.now() - ts;
      }
    }
    /** A full run asks for the feed before it walks: the server answers while the home is walked (the walk lets the event loop run between slices). */
    let feed: ReturnType<typeof fetchRemote> | undefined;
    /** Our own temp files the walk passed over (a crashed dman's leftovers among them). */
    const temps: string[] = [];
    if (!scanned) {
      const ts = performance.now();
      feed = fetchRemote(user, state, remote);
      feed.catch(() => {}); // handled by fetchStep after the scan
      ctx.early = scanContentsFor(ctx);
      try {
        // Every 100th file: an event per file costs more than the cache hit it reports.
        scanned = await scanUser(user, state, (n) => { if (n % 100 === 0) emit({ type: 'progress', user, phase: 'scan', done: n, total: 0 }); }, ctx.early, temps);
        ctx.early.flush();
      } catch (err) {
        // The fetch writes into the state: let it finish before the next run may start its own.
        await feed.catch(() => {});
        await haltEarly('the scan failed');
        throw err;
      }
      report.timings.scanMs += performance.now() - ts;
    }
    // A no-op run writes no state: that keeps it O(changes) (the state file of 10,000 paths is megabytes).
    if (scanned.hashed > 0 || state.statCache.size !== cachedBefore) dirty = true;
    for (const s of scanned.skipped) report.skipped.push(s);
    report.counts.skipped += scanned.skipped.length;
    if (!scoped) await fetchStep(feed).catch(async (err: unknown) => { await haltEarly('the fetch failed'); throw err; });

    const t2 = performance.now();
    const scope = inScope(opts.only);
    const matcher = matcherOf(user);
    if (opts.only?.length) {
      const all = [...new Set([...scanned.files.keys(), ...state.base.keys(), ...state.remote.keys()])].filter((p) => matcher.isTracked(p));
      report.unmatchedOnly = opts.only.filter((g) => { const inG = inScope([g]); return !all.some((p) => inG(p)); });
      for (const g of opts.only) {
        const lit = g.replace(/\/+$/, '');
        if (picomatch.scan(lit).isGlob || matcher.isTracked(lit) || matcher.shouldDescend(lit)) continue;
        report.excludedOnly.push({ glob: g, pattern: matcher.explain(lit).pattern });
      }
    }
    const skippedScan = new Set(scanned.skipped.map((s) => s.path));
    const isSkipped = (p: string): boolean => {
      if (skippedScan.size === 0) return false;
      if (skippedScan.has(p)) return true;
      for (let j = p.indexOf('/'); j !== -1; j = p.indexOf('/', j + 1)) if (skippedScan.has(p.slice(0, j))) return true;
      return false;
    };
    // Paths this machine does not track are left alone both ways: un-tracking a file must not
    // delete it on the server, and a server path tracked only elsewhere must not land here.
    const planOpts = { policy: ctx.policy, device: config.device, now: ctx.now, direction: opts.direction, prune: opts.prune };
    // An unchanged path our own walk found is tracked (the walk asked the matcher): no need to ask again per path.
    const walked = !deps.walk;
    // Most of a quiet run's plan is "nothing": those are only counted (and, when conflicts are
    // recorded, remembered: a conflict whose path now plans as nothing is settled); the guards and
    // apply walk the rest.
    let plan: PlanAction[] = [];
    let unchanged = 0;
    const unchangedPaths = state.conflicts.size > 0 ? new Set<string>() : null;
    let all: PlanAction[] | null = null;
    if (scoped) {
      const local = scanned.files;
      all = [...scoped].sort().map((p) => planPath(p, local.get(p), state.base.get(p), state.remote.get(p), planOpts));
      // A file landing where a folder is (or the reverse) needs the whole tree's picture.
      if (all.some((a) => a.type === 'install' && !a.remote.deleted && clashesWithFolder(state, scoped!, a.path))) {
        log.debug({ user }, 'scoped run touches a file/folder clash; running in full');
        return runUser(user, opts, policyOverride, opId);
      }
    } else if (walked && unchangedPaths === null && !opts.only?.length && skippedScan.size === 0) {
      // The usual full run: no action object per unchanged path, no sort of every path.
      const c = planChanges({ local: scanned.files, base: state.base, remote: state.remote }, planOpts);
      unchanged = c.unchanged;
      for (const p of c.unchangedElsewhere) if (matcher.isTracked(p)) unchanged++;
      for (const a of c.actions) if (matcher.isTracked(a.path)) plan.push(a);
    } else {
      all = planSync({ local: scanned.files, base: state.base, remote: state.remote }, planOpts);
    }
    for (const a of all ?? []) {
      if (!scope(a.path) || isSkipped(a.path)) continue;
      if (a.type === 'nothing' && walked && scanned.files.has(a.path)) {
        unchanged++;
        unchangedPaths?.add(a.path);
      } else if (matcher.isTracked(a.path)) {
        if (a.type === 'nothing') {
          unchanged++;
          unchangedPaths?.add(a.path);
        } else plan.push(a);
      }
    }
    ctx.contents = new Map();
    plan = await secretGuard(home, plan, scanned.files, ctx.contents, ctx.early);
    for (const a of plan) {
      if (a.type === 'skip' && a.reason.includes('looks like a secret') && !secretNotified.has(`${user}:${a.path}`)) {
        secretNotified.add(`${user}:${a.path}`);
        deps.notifier?.notify({ kind: 'info', title: 'dman: a secret was not published', body: `${a.path}: ${a.reason}`, user, path: a.path });
      }
    }
    report.timings.planMs = performance.now() - t2;

    try {
      massChangeGuard(ctx, plan, scanned.files, scoped ? state.statCache.size : scanned.files.size);
    } catch (err) {
      await haltEarly('the mass-change guard stopped the run');
      throw err;
    }

    const t3 = performance.now();
    report.counts.unchanged += unchanged;
    if (opts.dryRun) {
      for (const a of plan) recordPlanned(report, a);
      await haltEarly('a dry run');
    } else {
      const conflictsBefore = JSON.stringify([...state.conflicts.keys()]);
      try {
        await applyPlan(ctx, plan, scanned.files, unchangedPaths);
      } catch (err) {
        if (!isRetryable(err)) throw err;
        // The server went away mid-run: keep what landed (the state records only that), the rest stays pending.
        await stateStore.save(baseRemote.url, user, state);
        report.errors.push(toErrorValue(err));
        report.counts.errors++;
        report.timings.totalMs = performance.now() - t0;
        throw Object.assign(err as Error, { partialReport: report });
      } finally {
        // A run without publishes (or one that failed before them) leaves no early upload running.
        await haltEarly('the run is over');
      }
      if (temps.length > 0) {
        for (const p of await removeStaleTemps(home, temps, { fs, onError: (path, err) => log.warn({ user, path, err: (err as Error).message }, 'cannot remove a temp file a dman process that is gone left behind') })) {
          log.info({ user, path: p }, 'removed a temp file a dman process that is gone left behind');
        }
      }
      if (plan.some((a) => a.type !== 'skip') || JSON.stringify([...state.conflicts.keys()]) !== conflictsBefore) dirty = true;
      const last = state.lastSyncAt;
      state.lastSyncAt = clock.now();
      if (dirty || last === null || state.lastSyncAt - last > STATE_REFRESH_MS) await stateStore.save(baseRemote.url, user, state);
    }
    report.timings.applyMs = performance.now() - t3;
    report.timings.totalMs = performance.now() - t0;
    report.conflicts = [...state.conflicts.values()].filter((c) => scope(c.path));
    report.counts.conflicts = report.conflicts.length;
    log.info({ op: opId, user, counts: report.counts, ms: Math.round(report.timings.totalMs) }, 'sync run done');
    return report;
  }

  function recordPlanned(report: UserSyncReport, a: PlanAction): void {
    if (a.type === 'nothing') { report.counts.unchanged++; return; }
    if (a.type === 'skip') { report.skipped.push({ path: a.path, reason: a.reason }); report.counts.skipped++; }
    report.actions.push({ path: a.path, type: a.type, ...(a.conflict ? { conflict: a.conflict } : {}) });
  }

  /**
   * A full run's scan contents: keeps the bytes of files the scan read whole, and (a run that may
   * publish now) sends those that passed the secret check while the scan goes on. A file as the
   * last sync left it is not kept; a run limited to some paths, a dry run and an install-only run
   * send nothing early.
   */
  function scanContentsFor(ctx: RunCtx): ScanContents {
    const { opts, state } = ctx;
    const mayUpload = !opts.dryRun && opts.direction !== 'install' && !opts.only?.length && bulkSupported && ctx.remote.putBlobs !== undefined;
    return createScanContents({
      use: (path, data, hash) => {
        const base = state.base.get(path);
        if (base && !base.deleted && base.hash === hash) return 'drop';
        if (!mayUpload) return 'keep';
        if (data && !isSecretAllowed(path) && secretReason(path, data.length > SECRET_HEAD_BYTES ? data.subarray(0, SECRET_HEAD_BYTES) : data)) return 'keep';
        return 'upload';
      },
      put: mayUpload ? (blobs) => ctx.remote.putBlobs!(ctx.user, blobs) : undefined,
      // A larger file streams up from disk (the server verifies its hash): its head passes the same
      // check first, and the secret guard checks it again before anything is committed.
      putLarge: mayUpload ? async (path, entry) => {
        const l: LocalFile = { kind: 'file', hash: entry.hash, size: entry.size, mode: entry.mode & 0o7777, mtime: Math.floor(entry.mtimeMs) };
        if (!isSecretAllowed(path)) {
          const head = await readHead(join(ctx.home, path), entry.size);
          if (!head || secretReason(path, head)) return false;
        }
        return uploadBlob(ctx, path, l);
      } : undefined,
      maxBytes: SCAN_CONTENT_BYTES,
      pauseBytes: SCAN_PAUSE_BYTES,
      batchFiles: EARLY_BATCH_FILES,
      firstBatchFiles: EARLY_FIRST_BATCH_FILES,
      batchBytes: EARLY_BATCH_BYTES,
      concurrency: UPLOAD_CONCURRENCY,
      onRefused: (err, blobs) => log.debug({ user: ctx.user, code: isDmanError(err) ? err.code : 'unknown', blobs }, 'early upload refused; the publish uploads these blobs'),
    });
  }

  /**
   * Holds back files that look like secrets; a file to publish it read whole goes into `keep` (up to KEEP_CONTENT_BYTES in all) for the upload.
   * Files the scan kept (`early`) are checked on those bytes, or not again when their bytes already passed the check and went up.
   */
  async function secretGuard(home: string, plan: PlanAction[], local: Map<string, LocalFile>, keep?: Map<string, Buffer>, early?: ScanContents): Promise<PlanAction[]> {
    let kept = 0;
    const fileOf = (a: PlanAction): LocalFile | null => {
      const l = a.type === 'publish' ? a.local : a.type === 'merge' ? a.local : null;
      return !l || l.kind !== 'file' || isSecretAllowed(a.path) || !local.has(a.path) ? null : l;
    };
    // Only what would be published is read; the rest (most of a no-op plan) passes as it is.
    const toCheck: number[] = [];
    const out = plan.slice();
    plan.forEach((a, i) => {
      const l = fileOf(a);
      if (!l) return;
      if (early && early.seen.get(a.path) === l.hash) {
        if (early.cleared.get(a.path) === l.hash) return; // these bytes passed the check on their way up
        const data = early.peek(a.path);
        if (data && data.length === l.size) { check(i, data.length > SECRET_HEAD_BYTES ? data.subarray(0, SECRET_HEAD_BYTES) : data, false); return; }
      }
      toCheck.push(i);
    });
    if (toCheck.length === 0) return out;
    function check(i: number, head: Buffer | null, mayKeep = true): void {
      const a = plan[i]!;
      const size = fileOf(a)!.size;
      if (mayKeep && keep && head && a.type === 'publish' && size <= SECRET_HEAD_BYTES && head.length === size && kept + size <= KEEP_CONTENT_BYTES) {
        keep.set(a.path, head);
        kept += size;
      }
      const why = secretReason(a.path, head);
      if (why) out[i] = { path: a.path, type: 'skip', wanted: 'publish', reason: `not published: looks like a secret (${why}); allow it with secrets.allow: ["${a.path}"] if it is meant to sync` };
    }
    // A one-shot run reads with blocking calls: a plain loop, no promise per file.
    if (deps.blockingWalk) for (const i of toCheck) check(i, readHeadSync(join(home, plan[i]!.path), fileOf(plan[i]!)!.size));
    else await mapLimit(toCheck, 16, async (i) => check(i, await readHead(join(home, plan[i]!.path), fileOf(plan[i]!)!.size)));
    return out;
  }

  /** Reads up to `limit` bytes of a file of `size` bytes in one read (null when it cannot be read). */
  async function readHead(abs: string, size: number, limit = SECRET_HEAD_BYTES): Promise<Buffer | null> {
    // A one-shot run: three blocking calls instead of three thread-pool round trips per file.
    if (deps.blockingWalk) return readHeadSync(abs, size, limit);
    // Only the bytes read are returned, so the buffer need not be zeroed first.
    const buf = Buffer.allocUnsafe(Math.min(size, limit));
    try {
      const fh = await fs.open(abs, 'r');
      try {
        const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    } catch {
      return null;
    }
  }

  function readHeadSync(abs: string, size: number, limit = SECRET_HEAD_BYTES): Buffer | null {
    const buf = Buffer.allocUnsafe(Math.min(size, limit));
    let fd: number | undefined;
    try {
      fd = fs.openSync(abs, 'r');
      return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0));
    } catch {
      return null;
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  function massChangeGuard(ctx: RunCtx, plan: PlanAction[], local: Map<string, LocalFile>, localCount: number): void {
    if (ctx.opts.yes) return;
    let destructive = 0;
    for (const a of plan) {
      if (a.type === 'install' && local.has(a.path)) destructive++; // overwrite or delete here
      else if (a.type === 'publish' && a.local === null && ctx.state.remote.get(a.path)?.deleted === false) destructive++; // delete on the server
    }
    const { ratio, min_files } = config.mass_change;
    // Counting the server's live files walks the whole mirror: only when the run could trip the guard.
    if (destructive < min_files) return;
    const total = Math.max(localCount, liveRemoteCount(ctx.state.remote));
    if (destructive > ratio * total) {
      throw new DmanError('MASS_CHANGE', `this run would delete or overwrite ${destructive} of ${total} files of user ${ctx.user}; stopped to be safe`, {
        hint: 'check the home and the server; if this is intended, run again with --yes',
        context: { user: ctx.user, destructive, total },
      });
    }
  }

  // ---- apply

  /** Blobs up to this size are fetched in batches and held in memory while they land. */
  const FETCH_BLOB_BYTES = 1024 * 1024;
  /** Files and bytes per install batch; FETCH_BATCHES_AT_ONCE batches run at once. */
  const FETCH_BATCH_FILES = 1000;
  const FETCH_BATCH_BYTES = 16 * 1024 * 1024;
  const FETCH_BATCHES_AT_ONCE = 2;

  /** Applies `plan` (no "nothing" actions: runUser counts those); `unchanged` holds their paths when conflicts are recorded. */
  async function applyPlan(ctx: RunCtx, plan: PlanAction[], local: Map<string, LocalFile>, unchanged: ReadonlySet<string> | null): Promise<void> {
    const { state, report } = ctx;
    const total = plan.length;
    let done = 0;
    const progress = (path: string): void => emit({ type: 'progress', user: ctx.user, phase: 'apply', done: ++done, total, path });
    // A conflict is settled when its path now plans as something else (a hand edit, or the other
    // side caught up), or is no longer tracked. Skipped paths keep theirs.
    if (state.conflicts.size > 0) {
      const planned = new Map(plan.map((a) => [a.path, a]));
      const scope = inScope(ctx.opts.only);
      for (const p of [...state.conflicts.keys()]) {
        const a = planned.get(p);
        if (unchanged?.has(p) || (a ? a.type !== 'conflict' && a.type !== 'skip' : scope(p) && !matcherOf(ctx.user).isTracked(p))) state.conflicts.delete(p);
      }
    }
    // Deletes first, so a file can replace a folder (and the reverse) in one run.
    const installs = plan.filter((a): a is Extract<PlanAction, { type: 'install' }> => a.type === 'install')
      .sort((a, b) => Number(!a.remote.deleted) - Number(!b.remote.deleted));
    const installAction = async (a: (typeof installs)[number]): Promise<void> => {
      await guarded(ctx, a, async () => {
        if (!(await stillAsScanned(ctx, a.path, local.get(a.path)))) {
          report.skipped.push({ path: a.path, reason: 'changed on disk during the run; it will be synced on the next run' });
          return;
        }
        try {
          await installOne(ctx, a.path, a.remote, a.keepLocalAs, local.get(a.path));
        } catch (err) {
          if (!isChangedLocally(err)) throw err;
          report.skipped.push({ path: a.path, reason: 'changed on disk during the run; it will be synced on the next run' });
          return;
        }
        if (a.remote.deleted) report.counts.deleted++; else report.counts.installed++;
        report.actions.push({ path: a.path, type: 'install', ...(a.conflict ? { conflict: a.conflict } : {}) });
      });
      progress(a.path);
    };
    // Deletes one by one and all before any download; downloads are independent of each other
    // (each lands by its own temp file + rename), so several run at once: each waits on the
    // network and on its own fsyncs.
    const deletes = installs.filter((a) => a.remote.deleted);
    for (const a of deletes) await installAction(a);
    // Small plain files land in batches (a few fetch requests, one fsync pass); the rest one by one.
    const downloads = installs.filter((a) => !a.remote.deleted);
    const batched = ctx.remote.getBlobs ? downloads.filter((a) => a.remote.kind === 'file' && !a.keepLocalAs && a.remote.size <= FETCH_BLOB_BYTES) : [];
    const inBatch = new Set(batched);
    await installBatches(ctx, batched, local, progress);
    await mapLimit(downloads.filter((a) => !inBatch.has(a)), INSTALL_CONCURRENCY, installAction);
    const publishes: Array<{ path: string; local: LocalFile | null; baseRev: number; conflict?: ConflictPolicy }> = [];
    for (const a of plan) {
      switch (a.type) {
        case 'publish':
          // The action itself (it has the item's fields): no second object per file of a first publish.
          publishes.push(a);
          break;
        case 'merge':
          await guarded(ctx, a, async () => {
            const merged = await tryMerge(ctx, a);
            if (merged) publishes.push({ path: a.path, local: merged, baseRev: a.remote.rev, conflict: 'merge' });
          });
          progress(a.path);
          break;
        case 'converged':
          if (a.remote) state.base.set(a.path, baseOf(a.remote)); else state.base.delete(a.path);
          report.counts.converged++;
          break;
        case 'conflict':
          recordConflict(ctx, a.path, a.local, a.remote, a.base, a.reason);
          report.actions.push({ path: a.path, type: 'conflict', conflict: 'ask' });
          break;
        case 'skip':
          report.skipped.push({ path: a.path, reason: a.reason });
          report.counts.skipped++;
          break;
        case 'nothing':
          report.counts.unchanged++;
          break;
        default:
          break;
      }
    }
    if (publishes.length) await publishAll(ctx, publishes, local);
    for (const p of publishes) progress(p.path);
  }

  async function guarded(ctx: RunCtx, a: { path: string; type: PlanAction['type'] }, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (isRetryable(err)) throw err; // the server went away: stop the run, keep the rest pending
      const ev = errorValueFor(err, ctx.user, a.path);
      ctx.report.errors.push(ev);
      ctx.report.counts.errors++;
      ctx.report.actions.push({ path: a.path, type: a.type, error: ev });
      emit({ type: 'error', user: ctx.user, path: a.path, error: ev });
      log.warn({ user: ctx.user, path: a.path, code: ev.code }, 'action failed');
    }
  }

  function errorValueFor(err: unknown, user: string, path: string): ErrorValue {
    if (isDmanError(err)) return toErrorValue(err);
    const code = (err as NodeJS.ErrnoException).code;
    return toErrorValue(new DmanError(code === 'ENOSPC' ? 'DISK_FULL' : 'IO', `cannot update "${path}" for ${user}: ${(err as Error).message}`, { hint: code === 'ENOSPC' ? 'free some disk space and run again' : 'check the file and its folder permissions', context: { user, path } }));
  }

  /** True when the file is still what the scan saw (so an install never clobbers a fresh edit). */
  async function stillAsScanned(ctx: RunCtx, path: string, seen: LocalFile | undefined): Promise<boolean> {
    return matchesScan(ctx, path, seen, await fs.lstat(join(ctx.home, path)).catch(() => null));
  }
  /** True when `st` (a fresh lstat of the path) is what the scan saw. */
  function matchesScan(ctx: RunCtx, path: string, seen: LocalFile | undefined, st: Stats | null): boolean {
    if (!seen) return st === null || st.isDirectory();
    if (!st) return false;
    const c = ctx.state.statCache.get(path);
    return !!c && c.size === st.size && c.mtimeMs === st.mtimeMs && c.ino === st.ino && c.hash === seen.hash;
  }

  /**
   * Installs small plain files in batches through installFiles (engine/apply/localFs.ts): each
   * batch is fetched in a few requests and made durable in one pass; two batches run at once so
   * the network and the disk overlap. The state learns of a file only once it is durable.
   */
  async function installBatches(ctx: RunCtx, list: Array<Extract<PlanAction, { type: 'install' }>>, local: Map<string, LocalFile>, progress: (path: string) => void): Promise<void> {
    if (list.length === 0) return;
    const { state, report } = ctx;
    const batches: Array<typeof list> = [];
    for (let i = 0, bytes = 0, start = 0; i <= list.length; i++) {
      if (i === list.length || i - start >= FETCH_BATCH_FILES || bytes + list[i]!.remote.size > FETCH_BATCH_BYTES) {
        if (i > start) batches.push(list.slice(start, i));
        start = i;
        bytes = 0;
      }
      if (i < list.length) bytes += list[i]!.remote.size;
    }
    const one = async (batch: typeof list): Promise<void> => {
      const files: FileToInstall[] = [];
      const byPath = new Map(batch.map((a) => [a.path, a]));
      await mapLimit(batch, 16, async (a) => {
        // Never clobber a fresh edit: the file must still be what the scan saw.
        const seen = local.get(a.path);
        const st = await fs.lstat(join(ctx.home, a.path)).catch(() => null);
        if (!matchesScan(ctx, a.path, seen, st)) {
          report.skipped.push({ path: a.path, reason: 'changed on disk during the run; it will be synced on the next run' });
          progress(a.path);
          return;
        }
        // At the rename the folder seen here is gone (removed if empty): absent is as scanned then.
        files.push({ rel: a.path, hash: a.remote.hash!, mode: a.remote.mode, dirInTheWay: !!st?.isDirectory(), unchanged: (now) => matchesScan(ctx, a.path, seen, now) });
      });
      let results: Awaited<ReturnType<typeof installFiles>>;
      try {
        results = await installFiles(ctx.home, files, (hashes) => ctx.remote.getBlobs!(ctx.user, hashes), fs);
      } catch (err) {
        if (isRetryable(err)) throw err; // the server went away: stop the run, keep the rest pending
        // Nothing of this batch landed (e.g. a reply this client does not understand): each file says why.
        results = files.map((f) => ({ rel: f.rel, error: err }));
      }
      for (const r of results) {
        const a = byPath.get(r.rel)!;
        if (r.stats) {
          // Record what we wrote so the next scan (and the watcher's echo) sees no change.
          state.statCache.set(a.path, cacheEntryFor(r.stats, a.remote.hash!, clock.now()));
          state.base.set(a.path, baseOf(a.remote));
          state.conflicts.delete(a.path);
          report.counts.installed++;
          report.actions.push({ path: a.path, type: 'install', ...(a.conflict ? { conflict: a.conflict } : {}) });
        } else if (isChangedLocally(r.error)) {
          report.skipped.push({ path: a.path, reason: 'changed on disk during the run; it will be synced on the next run' });
        } else {
          await guarded(ctx, a, () => Promise.reject(r.error));
        }
        progress(a.path);
      }
    };
    await mapLimit(batches, FETCH_BATCHES_AT_ONCE, one);
  }

  /** Installs one entry; with `seen` (what the scan saw), an edit saved during the download is kept (throws changedLocally). */
  async function installOne(ctx: RunCtx, path: string, entry: Entry, keepLocalAs?: string, seen?: LocalFile): Promise<void> {
    const { state, home } = ctx;
    if (keepLocalAs) await keepCopy(home, path, keepLocalAs, fs);
    if (entry.deleted) {
      await deleteLocal(home, path, fs);
      state.statCache.delete(path);
    } else {
      // After keepCopy the local version is moved aside: the path must then still be free.
      const unchanged = (st: Stats | null): boolean => (keepLocalAs ? st === null : matchesScan(ctx, path, seen, st));
      // A download the install stopped reading (its temp file could not be made) is ended here: an
      // open reply holds its kept-alive connection, and with it the process, forever.
      let body: Readable | undefined;
      const st = await installEntry(home, path, entry, async () => (body = await ctx.remote.getBlob(ctx.user, entry.hash!)), unchanged, fs)
        .catch((err: unknown) => { body?.destroy(); throw err; });
      // Record what we wrote so the next scan (and the watcher's echo) sees no change.
      state.statCache.set(path, cacheEntryFor(st, entry.hash!, clock.now(), entry.kind === 'symlink' ? entry.target : undefined));
    }
    state.base.set(path, baseOf(entry));
    state.conflicts.delete(path);
  }

  async function tryMerge(ctx: RunCtx, a: Extract<PlanAction, { type: 'merge' }>): Promise<LocalFile | null> {
    const [baseBytes, remoteBytes, localBytes] = await Promise.all([
      ctx.remote.getBlob(ctx.user, a.base.hash!).then(readAll).catch((err: unknown) => {
        if (isDmanError(err, 'NOT_FOUND')) return null; // retention dropped the base version
        throw err;
      }),
      ctx.remote.getBlob(ctx.user, a.remote.hash!).then(readAll),
      fs.readFile(join(ctx.home, a.path)),
    ]);
    const out = baseBytes === null ? { ok: false as const, reason: 'the common version is no longer kept on the server' } : mergeText(baseBytes, localBytes, remoteBytes);
    if (!out.ok) {
      recordConflict(ctx, a.path, a.local, a.remote, a.base, `merge failed: ${out.reason}`);
      ctx.report.actions.push({ path: a.path, type: 'conflict', conflict: 'ask' });
      return null;
    }
    const data = Buffer.from(out.text);
    // The mode merges three ways too: a side that kept the base's mode takes the other side's change.
    const mode = a.local.mode === a.base.mode ? a.remote.mode : a.local.mode;
    const st = await writeLocal(ctx.home, a.path, data, mode, fs);
    const hash = sha256Hex(data);
    ctx.state.statCache.set(a.path, cacheEntryFor(st, hash, clock.now()));
    return { kind: 'file', hash, size: data.length, mode, mtime: Math.floor(st.mtimeMs) };
  }

  function recordConflict(ctx: RunCtx, path: string, local: LocalFile | null, remote: Entry | null, base: BaseRecord | null, reason: string): void {
    const prev = ctx.state.conflicts.get(path);
    const rec: ConflictRecord = {
      user: ctx.user, path, since: prev?.since ?? clock.now(), reason,
      local: local ? { kind: local.kind, hash: local.hash, size: local.size, mode: local.mode } : null,
      remote, baseRev: base?.rev ?? null,
    };
    ctx.state.conflicts.set(path, rec);
    const isNew = !prev || prev.local?.hash !== rec.local?.hash || prev.remote?.rev !== rec.remote?.rev;
    if (isNew) {
      emit({ type: 'conflict', conflict: rec });
      deps.notifier?.notify({ kind: 'conflict', title: 'dman: conflict', body: `${path} changed here and on another machine; review it with \`dman conflicts\``, user: ctx.user, path });
    }
  }

  async function publishAll(ctx: RunCtx, items: Array<{ path: string; local: LocalFile | null; baseRev: number; conflict?: ConflictPolicy }>, local: Map<string, LocalFile>): Promise<void> {
    const { user, remote, state, report } = ctx;
    // Blobs first (deduplicated by hash; small ones in bulk batches, in parallel), then one atomic commit.
    // What went up while the scan ran: only blobs the server acknowledged count as uploaded.
    if (ctx.early) await ctx.early.settle();
    const uploaded = ctx.early?.stored ?? new Set<string>();
    const byHash = new Map<string, (typeof items)[number]>();
    for (const it of items) if (it.local?.kind === 'file' && !uploaded.has(it.local.hash) && !byHash.has(it.local.hash)) byHash.set(it.local.hash, it);
    const failedHashes = new Set<string>();
    const toUpload = (list: Iterable<(typeof items)[number]>): Array<{ path: string; local: LocalFile }> => [...list].map((it) => ({ path: it.path, local: it.local! }));
    await uploadBlobs(ctx, toUpload(byHash.values()), uploaded, failedHashes);
    const ready = items.filter((it) => !(it.local?.kind === 'file' && failedHashes.has(it.local.hash)) && !changedSinceScan(ctx, it.path, it.local));
    // One commit is atomic, but the server caps its size (MAX_COMMIT_OPS and the JSON body limit):
    // a larger publish, such as the first one of a big home, lands in atomic chunks, each path
    // still compare-and-swapped against its base.
    const commitChunk = async (first: typeof ready): Promise<void> => {
      let batch = first;
      let reuploaded = false;
      for (let round = 0; batch.length > 0 && round < 4; round++) {
        const ops: CommitOpInput[] = batch.map((it) => opOf(it.path, it.local, it.baseRev));
        let res: Awaited<ReturnType<Remote['commit']>>;
        try {
          res = await remote.commit(user, ops, { idempotencyKey: randomUUID(), device: config.device });
        } catch (err) {
          // The server lost blobs between our upload and the commit (e.g. its gc, or a restore of its
          // data): nothing was written, so upload this batch's blobs once more and commit again.
          if (!isDmanError(err, 'PRECONDITION_FAILED') || reuploaded) throw err;
          reuploaded = true;
          log.warn({ user, blobs: batch.length }, 'the server is missing blobs we uploaded; uploading them again');
          const again = new Map<string, (typeof items)[number]>();
          for (const it of batch) if (it.local?.kind === 'file') again.set(it.local.hash, it);
          const failedAgain = new Set<string>();
          await uploadBlobs(ctx, toUpload(again.values()), uploaded, failedAgain);
          batch = batch.filter((it) => !(it.local?.kind === 'file' && failedAgain.has(it.local.hash)));
          round--;
          continue;
        }
        if (res.ok) {
          for (const e of res.entries) {
            state.remote.set(e.path, e);
            state.base.set(e.path, baseOf(e));
            state.conflicts.delete(e.path);
          }
          // Revs right after the cursor, one per entry, none between: the feed up to res.rev holds only
          // these entries, so the next run need not read them back (10,000 entries after a first publish).
          const n = res.entries.length;
          if (!res.replayed && n > 0 && res.rev === state.cursor + n && new Set(res.entries.map((e) => e.rev)).size === n && res.entries.every((e) => e.rev > res.rev - n && e.rev <= res.rev)) state.cursor = res.rev;
          for (const it of batch) {
            if (it.local === null) report.counts.deleted++; else report.counts.published++;
            report.actions.push({ path: it.path, type: 'publish', ...(it.conflict ? { conflict: it.conflict } : {}) });
          }
          return;
        }
        // 409: nothing was written. Learn the current entries of those paths and re-plan only them.
        const conflicted = new Set(res.conflicts.map((c) => c.path));
        for (const c of res.conflicts) {
          if (c.current) state.remote.set(c.path, c.current); else state.remote.delete(c.path);
        }
        const next: typeof items = batch.filter((it) => !conflicted.has(it.path));
        for (const path of conflicted) {
          const a = planPath(path, local.get(path), state.base.get(path), state.remote.get(path), { policy: ctx.policy, device: config.device, now: ctx.now, direction: ctx.opts.direction });
          if (a.type === 'publish') {
            if (a.local && a.local.kind === 'file' && !uploaded.has(a.local.hash)) continue; // blob not uploaded: next run
            next.push({ path, local: a.local, baseRev: a.baseRev, ...(a.conflict ? { conflict: a.conflict } : {}) });
          } else if (a.type === 'install') {
            await guarded(ctx, a, async () => {
              await installOne(ctx, path, a.remote, a.keepLocalAs);
              report.counts.installed++;
              report.actions.push({ path, type: 'install', ...(a.conflict ? { conflict: a.conflict } : {}) });
            });
          } else if (a.type === 'conflict') {
            recordConflict(ctx, path, a.local, a.remote, a.base, a.reason);
            report.actions.push({ path, type: 'conflict', conflict: 'ask' });
          } else if (a.type === 'converged') {
            if (a.remote) state.base.set(path, baseOf(a.remote)); else state.base.delete(path);
            report.counts.converged++;
          } else if (a.type === 'merge') {
            await guarded(ctx, a, async () => {
              const merged = await tryMerge(ctx, a);
              if (merged) next.push({ path, local: merged, baseRev: a.remote.rev, conflict: 'merge' });
            });
          }
        }
        batch = next;
      }
    };
    const collect = ready.length > COMMIT_CHUNK_OPS ? growthCollector(COMMIT_GARBAGE_BYTES) : null;
    for (let i = 0; i < ready.length; i += COMMIT_CHUNK_OPS) {
      await commitChunk(ready.slice(i, i + COMMIT_CHUNK_OPS));
      // A chunk's reply (5,000 entries, parsed, checked, folded into the state) lives through a
      // few scavenges and ends as old-generation garbage: collect it once it adds up, instead of
      // letting V8 grow the heap by half again. First publish of 100,000 files: peak RSS 247-257
      // MB with this (at most a few full GCs of ~30 ms), 284-291 at 32 MB, 306-315 without.
      collect?.();
    }
  }

  /**
   * Whether a file whose published bytes are the ones the scan read (kept, or sent early) changed
   * since: its hash would then name an older content than the file holds. Such a file is left for
   * the next run (reported as skipped); a file the upload read again is checked by the server's hash.
   */
  function changedSinceScan(ctx: RunCtx, path: string, l: LocalFile | null): boolean {
    const scanned = l?.kind === 'file' ? ctx.early?.seen.get(path) : undefined;
    if (scanned === undefined || scanned !== l!.hash) return false;
    // The scan put what it saw in the stat cache, and what the engine wrote there since (a merge)
    // replaced it: compare with that. No entry (the engine removed the file since): not published.
    const seen = ctx.state.statCache.get(path);
    let st: StatLike | null;
    try {
      st = fs.lstatSync(join(ctx.home, path));
    } catch {
      st = null;
    }
    if (st && seen && st.isFile() && seen.hash === l!.hash && st.size === seen.size && st.mtimeMs === seen.mtimeMs && st.ctimeMs === seen.ctimeMs && st.ino === seen.ino) return false;
    ctx.report.skipped.push({ path, reason: 'changed on disk during the run; it will be published on the next run' });
    return true;
  }

  /**
   * Uploads the blobs of local files: small ones in bulk batches (one request and one server-side
   * fsync group per batch), large ones streamed one by one. Adds each stored hash to `uploaded`;
   * a file that changed since the scan, or failed for good, goes to `failed` and the report.
   */
  async function uploadBlobs(ctx: RunCtx, list: Array<{ path: string; local: LocalFile }>, uploaded: Set<string>, failed: Set<string>): Promise<void> {
    const { report } = ctx;
    const one = async (it: { path: string; local: LocalFile }): Promise<void> => {
      try {
        if (await uploadBlob(ctx, it.path, it.local)) uploaded.add(it.local.hash);
        else {
          failed.add(it.local.hash);
          report.skipped.push({ path: it.path, reason: 'changed on disk during the run; it will be published on the next run' });
        }
      } catch (err) {
        if (isRetryable(err)) throw err;
        failed.add(it.local.hash);
        const ev = errorValueFor(err, ctx.user, it.path);
        report.errors.push(ev);
        report.counts.errors++;
        report.actions.push({ path: it.path, type: 'publish', error: ev });
      }
    };
    const bulk = async (batch: Array<{ path: string; local: LocalFile }>): Promise<void> => {
      const blobs: Array<{ hash: string; data: Uint8Array }> = [];
      const singly: Array<{ path: string; local: LocalFile }> = [];
      // The secret check read most small files whole already: one read per file serves both.
      const kept = (it: { path: string; local: LocalFile }): Buffer | undefined => {
        if (ctx.early?.seen.get(it.path) === it.local.hash) {
          const bytes = ctx.early.take(it.path);
          if (bytes) return bytes;
        }
        const data = ctx.contents?.get(it.path);
        if (data) ctx.contents!.delete(it.path);
        return data;
      };
      const take = (it: { path: string; local: LocalFile }, data: Buffer | null): void => {
        // Not re-hashed here: the server verifies every blob, and a mismatch sends the batch down the careful path.
        if (data && data.length === it.local.size) blobs.push({ hash: it.local.hash, data });
        else singly.push(it);
      };
      // One open and read of the size the scan saw, and a byte more to see a file that grew (no fstat, no growing buffer);
      // a one-shot run reads with blocking calls in a plain loop.
      if (deps.blockingWalk) for (const it of batch) take(it, kept(it) ?? readHeadSync(join(ctx.home, it.path), it.local.size + 1, it.local.size + 1));
      else await mapLimit(batch, 8, async (it) => take(it, kept(it) ?? await readHead(join(ctx.home, it.path), it.local.size + 1, it.local.size + 1)));
      if (blobs.length > 0 && bulkSupported && ctx.remote.putBlobs) {
        try {
          await ctx.remote.putBlobs(ctx.user, blobs);
          for (const b of blobs) uploaded.add(b.hash);
          // Read for this batch only (kept bytes were taken, not shared): free them now (see releaseBuffers).
          releaseBuffers(blobs.map((b) => b.data));
        } catch (err) {
          if (isRetryable(err)) throw err;
          // A file changed since the scan (HASH_MISMATCH) or an older server: one by one finds out which.
          if (isDmanError(err, 'NOT_FOUND')) bulkSupported = false;
          log.debug({ user: ctx.user, code: isDmanError(err) ? err.code : 'unknown', blobs: blobs.length }, 'bulk upload refused; uploading one by one');
          singly.push(...batch.filter((it) => !singly.includes(it)));
        }
      } else singly.push(...batch.filter((it) => !singly.includes(it)));
      for (const it of singly) await one(it);
    };
    const small = list.filter((it) => it.local.size <= BULK_BLOB_BYTES);
    const jobs: Array<() => Promise<void>> = [];
    for (let i = 0, bytes = 0, start = 0; i <= small.length; i++) {
      if (i === small.length || i - start >= BULK_BATCH_FILES || bytes + small[i]!.local.size > BULK_BATCH_BYTES) {
        if (i > start) {
          const batch = small.slice(start, i);
          jobs.push(() => bulk(batch));
        }
        start = i;
        bytes = 0;
      }
      if (i < small.length) bytes += small[i]!.local.size;
    }
    for (const it of list) if (it.local.size > BULK_BLOB_BYTES) jobs.push(() => one(it));
    await mapLimit(jobs, UPLOAD_CONCURRENCY, (job) => job());
  }

  /** Uploads the blob of a local file unless the server has it; false when the file changed since the scan. */
  async function uploadBlob(ctx: RunCtx, path: string, l: LocalFile): Promise<boolean> {
    const abs = join(ctx.home, path);
    // Small blobs go straight up (the server dedups); a HEAD first only pays off for big ones.
    if (l.size > SMALL_BLOB_BYTES) {
      if (await ctx.remote.hasBlob(ctx.user, l.hash)) return true;
      const st = await fs.lstat(abs);
      if (st.size !== l.size) return false;
      // Streamed; the server verifies the hash and stores nothing on a mismatch.
      try {
        await ctx.remote.putBlob(ctx.user, l.hash, () => fs.createReadStream(abs), l.size);
      } catch (err) {
        if (isDmanError(err, 'HASH_MISMATCH') || isDmanError(err, 'BAD_REQUEST')) return false;
        throw err;
      }
      return true;
    }
    const data = await fs.readFile(abs);
    try {
      // The server verifies the hash; a mismatch means the file changed since the scan.
      await ctx.remote.putBlob(ctx.user, l.hash, data, data.length);
    } catch (err) {
      if (isDmanError(err, 'HASH_MISMATCH')) return false;
      throw err;
    }
    return true;
  }

  function opOf(path: string, l: LocalFile | null, baseRev: number): CommitOpInput {
    if (!l) return { path, baseRev, deleted: true };
    if (l.kind === 'symlink') return { path, baseRev, kind: 'symlink', hash: l.hash, size: l.size, mode: 0, mtime: l.mtime, target: l.target ?? '' };
    return { path, baseRev, kind: 'file', hash: l.hash, size: l.size, mode: l.mode, mtime: l.mtime };
  }

  function baseOf(e: Entry): BaseRecord {
    return { rev: e.rev, kind: e.kind, hash: e.hash, size: e.size, mode: e.mode, deleted: e.deleted, ...(e.target !== undefined ? { target: e.target } : {}) };
  }

  // ---- the Engine

  async function sync(opts: SyncOptions, policyOverride?: ConflictPolicy): Promise<SyncReport> {
    const t0 = performance.now();
    const opId = randomUUID();
    const report: SyncReport = { opId, direction: opts.direction, dryRun: !!opts.dryRun, users: [], offline: false, totalMs: 0 };
    for (const user of userNames(opts.users)) {
      try {
        const r = await serialize(user, () => runUser(user, opts, policyOverride, opId));
        report.users.push(r);
        emit({ type: 'synced', user, report: r });
      } catch (err) {
        const partial = (err as { partialReport?: UserSyncReport }).partialReport;
        if (partial) {
          report.offline = true;
          report.users.push(partial);
          emit({ type: 'error', user, error: toErrorValue(err) });
          continue;
        }
        throw err;
      }
    }
    report.totalMs = performance.now() - t0;
    return report;
  }

  const engine: Engine = {
    sync: (opts) => sync(opts),

    async compare(opts = {}) {
      const lines: CompareLine[] = [];
      const r = await sync({ direction: 'both', dryRun: true, only: opts.only, users: opts.users, yes: true });
      if (r.offline) throw new DmanError('SERVER_UNREACHABLE', `cannot compare: the server at ${baseRemote.url} is unreachable`, { hint: 'start the server or check server_url' });
      for (const u of r.users) {
        const state = await stateOf(u.user);
        const acted = new Set(u.actions.map((a) => a.path));
        for (const a of u.actions) {
          const remoteLive = state.remote.get(a.path) && !state.remote.get(a.path)!.deleted;
          const localLive = state.statCache.has(a.path);
          let line: CompareLine | null = null;
          if (a.type === 'conflict' || a.type === 'merge' || a.conflict) line = { user: u.user, path: a.path, state: 'conflict', direction: 'none' };
          else if (a.type === 'publish') line = { user: u.user, path: a.path, state: !localLive ? 'delete' : remoteLive ? 'modify' : 'add', direction: 'remote' };
          else if (a.type === 'install') line = { user: u.user, path: a.path, state: !remoteLive ? 'delete' : localLive ? 'modify' : 'add', direction: 'local' };
          else if (a.type === 'converged') line = opts.showSame ? { user: u.user, path: a.path, state: 'same', direction: 'none' } : null;
          if (line) lines.push(line);
        }
        if (opts.showSame) {
          for (const p of state.statCache.keys()) if (!acted.has(p) && state.base.has(p)) lines.push({ user: u.user, path: p, state: 'same', direction: 'none' });
        }
      }
      return lines.sort((a, b) => (a.user + a.path < b.user + b.path ? -1 : 1));
    },

    async conflicts() {
      const out: ConflictRecord[] = [];
      for (const u of userNames()) out.push(...(await stateOf(u)).conflicts.values());
      return out;
    },

    async conflictDetail(user, path) {
      userNames([user]);
      const state = await stateOf(user);
      const record = state.conflicts.get(path);
      if (!record) throw new DmanError('NOT_FOUND', `no open conflict on "${path}" for ${user}`, { hint: 'list them with `dman conflicts`', context: { user, path } });
      const home = config.users[user]!.home;
      const baseHash = state.base.get(path)?.deleted === false ? state.base.get(path)!.hash : null;
      const blob = async (hash: string | null | undefined): Promise<Buffer | null> => (hash ? readAll(await baseRemote.getBlob(user, hash)).catch(() => null) : null);
      const [base, local, remote] = await Promise.all([
        blob(baseHash),
        record.local?.kind === 'file' ? fs.readFile(join(home, path)).catch(() => null) : Promise.resolve(null),
        record.remote?.kind === 'file' ? blob(record.remote.hash) : Promise.resolve(null),
      ]);
      const binary = [base, local, remote].some((b) => b !== null && isBinary(b));
      const text = (b: Buffer | null): string | null => (b === null || binary ? null : b.toString('utf8'));
      return { record, binary, base: text(base), local: text(local), remote: text(remote) };
    },

    async resolve(user, path, how: Resolution) {
      userNames([user]);
      const state = await stateOf(user);
      if (!state.conflicts.has(path)) throw new DmanError('NOT_FOUND', `no open conflict on "${path}" for ${user}`, { hint: 'list them with `dman conflicts`', context: { user, path } });
      let policy: ConflictPolicy;
      if (how === 'local') policy = 'local-wins';
      else if (how === 'server') policy = 'server-wins';
      else if (how === 'both') policy = 'keep-both';
      else {
        const rec = state.conflicts.get(path)!;
        await writeLocal(config.users[user]!.home, path, Buffer.from(how.mergedText), rec.local?.mode || rec.remote?.mode || 0o644, fs);
        policy = 'local-wins';
      }
      const r = await sync({ direction: 'both', only: [path], users: [user], yes: true }, policy);
      if (r.offline) throw new DmanError('SERVER_UNREACHABLE', `cannot resolve "${path}": the server at ${baseRemote.url} is unreachable`, { hint: 'run again once the server is back' });
      const err = r.users[0]?.errors[0];
      if (err) throw new DmanError(err.code, err.message, { hint: err.hint, context: err.context });
    },

    async history(user, path) {
      userNames([user]);
      return baseRemote.history(user, path);
    },

    async restore(user, path, rev) {
      userNames([user]);
      const state = await stateOf(user);
      await serialize(user, () => fetchRemote(user, state, baseRemote));
      const cur = state.remote.get(path);
      const res = await baseRemote.restore(user, path, rev, cur?.rev ?? 0, config.device);
      if (!res.ok) throw new DmanError('CONFLICT', `"${path}" changed on the server while restoring; nothing was restored`, { hint: 'run `dman sync` and try again', context: { user, path } });
      await sync({ direction: 'install', only: [path], users: [user], yes: true });
      return res.entries[0]!;
    },

    async status(): Promise<StatusReport> {
      let online = true;
      try { await baseRemote.health(); } catch { online = false; }
      const users: StatusReport['users'] = [];
      for (const user of userNames()) {
        // Under the user's lock: a watch run may be using the same stat cache.
        const { state, scanned } = await serialize(user, async () => {
          const st = await stateOf(user);
          return { state: st, scanned: await scanUser(user, st) };
        });
        const matcher = matcherOf(user);
        const home = config.users[user]!.home;
        const unreadable = new Set(scanned.skipped.map((s) => s.path));
        // The same guards as a run: a file the secret guard holds back (or the scan could not read)
        // is skipped, not pending — otherwise it would count as "to publish" forever.
        const plan = await secretGuard(home, planSync({ local: scanned.files, base: state.base, remote: state.remote }, { policy: 'ask', device: config.device, now: clock.now() })
          .filter((a) => matcher.isTracked(a.path) && !unreadable.has(a.path)), scanned.files);
        users.push({
          user, home, tracked: scanned.files.size,
          pending: plan.filter((a) => a.type === 'publish').length,
          skipped: plan.filter((a) => a.type === 'skip').length + unreadable.size,
          conflicts: state.conflicts.size, lastSyncAt: state.lastSyncAt, headRev: state.cursor,
        });
      }
      return { serverUrl: baseRemote.url, online, users };
    },

    async watch() {
      if (closed) throw new DmanError('USAGE', 'the engine is closed');
      capYoungGeneration();
      const users = userNames();
      /** The queued run per user: the paths it looks at, or 'all' for a full run. */
      const queued = new Map<string, Set<string> | 'all'>();
      /** Paths a run skipped or failed on: the next scoped run looks at them again. */
      const carry = new Map<string, Set<string>>();
      const needsFull = new Set<string>();
      const notified = new Set<string>();
      const trigger = (user: string, why: string, paths?: string[]): void => {
        const cur = queued.get(user);
        log.debug({ user, why, queued: cur !== undefined }, 'watch trigger');
        // Coalesce: at most one queued run per user behind the running one; its scope is the union.
        if (!paths || cur === 'all') queued.set(user, 'all');
        else {
          const set = cur ?? new Set<string>();
          for (const p of paths) set.add(p);
          queued.set(user, set);
        }
        if (cur !== undefined) return;
        void serialize(user, async () => {
          const q = queued.get(user);
          queued.delete(user);
          if (closed) return;
          let scope: Set<string> | undefined;
          if (q !== 'all' && q !== undefined && !needsFull.has(user)) {
            scope = q;
            for (const p of carry.get(user) ?? []) scope.add(p);
          }
          needsFull.delete(user);
          carry.delete(user);
          try {
            const r = await runUser(user, { direction: 'both' }, undefined, undefined, scope);
            const again = new Set<string>([...r.skipped.map((x) => x.path), ...r.actions.filter((a) => a.error).map((a) => a.path)]);
            if (r.errors.some((e) => !r.actions.some((a) => a.error === e))) needsFull.add(user);
            if (again.size > 0) carry.set(user, again);
            notified.clear();
            emit({ type: 'synced', user, report: r });
          } catch (err) {
            needsFull.add(user);
            const ev = toErrorValue(err);
            emit({ type: 'error', user, error: ev });
            if (!(err as { partialReport?: unknown }).partialReport) log.warn({ user, err: ev.message }, 'watch run failed');
            // Tell the user once per kind of failure, not on every retry of the watcher.
            if (!notified.has(`${user}:${ev.code}`) && ev.code !== 'SERVER_UNREACHABLE') {
              notified.add(`${user}:${ev.code}`);
              deps.notifier?.notify({ kind: 'error', title: 'dman: sync stopped', body: ev.hint ? `${ev.message} (${ev.hint})` : ev.message, user });
            }
          } finally {
            // A run that grew the heap (a full run: hundreds of MB of garbage at 100,000 files) leaves
            // pages V8 keeps until its next major GC, which an idle watcher may not reach for long.
            releaseMemoryIfGrown();
            ensureRescan();
          }
        });
      };
      if (deps.watcher) {
        await deps.watcher.start(users.map((u) => ({ user: u, home: config.users[u]!.home, matcher: matcherOf(u) })), (u, paths) => trigger(u, paths ? 'disk' : 'home replaced', paths ?? undefined));
      }
      // Load each user's state before the start run and collect what loading it left behind (at
      // 100,000 files the 40 MB state file parses into ~150 MB of garbage): the start run's walk
      // then grows from the live state, not on top of the parse's leftovers. A failed load is the
      // start run's to report.
      await Promise.all(users.map((u) => serialize(u, () => stateOf(u)).catch(() => undefined)));
      releaseMemoryIfGrown();
      for (const u of users) {
        unsubscribers.push(baseRemote.subscribe(u, (rev) => {
          const s = states.get(u);
          if (!s || rev > s.cursor) trigger(u, `push ${rev}`, []);
        }));
        trigger(u, 'start');
      }
      const every = deps.rescanMs ?? 60_000;
      if (every > 0) {
        rescanTimer = setInterval(() => users.forEach((u) => trigger(u, 'rescan')), every);
        rescanTimer.unref();
      }
      // Folders the system had no watch left for (at start, or for folders made later) are only
      // seen by the rescan: it is turned on then, even where it was turned off.
      ensureRescan = (): void => {
        if (rescanTimer || closed) return;
        const watching = deps.watcher?.status?.();
        if (!watching || watching.unwatched === 0) return;
        log.warn({ unwatched: watching.unwatched, limit: watching.limit }, 'some folders are not watched (system limit), so the periodic rescan runs every 60 s although it was turned off');
        rescanTimer = setInterval(() => users.forEach((u) => trigger(u, 'rescan')), 60_000);
        rescanTimer.unref();
      };
      ensureRescan();
    },

    async close() {
      closed = true;
      clearInterval(rescanTimer);
      for (const u of unsubscribers) u();
      unsubscribers = [];
      await deps.watcher?.close();
      await Promise.allSettled([...chains.values()]);
      // Fold a long state journal into its snapshot, under the user's lock like any save.
      const compact = stateStore.compact?.bind(stateStore);
      if (compact) {
        // Only users whose journal is due: a lock round trip per user on every close is not free.
        const due = [...states].filter(([u, s]) => stateStore.compactDue?.(baseRemote.url, u, s) ?? true).map(([u]) => u);
        await Promise.allSettled(due.map((u) => serialize(u, async () => {
          const s = states.get(u);
          if (s) await compact(baseRemote.url, u, s);
        })));
      }
    },

    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return engine;
}
