// The headless agent's host: serves the built renderer and the DmanApi (over a WebSocket) on
// 127.0.0.1 only. Anything local can connect to a loopback port, so every request must prove it
// comes from the person who started the agent: the random token in the printed URL, traded on
// first load for an HttpOnly SameSite=Strict cookie. Cross-origin requests and unexpected Host
// headers (DNS rebinding) are refused before the token is even looked at.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { extname, join, normalize, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { DmanError } from '../../shared/errors.js';
import { AGENT_WS_PATH, agentRequestSchema, parseCall, type AgentMessage, type DmanApi } from '../../shared/api.js';

export interface AgentLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AgentServerOptions {
  api: DmanApi;
  /** The built renderer (dist/renderer). */
  staticDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Fixed token (tests); random 32 bytes otherwise. */
  token?: string;
  log?: AgentLog;
  /** Prometheus metrics served at /metrics behind the agent's token (cookie, ?t= or Bearer). */
  metrics?: { contentType: string; metrics(): Promise<string> };
}

export interface AgentServer {
  /** The URL to open, with the token: http://127.0.0.1:PORT/?t=TOKEN */
  url: string;
  /** The origin the agent accepts: http://127.0.0.1:PORT */
  origin: string;
  port: number;
  token: string;
  /** The name of the session cookie (per port: cookies ignore ports). */
  cookieName: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2', '.map': 'application/json',
};

/** The Content-Security-Policy of every page the agent serves (no remote content, no inline scripts). */
export const AGENT_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/** Returns true when a Host header names a loopback address (127.0.0.1, localhost, [::1]) with a port or none. */
export function isLoopbackHost(host: string): boolean {
  const m = /^(\[::1\]|127\.0\.0\.1|localhost)(?::\d{1,5})?$/i.exec(host.trim());
  return m !== null;
}

