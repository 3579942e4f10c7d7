// The in-memory reference model of the Store port: the simplest correct driver. The contract
// suite runs against it first, and the simulation tests use it as the server.
import { Readable } from 'node:stream';
import type { Entry } from '../../shared/protocol.js';
import { consumeVerified } from './blobStream.js';
import { assertHash, assertSameBatch, assertUserName, batchDigest, blobsNamedBy, entryFromOp, findConflicts, gcCutoff, missingBlobsError, validateCommit, versionsToDrop, liveTotals, revokedToken } from './commitRules.js';
import { createNotifier } from './notifier.js';
import type {
  AuditQuery, AuditRecord, ChangesPage, CommitInput, CommitOutcome, GcOptions, RetentionPolicy, RetentionScope, Store, StoreHealth, TokenRecord, Unsubscribe, UserStats,
} from './Store.js';

interface UserData {
  head: number;
  entries: Map<string, Entry>;
  /** Every kept version per path, oldest first; the last one is the current entry. */
  versions: Map<string, Entry[]>;
  lastCommitAt: number | null;
  idempotent: Map<string, { outcome: Extract<CommitOutcome, { ok: true }>; digest: string }>;
}

const CHUNK = 64 * 1024;

/** Keeps everything in process memory; loses it all on exit. */
export class MemoryStore implements Store {
  readonly driver = 'memory' as const;
  private readonly users = new Map<string, UserData>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly owners = new Map<string, Set<string>>();
  /** Last upload time per blob (ms), for the gc grace. */
  private readonly uploadedAt = new Map<string, number>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly audit: AuditRecord[] = [];
  private readonly notifier = createNotifier();

  async open(): Promise<void> {}
  async close(): Promise<void> {
    this.notifier.clear();
  }
  async health(): Promise<StoreHealth> {
    return { ok: true, latencyMs: 0 };
  }

  async putBlob(user: string, hash: string, data: Readable | AsyncIterable<Buffer>, maxBytes: number): Promise<{ size: number; created: boolean }> {
    assertUserName(user);
    assertHash(hash);
    const parts: Buffer[] = [];
    const size = await consumeVerified(data, hash, maxBytes, (c) => void parts.push(Buffer.from(c)), { user, driver: this.driver });
    // created answers "did this user have it?", never "did anyone?": that would leak other users' content.
    const created = !(this.blobs.has(hash) && this.ownersOf(hash).has(user));
    if (!this.blobs.has(hash)) this.blobs.set(hash, Buffer.concat(parts));
    this.ownersOf(hash).add(user);
    this.uploadedAt.set(hash, Date.now());
    return { size, created };
  }

  async hasBlob(user: string, hash: string): Promise<boolean> {
    assertUserName(user);
    return this.blobs.has(hash) && (this.owners.get(hash)?.has(user) ?? false);
  }

  async getBlob(user: string, hash: string): Promise<{ size: number; stream: Readable } | null> {
    if (!(await this.hasBlob(user, hash))) return null;
    const buf = this.blobs.get(hash)!;
    const chunks: Buffer[] = [];
    for (let i = 0; i < buf.length; i += CHUNK) chunks.push(buf.subarray(i, i + CHUNK));
    return { size: buf.length, stream: Readable.from(chunks) };
  }

  async headRev(user: string): Promise<number> {
    assertUserName(user);
    return this.users.get(user)?.head ?? 0;
  }

  async getEntry(user: string, path: string): Promise<Entry | null> {
    assertUserName(user);
    const e = this.users.get(user)?.entries.get(path);
    return e ? { ...e } : null;
  }

  async listEntries(user: string, opts: { live?: boolean } = {}): Promise<Entry[]> {
    assertUserName(user);
    const all = [...(this.users.get(user)?.entries.values() ?? [])];
    return all.filter((e) => !opts.live || !e.deleted).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((e) => ({ ...e }));
  }

  async changes(user: string, since: number, limit: number): Promise<ChangesPage> {
    assertUserName(user);
    const u = this.users.get(user);
    if (!u) return { entries: [], headRev: 0, more: false };
    const newer = [...u.entries.values()].filter((e) => e.rev > since).sort((a, b) => a.rev - b.rev);
    return { entries: newer.slice(0, limit).map((e) => ({ ...e })), headRev: u.head, more: newer.length > limit };
  }

