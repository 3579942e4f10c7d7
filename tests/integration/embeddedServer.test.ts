// The embedded server supervisor with the real CLI: starts `dman serve` on disk, mints a device
// token with its private admin token, restarts the server after a kill -9, stops it for good.
import { spawn as nodeSpawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedServer, serverConfigYaml, type EmbeddedServer } from '../../engine/api/createEmbeddedServer.js';
import { silentLogger } from '../../engine/log.js';

const root = resolve(import.meta.dirname, '../..');
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
async function until(cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return; await new Promise((r) => setTimeout(r, 50)); }
  throw new Error('condition not met in time');
}
const healthy = (url: string) => fetch(`${url}/health`).then((r) => r.ok, () => false);

describe('embedded server', () => {
  let dir: string;
  let server: EmbeddedServer | undefined;

  beforeAll(() => {
    if (!existsSync(join(root, 'dist/cli.js'))) spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, stdio: 'inherit' });
  });
  afterEach(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts on disk, mints a working device token, survives a kill -9, and stops', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-embedded-'));
    server = createEmbeddedServer({ dataDir: dir, command: [process.execPath, join(root, 'bin/dman.js')], log: silentLogger(), port: 0 });
    const { url, dataDir } = await server.start({ driver: 'disk' });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(dataDir).toBe(join(dir, 'server', 'data'));
    expect(await healthy(url)).toBe(true);
    expect((await stat(join(dir, 'server', 'server.yaml'))).mode & 0o777).toBe(0o600);

    const token = await server.createDeviceToken('alice', 'laptop');
    const who = await fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(await who.json()).toMatchObject({ user: 'alice', device: 'laptop', admin: false });

    const pid1 = server.pid()!;
    process.kill(pid1, 'SIGKILL');
    await until(() => server!.pid() !== null && server!.pid() !== pid1);
    await until(() => healthy(url));
    // Same URL, same data: the token minted before the crash still works.
    const again = await fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(again.status).toBe(200);

    const pid2 = server.pid()!;
    await server.stop();
    expect(alive(pid2)).toBe(false);
    expect(await healthy(url)).toBe(false);
    expect(server.url()).toBeNull();
  });

  it('explains a server that cannot start', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-embedded-'));
    server = createEmbeddedServer({ dataDir: dir, command: [process.execPath, join(root, 'bin/dman.js')], log: silentLogger(), port: 0, startTimeoutMs: 10_000 });
    await expect(server.start({ driver: 'redis', addr: '127.0.0.1:1' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('the embedded server did not start') });
    expect(server.url()).toBeNull();
  });

  // The app quits while its server starts (Ctrl-C on `dman agent --serve`, quitting the tray app):
  // the start gives up and no `dman serve` is left running without a parent to stop it.
  it('gives up a start that stop() overtakes, before the launch or while waiting for /health, leaving nothing running', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-embedded-'));
    const spawned: ChildProcess[] = [];
    const spawn = (cmd: string, args: string[], opts: SpawnOptions): ChildProcess => { const c = nodeSpawn(cmd, args, opts); spawned.push(c); return c; };
    server = createEmbeddedServer({ dataDir: dir, command: [process.execPath, join(root, 'bin/dman.js')], log: silentLogger(), port: 0, spawn });

    // Before the launch: stop() lands while the start writes its config.
    const early = server.start({ driver: 'disk' });
    await server.stop();
    await expect(early).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: 'the embedded server was stopped while it started' });
    expect(spawned).toHaveLength(0);

    // While it waits for /health: the child it launched is stopped.
    const late = server.start({ driver: 'disk' });
    await until(() => spawned.length === 1);
    await server.stop();
    await expect(late).rejects.toMatchObject({ message: 'the embedded server was stopped while it started' });
    const c = spawned[0]!;
    await until(() => c.exitCode !== null || c.signalCode !== null, 10_000);
    expect(server.url()).toBeNull();
    expect(server.pid()).toBeNull();

    // A start after those works as before.
    const { url } = await server.start({ driver: 'disk' });
    expect(await healthy(url)).toBe(true);
  });
});

describe('serverConfigYaml', () => {
  it('writes the storage block of each driver', () => {
    expect(serverConfigYaml({ driver: 'disk', dataDir: '/d' }, '/s', 'adm', 5)).toContain('data_dir: /d');
    const redis = serverConfigYaml({ driver: 'redis', addr: 'h:6379', password: 'pw', db: '2', tls: true }, '/s', 'adm', 5);
    expect(redis).toMatch(/redis:\n\s+addr: h:6379\n\s+password: pw\n\s+tls: true\n\s+db: 2/);
    expect(serverConfigYaml({ driver: 'mariadb', socket: '/run/m.sock', username: 'u', db: 'dman' }, '/s', 'adm', 5)).toMatch(/db:\n\s+socket: \/run\/m.sock\n\s+user: u\n\s+db: dman/);
  });
});
