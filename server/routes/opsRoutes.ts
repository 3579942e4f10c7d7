// Operations endpoints: /health and /metrics (no token) and /status (token).
import type { FastifyInstance } from 'fastify';
import { PROTOCOL_VERSION } from '../../shared/protocol.js';
import type { RouteContext } from '../http/context.js';
import type { Observability } from '../observability/Observability.js';

/** Per-route latency kept for /status (count, mean, max), independent of Prometheus scraping. */
export interface RouteLatency { count: number; totalMs: number; maxMs: number }

/** Registers /health, /metrics and /status. */
export function registerOpsRoutes(app: FastifyInstance, ctx: RouteContext, latency: Map<string, RouteLatency>, obs?: Observability): void {
  const { store } = ctx;
  const build = () => (obs ? { commit: obs.commit, startedAt: obs.startedAt, uptimeS: Math.round((ctx.now() - obs.startedAt) / 1000) } : {});

  app.get('/health', async (_req, reply) => {
    let storage: { ok: boolean; latencyMs: number; error?: string };
    try {
      const h = await store.health();
      storage = { ok: h.ok, latencyMs: h.latencyMs, ...(h.error ? { error: h.error } : {}) };
    } catch (err) {
      storage = { ok: false, latencyMs: 0, error: (err as Error).message };
    }
    reply.code(storage.ok ? 200 : 503);
    return { ok: storage.ok, version: ctx.version, protocol: PROTOCOL_VERSION, driver: store.driver, storage, ...build() };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  app.get('/status', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const names = p.admin ? await store.listUsers() : p.user ? [p.user] : [];
    const users = [];
    for (const user of names) {
      const s = await store.stats(user);
      const a = ctx.activity.get(user);
      users.push({ user, files: s.files, bytes: s.bytes, headRev: s.headRev, lastCommitAt: s.lastCommitAt, lastPublishAt: a?.lastPublishAt ?? null, lastInstallAt: a?.lastInstallAt ?? null });
    }
    const full = await store.health().catch((err: Error) => ({ ok: false, latencyMs: 0, error: err.message }));
    // Driver details (addresses, key prefixes) are for admins; devices see liveness and latency.
    const health = p.admin ? full : { ok: full.ok, latencyMs: full.latencyMs };
    const routes: Record<string, { count: number; meanMs: number; maxMs: number }> = {};
    // Device tokens see only their own user's numbers; route latency is not user data.
    for (const [route, l] of latency) routes[route] = { count: l.count, meanMs: Math.round((l.totalMs / l.count) * 100) / 100, maxMs: Math.round(l.maxMs * 100) / 100 };
    // p50/p95/p99 over the last minutes, per route and per store operation; lastError says why the driver went down.
    const windows = obs ? {
      schemaVersion: (full as { details?: { schemaVersion?: unknown } }).details?.schemaVersion ?? null,
      driverState: { up: obs.driver.up, lastError: p.admin ? obs.driver.lastError : obs.driver.lastError && { at: obs.driver.lastError.at, op: obs.driver.lastError.op } },
      breakdown: { windowS: obs.routes.windowMs / 1000, routes: obs.routes.summaries(), store: obs.store.summaries() },
    } : {};
    return { ok: health.ok, version: ctx.version, protocol: PROTOCOL_VERSION, driver: store.driver, storage: health, users, latency: routes, ...build(), ...windows };
  });
}
