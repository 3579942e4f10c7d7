// The server protocol (`/v1`): one zod schema per wire shape. The server validates requests
// with these and the engine's HTTP client parses every response with them. The object schemas
// are getters (lazySchema.ts), built on first use: `entrySchema().parse(x)`.
import { z } from 'zod';
import { lazySchema } from './lazySchema.js';

/** Version of the /v1 protocol; bumped on incompatible changes. */
export const PROTOCOL_VERSION = 1;

/** Header carrying the client's operation id; the server logs under it. */
export const OP_HEADER = 'x-dman-op';
/** Header carrying an idempotency key for a commit. */
export const IDEMPOTENCY_HEADER = 'idempotency-key';

export const USER_RE = /^[a-z_][a-z0-9_.-]{0,63}$/i;
export const userName = z.string().regex(USER_RE, 'a user name is 1-64 letters, digits, "_", "." or "-", not starting with a digit, "." or "-"');
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** Largest path accepted anywhere, in bytes of UTF-8. */
export const MAX_PATH_BYTES = 4096;

/**
 * A tracked path: relative to the user's home, `/`-separated, no `.`/`..` segments, no NUL,
 * no leading `/`, no backslash, at most MAX_PATH_BYTES bytes.
 */
export const relPath = z.string().min(1).superRefine((p, ctx) => {
  const problem = pathProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Says what is wrong with a relative path, or null when it is acceptable. */
export function pathProblem(p: string): string | null {
  if (p.length === 0) return 'the path is empty';
  if (new TextEncoder().encode(p).length > MAX_PATH_BYTES) return `the path is longer than ${MAX_PATH_BYTES} bytes`;
  if (p.includes('\0')) return 'the path contains a NUL byte';
  if (p.includes('\\')) return 'the path contains a backslash; use "/" as the separator';
  if (p.startsWith('/') || /^[a-zA-Z]:/.test(p)) return 'the path is absolute; paths are relative to the home directory';
  for (const seg of p.split('/')) {
    if (seg === '') return 'the path has an empty segment ("//" or a trailing "/")';
    if (seg === '.' || seg === '..') return `the path has a "${seg}" segment`;
  }
  return null;
}

export const entryKind = z.enum(['file', 'symlink']);
export type EntryKind = z.infer<typeof entryKind>;

/** One path's current state on the server (a tombstone when deleted). */
export const entrySchema = lazySchema(() => z.object({
  path: relPath,
  kind: entryKind,
  /** SHA-256 of the content (file) or of the target string (symlink); null for a tombstone. */
  hash: sha256Hex.nullable(),
  size: z.number().int().nonnegative(),
  /** Permission bits (e.g. 0o644); 0 for symlinks and tombstones. */
  mode: z.number().int().min(0).max(0o7777),
  /** Modification time in ms since the epoch, as the publishing device saw it. */
  mtime: z.number(),
  /** Symlink target, only for kind=symlink. */
  target: z.string().optional(),
  /** Server-assigned, per-user, strictly increasing. */
  rev: z.number().int().positive(),
  deleted: z.boolean(),
  device: z.string(),
  /** Server time of the write, ms since the epoch. */
  updatedAt: z.number(),
}));
export type Entry = z.infer<ReturnType<typeof entrySchema>>;

/** One change in a commit. */
export const commitOpSchema = lazySchema(() => z.object({
  path: relPath,
  /**
   * The rev the change is based on: the entry's rev the client last saw, 0 when it saw no
   * entry. null means "no precondition" (only the seed endpoints and admin tools use it).
   */
  baseRev: z.number().int().nonnegative().nullable(),
  deleted: z.boolean().default(false),
  kind: entryKind.default('file'),
  hash: sha256Hex.nullable().default(null),
  size: z.number().int().nonnegative().default(0),
  mode: z.number().int().min(0).max(0o7777).default(0o644),
  mtime: z.number().default(0),
  target: z.string().optional(),
}));
export type CommitOp = z.infer<ReturnType<typeof commitOpSchema>>;
export type CommitOpInput = z.input<ReturnType<typeof commitOpSchema>>;

export const MAX_COMMIT_OPS = 20_000;

export const commitRequestSchema = lazySchema(() => z.object({
  ops: z.array(commitOpSchema()).min(1).max(MAX_COMMIT_OPS),
  device: z.string().min(1).max(128).optional(),
  idempotencyKey: z.string().min(8).max(128).optional(),
}));
export type CommitRequest = z.infer<ReturnType<typeof commitRequestSchema>>;

export const commitConflictSchema = lazySchema(() => z.object({
  path: relPath,
  expected: z.number().int().nonnegative().nullable(),
  current: entrySchema().nullable(),
}));
export type CommitConflict = z.infer<ReturnType<typeof commitConflictSchema>>;

/** 200 reply to a commit. */
export const commitOkSchema = lazySchema(() => z.object({ rev: z.number().int().nonnegative(), entries: z.array(entrySchema()), replayed: z.boolean() }));
/** 409 reply to a commit: nothing was written. */
export const commitConflictReplySchema = lazySchema(() => z.object({ error: z.object({ code: z.literal('CONFLICT'), message: z.string() }), conflicts: z.array(commitConflictSchema()) }));

/**
 * POST /v1/users/:user/blobs: many blobs in one body of this content type. Each blob is a header
 * line `<sha256 hex> <size in decimal>\n` followed by exactly `size` bytes; the body ends after the
 * last blob (optionally gzip with Content-Encoding). The server verifies each hash while streaming.
 */
export const BULK_BLOBS_CONTENT_TYPE = 'application/x-dman-blobs';
/** Most blobs in one bulk upload. */
export const MAX_BULK_BLOBS = 10_000;

/** Returns the header line that precedes a blob's bytes in a bulk upload body. */
export function bulkBlobHeader(hash: string, size: number): string {
  return `${hash} ${size}\n`;
}

/** 200 reply to a bulk upload: one result per blob, in body order. */
export const bulkBlobsReplySchema = lazySchema(() => z.object({
  blobs: z.array(z.object({ hash: sha256Hex, size: z.number().int().nonnegative(), created: z.boolean() })),
}));
export type BulkBlobsReply = z.infer<ReturnType<typeof bulkBlobsReplySchema>>;

/**
 * POST /v1/users/:user/blobs/fetch: many blobs in one reply (an install of a new machine). The
 * request is JSON `{ "hashes": [...] }`; the reply (200, Content-Type BULK_BLOBS_CONTENT_TYPE) is
 * a stream of frames in request order: `<sha256 hex> <size>\n` and exactly `size` bytes for a
 * blob the user has, `<sha256 hex> -\n` for one the user does not have. The server may stop early
 * after a frame (past BLOB_FETCH_MAX_BYTES, never before the first blob): the client asks again
 * for the hashes the reply did not cover. A server without this endpoint answers 404.
 */
export const BLOB_FETCH_MAX_COUNT = 5_000;
/** Bytes after which a fetch reply stops (it always carries at least one blob). */
export const BLOB_FETCH_MAX_BYTES = 64 * 1024 * 1024;
export const blobFetchRequestSchema = lazySchema(() => z.object({
  hashes: z.array(sha256Hex).min(1, 'list at least one blob hash').max(BLOB_FETCH_MAX_COUNT, `at most ${BLOB_FETCH_MAX_COUNT} hashes per fetch; split the list`),
}).strict());
export type BlobFetchRequest = z.infer<ReturnType<typeof blobFetchRequestSchema>>;

/** Returns the frame header of a blob the server does not have for the user, in a fetch reply. */
export function missingBlobHeader(hash: string): string {
  return `${hash} -\n`;
}

/** GET /v1/users/:user/changes?since=REV&limit=N */
export const changesQuerySchema = lazySchema(() => z.object({
  since: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
}));
export const changesReplySchema = lazySchema(() => z.object({
  entries: z.array(entrySchema()),
  headRev: z.number().int().nonnegative(),
  /** When true, ask again with since = the last entry's rev. */
  more: z.boolean(),
}));
export type ChangesReply = z.infer<ReturnType<typeof changesReplySchema>>;

/** A push-stream event (SSE `data:` of GET /v1/users/:user/events). */
export const pushEventSchema = lazySchema(() => z.object({ user: z.string(), rev: z.number().int().nonnegative() }));
export type PushEvent = z.infer<ReturnType<typeof pushEventSchema>>;

/** A past version of one path (GET /v1/users/:user/history?path=P). */
export const versionSchema = entrySchema;
export const historyReplySchema = lazySchema(() => z.object({ path: relPath, versions: z.array(versionSchema()) }));

/** POST /v1/users/:user/restore */
export const restoreRequestSchema = lazySchema(() => z.object({ path: relPath, rev: z.number().int().positive(), baseRev: z.number().int().nonnegative().nullable().default(null), device: z.string().optional() }));

/** GET /v1/whoami */
export const whoamiSchema = lazySchema(() => z.object({ user: z.string().nullable(), device: z.string().nullable(), admin: z.boolean(), tokenId: z.string().nullable(), serverVersion: z.string(), protocol: z.number().int() }));
export type Whoami = z.infer<ReturnType<typeof whoamiSchema>>;

/** Token metadata (never the token itself, except once in the create reply). */
export const tokenInfoSchema = lazySchema(() => z.object({
  id: z.string(),
  user: z.string().nullable(),
  device: z.string(),
  admin: z.boolean(),
  createdAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
}));
export type TokenInfo = z.infer<ReturnType<typeof tokenInfoSchema>>;
export const tokenCreateRequestSchema = lazySchema(() => z.object({ user: userName.nullable().default(null), device: z.string().min(1).max(128), admin: z.boolean().default(false) }));
export const tokenCreateReplySchema = lazySchema(() => z.object({ token: z.string(), info: tokenInfoSchema() }));

/** Every error reply of the server. */
export const errorReplySchema = lazySchema(() => z.object({ error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }) }));
export type ErrorReply = z.infer<ReturnType<typeof errorReplySchema>>;

/** GET /health (no token). */
export const healthReplySchema = lazySchema(() => z.object({
  ok: z.boolean(),
  version: z.string(),
  protocol: z.number().int(),
  driver: z.string(),
  storage: z.object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() }),
}));
export type HealthReply = z.infer<ReturnType<typeof healthReplySchema>>;
