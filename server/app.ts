// The sync server's composition root: fastify with the /v1 protocol, the seed's endpoints,
// auth, audit, metrics, retention and blob GC, on top of one injected Store.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { DmanError, isDmanError } from '../shared/errors.js';
import { OP_HEADER } from '../shared/protocol.js';
import { createAuthenticator, type Principal } from './auth/authenticate.js';
import { createFailureThrottle, type FailureThrottleOptions } from './auth/throttle.js';
import { createClientErrorHandler } from './http/clientErrorHandler.js';
import { createAccessRules, type RetentionSettings, type RouteContext, type UserActivity } from './http/context.js';
import { errorBody, statusFor } from './http/httpStatus.js';
import { createServerMetrics } from './http/metrics.js';
import { DEFAULT_LIMITS, type ServerLimits } from './limits.js';
import { registerDashboardRoutes } from './dashboard/registerDashboardRoutes.js';
import { createLatencyWindow } from './observability/createLatencyWindow.js';
import { instrumentStore } from './observability/instrumentStore.js';
import type { Observability } from './observability/Observability.js';
import { registerAdminRoutes } from './routes/adminRoutes.js';
import { registerOpsRoutes, type RouteLatency } from './routes/opsRoutes.js';
import { registerSeedRoutes } from './routes/seedRoutes.js';
import { registerV1Routes } from './routes/v1Routes.js';
import type { CommitInput, Store } from './store/Store.js';

/** Seconds a client should wait before retrying after a 503 (storage unavailable). */
const STORE_RETRY_AFTER_S = 2;

export interface ServerOptions {
  store: Store;
  log: Logger;
  /** The config's shared token; accepted as an admin token (with a warning). */
  authToken?: string;
  /** Configured user names; requests for other users are refused. Undefined accepts any valid name. */
  users?: string[];
  retention: RetentionSettings;
  limits?: Partial<ServerLimits>;
  throttle?: FailureThrottleOptions;
  /** Deletes in one commit at or above this count are audited as a mass delete (default 10). */
  massDeleteMin?: number;
  now?: () => number;
  version: string;
  /** Git commit of the build, shown in /status and /health. */
  commit?: string;
  /**
   * Trust X-Forwarded-For from these proxies (fastify's trustProxy: true, an address, a CIDR list).
   * Set it behind a TLS proxy, or every client shares the proxy's address for auth throttling.
   */
  trustProxy?: boolean | string | string[];
}

export interface DmanServer {
  app: FastifyInstance;
  /** Listens on "host:port" (port 0 picks one) and resolves to the base URL. */
  listen(addr: string): Promise<string>;
  close(): Promise<void>;
}

