// The standalone server binary (scripts/sea.mjs): built from this tree, it starts with no Node
// install and no node_modules around it, answers /health, and stops cleanly on SIGTERM.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { stringify as toYaml } from 'yaml';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstJsonLine, freePort, waitForExit, waitForHealthy } from './helpers.js';
import { execArgs, last, parseUnit } from './systemdUnit.js';
import mysql from 'mysql2/promise';
import { Redis } from 'ioredis';
import { getService, uniqueId } from '../setup/testServices.js';

const root = new URL('../../', import.meta.url).pathname;
const binary = join(root, 'dist/dman-server');

describe('standalone server binary (Node SEA)', () => {
  let home: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'dman-sea-'));
    // Cached: rebuilds only when the bundle or the node binary changed (about 3 s when it does).
    const r = spawnSync(process.execPath, ['scripts/sea.mjs', '--quiet'], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`scripts/sea.mjs failed (${r.status}):\n${r.stderr}`);
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
  });

  // A clean environment: no config of this machine's user, no NODE_OPTIONS, no node on PATH.
  const env = () => ({ HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local/share'), PATH: '/usr/bin:/bin', TMPDIR: home });

  it('is a single executable that runs without node or node_modules', () => {
    expect(existsSync(binary)).toBe(true);
    expect(statSync(binary).mode & 0o111).not.toBe(0);
    const r = spawnSync(binary, ['--json', 'version'], { cwd: home, env: { ...env(), PATH: '/nonexistent' }, encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/ExperimentalWarning|Cannot find module/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\d+\.\d+\.\d+/);
  });

  it('logs JSON even when asked for the pretty format on a terminal (pretty needs node_modules)', () => {
    // `script` gives the binary a terminal, where the pretty format would load pino-pretty.
    const cmd = `timeout -s TERM 3 ${binary} --log-format pretty --log-level info serve --addr 127.0.0.1:0 --data-dir ${join(home, 'tty-data')}`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: home, env: env(), encoding: 'utf8', timeout: 30_000 });
    if (r.error) {
      console.info(`script (util-linux) is not available (${r.error.message}): checked without a terminal`);
      const plain = spawnSync(binary, ['--log-format', 'pretty', 'version'], { cwd: home, env: env(), encoding: 'utf8' });
      expect(plain.stderr).toMatch(/the standalone binary logs JSON/);
      return;
    }
    expect(r.stdout).toMatch(/the standalone binary logs JSON/);
    expect(r.stdout).toMatch(/dman server listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(r.stdout).toMatch(/^\{"level":30,.*"msg":"listening"\}\r?$/m);
    expect(r.stdout).not.toMatch(/unable to determine transport target|Error:/);
  }, 60_000);

  it('serves /health on a random port with a temp data dir and stops on SIGTERM', async () => {
    const dataDir = join(home, 'data');
    const child = spawn(binary, ['--json', 'serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir], { cwd: home, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
    const { url } = (await firstJsonLine(child, 20_000)) as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    const res = await fetch(new URL('/health', url));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(JSON.stringify(body)).toMatch(/disk/);
    expect(existsSync(dataDir)).toBe(true);
    // The dashboard's chart library comes from node_modules elsewhere; the binary carries it inside.
    for (const [asset, type, marker] of [['uPlot.iife.min.js', /javascript/, /uPlot/], ['uPlot.min.css', /css/, /\.uplot/]] as const) {
      const a = await fetch(new URL(`/dashboard/assets/${asset}`, url));
      expect(a.status, asset).toBe(200);
      expect(a.headers.get('content-type')).toMatch(type);
      const body = await a.text();
      expect(body.length).toBeGreaterThan(1000);
      expect(body).toMatch(marker);
    }
    child.kill('SIGTERM');
    const exit = await waitForExit(child, 15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    // No "require() … only supports loading built-in modules" warning: everything is bundled.
    expect(stderr).not.toMatch(/Warning|Cannot find module/);
  }, 60_000);

  it('starts with the exact ExecStart= of build/dman-server.service (paths mapped to temp dirs)', async () => {
    const unit = parseUnit(join(root, 'build/dman-server.service'));
    const unitEnv = Object.fromEntries((unit.Service.Environment ?? []).map((e) => e.split('=', 2) as [string, string]));
    const port = await freePort();
    const config = join(home, 'etc-dman.yaml');
    await writeFile(config, 'storage_driver: disk\nusers:\n  alice:\n    home: /home/alice\n');
    const state = join(home, 'var-lib-dman');
    const args = execArgs(last(unit, 'Service', 'ExecStart')!, { ...unitEnv, DMAN_CONFIG: config, DMAN_ADDR: `127.0.0.1:${port}` })
      .map((a) => (a === '/usr/local/bin/dman-server' ? binary : a === '/var/lib/dman' ? state : a));
    expect(args[0]).toBe(binary);
    const child = spawn(args[0], args.slice(1), { cwd: home, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
    expect(await waitForHealthy(`http://127.0.0.1:${port}/health`, 20_000), stderr).toBe(200);
    expect(existsSync(state)).toBe(true);
    child.kill('SIGTERM');
    expect(await waitForExit(child, 15_000)).toEqual({ code: 0, signal: null });
    // --log-format json in the unit: journald gets one JSON object per line.
    for (const line of stderr.split('\n').filter((l) => l.startsWith('{'))) expect(() => JSON.parse(line)).not.toThrow();
  }, 60_000);

  // The bundle carries ioredis and mysql2 too (mysql2 loads charsets and iconv-lite encodings
  // lazily): the binary must serve from Redis and MariaDB, not only from disk.
  for (const driver of ['redis', 'mariadb'] as const) {
    it(`serves a token, publish and install round trip from ${driver}`, async () => {
      const id = uniqueId();
      const users = [`sea${id}a`, `sea${id}b`];
      let store: Record<string, unknown>;
      let drop: () => Promise<void>;
      if (driver === 'redis') {
        const f = await getService('redis');
        // db 13 and fresh user names: no other test's keys are touched.
        store = { redis: { addr: `${f.host}:${f.port}`, ...(f.username ? { username: f.username } : {}), ...(f.password ? { password: f.password } : {}), db: 13 } };
        drop = async () => {
          const r = new Redis({ host: f.host, port: f.port, username: f.username, password: f.password, db: 13, lazyConnect: true });
          await r.connect();
          for (const u of users) {
            const keys: string[] = [];
            for await (const batch of r.scanStream({ match: `*${u}*`, count: 500 })) keys.push(...(batch as string[]));
            if (keys.length) await r.del(...keys);
          }
          r.disconnect();
        };
      } else {
        const f = await getService('mariadb');
        const db = `dman_sea_${id}`;
        const conn = await mysql.createConnection({ host: f.host, port: f.port, user: f.user, password: f.password });
        await conn.query(`CREATE DATABASE \`${db}\``);
        drop = async () => {
          await conn.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => {});
          await conn.end();
        };
        store = { db: { addr: `${f.host}:${f.port}`, user: f.user, ...(f.password ? { password: f.password } : {}), db } };
      }
      const config = join(home, `${driver}.yaml`);
      await writeFile(config, toYaml({ storage_driver: driver, ...store, users: Object.fromEntries(users.map((u) => [u, { home: `/home/${u}` }])) }));
      const port = await freePort();
      const admin = `sea-admin-${uniqueId()}${uniqueId()}`;
      const child = spawn(binary, ['--config', config, 'serve', '--addr', `127.0.0.1:${port}`], { cwd: home, env: { ...env(), DMAN_AUTH_TOKEN: admin }, stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(child);
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
      try {
        expect(await waitForHealthy(`http://127.0.0.1:${port}/health`, 20_000), stderr).toBe(200);
        const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { driver: string };
        expect(health.driver).toBe(driver);
        const smoke = spawnSync('bash', ['scripts/smoke-compose.sh', '--url', `http://127.0.0.1:${port}`], {
          cwd: root, encoding: 'utf8', env: { ...process.env, DMAN_AUTH_TOKEN: admin, DMAN_SMOKE_USERS: users.join(',') }, timeout: 60_000,
        });
        expect(smoke.stderr).toMatch(/ok: .*token, publish, install/);
        expect(smoke.status).toBe(0);
      } finally {
        child.kill('SIGTERM');
        await waitForExit(child, 15_000).catch(() => undefined);
        await drop();
      }
      expect(child.exitCode).toBe(0);
      expect(stderr).not.toMatch(/Cannot find module|only supports loading built-in modules/);
    }, 120_000);
  }
});
