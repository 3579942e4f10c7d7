// The Remote port: what the engine needs from a sync server. HttpRemote speaks /v1; the
// MemoryRemote fake serves tests and the randomized simulation in-process.
import type { Readable } from 'node:stream';
import type { ChangesReply, CommitConflict, CommitOpInput, Entry, HealthReply, Whoami } from '../../shared/protocol.js';

export type CommitResult = { ok: true; rev: number; entries: Entry[]; replayed: boolean } | { ok: false; conflicts: CommitConflict[] };

/** A blob body that can be produced again for a retry. */
export type BlobSource = Uint8Array | (() => Readable);

/** What the engine needs from a sync server, per user. */
export interface Remote {
  readonly url: string;
  /** A view of this remote whose requests carry the given operation id. */
  withOp(opId: string): Remote;
  health(): Promise<HealthReply>;
  whoami(): Promise<Whoami>;
  /** One page of the change feed (entries with rev > since). */
  changes(user: string, since: number, limit?: number): Promise<ChangesReply>;
  hasBlob(user: string, hash: string): Promise<boolean>;
  putBlob(user: string, hash: string, body: BlobSource, size: number): Promise<void>;
  /**
   * Uploads many (small) blobs in one request; the server verifies each and stores them durably.
   * Throws HASH_MISMATCH when a blob's bytes do not match its hash (blobs before it may be stored).
   * Optional: without it, callers upload blob by blob.
   */
  putBlobs?(user: string, blobs: Array<{ hash: string; data: Uint8Array }>): Promise<void>;
  /**
   * Fetches many (small) blobs, a few thousand per request, each held whole in memory. Yields every
   * distinct hash asked for exactly once, in no promised order: its bytes (not yet verified: the
   * caller hashes them as they land), or null when the server has no such blob for the user.
   * Optional: without it, callers fetch blob by blob.
   */
  getBlobs?(user: string, hashes: readonly string[]): AsyncIterable<{ hash: string; data: Buffer | null }>;
  /** Streams a blob; throws DmanError NOT_FOUND when the server has no such blob for the user. */
  getBlob(user: string, hash: string): Promise<Readable>;
  /** An atomic batch: all ops land or none (a 409 comes back as `{ ok: false, conflicts }`). */
  commit(user: string, ops: CommitOpInput[], opts: { idempotencyKey: string; device: string }): Promise<CommitResult>;
  history(user: string, path: string): Promise<Entry[]>;
  restore(user: string, path: string, rev: number, baseRev: number | null, device: string): Promise<CommitResult>;
  /** Listens to the push stream; calls onRev with the server's head rev on connect and on each commit. Reconnects until stopped. */
  subscribe(user: string, onRev: (rev: number) => void, onState?: (connected: boolean) => void): () => void;
}

/**
 * Reads every page of the change feed since `since`. `headRev` is the server's head as it says,
 * even when that is below `since` (a server that lost history: the caller starts over).
 */
export async function fetchAllChanges(remote: Remote, user: string, since: number): Promise<{ entries: Entry[]; headRev: number }> {
  const entries: Entry[] = [];
  let cursor = since;
  let headRev = 0;
  for (;;) {
    const page = await remote.changes(user, cursor, 10_000);
    entries.push(...page.entries);
    headRev = Math.max(headRev, page.headRev);
    if (!page.more || page.entries.length === 0) break;
    cursor = page.entries[page.entries.length - 1]!.rev;
  }
  return { entries, headRev };
}
