// The public face of the sync engine: what the CLI, the agent and the tray app drive.
// Types only, so callers can code against them while the implementation grows.
import type { Entry } from '../shared/protocol.js';
import type { ErrorValue } from '../shared/errors.js';
import type { ConflictPolicy, PlanAction, PlanActionType } from './plan/planSync.js';

export type { ConflictPolicy, PlanAction, PlanActionType };

/** Which way a run may move data. */
export type SyncDirection = 'both' | 'publish' | 'install';

export interface SyncOptions {
  direction: SyncDirection;
  /** Globs (relative to the user's home) limiting the run; tracked-pattern exclusions still apply. */
  only?: string[];
  /** Plan and report, change nothing. */
  dryRun?: boolean;
  /** Publish-only runs: delete server entries that exist on the server but not locally (and were never synced here). */
  prune?: boolean;
  /** Confirms a run the mass-change guard stopped. */
  yes?: boolean;
  /** Limit to these configured users (default: all). */
  users?: string[];
}

/** One action the run did (or, in a dry run, would do). */
export interface ReportAction {
  path: string;
  type: PlanActionType;
  /** Present when the action came from a conflict and the policy that settled it. */
  conflict?: ConflictPolicy;
  /** Set when the action failed; the run goes on with other paths. */
  error?: ErrorValue;
}

/** A path the run left alone, and why (secret guard, only-filter, direction). */
export interface SkippedPath { path: string; reason: string }

/** What one user's part of a run did. */
export interface UserSyncReport {
  user: string;
  home: string;
  actions: ReportAction[];
  conflicts: ConflictRecord[];
  skipped: SkippedPath[];
  errors: ErrorValue[];
  counts: { published: number; installed: number; deleted: number; converged: number; conflicts: number; skipped: number; errors: number; unchanged: number };
  /** Globs from `only` that matched no tracked path. */
  unmatchedOnly: string[];
  /** Literal paths from `only` that the track patterns exclude, with the deciding pattern (null: no pattern tracks it). */
  excludedOnly: Array<{ glob: string; pattern: string | null }>;
  timings: { scanMs: number; fetchMs: number; planMs: number; applyMs: number; totalMs: number };
}

/** What a whole run did. */
export interface SyncReport {
  opId: string;
  direction: SyncDirection;
  dryRun: boolean;
  users: UserSyncReport[];
  /** True when the server could not be reached: local changes stay pending. */
  offline: boolean;
  totalMs: number;
}

/** An unresolved conflict (policy `ask`, or a merge that overlapped). */
export interface ConflictRecord {
  user: string;
  path: string;
  /** When it was first seen (ms). */
  since: number;
  reason: string;
  local: { kind: 'file' | 'symlink'; hash: string; size: number; mode: number } | null;
  remote: Entry | null;
  baseRev: number | null;
}

/** One line of `compare`. */
export interface CompareLine {
  user: string;
  path: string;
  state: 'add' | 'modify' | 'delete' | 'same' | 'conflict';
  /** Which side would change: 'local' = install onto disk, 'remote' = publish to the server. */
  direction: 'local' | 'remote' | 'none';
}

export interface StatusReport {
  serverUrl: string;
  online: boolean;
  /** `skipped`: paths held back (secrets, unreadable), never counted as pending. */
  users: Array<{ user: string; home: string; tracked: number; pending: number; skipped?: number; conflicts: number; lastSyncAt: number | null; headRev: number }>;
}

/** The three versions of a conflicted path, for a review screen (text is null for binaries or absent sides). */
export interface ConflictDetail {
  record: ConflictRecord;
  binary: boolean;
  base: string | null;
  local: string | null;
  remote: string | null;
}

/** How to settle a conflict by hand. */
export type Resolution = 'local' | 'server' | 'both' | { mergedText: string };

/** Events for progress bars, notifications and the UI. */
export type EngineEvent =
  | { type: 'progress'; user: string; phase: 'scan' | 'fetch' | 'apply'; done: number; total: number; path?: string }
  | { type: 'conflict'; conflict: ConflictRecord }
  | { type: 'synced'; user: string; report: UserSyncReport }
  | { type: 'error'; user?: string; path?: string; error: ErrorValue };

/** The sync client: one per process, built by createEngine. */
export interface Engine {
  sync(opts: SyncOptions): Promise<SyncReport>;
  compare(opts?: { users?: string[]; only?: string[]; showSame?: boolean }): Promise<CompareLine[]>;
  conflicts(): Promise<ConflictRecord[]>;
  /** Reads the base, local and server text of an open conflict (throws NOT_FOUND when there is none). */
  conflictDetail(user: string, path: string): Promise<ConflictDetail>;
  resolve(user: string, path: string, how: Resolution): Promise<void>;
  history(user: string, path: string): Promise<Entry[]>;
  restore(user: string, path: string, rev: number): Promise<Entry>;
  status(): Promise<StatusReport>;
  /** Starts watching disk and the server's push stream; resolves once watching. */
  watch(): Promise<void>;
  /** Stops watching and releases everything. */
  close(): Promise<void>;
  on(listener: (e: EngineEvent) => void): () => void;
}
