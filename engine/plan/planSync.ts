// The three-tree planner (ARCHITECTURE.md, "The sync model"): a pure function from what is on
// disk (local), what both sides last agreed on (base) and what the server holds (remote) to
// one action per path. Nothing here touches disk or network.
import type { Entry, EntryKind } from '../../shared/protocol.js';

/** How a conflict is settled (config `conflict_policy`). */
export type ConflictPolicy = 'ask' | 'server-wins' | 'local-wins' | 'keep-both' | 'merge';

/** What is on disk at a path now (scan result); absent paths are simply missing. */
export interface LocalFile {
  kind: EntryKind;
  /** SHA-256 of the content (file) or of the target string (symlink). */
  hash: string;
  size: number;
  /** Permission bits; 0 for symlinks. */
  mode: number;
  mtime: number;
  target?: string;
}

/** What both sides last agreed on for a path (the engine's local state). */
export interface BaseRecord {
  rev: number;
  kind: EntryKind;
  hash: string | null;
  size: number;
  mode: number;
  deleted: boolean;
  target?: string;
}

export type PlanActionType = 'nothing' | 'install' | 'publish' | 'converged' | 'merge' | 'conflict' | 'skip';

interface ActionBase {
  path: string;
  /** Set when both sides changed; says which policy settled it. Exactly one per double edit. */
  conflict?: ConflictPolicy;
}

/** One step of a plan. */
export type PlanAction =
  | (ActionBase & { type: 'nothing' })
  /** Download `remote` (or delete the local file when it is a tombstone). `keepLocalAs` keeps the loser first. */
  | (ActionBase & { type: 'install'; remote: Entry; keepLocalAs?: string })
  /** Upload `local` (null = publish a tombstone) with `baseRev` as the precondition. */
  | (ActionBase & { type: 'publish'; local: LocalFile | null; baseRev: number })
  /** Both sides already agree; record `remote` as the new base (null: forget the base, the server holds nothing). */
  | (ActionBase & { type: 'converged'; remote: Entry | null })
  /** Try a 3-way text merge of base, local and remote; fall back to `conflict` on overlap or binaries. */
  | (ActionBase & { type: 'merge'; local: LocalFile; remote: Entry; base: BaseRecord })
  /** Leave the local file untouched and record the conflict for review. */
  | (ActionBase & { type: 'conflict'; local: LocalFile | null; remote: Entry | null; base: BaseRecord | null; reason: string })
  /** Left alone because of the run's direction or options. */
  | (ActionBase & { type: 'skip'; reason: string; wanted: 'install' | 'publish' });

export interface PlanInput {
  local: ReadonlyMap<string, LocalFile>;
  base: ReadonlyMap<string, BaseRecord>;
  remote: ReadonlyMap<string, Entry>;
}

/** What `revIfHolds` answers for a path without a row. */
export const NO_ROW = -2;
/** What `revIfHolds` answers for a row that holds something else (a tombstone, other content, kind or mode). */
export const OTHER_ROW = -1;

/**
 * A base or server mirror that can say whether a path's row holds given live content without
 * building its record (PackedMap, whose `get` builds one per call). When both the base and the
 * mirror offer it, a quiet run's planSync builds records only for the paths that need planning.
 */
export interface RowProbe {
  /**
   * The rev of `path`'s row when it is live (not deleted, a hash) content of this kind and hash,
   * and of this mode unless a symlink; OTHER_ROW for any other row; NO_ROW without one.
   * (A negative rev in a row is answered as it is: planSync then takes its slower route.)
   */
  revIfHolds(path: string, kind: EntryKind, hash: string, mode: number): number;
}

/**
 * Maps whose paths are rows of one numbered table (the state's PackedMaps share one): planChanges
 * finds the paths base and remote hold beyond local's by marking local's rows, not by a lookup of
 * every key of both maps in local.
 */
export interface RowKeys {
  /** The table the row ids number (maps of one table give the same id to a path). */
  readonly rowTable: object;
  /** How many ids the table has given (ids are 0 ..< this). */
  rowIds(): number;
  /** The row id of `path` in the table, or -1 (the map need not hold it). */
  rowIdOf(path: string): number;
  /** Appends to `out` the keys this map holds whose id is not marked in `marked`, and marks them. */
  keysUnmarked(marked: Uint8Array, out: string[]): void;
}

