// Two real `dman serve` processes on one Redis / one MariaDB: concurrent conflicting commits
// through both, B's push stream hearing A, B carrying on after A is killed; and a config naming an
// unreachable database stops `dman serve` at start-up instead of falling back to disk.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import { fileOp, sha256, sseReader } from '../setup/faultHelpers.js';
import { freePort, startRedis, type Instance, type RedisFacts } from '../setup/services.js';
import { getService, uniqueId } from '../setup/testServices.js';

const root = new URL('../..', import.meta.url).pathname;
const TOKEN = 'shared-admin-token-for-two-processes-0123456789';

interface Proc { child: ChildProcess; url: string; driver: string; stderr: () => string }

/** Starts `dman serve` on `config` and resolves once it prints its URL. */
async function serve(dir: string, config: string): Promise<Proc> {
  const cfg = join(dir, `dman-${uniqueId()}.yaml`);
  writeFileSync(cfg, config);
  const child = spawn(process.execPath, [join(root, 'bin/dman.js'), '--config', cfg, '--json', '--log-level', 'warn', 'serve', '--addr', '127.0.0.1:0'], {
    cwd: dir, env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'xdg') }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(Object.assign(new Error(`dman serve exited with ${code}: ${err}`), { code, stderr: err })));
  });
  const out = JSON.parse(line) as { url: string; driver: string; ok?: false; error?: { code: string; message: string } };
  if (out.ok === false) {
    const code = await new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
    throw Object.assign(new Error(out.error!.message), { code, stderr: `${out.error!.code}: ${out.error!.message}\n${err}` });
  }
  const { url, driver } = out;
  return { child, url, driver, stderr: () => err };
}

async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return p?.child.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => p.child.once('exit', (code) => resolve(code)));
  p.child.kill(signal);
  return await exited;
}

const auth = { authorization: `Bearer ${TOKEN}` };

