// Rules every driver applies the same way before and while committing, so the drivers differ
// only in how they store things, never in what a commit means.
import { createHash } from 'node:crypto';
import { DmanError } from '../../shared/errors.js';
import { USER_RE, pathProblem, type CommitConflict, type CommitOp, type Entry } from '../../shared/protocol.js';
import { BLOB_GC_GRACE_MS, type CommitInput, type GcOptions } from './Store.js';

/** Throws DmanError('BAD_REQUEST') unless `user` is a valid user name (no traversal, no separators). */
export function assertUserName(user: string): void {
  if (!USER_RE.test(user)) {
    throw new DmanError('BAD_REQUEST', `Invalid user name ${JSON.stringify(user)}`, {
      hint: 'A user name is 1-64 letters, digits, "_", "." or "-", not starting with a digit, "." or "-".',
      context: { user },
    });
  }
}

/** Throws DmanError('BAD_REQUEST') unless `hash` is a lowercase hex SHA-256. */
export function assertHash(hash: string): void {
  if (!/^[0-9a-f]{64}$/.test(hash)) {
    throw new DmanError('BAD_REQUEST', `Invalid blob hash ${JSON.stringify(hash.slice(0, 80))}: expected 64 lowercase hex digits (SHA-256)`, { context: { hash } });
  }
}

/**
 * Checks a commit's shape before any driver touches storage: valid user, at least one op,
 * no path twice, safe paths, a hash on every live file and a target on every live symlink.
 * Throws DmanError BAD_REQUEST / UNSAFE_PATH; blob existence is checked by the driver.
 */
export function validateCommit(input: CommitInput): void {
  assertUserName(input.user);
  if (input.ops.length === 0) throw new DmanError('BAD_REQUEST', `Empty commit for user ${input.user}: a commit needs at least one op`, { context: { user: input.user } });
  const seen = new Set<string>();
  for (const op of input.ops) {
    const problem = pathProblem(op.path);
    if (problem) throw new DmanError('UNSAFE_PATH', `Refused path ${JSON.stringify(op.path.slice(0, 200))} for user ${input.user}: ${problem}`, { context: { user: input.user, path: op.path } });
    if (seen.has(op.path)) throw new DmanError('BAD_REQUEST', `Path ${op.path} appears twice in one commit for user ${input.user}; send one op per path`, { context: { user: input.user, path: op.path } });
    seen.add(op.path);
    if (op.deleted) continue;
    if (op.kind === 'file') {
      if (op.hash === null) throw new DmanError('BAD_REQUEST', `File ${op.path} for user ${input.user} has no content hash; upload the blob and name its SHA-256`, { context: { user: input.user, path: op.path } });
      assertHash(op.hash);
    } else if (op.target === undefined) {
      throw new DmanError('BAD_REQUEST', `Symlink ${op.path} for user ${input.user} has no target`, { context: { user: input.user, path: op.path } });
    }
  }
}

/** Returns the hashes of live file ops, deduplicated: the blobs the user must own. */
export function blobsNamedBy(ops: CommitOp[]): string[] {
  const out = new Set<string>();
  for (const op of ops) if (!op.deleted && op.kind === 'file' && op.hash !== null) out.add(op.hash);
  return [...out];
}

/** Builds the DmanError a commit naming blobs the user has not uploaded gets; nothing was written. */
export function missingBlobsError(user: string, missing: string[]): DmanError {
  return new DmanError('PRECONDITION_FAILED', `Commit for user ${user} names ${missing.length} blob(s) the server does not have for this user (first: ${missing[0]})`, {
    hint: 'Upload each blob (PUT /v1/users/:user/blobs/:hash) before committing, then retry the commit.',
    context: { user, missing: missing.slice(0, 20) },
  });
}

/** Compares each op's baseRev with the current entry; returns one conflict per mismatch (op order). */
export function findConflicts(ops: CommitOp[], current: (path: string) => Entry | null): CommitConflict[] {
  const conflicts: CommitConflict[] = [];
  for (const op of ops) {
    if (op.baseRev === null) continue;
    const cur = current(op.path);
    const curRev = cur ? cur.rev : 0;
    if (curRev !== op.baseRev) conflicts.push({ path: op.path, expected: op.baseRev, current: cur });
  }
  return conflicts;
}

