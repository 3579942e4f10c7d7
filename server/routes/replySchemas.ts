// /v1 reply shapes that shared/protocol.ts does not (yet) define; published in
// docs/protocol.schema.json so clients can parse them too.
import { z } from 'zod';
import { entrySchema, tokenInfoSchema } from '../../shared/protocol.js';

/** GET /v1/users/:user/manifest */
export const manifestReplySchema = z.object({ user: z.string(), headRev: z.number().int().nonnegative(), entries: z.array(entrySchema()) });

/** PUT /v1/users/:user/blobs/:hash (201 when new, 200 when it existed) */
export const blobPutReplySchema = z.object({ hash: z.string(), size: z.number().int().nonnegative(), created: z.boolean() });

/** GET /v1/admin/tokens */
export const tokenListReplySchema = z.object({ tokens: z.array(tokenInfoSchema()) });

/** DELETE /v1/admin/tokens/:id */
export const tokenRevokeReplySchema = z.object({ id: z.string(), revoked: z.literal(true) });

/** GET /v1/admin/audit */
export const auditReplySchema = z.object({
  records: z.array(z.object({
    time: z.number(), action: z.string(), outcome: z.enum(['ok', 'denied', 'failed']),
    source: z.string().nullable(), user: z.string().nullable(), tokenId: z.string().nullable(), opId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).optional(),
  })),
});

/** GET /status */
export const statusReplySchema = z.object({
  ok: z.boolean(), version: z.string(), protocol: z.number().int(), driver: z.string(),
  storage: z.object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() }).passthrough(),
  users: z.array(z.object({
    user: z.string(), files: z.number(), bytes: z.number(), headRev: z.number(),
    lastCommitAt: z.number().nullable(), lastPublishAt: z.number().nullable(), lastInstallAt: z.number().nullable(),
  })),
  latency: z.record(z.string(), z.object({ count: z.number(), meanMs: z.number(), maxMs: z.number() })),
});