/** Compares two secrets in constant time. */
export function sameSecret(a: string | null | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Reads one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

/** Starts the agent's HTTP + WebSocket server on 127.0.0.1. */
export async function createAgentServer(opts: AgentServerOptions): Promise<AgentServer> {
  const token = opts.token ?? randomBytes(32).toString('base64url');
  const log = opts.log;
  // Known once listening; the cookie is per port because cookies ignore ports.
  let cookieName = '';
  // The Host must name a loopback address (any port, so an SSH tunnel such as
  // `ssh -L 8080:127.0.0.1:PORT` works); a DNS name pointing here (DNS rebinding) is refused.
  const hostOk = (req: IncomingMessage) => isLoopbackHost(String(req.headers.host ?? ''));
  // Browsers send Origin on every cross-origin request and on every WebSocket handshake; it must
  // be the page's own origin, which is the Host the browser connected to.
  const originOk = (req: IncomingMessage, required: boolean) => {
    const o = req.headers.origin;
    if (o === undefined) return !required;
    return o.toLowerCase() === `http://${String(req.headers.host ?? '').toLowerCase()}`;
  };
  const bearer = (req: IncomingMessage) => /^Bearer (.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1] ?? null;
  const authed = (req: IncomingMessage, url: URL) => sameSecret(readCookie(req.headers.cookie, cookieName), token) || sameSecret(url.searchParams.get('t'), token) || sameSecret(bearer(req), token);

  const deny = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).end(`${text}\n`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!hostOk(req)) return deny(res, 403, 'dman agent: wrong Host header; open the URL that `dman agent` printed.');
    if (!originOk(req, false)) {
      log?.warn({ origin: req.headers.origin, path: url.pathname }, 'cross-origin request refused');
      return deny(res, 403, 'dman agent: cross-origin requests are refused.');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return deny(res, 405, 'dman agent: only GET is served; the API is on the WebSocket.');
    if (!authed(req, url)) return deny(res, 401, 'dman agent: missing or wrong token. Open the full URL that `dman agent` printed (it ends with ?t=…).');
    if (url.pathname === '/metrics' && opts.metrics) {
      // A scraper sends `Authorization: Bearer <token>`; it cannot hold a cookie.
      const text = await opts.metrics.metrics();
      res.writeHead(200, { 'content-type': opts.metrics.contentType, 'cache-control': 'no-store' }).end(text);
      return;
    }
    if (url.searchParams.has('t')) {
      // Trade the URL token for a cookie and drop it from the address bar and history.
      url.searchParams.delete('t');
      res.writeHead(303, {
        'set-cookie': `${cookieName}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
        location: `${url.pathname}${url.search}`,
        'cache-control': 'no-store',
      }).end();
      return;
    }
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = normalize(join(opts.staticDir, rel));
    if (!file.startsWith(normalize(opts.staticDir) + sep) || rel.includes('\0')) return deny(res, 404, 'not found');
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) {
      if (rel === 'index.html') return deny(res, 500, `dman agent: the UI is not built (${file} is missing). Run \`npm run build\` in the dman folder.`);
      return deny(res, 404, 'not found');
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-store',
      'content-security-policy': AGENT_CSP,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log?.warn({ err }, 'agent request failed');
      if (!res.headersSent) deny(res, 500, 'dman agent: internal error');
      else res.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 8 * 1024 * 1024 });
  const clients = new Set<WebSocket>();
  const send = (ws: WebSocket, m: AgentMessage) => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m)); };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const refuse = (status: string, why: string) => {
      log?.warn({ origin: req.headers.origin ?? null, why }, 'websocket refused');
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${why}\n`);
    };
    if (url.pathname !== AGENT_WS_PATH) return refuse('404 Not Found', 'no such endpoint');
    if (!hostOk(req)) return refuse('403 Forbidden', 'wrong Host header');
    if (!originOk(req, true)) return refuse('403 Forbidden', 'cross-origin WebSocket refused');
    if (!authed(req, url)) return refuse('401 Unauthorized', 'missing or wrong token');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  wss.on('connection', (ws: WebSocket) => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('message', (data, isBinary) => {
      let raw: unknown;
      try { raw = isBinary ? undefined : JSON.parse(data.toString()); } catch { raw = undefined; }
      const req = agentRequestSchema.safeParse(raw);
      if (!req.success) return send(ws, { id: null, ok: false, error: { code: 'BAD_REQUEST', message: 'a call is JSON {"id": number, "method": string, "args": [...]}' } });
      const { id, method, args } = req.data;
      const call = parseCall(method, args);
      if (!call.ok) return send(ws, { id, ok: false, error: { code: 'BAD_REQUEST', message: call.message } });
      const fn = opts.api[call.method] as (...a: unknown[]) => Promise<AgentMessage>;
      Promise.resolve()
        .then(() => fn(...call.args))
        .then(
          (r) => send(ws, { id, ...(r as { ok: true; value: unknown }) }),
          (err: unknown) => send(ws, { id, ok: false, error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } }),
        );
    });
  });

  const offEvents = opts.api.onEvent((event) => { for (const ws of clients) send(ws, { event }); });

  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      offEvents();
      const where = `port ${opts.port ?? 0} on 127.0.0.1`;
      if (err.code === 'EADDRINUSE') reject(new DmanError('USAGE', `the agent cannot listen: ${where} is already in use`, { hint: 'pick another with --port N, or --port 0 for any free port (is another dman agent running?)', cause: err }));
      else if (err.code === 'EACCES') reject(new DmanError('USAGE', `the agent cannot listen: ${where} needs privileges`, { hint: 'use a port from 1024 up, or --port 0 for any free port', cause: err }));
      else reject(err);
    };
    server.once('error', failed);
    server.listen(opts.port ?? 0, '127.0.0.1', () => { server.off('error', failed); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  cookieName = `dman_agent_${port}`;
  const origin = `http://127.0.0.1:${port}`;
  log?.info({ port }, 'agent listening');

  return {
    url: `${origin}/?t=${token}`,
    origin,
    port,
    token,
    cookieName,
    async close() {
      offEvents();
      for (const ws of clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