/** Builds the stored entry for one op: tombstones carry no hash, size or mode; only symlinks carry a target. */
export function entryFromOp(op: CommitOp, rev: number, device: string, now: number): Entry {
  if (op.deleted) {
    return { path: op.path, kind: op.kind, hash: null, size: 0, mode: 0, mtime: op.mtime, rev, deleted: true, device, updatedAt: now };
  }
  if (op.kind === 'symlink') {
    return { path: op.path, kind: 'symlink', hash: op.hash, size: op.size, mode: 0, mtime: op.mtime, target: op.target ?? '', rev, deleted: false, device, updatedAt: now };
  }
  return { path: op.path, kind: 'file', hash: op.hash, size: op.size, mode: op.mode, mtime: op.mtime, rev, deleted: false, device, updatedAt: now };
}

/**
 * Decides which versions of one path retention drops. `versions` is newest first and its first
 * element is the current version, which is always kept; an older version is kept while it is
 * among the `policy.versions` newest past versions or younger than `policy.days`.
 */
export function versionsToDrop<T extends { updatedAt: number }>(versions: T[], policy: { versions: number; days: number }, now: number): T[] {
  const maxAge = policy.days * 86_400_000;
  return versions.slice(1).filter((v, i) => i >= policy.versions && now - v.updatedAt >= maxAge);
}

/** Returns the upload time before which an unreferenced blob may be collected. */
export function gcCutoff(opts: GcOptions = {}): number {
  return (opts.now ?? Date.now()) - (opts.graceMs ?? BLOB_GC_GRACE_MS);
}

/** Returns the SHA-256 of a commit's device and ops (canonical JSON), stored with its idempotency key. */
export function batchDigest(input: Pick<CommitInput, 'device' | 'ops'>): string {
  const device = input.device === undefined ? '' : `"device":${canonicalJson(input.device)},`;
  return createHash('sha256').update(`{${device}"ops":${canonicalList(input.ops as readonly unknown[])}}`).digest('hex');
}

/**
 * canonicalJson of a list of flat objects (a commit's ops), to the byte: each distinct key set is
 * sorted once, not once per op, and values that are not objects are written as they are (the
 * generic recursion cost a 10,000-op commit ~100 ms of server CPU).
 */
export function canonicalList(list: readonly unknown[]): string {
  const orders = new Map<string, Array<[key: string, quoted: string]>>();
  // The ops of a commit mostly list the same keys in the same order: an op whose keys are the
  // last op's (compared name by name) takes its order without a signature to build and look up.
  let lastKeys: string[] | null = null;
  let order: Array<[key: string, quoted: string]> = [];
  const parts = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) {
    const o = list[i];
    if (o === null || typeof o !== 'object' || Array.isArray(o)) {
      parts[i] = canonicalJson(o);
      continue;
    }
    const rec = o as Record<string, unknown>;
    const keys = Object.keys(rec);
    if (lastKeys === null || !sameNames(keys, lastKeys)) {
      // JSON of the key list: unambiguous (keys joined by any separator are not: ['a', 'b'] and ['a\0b']).
      const sig = JSON.stringify(keys);
      let found = orders.get(sig);
      if (!found) orders.set(sig, (found = keys.slice().sort().map((k): [string, string] => [k, `${JSON.stringify(k)}:`])));
      order = found;
      lastKeys = keys;
    }
    let s = '{';
    for (let j = 0; j < order.length; j++) {
      const [k, quoted] = order[j]!;
      const v = rec[k];
      if (v === undefined) continue;
      s += (s.length === 1 ? quoted : `,${quoted}`) + (v !== null && typeof v === 'object' ? canonicalJson(v) : JSON.stringify(v));
    }
    parts[i] = `${s}}`;
  }
  return `[${parts.join(',')}]`;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Throws DmanError('BAD_REQUEST') when a commit reuses an idempotency key recorded for another batch:
 * replaying the first outcome would tell the client its new batch landed when it did not.
 * A record without a digest (written before digests existed) is trusted.
 */
export function assertSameBatch(input: CommitInput, recorded: string | null | undefined): void {
  if (!recorded || recorded === batchDigest(input)) return;
  throw new DmanError('BAD_REQUEST', `Idempotency key reused for a different batch: key ${JSON.stringify(input.idempotencyKey)} of user ${input.user} was recorded for other ops; nothing was written`, {
    hint: 'Use a new idempotency key for each new batch; reuse a key only to retry the very same batch.',
    context: { user: input.user },
  });
}

/** JSON with object keys sorted and undefined members left out, at every depth. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Returns the token record after a revocation at `now`: the first revocation time is kept. */
export function revokedToken<T extends { revokedAt: number | null }>(t: T, now: number): T {
  return { ...t, revokedAt: t.revokedAt ?? now };
}

/** Counts a user's live files and bytes from the current entries (tombstones excluded). */
export function liveTotals(entries: Iterable<Entry>): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const e of entries) {
    if (e.deleted) continue;
    files++;
    bytes += e.size;
  }
  return { files, bytes };
}