const OP_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Splits "host:port" (IPv6 as "[::1]:port") into its parts, or throws USAGE. */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new DmanError('USAGE', `"${addr}" is not a listen address`, { hint: 'use HOST:PORT, e.g. 127.0.0.1:3626 or [::1]:3626', context: { key: 'listen' } });
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Returns true when the host only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Creates the sync server (not yet listening). */
export function createServer(opts: ServerOptions): DmanServer {
  const now = opts.now ?? Date.now;
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const log = opts.log.child({ mod: 'server' });
  const metrics = createServerMetrics();
  const routeWindow = createLatencyWindow({ now });
  const storeWindow = createLatencyWindow({ now });
  const { store, state: driverState } = instrumentStore(opts.store, { metrics, window: storeWindow, now });
  const obs: Observability = { routes: routeWindow, store: storeWindow, driver: driverState, startedAt: now(), commit: opts.commit ?? 'unknown' };
  metrics.buildInfo.set({ version: opts.version, commit: obs.commit }, 1);
  metrics.startTime.set(Math.floor(obs.startedAt / 1000));
  const throttle = createFailureThrottle({ now, ...opts.throttle });
  const authenticateToken = createAuthenticator({ store, authToken: opts.authToken, now });
  const users = opts.users ? new Set(opts.users) : undefined;
  const rules = createAccessRules(users);
  const activity = new Map<string, UserActivity>();
  const latency = new Map<string, RouteLatency>();
  const streams = new Set<() => void>();
  const massDeleteMin = opts.massDeleteMin ?? 10;
  let warnedSharedToken = false;

  if (opts.authToken) log.warn('the config\'s auth_token is accepted as an admin token; prefer per-device tokens (`dman token create --user USER --device NAME`)');

  const app = Fastify({
    loggerInstance: opts.log.child({ mod: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'op' }),
    bodyLimit: limits.jsonBytes,
    requestIdHeader: false,
    genReqId: (req) => {
      const h = req.headers[OP_HEADER];
      return typeof h === 'string' && OP_RE.test(h) ? h : randomUUID();
    },
    return503OnClosing: true,
    trustProxy: opts.trustProxy ?? false,
    forceCloseConnections: true,
    clientErrorHandler: createClientErrorHandler(opts.log.child({ mod: 'http' })),
  });

  // Binary bodies (blobs, tars, uploads) stay streams; fastify's JSON parser handles JSON.
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  async function audit(req: FastifyRequest, p: Principal | null, rec: Parameters<RouteContext['audit']>[2]): Promise<void> {
    try {
      await store.appendAudit({ time: now(), action: rec.action, outcome: rec.outcome, source: req.ip ?? null, user: rec.user ?? p?.user ?? null, tokenId: p?.tokenId ?? null, opId: String(req.id), ...(rec.details ? { details: rec.details } : {}) });
    } catch (err) {
      req.log.error({ err, action: rec.action }, 'audit write failed');
    }
  }

  // Who made each request, for the audit record of a refusal (the error handler sees only the request).
  const principals = new WeakMap<FastifyRequest, Principal>();

  async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<Principal> {
    const source = req.ip ?? 'unknown';
    // A throttled address still gets in with a valid token: clients behind one NAT or proxy must
    // not be locked out by a neighbour's bad token. Only failures are refused, and they do not
    // extend the block (it ends blockMs after it began).
    const wait = throttle.retryAfter(source);
    try {
      const p = await authenticateToken(req.headers.authorization);
      principals.set(req, p);
      if (wait === 0) throttle.succeed(source);
      if (p.tokenId === 'config' && !warnedSharedToken) {
        warnedSharedToken = true;
        req.log.warn('a client used the shared auth_token; create per-device tokens with `dman token create` so each device can be revoked alone');
      }
      req.log.debug({ tokenId: p.tokenId, user: p.user }, 'authenticated');
      // Every later line of this request (the access line included) names who made it.
      req.log = req.log.child({ user: p.user ?? undefined, device: p.device ?? undefined, ...(p.admin ? { admin: true } : {}) });
      return p;
    } catch (err) {
      if (wait > 0 && (isDmanError(err, 'AUTH_INVALID') || isDmanError(err, 'AUTH_REQUIRED'))) {
        metrics.authFailures.inc({ reason: 'throttled' });
        reply.header('retry-after', String(wait));
        throw new DmanError('RATE_LIMITED', `too many failed logins from this address; try again in ${wait} s`, { hint: 'check the token in your config (`dman login`)' });
      }
      if (isDmanError(err, 'AUTH_INVALID')) {
        throttle.fail(source);
        metrics.authFailures.inc({ reason: 'invalid' });
        await audit(req, null, { action: 'auth', outcome: 'denied', details: { reason: err.message } });
      } else if (isDmanError(err, 'AUTH_REQUIRED')) {
        metrics.authFailures.inc({ reason: 'missing' });
      }
      throw err;
    }
  }

  // Paths committed per user since that user's last afterCommit, so retention after a commit trims
  // only those histories instead of every path (a full pass per commit capped Redis at ~4 commits/s).
  const committed = new Map<string, Set<string>>();
  const routeStore = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'commit') return value;
      return async (input: CommitInput) => {
        const out = await store.commit(input);
        if (out.ok && opts.retention.afterCommit !== false) {
          let set = committed.get(input.user);
          if (!set) committed.set(input.user, (set = new Set()));
          for (const o of input.ops) set.add(o.path);
        }
        return out;
      };
    },
  });

  const ctx: RouteContext = {
    store: routeStore, log, limits, retention: opts.retention, now, version: opts.version, metrics, users,
    authenticate, authorizeUser: rules.authorizeUser, requireAdmin: rules.requireAdmin, audit, activity,
    async afterCommit(user, deletes, req, p) {
      if (deletes >= massDeleteMin) await audit(req, p, { action: 'mass-delete', outcome: 'ok', user, details: { deletes } });
      if (opts.retention.afterCommit === false) return;
      const paths = committed.get(user);
      if (paths) committed.set(user, new Set());
      try {
        // Empty when a concurrent afterCommit of this user already took these paths; unknown (no commit seen) means all.
        if (paths?.size === 0) return;
        await store.applyRetention(user, opts.retention, now(), paths ? { paths: [...paths] } : undefined);
      } catch (err) {
        req.log.warn({ err, user }, 'retention after commit failed');
      }
    },
    trackStream(end) {
      streams.add(end);
      return () => streams.delete(end);
    },
  };

  app.addHook('onRequest', async (req, reply) => {
    reply.header(OP_HEADER, String(req.id));
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const ms = reply.elapsedTime;
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: req.method, route }, ms / 1000);
    const len = Number(req.headers['content-length'] ?? 0);
    if (len > 0 && !route.includes('blobs')) metrics.bytesIn.inc(len);
    const out = Number(reply.getHeader('content-length') ?? 0);
    if (out > 0 && !route.includes('blobs')) metrics.bytesOut.inc(out);
    const key = `${req.method} ${route}`;
    const l = latency.get(key) ?? { count: 0, totalMs: 0, maxMs: 0 };
    l.count += 1; l.totalMs += ms; l.maxMs = Math.max(l.maxMs, ms);
    latency.set(key, l);
    routeWindow.record(key, ms, reply.statusCode >= 500);
    req.log.info({ method: req.method, route, status: reply.statusCode, ms: Math.round(ms * 10) / 10, source: req.ip }, 'request');
  });

  app.setErrorHandler(async (err, req, reply) => {
    let e: DmanError;
    if (err instanceof DmanError) e = err;
    else if (err instanceof ZodError) e = new DmanError('BAD_REQUEST', `invalid request: ${err.issues[0]?.message ?? 'bad input'}`);
    else {
      const fe = err as { statusCode?: number; code?: string; message?: string };
      const status = fe.statusCode ?? 500;
      if (status === 413) e = new DmanError('PAYLOAD_TOO_LARGE', `the request body is too large: ${fe.message}`, { hint: 'split the request' });
      else if (status === 415) e = new DmanError('BAD_REQUEST', `unsupported content type: ${fe.message}`, { hint: 'send JSON with "Content-Type: application/json"' });
      else if (status >= 400 && status < 500) e = new DmanError('BAD_REQUEST', fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(fe.message ?? '') ? `the body is not valid JSON: ${fe.message}` : (fe.message ?? 'bad request'));
      else e = new DmanError('INTERNAL', fe.message ?? 'internal error', { cause: err });
    }
    const status = statusFor(e.code);
    // A valid token reaching for another user's data (or an admin endpoint) is worth an audit
    // record: it is a misconfigured device at best, a stolen token at worst.
    if (e.code === 'FORBIDDEN') await audit(req, principals.get(req) ?? null, { action: 'access.denied', outcome: 'denied', details: { method: req.method, route: req.routeOptions?.url ?? req.url.split('?')[0]!.slice(0, 200) } });
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: e.code, reason: e.message }, 'request refused');
    if (reply.sent || reply.raw.headersSent) return reply;
    // A body we refused may still be arriving; close the connection rather than read it all.
    if (req.raw.readable && !req.raw.readableEnded) reply.header('connection', 'close');
    // The database is down or restarting: tell clients when to come back instead of hammering it.
    if (status === 503) reply.header('retry-after', String(STORE_RETRY_AFTER_S));
    return reply.code(status).type('application/json').send(errorBody(e));
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}`, hint: 'see docs/protocol.schema.json and docs/seed-api.md for the endpoints' } });
  });

  registerOpsRoutes(app, ctx, latency, obs);
  registerDashboardRoutes(app, ctx, obs);
  registerV1Routes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerSeedRoutes(app, ctx);

  let gcTimer: NodeJS.Timeout | undefined;
  async function gcPass(): Promise<void> {
    try {
      let removed = 0;
      for (const user of await store.listUsers()) removed += (await store.applyRetention(user, opts.retention, now())).versionsRemoved;
      // Store clocks time uploads with Date.now(), so the grace is measured on it too.
      const gc = await store.gcBlobs(opts.retention.blobGraceMs !== undefined ? { graceMs: opts.retention.blobGraceMs } : {});
      log.info({ versionsRemoved: removed, ...gc }, 'retention and blob gc done');
      // Removing history is destructive: the audit trail says when and how much.
      if (removed > 0 || gc.blobsRemoved > 0) await store.appendAudit({ time: now(), action: 'retention', outcome: 'ok', source: 'server', user: null, tokenId: null, opId: null, details: { versionsRemoved: removed, ...gc } });
    } catch (err) {
      log.warn({ err }, 'retention and blob gc failed');
    }
  }

  return {
    app,
    async listen(addr) {
      const { host, port } = parseListenAddr(addr);
      await app.listen({ host, port });
      const a = app.server.address();
      const actualPort = typeof a === 'object' && a ? a.port : port;
      const gcEvery = opts.retention.gcIntervalMs ?? 3_600_000;
      if (gcEvery > 0) {
        gcTimer = setInterval(() => void gcPass(), gcEvery);
        gcTimer.unref();
      }
      const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
      const url = `http://${shownHost}:${actualPort}`;
      log.info({ url }, 'listening');
      return url;
    },
    async close() {
      if (gcTimer) clearInterval(gcTimer);
      for (const end of [...streams]) end();
      await app.close();
    },
  };
}
