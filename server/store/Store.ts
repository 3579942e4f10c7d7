// The Store port: everything the server keeps, behind one interface that the disk, Redis,
// MariaDB and memory drivers implement and one contract suite (contract.ts) checks.
import type { Readable } from 'node:stream';
import type { CommitConflict, CommitOp, Entry, TokenInfo } from '../../shared/protocol.js';

export type DriverName = 'memory' | 'disk' | 'redis' | 'mariadb';

export interface StoreHealth {
  ok: boolean;
  latencyMs: number;
  error?: string;
  /** Driver-specific facts shown in /status and `dman doctor` (e.g. redis persistence, schema version). */
  details?: Record<string, unknown>;
  /** Things an operator should fix (e.g. "Redis persistence is off"). */
  warnings?: string[];
}

export interface CommitInput {
  user: string;
  device: string;
  ops: CommitOp[];
  /** A retried commit with the same key returns the first result and writes nothing. */
  idempotencyKey?: string;
  /** Server time to stamp on the entries (ms). */
  now: number;
}

export type CommitOutcome =
  | { ok: true; rev: number; entries: Entry[]; replayed: boolean }
  | { ok: false; conflicts: CommitConflict[] };

export interface ChangesPage { entries: Entry[]; headRev: number; more: boolean }

export interface TokenRecord extends TokenInfo {
  /** SHA-256 hex of the token; the token itself is never stored. */
  hash: string;
}

export interface AuditRecord {
  /** ms since the epoch */
  time: number;
  action: string;
  outcome: 'ok' | 'denied' | 'failed';
  source: string | null;
  user: string | null;
  tokenId: string | null;
  opId: string | null;
  /** Small, content-free details (paths, counts); never tokens or file contents. */
  details?: Record<string, unknown>;
}

export interface AuditQuery { since?: number; user?: string; limit?: number }

export interface RetentionPolicy {
  /** Versions kept per path beyond the current one. */
  versions: number;
  /** Versions younger than this many days are always kept. */
  days: number;
}

/** Which paths one applyRetention call trims; without `paths`, all of the user's paths. */
export interface RetentionScope { paths?: string[] }

/** How long an uploaded blob no version references is kept, so a commit that follows its upload finds it. */
export const BLOB_GC_GRACE_MS = 60 * 60_000;

export interface GcOptions {
  /** Server time (ms) the grace is measured from (default: now). */
  now?: number;
  /** Unreferenced blobs uploaded (or uploaded again) less than this long ago are kept (default BLOB_GC_GRACE_MS). */
  graceMs?: number;
}

/** One blob of a bulk upload: its claimed SHA-256 and its bytes, consumed before the next blob is read. */
export interface BlobUpload { hash: string; data: Readable | AsyncIterable<Buffer> }

/** Blobs up to this size are read whole by getBlobs (larger ones stream). */
export const GET_BLOBS_INLINE_BYTES = 64 * 1024;

/** What storing one blob did. */
export interface PutBlobResult { hash: string; size: number; created: boolean }

export interface UserStats { files: number; bytes: number; headRev: number; lastCommitAt: number | null }

/** Stops a subscription. */
export type Unsubscribe = () => void;

/**
 * Where the server keeps manifests, blobs, history, tokens and audit records.
 * Every method may throw DmanError('STORE_UNAVAILABLE') when the backing database is down.
 */
export interface Store {
  readonly driver: DriverName;
  /** Connects, migrates, recovers (e.g. replays or discards a half-written commit). */
  open(): Promise<void>;
  close(): Promise<void>;
  health(): Promise<StoreHealth>;