function rowKeysOf(m: ReadonlyMap<string, unknown>): RowKeys | null {
  return typeof (m as Partial<RowKeys>).keysUnmarked === 'function' ? (m as unknown as RowKeys) : null;
}

/** The paths `base` or `remote` hold that `local` does not, each once. */
function pathsBeyond(local: ReadonlyMap<string, unknown>, base: ReadonlyMap<string, unknown>, remote: ReadonlyMap<string, unknown>): string[] {
  const rb = rowKeysOf(base), rr = rowKeysOf(remote);
  const out: string[] = [];
  if (rb && rr && rb.rowTable === rr.rowTable) {
    const marked = new Uint8Array(rb.rowIds());
    for (const p of local.keys()) {
      const id = rb.rowIdOf(p);
      if (id >= 0) marked[id] = 1;
    }
    rb.keysUnmarked(marked, out);
    rr.keysUnmarked(marked, out);
    return out;
  }
  const seen = new Set<string>();
  for (const m of [base, remote]) {
    for (const p of m.keys()) {
      if (local.has(p) || seen.has(p)) continue;
      seen.add(p);
      out.push(p);
    }
  }
  return out;
}

/** Whether a map offers RowProbe. */
function probeOf(m: ReadonlyMap<string, unknown>): RowProbe | null {
  return typeof (m as Partial<RowProbe>).revIfHolds === 'function' ? (m as unknown as RowProbe) : null;
}

export interface PlanOptions {
  policy: ConflictPolicy;
  /** This machine's name, used in keep-both copy names. */
  device: string;
  /** ms since the epoch, used in keep-both copy names. */
  now: number;
  direction?: 'both' | 'publish' | 'install';
  /** Publish-only: delete server entries that never existed here. */
  prune?: boolean;
}

const CONFLICT_COPY_RE = /\.dman-conflict-[^/]*$/;

/** Returns true when `path` is a keep-both conflict copy (never tracked, never conflicts again). */
export function isConflictCopy(path: string): boolean {
  // The substring test first: far cheaper than the regex for the paths (nearly all) without it.
  return path.includes('.dman-conflict-') && CONFLICT_COPY_RE.test(path);
}

