// The Docker smoke scripts, run here without Docker: their HTTP steps against real servers
// started through the image's entry point, and their "no Docker" exit. The rolling-upgrade
// script runs against two servers on one throwaway MariaDB database, the second started only
// once the first holds data (both are this version here; in CI with Docker, the old one is the
// previous release's image).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { getService, uniqueId } from '../setup/testServices.js';
import { freePort, waitForExit, waitForHealthy } from './helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const entrypoint = join(root, 'scripts/docker-entrypoint.sh');
const admin = `smoke-admin-${uniqueId()}${uniqueId()}${uniqueId()}`;

/** Runs a bash script to the end, resolving with its exit code and output. */
function runScript(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => void (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => void (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('smoke scripts without Docker', () => {
  let dir: string;
  const servers: ChildProcess[] = [];
  const extraPids: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-smoke-'));
  });
  afterAll(async () => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    for (const pid of extraPids.filter((p) => p > 1)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts `dman serve` through the image's entry point with env, like `docker run` would. */
  const startServer = (name: string, env: Record<string, string>) => {
    const child = spawn('sh', [entrypoint], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, TMPDIR: dir, DMAN_BIN: join(root, 'bin/dman.js'), DMAN_DATA_DIR: join(dir, `${name}-data`), DMAN_GENERATED_CONFIG: join(dir, `${name}.yaml`), DMAN_USERS: 'alice,bob', DMAN_AUTH_TOKEN: admin, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    servers.push(child);
    let log = '';
    child.stderr.on('data', (b: Buffer) => void (log += b.toString()));
    return { child, log: () => log };
  };

  it('smoke-compose.sh exits 77 with a clear message where Docker does not run', async () => {
    await writeFile(join(dir, 'docker'), '#!/bin/sh\necho "Cannot connect to the Docker daemon" >&2\nexit 1\n');
    await chmod(join(dir, 'docker'), 0o755);
    const r = await runScript(['scripts/smoke-compose.sh'], { PATH: `${dir}:${process.env.PATH}` });
    expect(r.code).toBe(77);
    expect(r.out).toMatch(/SKIPPED: no Docker engine here/);
    const up = await runScript(['scripts/smoke-upgrade.sh', '--old-image', 'x'], { PATH: `${dir}:${process.env.PATH}` });
    expect(up.code).toBe(77);
    expect(up.out).toMatch(/SKIPPED: no Docker engine here/);
  });

  it('smoke-compose.sh --url: token, publish, install and the 403 for another user, against the entry point\'s server', async () => {
    if (!existsSync(join(root, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does)');
    const port = await freePort();
    const s = startServer('disk', { DMAN_ADDR: `127.0.0.1:${port}` });
    expect(await waitForHealthy(`http://127.0.0.1:${port}/health`, 20_000), s.log()).toBe(200);
    const r = await runScript(['scripts/smoke-compose.sh', '--url', `http://127.0.0.1:${port}`], { DMAN_AUTH_TOKEN: admin });
    expect(r.out).toMatch(/ok: .*token, publish, install, and another user's files refused/);
    expect(r.code).toBe(0);
    // The script fails loudly with a wrong admin token.
    const bad = await runScript(['scripts/smoke-compose.sh', '--url', `http://127.0.0.1:${port}`], { DMAN_AUTH_TOKEN: 'wrong-token' });
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/FAILED: POST .*\/v1\/admin\/tokens did not create a token/);
    s.child.kill('SIGTERM');
    expect((await waitForExit(s.child, 15_000)).code).toBe(0);
  }, 90_000);

  it('smoke-upgrade.sh --urls: a second server joins the first on one MariaDB, then the first leaves', async () => {
    const facts = await getService('mariadb');
    const db = `dman_upgrade_${uniqueId()}`;
    const conn = await mysql.createConnection({ host: facts.host, port: facts.port, user: facts.user, password: facts.password });
    await conn.query(`CREATE DATABASE \`${db}\``);
    try {
      const dbEnv = { DMAN_STORAGE_DRIVER: 'mariadb', DMAN_DB_ADDR: `${facts.host}:${facts.port}`, DMAN_DB_NAME: db, DMAN_DB_USER: facts.user, ...(facts.password ? { DMAN_DB_PASSWORD: facts.password } : {}) };
      const [oldPort, newPort] = [await freePort(), await freePort()];
      const old = startServer('old', { ...dbEnv, DMAN_ADDR: `127.0.0.1:${oldPort}` });
      expect(await waitForHealthy(`http://127.0.0.1:${oldPort}/health`, 20_000), old.log()).toBe(200);
      // The script starts the new server itself, once the old one holds data.
      const pidFile = join(dir, 'new.pid');
      const envLine = Object.entries({ ...dbEnv, PATH: process.env.PATH ?? '', HOME: dir, TMPDIR: dir, DMAN_BIN: join(root, 'bin/dman.js'), DMAN_DATA_DIR: join(dir, 'new-data'), DMAN_GENERATED_CONFIG: join(dir, 'new.yaml'), DMAN_USERS: 'alice,bob', DMAN_AUTH_TOKEN: admin, DMAN_ADDR: `127.0.0.1:${newPort}` })
        .map(([k, v]) => `${k}='${v}'`).join(' ');
      const startNew = `env -i ${envLine} sh '${entrypoint}' >'${join(dir, 'new.log')}' 2>&1 & echo $! >'${pidFile}'`;
      const r = await runScript(['scripts/smoke-upgrade.sh', '--urls', `http://127.0.0.1:${oldPort}`, `http://127.0.0.1:${newPort}`, '--start-new', startNew, '--stop-old', `kill -TERM ${old.child.pid}`], { DMAN_AUTH_TOKEN: admin }, 180_000);
      const newPid = existsSync(pidFile) ? Number((await readFile(pidFile, 'utf8')).trim()) : 0;
      expect(newPid, 'the script ran --start-new and it wrote the pid').toBeGreaterThan(1);
      extraPids.push(newPid);
      expect(r.out, `${r.out}\nnew server log:\n${existsSync(join(dir, 'new.log')) ? await readFile(join(dir, 'new.log'), 'utf8') : ''}`).toMatch(/PASSED: rolling upgrade/);
      expect(r.out).toMatch(/new server reads the old data and writes on top of it/);
      expect(r.out).toMatch(/old server still serves correctly beside the new one/);
      expect(r.code).toBe(0);
      // The old server was stopped by the script (SIGTERM, clean exit); the new one carries on.
      expect((await waitForExit(old.child, 15_000)).code).toBe(0);
      expect(await waitForHealthy(`http://127.0.0.1:${newPort}/health`, 5_000)).toBe(200);
    } finally {
      for (const pid of extraPids.splice(0).filter((p) => p > 1)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {}
      }
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => {});
      await conn.end();
    }
  }, 240_000);
});