  async commit(input: CommitInput): Promise<CommitOutcome> {
    validateCommit(input);
    // Everything below runs without an await, so a commit is atomic with respect to every other call.
    const u = this.users.get(input.user);
    const replay = input.idempotencyKey === undefined ? undefined : u?.idempotent.get(input.idempotencyKey);
    if (replay) {
      assertSameBatch(input, replay.digest);
      return { ...replay.outcome, entries: replay.outcome.entries.map((e) => ({ ...e })), replayed: true };
    }
    const conflicts = findConflicts(input.ops, (p) => {
      const e = u?.entries.get(p);
      return e ? { ...e } : null;
    });
    if (conflicts.length > 0) return { ok: false, conflicts };
    const missing = blobsNamedBy(input.ops).filter((h) => !this.blobs.has(h) || !this.owners.get(h)?.has(input.user));
    if (missing.length > 0) throw missingBlobsError(input.user, missing);

    const data = u ?? this.newUser(input.user);
    const entries = input.ops.map((op, i) => entryFromOp(op, data.head + i + 1, input.device, input.now));
    for (const e of entries) {
      data.entries.set(e.path, e);
      const list = data.versions.get(e.path) ?? [];
      list.push(e);
      data.versions.set(e.path, list);
    }
    data.head += entries.length;
    data.lastCommitAt = input.now;
    const outcome = { ok: true as const, rev: data.head, entries: entries.map((e) => ({ ...e })), replayed: false };
    if (input.idempotencyKey !== undefined) data.idempotent.set(input.idempotencyKey, { outcome, digest: batchDigest(input) });
    this.notifier.emit(input.user, data.head);
    return { ...outcome, entries: entries.map((e) => ({ ...e })) };
  }

  async history(user: string, path: string, limit?: number): Promise<Entry[]> {
    assertUserName(user);
    const list = [...(this.users.get(user)?.versions.get(path) ?? [])].reverse();
    return list.slice(0, limit ?? list.length).map((e) => ({ ...e }));
  }

  async applyRetention(user: string, policy: RetentionPolicy, now: number, opts: RetentionScope = {}): Promise<{ versionsRemoved: number }> {
    assertUserName(user);
    const u = this.users.get(user);
    if (!u) return { versionsRemoved: 0 };
    let removed = 0;
    const paths = opts.paths ? [...new Set(opts.paths)] : [...u.versions.keys()];
    for (const path of paths) {
      const list = u.versions.get(path);
      if (!list) continue;
      const drop = new Set(versionsToDrop([...list].reverse(), policy, now));
      if (drop.size === 0) continue;
      u.versions.set(path, list.filter((v) => !drop.has(v)));
      removed += drop.size;
    }
    return { versionsRemoved: removed };
  }

  async gcBlobs(opts: GcOptions = {}): Promise<{ blobsRemoved: number; bytesFreed: number }> {
    const cutoff = gcCutoff(opts);
    const referenced = new Set<string>();
    for (const u of this.users.values()) for (const list of u.versions.values()) for (const v of list) if (v.hash !== null && v.kind === 'file') referenced.add(v.hash);
    let blobsRemoved = 0;
    let bytesFreed = 0;
    for (const [hash, buf] of this.blobs) {
      if (referenced.has(hash) || (this.uploadedAt.get(hash) ?? 0) > cutoff) continue;
      this.blobs.delete(hash);
      this.owners.delete(hash);
      this.uploadedAt.delete(hash);
      blobsRemoved++;
      bytesFreed += buf.length;
    }
    return { blobsRemoved, bytesFreed };
  }

  async listUsers(): Promise<string[]> {
    return [...this.users.keys()].sort();
  }

  async stats(user: string): Promise<UserStats> {
    assertUserName(user);
    const u = this.users.get(user);
    if (!u) return { files: 0, bytes: 0, headRev: 0, lastCommitAt: null };
    return { ...liveTotals(u.entries.values()), headRev: u.head, lastCommitAt: u.lastCommitAt };
  }

  subscribe(user: string, onRev: (user: string, rev: number) => void): Unsubscribe {
    return this.notifier.subscribe(user, onRev);
  }

  async putToken(rec: TokenRecord): Promise<void> {
    this.tokens.set(rec.id, { ...rec });
  }
  async getTokenByHash(hash: string): Promise<TokenRecord | null> {
    for (const t of this.tokens.values()) if (t.hash === hash) return { ...t };
    return null;
  }
  async listTokens(): Promise<TokenRecord[]> {
    return [...this.tokens.values()].map((t) => ({ ...t }));
  }
  async revokeToken(id: string, now: number): Promise<boolean> {
    const t = this.tokens.get(id);
    if (!t) return false;
    this.tokens.set(id, revokedToken(t, now));
    return true;
  }
  async touchToken(id: string, now: number): Promise<void> {
    const t = this.tokens.get(id);
    if (t) t.lastUsedAt = now;
  }

  async appendAudit(rec: AuditRecord): Promise<void> {
    this.audit.push(structuredClone(rec));
  }
  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    return filterAudit(this.audit, q);
  }

  private newUser(user: string): UserData {
    const u: UserData = { head: 0, entries: new Map(), versions: new Map(), lastCommitAt: null, idempotent: new Map() };
    this.users.set(user, u);
    return u;
  }
  private ownersOf(hash: string): Set<string> {
    let s = this.owners.get(hash);
    if (!s) this.owners.set(hash, (s = new Set()));
    return s;
  }
}

/** Applies an audit query to records in append order: newest first, then since/user/limit. */
export function filterAudit(records: AuditRecord[], q: AuditQuery): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (q.since !== undefined && r.time < q.since) continue;
    if (q.user !== undefined && r.user !== q.user) continue;
    out.push(structuredClone(r));
    if (q.limit !== undefined && out.length >= q.limit) break;
  }
  return out;
}
