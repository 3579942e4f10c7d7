import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_WS_PATH, dmanMethods, type DmanApi, type DmanEvent } from '../../shared/api.js';
import { createAgentServer, isLoopbackHost, readCookie, type AgentServer } from './createAgentServer.js';

const TOKEN = 'test-token-0123456789abcdef';

function fakeApi() {
  const calls: Array<{ method: string; args: unknown[] }> = [];
  const listeners = new Set<(e: DmanEvent) => void>();
  const api = Object.fromEntries(dmanMethods.map((m) => [m, async (...args: unknown[]) => { calls.push({ method: m, args }); return { ok: true, value: { method: m } }; }])) as unknown as DmanApi;
  api.onEvent = (l) => { listeners.add(l); return () => listeners.delete(l); };
  return { api, calls, emit: (e: DmanEvent) => listeners.forEach((l) => l(e)) };
}

/** A raw HTTP GET (fetch cannot set Origin/Host freely, and follows redirects). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function connect(agent: AgentServer, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${agent.port}${AGENT_WS_PATH}`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<unknown> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
}

describe('agent server', () => {
  let dir: string;
  let agent: AgentServer;
  let fake: ReturnType<typeof fakeApi>;
  const sockets: WebSocket[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-agent-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>dman</title>');
    await writeFile(join(dir, 'app.js'), 'console.log(1)');
    fake = fakeApi();
    agent = await createAgentServer({ api: fake.api, staticDir: dir, token: TOKEN });
  });
  afterEach(async () => {
    for (const ws of sockets) ws.terminate();
    sockets.length = 0;
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and prints a URL carrying the token', () => {
    expect(agent.url).toBe(`http://127.0.0.1:${agent.port}/?t=${TOKEN}`);
  });

  it('trades the URL token for an HttpOnly SameSite=Strict cookie and a clean URL', async () => {
    const first = await get(agent.port, `/?t=${TOKEN}`);
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/');
    const cookie = String(first.headers['set-cookie']);
    expect(cookie).toContain(`${agent.cookieName}=${TOKEN}`);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    const page = await get(agent.port, '/', { cookie: `${agent.cookieName}=${TOKEN}` });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>dman</title>');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const js = await get(agent.port, '/app.js', { cookie: `${agent.cookieName}=${TOKEN}` });
    expect(js.headers['content-type']).toContain('text/javascript');
  });

  it('refuses a missing or wrong token', async () => {
    expect((await get(agent.port, '/')).status).toBe(401);
    expect((await get(agent.port, '/?t=wrong')).status).toBe(401);
    expect((await get(agent.port, '/', { cookie: `${agent.cookieName}=wrong` })).status).toBe(401);
    expect((await get(agent.port, '/app.js')).body).not.toContain('console.log');
  });

  it('refuses cross-origin requests and foreign Host headers even with the token', async () => {
    const cookie = `${agent.cookieName}=${TOKEN}`;
    expect((await get(agent.port, '/', { cookie, origin: 'http://evil.example' })).status).toBe(403);
    expect((await get(agent.port, '/', { cookie, host: 'evil.example' })).status).toBe(403);
    expect((await get(agent.port, '/', { cookie, host: 'dman.evil.example:80', origin: 'http://dman.evil.example:80' })).status).toBe(403);
    expect((await get(agent.port, '/', { cookie, origin: agent.origin })).status).toBe(200);
    // Through an SSH tunnel the browser sees another loopback port; its own origin is accepted.
    expect((await get(agent.port, '/', { cookie, host: 'localhost:8080', origin: 'http://localhost:8080' })).status).toBe(200);
    expect((await get(agent.port, '/', { cookie, host: 'localhost:8080', origin: agent.origin })).status).toBe(403);
  });

  it('does not serve files outside the UI folder', async () => {
    const cookie = `${agent.cookieName}=${TOKEN}`;
    expect((await get(agent.port, '/%2e%2e/%2e%2e/etc/passwd', { cookie })).status).toBe(404);
    expect((await get(agent.port, '/..%2f..%2fetc%2fpasswd', { cookie })).status).toBe(404);
  });

  it('carries calls over the WebSocket, validating them with parseCall', async () => {
    const ws = await connect(agent, { origin: agent.origin, cookie: `${agent.cookieName}=${TOKEN}` });
    sockets.push(ws);
    ws.send(JSON.stringify({ id: 1, method: 'setPaused', args: [true] }));
    expect(await nextMessage(ws)).toEqual({ id: 1, ok: true, value: { method: 'setPaused' } });
    ws.send(JSON.stringify({ id: 2, method: 'setPaused', args: ['yes'] }));
    expect(await nextMessage(ws)).toMatchObject({ id: 2, ok: false, error: { code: 'BAD_REQUEST' } });
    ws.send(JSON.stringify({ id: 3, method: 'constructor', args: [] }));
    expect(await nextMessage(ws)).toMatchObject({ id: 3, ok: false, error: { code: 'BAD_REQUEST', message: 'unknown method "constructor"' } });
    ws.send('not json');
    expect(await nextMessage(ws)).toMatchObject({ id: null, ok: false, error: { code: 'BAD_REQUEST' } });
    expect(fake.calls).toEqual([{ method: 'setPaused', args: [true] }]);
  });

  it('pushes engine events to connected clients', async () => {
    const ws = await connect(agent, { origin: agent.origin, cookie: `${agent.cookieName}=${TOKEN}` });
    sockets.push(ws);
    const got = nextMessage(ws);
    fake.emit({ type: 'progress', done: 1, total: 4, phase: 'scan' });
    expect(await got).toEqual({ event: { type: 'progress', done: 1, total: 4, phase: 'scan' } });
  });

  it('refuses WebSocket handshakes that are cross-origin, have no Origin, or lack the token', async () => {
    await expect(connect(agent, { origin: 'http://evil.example', cookie: `${agent.cookieName}=${TOKEN}` })).rejects.toThrow('HTTP 403');
    await expect(connect(agent, { cookie: `${agent.cookieName}=${TOKEN}` })).rejects.toThrow('HTTP 403');
    await expect(connect(agent, { origin: agent.origin })).rejects.toThrow('HTTP 401');
    await expect(connect(agent, { origin: agent.origin, cookie: `${agent.cookieName}=nope` })).rejects.toThrow('HTTP 401');
    expect(fake.calls).toEqual([]);
  });
  it('says which port is taken and how to pick another when it cannot listen, and stops sending it events', async () => {
    const taken = agent.port;
    const other = fakeApi();
    let subscribed = 0;
    const onEvent = other.api.onEvent;
    other.api.onEvent = (l) => { subscribed++; const off = onEvent(l); return () => { subscribed--; off(); }; };
    await expect(createAgentServer({ api: other.api, staticDir: dir, token: TOKEN, port: taken })).rejects.toMatchObject({
      code: 'USAGE',
      message: `the agent cannot listen: port ${taken} on 127.0.0.1 is already in use`,
      hint: expect.stringContaining('--port 0'),
    });
    expect(subscribed).toBe(0);
  });
});

describe('readCookie', () => {
  it('finds a cookie among others', () => {
    expect(readCookie('a=1; dman_agent_5=x%3Dy; b=2', 'dman_agent_5')).toBe('x=y');
    expect(readCookie('a=1', 'dman_agent_5')).toBeNull();
    expect(readCookie(undefined, 'x')).toBeNull();
  });
});

describe('isLoopbackHost', () => {
  it.each([['127.0.0.1:5000', true], ['localhost:8080', true], ['[::1]:9', true], ['LOCALHOST', true], ['127.0.0.2:1', false], ['dman.local:80', false], ['127.0.0.1.evil.example', false], ['', false]])('%s → %s', (h, ok) => {
    expect(isLoopbackHost(h)).toBe(ok);
  });
});

describe('agent /metrics', () => {
  it('serves the client metrics behind the token; a scraper authenticates with Bearer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dman-agent-'));
    let scrapes = 0;
    const metrics = { contentType: 'text/plain; version=0.0.4', metrics: async () => `dman_client_conflicts{user="alice"} ${++scrapes}\n` };
    const agent = await createAgentServer({ api: fakeApi().api, staticDir: dir, token: TOKEN, metrics });
    try {
      expect((await get(agent.port, '/metrics')).status).toBe(401);
      expect((await get(agent.port, '/metrics', { authorization: 'Bearer wrong-token' })).status).toBe(401);
      const r = await get(agent.port, '/metrics', { authorization: `Bearer ${TOKEN}` });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toContain('text/plain');
      expect(r.body).toBe('dman_client_conflicts{user="alice"} 1\n');
      expect((await get(agent.port, '/metrics', { cookie: `${agent.cookieName}=${TOKEN}` })).body).toContain('} 2');
    } finally {
      await agent.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
