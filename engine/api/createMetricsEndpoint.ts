// The tray app's client metrics (engine/metrics/createClientMetrics) on a loopback-only HTTP
// endpoint, started only when asked for ($DMAN_METRICS_ADDR): a desktop app should not open
// ports by default, but an operator who scrapes the agent can scrape the app the same way.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import type { Logger } from '../log.js';

/** Where the endpoint listens. */
export interface MetricsAddr { host: '127.0.0.1' | '::1'; port: number }

const addrSchema = z.string().trim().regex(/^(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})$/).transform((s, ctx) => {
  const m = /^(.*):(\d+)$/.exec(s)!;
  const port = Number(m[2]);
  if (port > 65535) { ctx.addIssue({ code: 'custom', message: 'port out of range' }); return z.NEVER; }
  return { host: m[1] === '[::1]' ? '::1' as const : '127.0.0.1' as const, port };
});

/** Parses $DMAN_METRICS_ADDR (127.0.0.1:PORT, localhost:PORT or [::1]:PORT); unset means no endpoint. */
export function parseMetricsAddr(value: string | undefined): MetricsAddr | null {
  if (value === undefined || value.trim() === '') return null;
  const r = addrSchema.safeParse(value);
  if (!r.success) {
    throw new DmanError('CONFIG_INVALID', `DMAN_METRICS_ADDR is "${value}": the app serves metrics on loopback only`, {
      hint: 'use 127.0.0.1:PORT (e.g. 127.0.0.1:9464), or unset it; scrape other machines through an SSH tunnel',
      context: { key: 'DMAN_METRICS_ADDR' },
    });
  }
  return r.data;
}

/** A running metrics endpoint. */
export interface MetricsEndpoint {
  /** http://127.0.0.1:PORT/metrics */
  url: string;
  close(): Promise<void>;
}

/** Options of createMetricsEndpoint. */
export interface MetricsEndpointOptions {
  metrics: { contentType: string; metrics(): Promise<string> };
  addr: MetricsAddr;
  /** When set, scrapers must send `Authorization: Bearer <token>` ($DMAN_METRICS_TOKEN). */
  token?: string;
  log: Logger;
}

const bearer = (req: IncomingMessage) => /^Bearer (.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1] ?? null;
function same(a: string | null, b: string): boolean {
  if (a === null) return false;
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Starts GET /metrics (Prometheus text) on a loopback address; nothing else is served. */
export async function createMetricsEndpoint(opts: MetricsEndpointOptions): Promise<MetricsEndpoint> {
  const log = opts.log.child({ mod: 'metrics' });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' || path !== '/metrics') { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: only GET /metrics is served here\n'); return; }
    // A browser page on another site could reach 127.0.0.1; it always sends Origin, a scraper does not.
    if (req.headers.origin) { res.writeHead(403, { 'content-type': 'text/plain' }).end('cross-origin requests are refused\n'); return; }
    if (opts.token && !same(bearer(req), opts.token)) { res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('send Authorization: Bearer $DMAN_METRICS_TOKEN\n'); return; }
    opts.metrics.metrics().then(
      (text) => { res.writeHead(200, { 'content-type': opts.metrics.contentType, 'cache-control': 'no-store' }).end(text); },
      (err: unknown) => { log.warn({ err: (err as Error).message }, 'metrics failed'); res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n'); },
    );
  });
  await new Promise<void>((done, fail) => {
    server.once('error', (err) => fail(new DmanError('IO', `cannot serve metrics on ${opts.addr.host}:${opts.addr.port}: ${err.message}`, { hint: 'pick a free port in DMAN_METRICS_ADDR', context: { key: 'DMAN_METRICS_ADDR' }, cause: err })));
    server.listen(opts.addr.port, opts.addr.host, () => done());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.addr.host === '::1' ? '[::1]' : '127.0.0.1'}:${port}/metrics`;
  log.info({ url }, 'client metrics served');
  return {
    url,
    close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
  };
}
