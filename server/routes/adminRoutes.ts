// Admin API: token management and the audit trail.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import { tokenCreateRequestSchema, type TokenInfo } from '../../shared/protocol.js';
import { mintToken } from '../auth/tokens.js';
import type { RouteContext } from '../http/context.js';
import { jsonBody, parseWith } from '../http/parse.js';
import type { TokenRecord } from '../store/Store.js';

const auditQuery = z.object({
  since: z.coerce.number().nonnegative().optional(),
  user: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(500),
});

/** Strips the hash from a stored token record. */
export function tokenInfo(rec: TokenRecord): TokenInfo {
  const { hash: _hash, ...info } = rec;
  return info;
}

/** Registers /v1/admin/*. */
export function registerAdminRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx;

  app.post('/v1/admin/tokens', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    ctx.requireAdmin(p);
    const body = parseWith(tokenCreateRequestSchema(), await jsonBody(req.body, ctx.limits.jsonBytes), 'body');
    if (!body.admin && body.user === null) throw new DmanError('BAD_REQUEST', 'a device token needs a user', { hint: 'pass "user" (CLI: --user NAME), or "admin": true for an admin token' });
    if (body.user !== null) ctx.authorizeUser(p, body.user);
    const { token, record } = mintToken({ user: body.user, device: body.device, admin: body.admin, now: ctx.now() });
    await store.putToken(record);
    await ctx.audit(req, p, { action: 'token.create', outcome: 'ok', user: body.user, details: { id: record.id, device: body.device, admin: body.admin } });
    reply.code(201);
    return { token, info: tokenInfo(record) };
  });

  app.get('/v1/admin/tokens', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    ctx.requireAdmin(p);
    const tokens = (await store.listTokens()).map(tokenInfo);
    return { tokens };
  });

  app.delete('/v1/admin/tokens/:id', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    ctx.requireAdmin(p);
    const { id } = parseWith(z.object({ id: z.string().min(1).max(128) }), req.params, 'params');
    const ok = await store.revokeToken(id, ctx.now());
    await ctx.audit(req, p, { action: 'token.revoke', outcome: ok ? 'ok' : 'failed', details: { id } });
    if (!ok) throw new DmanError('NOT_FOUND', `no token with id "${id}"`, { hint: 'list tokens with `dman token list`' });
    return { id, revoked: true };
  });

  app.get('/v1/admin/audit', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    ctx.requireAdmin(p);
    const q = parseWith(auditQuery, req.query, 'query');
    return { records: await store.listAudit(q) };
  });
}