/** Builds the keep-both copy name `NAME.dman-conflict-<device>-<time>` for `path`. */
export function conflictCopyName(path: string, device: string, now: number): string {
  const safeDevice = device.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'device';
  const time = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${path}.dman-conflict-${safeDevice}-${time}`;
}

type Shape = { kind: EntryKind; hash: string; mode: number } | null;

function shapeOfLocal(l: LocalFile | undefined): Shape {
  return l ? { kind: l.kind, hash: l.hash, mode: l.kind === 'symlink' ? 0 : l.mode } : null;
}
function shapeOfBase(b: BaseRecord | undefined): Shape {
  return b && !b.deleted && b.hash !== null ? { kind: b.kind, hash: b.hash, mode: b.kind === 'symlink' ? 0 : b.mode } : null;
}
function shapeOfRemote(r: Entry | undefined): Shape {
  return r && !r.deleted && r.hash !== null ? { kind: r.kind, hash: r.hash, mode: r.kind === 'symlink' ? 0 : r.mode } : null;
}
function same(a: Shape, b: Shape): boolean {
  if (a === null || b === null) return a === b;
  return a.kind === b.kind && a.hash === b.hash && a.mode === b.mode;
}

/** Decides the action for one path from its three versions. */
export function planPath(path: string, local: LocalFile | undefined, base: BaseRecord | undefined, remote: Entry | undefined, opts: PlanOptions): PlanAction {
  // The common case, decided without building shapes: all three agree on content and rev.
  if (local && base && remote && !base.deleted && !remote.deleted && base.hash !== null && local.hash === base.hash && remote.hash === base.hash
    && local.kind === base.kind && remote.kind === base.kind && remote.rev === base.rev
    && (base.kind === 'symlink' || (local.mode === base.mode && remote.mode === base.mode))) return { path, type: 'nothing' };
  if (isConflictCopy(path)) return { path, type: 'nothing' };
  const L = shapeOfLocal(local);
  const B = shapeOfBase(base);
  const R = shapeOfRemote(remote);
  const remoteRev = remote?.rev ?? 0;
  const baseRev = base?.rev ?? 0;
  const action = decide();
  return applyDirection(action, local, opts);

  function decide(): PlanAction {
    if (base && !remote) {
      // The server holds nothing where we agreed on something (a reset or another server):
      // never delete locally for that; publish what we have again.
      return local ? { path, type: 'publish', local, baseRev: 0 } : { path, type: 'converged', remote: null };
    }
    const localChanged = !same(L, B);
    const remoteChanged = !same(R, B);
    if (!localChanged && !remoteChanged) {
      // Same content, but the server moved the rev (or holds a tombstone we never recorded).
      if (remote && remoteRev !== baseRev) return { path, type: 'converged', remote };
      return { path, type: 'nothing' };
    }
    if (!localChanged) return { path, type: 'install', remote: remote! };
    if (!remoteChanged) return { path, type: 'publish', local: local ?? null, baseRev: remoteRev };
    if (same(L, R)) return remote ? { path, type: 'converged', remote } : { path, type: 'nothing' };
    // Both changed, differently. An edit beats a concurrent delete, silently: nothing is lost.
    if (L === null) return { path, type: 'install', remote: remote! };
    if (R === null) return { path, type: 'publish', local: local!, baseRev: remoteRev };
    const policy = opts.policy;
    switch (policy) {
      case 'server-wins':
        return { path, type: 'install', remote: remote!, conflict: policy };
      case 'local-wins':
        return { path, type: 'publish', local: local!, baseRev: remoteRev, conflict: policy };
      case 'keep-both':
        return { path, type: 'install', remote: remote!, keepLocalAs: conflictCopyName(path, opts.device, opts.now), conflict: policy };
      case 'merge':
        if (B && B.kind === 'file' && L.kind === 'file' && R.kind === 'file' && base) return { path, type: 'merge', local: local!, remote: remote!, base, conflict: policy };
        return { path, type: 'conflict', local: local ?? null, remote: remote ?? null, base: base ?? null, reason: B ? 'both sides changed and one is not a regular file, so it cannot be merged' : 'both sides added different content (no common base to merge against)', conflict: 'ask' };
      default:
        return { path, type: 'conflict', local: local ?? null, remote: remote ?? null, base: base ?? null, reason: 'both sides changed since the last sync', conflict: 'ask' };
    }
  }
}

function applyDirection(a: PlanAction, local: LocalFile | undefined, opts: PlanOptions): PlanAction {
  const dir = opts.direction ?? 'both';
  if (dir === 'both') return a;
  if (a.type === 'merge') {
    return { path: a.path, type: 'skip', wanted: dir === 'publish' ? 'install' : 'publish', reason: 'merge skipped: it needs a two-way run (dman sync)', conflict: a.conflict };
  }
  if (dir === 'publish' && a.type === 'install') {
    // Publish-only with prune: remove from the server what this machine does not hold.
    if (opts.prune && !a.remote.deleted && local === undefined) return { path: a.path, type: 'publish', local: null, baseRev: a.remote.rev, conflict: a.conflict };
    return { path: a.path, type: 'skip', wanted: 'install', reason: 'install skipped: this run only publishes', conflict: a.conflict };
  }
  if (dir === 'install' && a.type === 'publish') return { path: a.path, type: 'skip', wanted: 'publish', reason: 'publish skipped: this run only installs', conflict: a.conflict };
  return a;
}

/**
 * Plans every path seen in any of the three trees, sorted by path. Also turns an install that
 * would put a file where a directory of live paths stays (or the reverse) into a conflict.
 */
export function planSync(input: PlanInput, opts: PlanOptions): PlanAction[] {
  const planned = planSame(input, opts);
  let sorted: string[], actions: PlanAction[], installs: boolean;
  if (planned !== null) {
    ({ sorted, actions, installs } = planned);
  } else {
    sorted = allPaths(input).sort();
    actions = new Array<PlanAction>(sorted.length);
    installs = false;
    // The trees hold other paths too (a home with deletions behind it keeps their tombstones):
    // an unchanged path is still decided without records, as in planSame.
    const bp = probeOf(input.base), rp = bp && probeOf(input.remote);
    for (let i = 0; i < sorted.length; i++) {
      const p = sorted[i]!;
      const l = input.local.get(p);
      if (l !== undefined && rp !== null) {
        const rb = bp!.revIfHolds(p, l.kind, l.hash, l.mode);
        if (rb >= 0 && rp.revIfHolds(p, l.kind, l.hash, l.mode) === rb) {
          actions[i] = { path: p, type: 'nothing' };
          continue;
        }
      }
      const a = planPath(p, l, input.base.get(p), input.remote.get(p), opts);
      if (a.type === 'install' && !a.remote.deleted) installs = true;
      actions[i] = a;
    }
  }
  if (!installs) return actions;
  const n = sorted.length;
  // Which paths exist on disk after the plan. A path under `d/` needs directory d; the paths
  // under `d/` are contiguous in the sorted list, so "is one of them live" is one binary search
  // plus a look at the next live index (no per-path set of directories).
  const live = new Uint8Array(n);
  const nextLive = new Int32Array(n + 1);
  nextLive[n] = n;
  for (let i = n - 1; i >= 0; i--) {
    const a = actions[i]!;
    live[i] = Number(a.type === 'install' ? !a.remote.deleted : input.local.has(sorted[i]!));
    nextLive[i] = live[i] ? i : nextLive[i + 1]!;
  }
  /** The first index whose path is >= key. */
  const lowerBound = (key: string): number => {
    let lo = 0, hi = n;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (sorted[mid]! < key) lo = mid + 1; else hi = mid; }
    return lo;
  };
  for (let i = 0; i < n; i++) {
    const a = actions[i]!;
    if (a.type !== 'install' || a.remote.deleted) continue;
    const p = sorted[i]!;
    const below = `${p}/`;
    const j = nextLive[lowerBound(below)]!;
    let clash = j < n && sorted[j]!.startsWith(below);
    for (let k = p.indexOf('/'); !clash && k !== -1; k = p.indexOf('/', k + 1)) {
      const up = p.slice(0, k);
      const at = lowerBound(up);
      clash = at < n && sorted[at] === up && live[at] === 1;
    }
    if (clash) actions[i] = { path: p, type: 'conflict', local: input.local.get(p) ?? null, remote: a.remote, base: input.base.get(p) ?? null, reason: 'the server holds a file where this machine has a directory (or the reverse)', conflict: 'ask' };
  }
  return actions;
}

/** What planChanges found: the actions other than 'nothing' (sorted by path), and how many paths plan as 'nothing'. */
export interface PlanChanges {
  actions: PlanAction[];
  /** Paths on disk that plan as 'nothing'. */
  unchanged: number;
  /** Paths not on disk that plan as 'nothing' (deleted on both sides, conflict copies): the caller decides whether they count. */
  unchangedElsewhere: string[];
}

const byPath = (a: PlanAction, b: PlanAction): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * planSync for a run that only counts what is unchanged: the same actions but 'nothing', without
 * an action object per unchanged path and without sorting every path (a quiet run of 10,000 files
 * spent ~10 ms building, sorting and then skipping them). A plan with an install that lands a
 * file (which may meet a folder: planSync's check needs every path in order) is made by planSync.
 */
export function planChanges(input: PlanInput, opts: PlanOptions): PlanChanges {
  const { local, base, remote } = input;
  const bp = probeOf(base), rp = bp && probeOf(remote);
  const actions: PlanAction[] = [];
  const elsewhere: string[] = [];
  let unchanged = 0;
  let whole = false;
  /** How many of local's paths base and remote hold: fewer than their sizes means they hold others too. */
  let inBase = 0, inRemote = 0;
  // forEach, not for-of: an entry array per path is 1.8 MB of garbage at 10,000 files in code
  // that runs once (never optimized); once `whole` is set the rest is skipped.
  local.forEach((l, p) => {
    if (whole) return;
    if (rp !== null) {
      const rb = bp!.revIfHolds(p, l.kind, l.hash, l.mode);
      if (rb >= 0 && rp.revIfHolds(p, l.kind, l.hash, l.mode) === rb) {
        unchanged++;
        inBase++;
        inRemote++;
        return;
      }
    }
    const b = base.get(p), r = remote.get(p);
    if (b !== undefined) inBase++;
    if (r !== undefined) inRemote++;
    const a = planPath(p, l, b, r, opts);
    if (a.type === 'install' && !a.remote.deleted) whole = true;
    else if (a.type === 'nothing') unchanged++;
    else actions.push(a);
  });
  if (!whole && (inBase < base.size || inRemote < remote.size)) {
    // What base or remote hold beyond local's paths (usually tombstones).
    for (const p of pathsBeyond(local, base, remote)) {
      const a = planPath(p, undefined, base.get(p), remote.get(p), opts);
      if (a.type === 'install' && !a.remote.deleted) { whole = true; break; }
      if (a.type === 'nothing') elsewhere.push(p);
      else actions.push(a);
    }
  }
  if (whole) {
    actions.length = 0;
    elsewhere.length = 0;
    unchanged = 0;
    for (const a of planSync(input, opts)) {
      if (a.type !== 'nothing') actions.push(a);
      else if (local.has(a.path)) unchanged++;
      else elsewhere.push(a.path);
    }
    return { actions, unchanged, unchangedElsewhere: elsewhere };
  }
  actions.sort(byPath);
  return { actions, unchanged, unchangedElsewhere: elsewhere };
}

/**
 * planSync's loop for the usual case (a quiet run), where the three trees hold the same paths:
 * plans local's paths in order, fetching each record once (no separate check that the trees hold
 * the same paths, no second lookup per path; base and remote build a record per lookup). Equal
 * sizes and every local path in base and remote mean the same paths. Returns null as soon as a
 * path is missing from base or remote (or the sizes differ): the caller then plans the union.
 * When base and remote offer RowProbe, an unchanged path (both hold local's content at one rev)
 * is planned 'nothing' without building their records.
 */
function planSame(input: PlanInput, opts: PlanOptions): { sorted: string[]; actions: PlanAction[]; installs: boolean } | null {
  const { local, base, remote } = input;
  const n = local.size;
  if (base.size !== n || remote.size !== n) return null;
  const sorted = Array.from(local.keys()).sort();
  const actions = new Array<PlanAction>(n);
  let installs = false;
  const bp = probeOf(base), rp = bp && probeOf(remote);
  for (let i = 0; i < n; i++) {
    const p = sorted[i]!;
    if (rp !== null) {
      // Both hold local's content at the same rev: planPath's first case ('nothing'), decided without records.
      const l = local.get(p)!;
      const rb = bp!.revIfHolds(p, l.kind, l.hash, l.mode);
      if (rb === NO_ROW) return null;
      if (rb >= 0) {
        const rr = rp.revIfHolds(p, l.kind, l.hash, l.mode);
        if (rr === NO_ROW) return null;
        if (rr === rb) {
          actions[i] = { path: p, type: 'nothing' };
          continue;
        }
      }
    }
    const b = base.get(p);
    if (b === undefined) return null;
    const r = remote.get(p);
    if (r === undefined) return null;
    const a = planPath(p, local.get(p), b, r, opts);
    if (a.type === 'install' && !a.remote.deleted) installs = true;
    actions[i] = a;
  }
  return { sorted, actions, installs };
}

/**
 * Every path of the three trees once: local's, then those only base or remote hold (usually a
 * home's tombstones of deleted paths; a quiet run's three trees often hold the same paths, and
 * then nothing is added). No set of all paths is built.
 */
function allPaths(input: PlanInput): string[] {
  const { local, base, remote } = input;
  const keys = Array.from(local.keys());
  let extra: Set<string> | null = null;
  for (const p of base.keys()) if (!local.has(p)) (extra ??= new Set()).add(p);
  for (const p of remote.keys()) if (!local.has(p)) (extra ??= new Set()).add(p);
  if (extra) for (const p of extra) keys.push(p);
  return keys;
}

/** Counts actions by type (for reports and the mass-change guard). */
export function countActions(actions: readonly PlanAction[]): Record<PlanActionType, number> {
  const c: Record<PlanActionType, number> = { nothing: 0, install: 0, publish: 0, converged: 0, merge: 0, conflict: 0, skip: 0 };
  for (const a of actions) c[a.type]++;
  return c;
}
