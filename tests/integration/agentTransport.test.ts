// The browser transport (renderer/transport/createWsApi) against the real agent host
// (cli/agent/createAgentServer): calls, error values, pushed events, and a dropped connection.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { dmanMethods, type AppState, type DmanApi, type DmanEvent } from '../../shared/api.js';
import { createAgentServer, type AgentServer } from '../../cli/agent/createAgentServer.js';
import { createWsApi } from '../../renderer/transport/createWsApi.js';

const state: AppState = {
  state: 'idle', configured: true, paused: false, serverUrl: 'http://127.0.0.1:3626', device: 'laptop', hostsServer: true,
  lastSyncAt: null, lastError: null, conflictCount: 0, users: [], groups: [],
};

function fakeApi() {
  const listeners = new Set<(e: DmanEvent) => void>();
  const api = Object.fromEntries(dmanMethods.map((m) => [m, async () => ({ ok: false, error: { code: 'NOT_FOUND', message: `${m} is not faked` } })])) as unknown as DmanApi;
  api.getState = async () => ({ ok: true, value: state });
  api.setPaused = async (paused) => ({ ok: true, value: { ...state, paused } });
  // A reply that breaks the contract must reach the UI as an error value.
  api.activity = async () => ({ ok: true, value: [{ nonsense: true }] }) as never;
  api.onEvent = (l) => { listeners.add(l); return () => listeners.delete(l); };
  return { api, emit: (e: DmanEvent) => listeners.forEach((l) => l(e)) };
}

describe('WebSocket transport against the agent', () => {
  let dir: string;
  let agent: AgentServer;
  let fake: ReturnType<typeof fakeApi>;
  let client: ReturnType<typeof createWsApi> | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-ws-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html>');
    fake = fakeApi();
    agent = await createAgentServer({ api: fake.api, staticDir: dir });
  });
  afterEach(async () => {
    client?.close();
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });

  const connect = (onConnection?: (up: boolean) => void) => createWsApi(`ws://127.0.0.1:${agent.port}/api/ws`, {
    retryMs: 50,
    onConnection,
    // What the browser does: same-origin handshake carrying the HttpOnly cookie.
    createSocket: (url) => new WebSocket(url, { headers: { origin: agent.origin, cookie: `${agent.cookieName}=${agent.token}` } }) as unknown as globalThis.WebSocket,
  });

  it('calls methods and gets values, error values, and contract violations as errors', async () => {
    client = connect();
    await expect(client.getState()).resolves.toEqual({ ok: true, value: state });
    await expect(client.setPaused(true)).resolves.toMatchObject({ ok: true, value: { paused: true } });
    await expect(client.listConflicts()).resolves.toEqual({ ok: false, error: { code: 'NOT_FOUND', message: 'listConflicts is not faked' } });
    await expect(client.activity(10)).resolves.toMatchObject({ ok: false, error: { code: 'PROTOCOL' } });
    // An omitted optional argument must not travel as null (JSON has no undefined).
    await expect(client.testServer('http://127.0.0.1:1')).resolves.toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('delivers pushed events', async () => {
    client = connect();
    await client.getState();
    const got = new Promise<DmanEvent>((resolve) => client!.onEvent(resolve));
    fake.emit({ type: 'state', state: { ...state, state: 'syncing' } });
    await expect(got).resolves.toMatchObject({ type: 'state', state: { state: 'syncing' } });
  });

  it('answers pending calls with an error value when the agent goes away, and reports the drop', async () => {
    const ups: boolean[] = [];
    client = connect((up) => ups.push(up));
    await client.getState();
    fake.api.getState = () => new Promise(() => {});
    const pending = client.getState();
    await agent.close();
    await expect(pending).resolves.toMatchObject({ ok: false, error: { code: 'SERVER_UNREACHABLE' } });
    expect(ups).toEqual([true, false]);
  });

  it('is refused without the cookie', async () => {
    client = createWsApi(`ws://127.0.0.1:${agent.port}/api/ws`, { retryMs: 10_000, createSocket: (url) => new WebSocket(url, { headers: { origin: agent.origin } }) as unknown as globalThis.WebSocket });
    await expect(client.getState()).resolves.toMatchObject({ ok: false, error: { code: 'SERVER_UNREACHABLE', message: expect.stringContaining('refused') } });
  });
});