async function putBlob(p: Proc, content: string): Promise<{ hash: string; size: number }> {
  const hash = sha256(content);
  const res = await fetch(`${p.url}/v1/users/alice/blobs/${hash}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: content });
  expect(res.status).toBeLessThan(300);
  return { hash, size: Buffer.byteLength(content) };
}

interface CommitReply { rev: number; entries: Entry[]; conflicts?: unknown[]; error?: { code: string } }

async function commit(p: Proc, body: unknown): Promise<{ status: number; body: CommitReply }> {
  const res = await fetch(`${p.url}/v1/users/alice/commit`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as CommitReply };
}

/** The shared steps: storm of conflicting commits through both, B hears A, B survives A's death. */
async function twoProcesses(a: Proc, b: Proc): Promise<void> {
  const paths = ['.zshrc', '.gitconfig', '.vimrc', '.ssh/config'];
  const seed = await putBlob(a, 'seed');
  const seeded = await commit(a, { ops: paths.map((p) => fileOp(p, 0, seed)), device: 'seed' });
  expect(seeded.status).toBe(200);
  const base = new Map(seeded.body.entries.map((e) => [e.path, e.rev]));
  const ac = new AbortController();
  const events = sseReader(await fetch(`${b.url}/v1/users/alice/events`, { headers: auth, signal: ac.signal }));
  expect((await events.next()).rev).toBe(paths.length);

  const N = 200;
  const blobs = await Promise.all(Array.from({ length: N }, (_, i) => putBlob(i % 2 ? b : a, `writer ${i}`)));
  const results = await Promise.all(blobs.map(async (blob, i) => {
    const path = paths[i % paths.length]!;
    return { path, ...(await commit(i % 2 ? b : a, { ops: [fileOp(path, base.get(path)!, blob)], device: `dev${i}` })) };
  }));
  const winners = results.filter((r) => r.status === 200);
  expect(winners.map((w) => w.path).sort()).toEqual([...paths].sort());
  expect(results.filter((r) => r.status === 409)).toHaveLength(N - paths.length);
  const won = new Map(winners.map((w) => [w.path, w.body.entries[0]]));
  for (const r of results) if (r.status === 409) expect(r.body.conflicts).toEqual([{ path: r.path, expected: base.get(r.path), current: won.get(r.path) }]);
  const manifests = await Promise.all([a, b].map(async (p) => (await (await fetch(`${p.url}/v1/users/alice/manifest`, { headers: auth })).json()) as { headRev: number; entries: Entry[] }));
  expect(manifests[0]).toEqual(manifests[1]);
  expect(manifests[0]!.headRev).toBe(paths.length * 2);
  expect(manifests[0]!.entries.map((e) => e.hash)).toEqual(manifests[0]!.entries.map((e) => won.get(e.path)!.hash));

  // B's push stream reaches A's latest commit
  let last = paths.length;
  while (last < paths.length * 2) last = (await events.next()).rev;
  const one = await putBlob(a, 'through A');
  const viaA = await commit(a, { ops: [fileOp('viaA', 0, one)], device: 'a' });
  expect(viaA.status).toBe(200);
  expect((await events.next()).rev).toBe(viaA.body.rev);
  ac.abort();
  await events.cancel();

  // A dies; B keeps serving the same data and takes new commits
  await stop(a, 'SIGKILL');
  const two = await putBlob(b, 'through B');
  const viaB = await commit(b, { ops: [fileOp('viaB', 0, two)], device: 'b' });
  expect(viaB.status).toBe(200);
  expect(viaB.body.rev).toBe(viaA.body.rev + 1);
  expect(await stop(b)).toBe(0);
}

describe('two dman serve processes on one database', () => {
  let dir: string;
  let redis: Instance<RedisFacts> | undefined;
  const procs: Proc[] = [];
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'dman-procs-')); });
  afterAll(async () => {
    for (const p of procs) await stop(p, 'SIGKILL');
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('on Redis: one winner per base rev, 409 for the rest, B streams A\'s commits and survives A', async () => {
    redis = await startRedis();
    const config = `storage_driver: redis\nauth_token: ${TOKEN}\nredis:\n  addr: 127.0.0.1:${redis.facts.port}\n`;
    const a = await serve(dir, config);
    procs.push(a);
    const b = await serve(dir, config);
    procs.push(b);
    expect([a.driver, b.driver]).toEqual(['redis', 'redis']);
    await twoProcesses(a, b);
  });

  it('on MariaDB: one winner per base rev, 409 for the rest, B streams A\'s commits and survives A', async () => {
    const facts = await getService('mariadb');
    const db = `procs_${uniqueId()}`;
    const config = `storage_driver: mysql\nauth_token: ${TOKEN}\ndb:\n  addr: ${facts.host}:${facts.port}\n  user: ${facts.user}\n${facts.password ? `  password: ${facts.password}\n` : ''}  db: ${db}\n`;
    try {
      const [a, b] = await Promise.all([serve(dir, config), serve(dir, config)]);
      procs.push(a, b);
      expect([a.driver, b.driver]).toEqual(['mariadb', 'mariadb']);
      await twoProcesses(a, b);
    } finally {
      const conn = await createConnection({ host: facts.host, port: facts.port, user: facts.user, password: facts.password });
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await conn.end();
    }
  });

  it('refuses to start on an unreachable database, naming the address and the error, and writes nothing to disk', async () => {
    for (const [driver, block] of [['redis', 'redis:\n  addr'], ['mariadb', 'db:\n  db: dman\n  user: dman\n  addr']] as const) {
      const port = await freePort();
      const before = readdirSync(dir).length;
      const err = await serve(dir, `storage_driver: ${driver}\nauth_token: ${TOKEN}\n${block}: 127.0.0.1:${port}\n`).then(() => null, (e: unknown) => e as Error & { code?: number; stderr?: string });
      expect(err?.code).toBe(1);
      expect(err?.stderr).toContain('STORE_UNAVAILABLE');
      expect(err?.stderr).toContain(`127.0.0.1:${port}`);
      expect(err?.stderr).toMatch(/ECONNREFUSED/);
      // only the config file was added: no disk store appeared anywhere under the temp home
      expect(readdirSync(dir).length).toBe(before + 1);
      expect(existsSync(join(dir, 'xdg'))).toBe(false);
    }
  });
});