  // ---- blobs: content-addressed by SHA-256, shared by all users, access checked per user
  /**
   * Stores a blob, verifying its hash while streaming; throws DmanError('HASH_MISMATCH') and stores nothing on a mismatch,
   * DmanError('PAYLOAD_TOO_LARGE') past `maxBytes`, DmanError('BAD_REQUEST') for a hash that is not lowercase hex SHA-256.
   * Records that `user` owns it (uploading bytes proves possession). `created` is false when the bytes were already stored.
   */
  putBlob(user: string, hash: string, data: Readable | AsyncIterable<Buffer>, maxBytes: number): Promise<{ size: number; created: boolean }>;
  /**
   * Stores many blobs from one stream, in order, each verified like putBlob; a driver may group
   * the durability work (fsyncs, journal appends) of the whole batch. Each blob is durable when the
   * promise resolves. On the first failure it throws that blob's error; blobs before it stay stored.
   * Optional: callers use putBlobsOneByOne(store, …) for drivers without it.
   */
  putBlobs?(user: string, blobs: AsyncIterable<BlobUpload>, maxBytes: number): Promise<PutBlobResult[]>;
  /**
   * Opens many blobs `user` may read (as getBlob each), in the order of `hashes`, null where getBlob
   * would give null. A driver answers the whole list in a few round trips: blobs up to
   * GET_BLOBS_INLINE_BYTES come back already read, larger ones stream as getBlob's do, so memory stays
   * under hashes.length x GET_BLOBS_INLINE_BYTES. Optional: callers use getBlob per hash without it.
   */
  getBlobs?(user: string, hashes: string[]): Promise<Array<{ size: number; stream: Readable } | null>>;
  /** True when the blob exists and `user` uploaded or references it. */
  hasBlob(user: string, hash: string): Promise<boolean>;
  /** Streams a blob `user` may read, or null. Never holds a large blob whole in memory. */
  getBlob(user: string, hash: string): Promise<{ size: number; stream: Readable } | null>;

  // ---- manifest and change feed
  headRev(user: string): Promise<number>;
  getEntry(user: string, path: string): Promise<Entry | null>;
  /** The current entries (tombstones included unless `live` is set), sorted by path (JS string order). */
  listEntries(user: string, opts?: { live?: boolean }): Promise<Entry[]>;
  /** Current entries with rev > since, ascending by rev, at most `limit`; `more` when further ones exist. */
  changes(user: string, since: number, limit: number): Promise<ChangesPage>;
  /**
   * Applies all ops or none. Each op with a non-null baseRev must match the path's current rev
   * (0 = no entry); otherwise nothing is written and every mismatch is reported. Each written
   * entry gets the next rev (head+1, head+2, … in op order). A tombstone is an entry: recreating
   * a deleted path needs the tombstone's rev. Blobs named by live file ops must exist and be
   * owned by the user, else DmanError('PRECONDITION_FAILED') and nothing is written. A malformed
   * commit (no ops, a path twice, a file without hash, a symlink without target, a bad user name)
   * throws BAD_REQUEST; an unsafe path throws UNSAFE_PATH. Only successful commits are recorded
   * under their idempotency key (per user); a repeated key returns that outcome with
   * `replayed: true` and writes nothing. Subscribers hear of every successful, non-replayed commit.
   */
  commit(input: CommitInput): Promise<CommitOutcome>;
  /** Past and current versions of one path, newest first. */
  history(user: string, path: string, limit?: number): Promise<Entry[]>;
  /**
   * Drops past versions that are both beyond the newest `versions` and older than `days`; never the current one.
   * With `opts.paths`, only those paths' histories are looked at (after a commit), else every path (the sweep).
   */
  applyRetention(user: string, policy: RetentionPolicy, now: number, opts?: RetentionScope): Promise<{ versionsRemoved: number }>;
  /**
   * Deletes blobs no version of any user references, except those uploaded within the grace period
   * (an upload is followed by its commit; collecting in between would fail that commit).
   */
  gcBlobs(opts?: GcOptions): Promise<{ blobsRemoved: number; bytesFreed: number }>;
  /** Users that have committed anything, sorted. */
  listUsers(): Promise<string[]>;
  stats(user: string): Promise<UserStats>;

  // ---- change notifications (across server processes for shared databases)
  /** Calls `onRev` after each commit of `user` ('*' for all users), from any server process sharing this store. */
  subscribe(user: string, onRev: (user: string, rev: number) => void): Unsubscribe;

  // ---- tokens
  /** Adds a token, or replaces the record with the same id. */
  putToken(rec: TokenRecord): Promise<void>;
  /** Finds a token by hash, revoked ones included (the caller checks revokedAt). */
  getTokenByHash(hash: string): Promise<TokenRecord | null>;
  listTokens(): Promise<TokenRecord[]>;
  /** Marks a token revoked; false when no such id. */
  revokeToken(id: string, now: number): Promise<boolean>;
  /** Records a token's last use (advisory: a driver may persist it lazily); unknown ids are ignored. */
  touchToken(id: string, now: number): Promise<void>;

  // ---- audit trail (append-only)
  appendAudit(rec: AuditRecord): Promise<void>;
  /** Records newest first, filtered by time >= since and user, at most `limit`. */
  listAudit(q: AuditQuery): Promise<AuditRecord[]>;
}
