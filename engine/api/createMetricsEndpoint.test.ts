import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../log.js';
import { createClientMetrics, type ClientMetrics } from '../metrics/createClientMetrics.js';
import { createMemoryRemote } from '../remote/MemoryRemote.js';
import { createMemorySettingsStore } from './appSettings.js';
import { createDmanApi, type DmanApiHost } from './createDmanApi.js';
import { createMetricsEndpoint, parseMetricsAddr, type MetricsEndpoint } from './createMetricsEndpoint.js';

const SERVER = 'http://127.0.0.1:3999';

describe('parseMetricsAddr', () => {
  it('takes loopback addresses only, and nothing when unset', () => {
    expect(parseMetricsAddr(undefined)).toBeNull();
    expect(parseMetricsAddr('')).toBeNull();
    expect(parseMetricsAddr('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseMetricsAddr('localhost:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseMetricsAddr('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    for (const bad of ['0.0.0.0:9464', '192.168.1.2:9464', '9464', '127.0.0.1:99999', 'http://127.0.0.1:9464']) {
      expect(() => parseMetricsAddr(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('DMAN_METRICS_ADDR') }));
    }
  });
});

describe('the app metrics endpoint, fed by the engine behind the DmanApi', () => {
  let dir: string;
  let home: string;
  let api: DmanApiHost;
  let metrics: ClientMetrics;
  const endpoints: MetricsEndpoint[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-appmetrics-'));
    home = join(dir, 'home');
    await mkdir(home);
    const remote = createMemoryRemote({ url: SERVER });
    api = createDmanApi({
      log: silentLogger(), configPath: join(dir, 'cfg', 'dman.yaml'), dataDir: join(dir, 'data'), settings: createMemorySettingsStore(),
      remote: () => remote, env: {}, homedir: home, hostname: 'laptop',
    });
    // The same wiring as main.ts: the metrics follow api.engineView across engine restarts.
    metrics = createClientMetrics({ engine: api.engineView });
    await api.start();
  });
  afterEach(async () => {
    for (const e of endpoints.splice(0)) await e.close();
    metrics.close();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (token?: string) => {
    const e = await createMetricsEndpoint({ metrics, addr: { host: '127.0.0.1', port: 0 }, log: silentLogger(), ...(token ? { token } : {}) });
    endpoints.push(e);
    return e;
  };

  it('serves the client metrics after a sync, and nothing else', async () => {
    await writeFile(join(home, '.bashrc'), 'export A=1\n');
    expect(await api.applySetup({ mode: 'connect', serverUrl: SERVER, user: 'alice', home, token: 'dman_t', track: ['.bashrc'], conflictPolicy: 'ask' })).toMatchObject({ ok: true });
    expect(await api.syncNow()).toMatchObject({ ok: true });
    const e = await start();
    expect(e.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(e.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/dman_client_tracked_files\{user="alice"\} 1/);
    expect(text).toMatch(/dman_client_pending_changes\{user="alice"\} 0/);
    expect(text).toMatch(/dman_client_sync_runs_total\{user="alice",outcome="ok"\} [1-9]/);
    expect((await fetch(e.url.replace('/metrics', '/'))).status).toBe(404);
    expect((await fetch(e.url, { headers: { origin: 'https://evil.example' } })).status).toBe(403);
  });

  it('asks for the bearer token when one is set', async () => {
    const e = await start('metrics-token-0123456789');
    expect((await fetch(e.url)).status).toBe(401);
    expect((await fetch(e.url, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const ok = await fetch(e.url, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('dman_client_errors_total');
  });

  it('names the address when the port is taken', async () => {
    const first = await start();
    const port = Number(new URL(first.url).port);
    await expect(createMetricsEndpoint({ metrics, addr: { host: '127.0.0.1', port }, log: silentLogger() })).rejects.toMatchObject({ code: 'IO', message: expect.stringContaining(`127.0.0.1:${port}`) });
  });
});
