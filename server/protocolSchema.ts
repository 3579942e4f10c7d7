// Builds docs/protocol.schema.json from the zod schemas of the wire: the /v1 protocol
// (shared/protocol.ts) and the seed-compatible endpoints (routes/seedSchemas.ts).
import { z } from 'zod';
import * as p from '../shared/protocol.js';
import * as v1 from './routes/replySchemas.js';
import * as seed from './routes/seedSchemas.js';

const requests: Record<string, z.ZodType> = {
  CommitRequest: p.commitRequestSchema(),
  CommitOp: p.commitOpSchema(),
  ChangesQuery: p.changesQuerySchema(),
  RestoreRequest: p.restoreRequestSchema(),
  BlobFetchRequest: p.blobFetchRequestSchema(),
  TokenCreateRequest: p.tokenCreateRequestSchema(),
  SeedCompareRequest: seed.compareRequestSchema,
  SeedInstallRequest: seed.installRequestSchema,
  SeedPruneRequest: seed.pruneRequestSchema,
  SeedUserPathQuery: seed.userPathQuerySchema,
};

const replies: Record<string, z.ZodType> = {
  Entry: p.entrySchema(),
  CommitOk: p.commitOkSchema(),
  CommitConflictReply: p.commitConflictReplySchema(),
  ChangesReply: p.changesReplySchema(),
  PushEvent: p.pushEventSchema(),
  HistoryReply: p.historyReplySchema(),
  Whoami: p.whoamiSchema(),
  TokenInfo: p.tokenInfoSchema(),
  TokenCreateReply: p.tokenCreateReplySchema(),
  ErrorReply: p.errorReplySchema(),
  HealthReply: p.healthReplySchema(),
  ManifestReply: v1.manifestReplySchema,
  BlobPutReply: v1.blobPutReplySchema,
  BulkBlobsReply: p.bulkBlobsReplySchema(),
  TokenListReply: v1.tokenListReplySchema,
  TokenRevokeReply: v1.tokenRevokeReplySchema,
  AuditReply: v1.auditReplySchema,
  StatusReply: v1.statusReplySchema,
  SeedCompareReply: seed.compareReplySchema,
  SeedPruneReply: seed.pruneReplySchema,
  SeedPublishReply: seed.publishReplySchema,
};

/** Returns the JSON Schema document of every request and reply shape of the server. */
export function buildProtocolJsonSchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  const convert = (s: z.ZodType, io: 'input' | 'output') => {
    const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
    return rest;
  };
  for (const [name, s] of Object.entries(requests)) defs[name] = convert(s, 'input');
  for (const [name, s] of Object.entries(replies)) defs[name] = convert(s, 'output');
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://dman.invalid/protocol.schema.json',
    title: 'dman sync server protocol',
    description: `Request and reply bodies of the dman server, protocol v${p.PROTOCOL_VERSION} (/v1) and the seed-compatible endpoints. Generated from shared/protocol.ts, server/routes/replySchemas.ts and server/routes/seedSchemas.ts by server/protocolSchema.ts; do not edit by hand.`,
    'x-protocol-version': p.PROTOCOL_VERSION,
    'x-headers': { operation: p.OP_HEADER, idempotency: p.IDEMPOTENCY_HEADER },
    $defs: defs,
  };
}
