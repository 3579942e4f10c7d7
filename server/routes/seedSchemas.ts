// JSON shapes of the seed-compatible endpoints (/compare, /install, /prune), documented in
// docs/seed-api.md and published in docs/protocol.schema.json.
import { z } from 'zod';
import { relPath, sha256Hex } from '../../shared/protocol.js';

/** One local file a client reports to POST /compare. */
export const compareItemSchema = z.object({
  user: z.string().max(256),
  path: relPath,
  sha256: sha256Hex,
  size: z.number().int().nonnegative().optional(),
});

/** POST /compare body: `{ entries: [...] }` or, as the seed sent it, a bare list. */
export const compareRequestSchema = z.union([
  z.object({ entries: z.array(compareItemSchema), users: z.array(z.string().max(256)).optional() }),
  z.array(compareItemSchema).transform((entries) => ({ entries, users: undefined })),
]);

export const compareStatus = z.enum(['same', 'changed', 'missing_remote', 'missing_local']);

/** One line of the POST /compare reply. */
export const compareResultSchema = z.object({
  user: z.string(),
  path: z.string(),
  status: compareStatus,
  local: z.object({ sha256: z.string(), size: z.number().optional() }).optional(),
  remote: z.object({ sha256: z.string().nullable(), size: z.number(), rev: z.number(), kind: z.string() }).optional(),
});

export const compareReplySchema = z.object({
  results: z.array(compareResultSchema),
  counts: z.object({ same: z.number(), changed: z.number(), missing_remote: z.number(), missing_local: z.number() }),
});

/** POST /install body: whole users, or listed paths. */
export const installRequestSchema = z.object({
  users: z.array(z.string().max(256)).optional(),
  paths: z.array(z.object({ user: z.string().max(256), path: relPath })).optional(),
}).default({});

/** POST /prune body: tombstone every live path of `user` not in `keep`. */
export const pruneRequestSchema = z.object({
  user: z.string().max(256),
  keep: z.array(relPath),
  dryRun: z.boolean().default(false),
});

export const pruneReplySchema = z.object({ user: z.string(), removed: z.array(z.string()), rev: z.number(), dryRun: z.boolean() });

/** POST /publish reply. */
export const publishReplySchema = z.object({
  ok: z.literal(true),
  users: z.record(z.string(), z.object({ rev: z.number(), files: z.number(), unchanged: z.number() })),
});

/** PUT /upload and GET /download query. */
export const userPathQuerySchema = z.object({ user: z.string().max(256), path: relPath });
