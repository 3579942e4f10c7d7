// kill -9 of a real `dman serve` (disk store) in the middle of publishes, then a restart: every
// batch is there whole or not at all, and every stored blob still matches its hash.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawTar, sha } from './serverHarness.js';

const root = new URL('../..', import.meta.url).pathname;
let dir: string;
let token: string;
const children = new Set<ChildProcess>();

function env() {
  return { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), XDG_DATA_HOME: join(dir, 'share'), DMAN_CONFIG: '' };
}

function dman(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin/dman.js'), ...args], { cwd: dir, env: env(), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dman ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function serve(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(root, 'bin/dman.js'), '--json', 'serve', '--addr', '127.0.0.1:0', '--data-dir', join(dir, 'data')], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`dman serve exited with ${code}: ${err}`)));
  });
  return { url: JSON.parse(line).url, child };
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

async function checkIntact(url: string, batches: Map<string, string[]>) {
  const auth = { authorization: `Bearer ${token}` };
  expect((await fetch(`${url}/health`)).status).toBe(200);
  const m = (await (await fetch(`${url}/v1/users/alice/manifest`, { headers: auth })).json()) as { entries: Array<{ path: string; hash: string; deleted: boolean }> };
  const live = new Map(m.entries.filter((e) => !e.deleted).map((e) => [e.path, e.hash]));
  for (const [name, paths] of batches) {
    const present = paths.filter((p) => live.has(p)).length;
    expect([0, paths.length], `batch ${name} is whole or absent`).toContain(present);
  }
  for (const [path, hash] of live) {
    const b = await fetch(`${url}/v1/users/alice/blobs/${hash}`, { headers: auth });
    expect(b.status, path).toBe(200);
    expect(sha(Buffer.from(await b.arrayBuffer())), `content of ${path}`).toBe(hash);
  }
  return live;
}

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  expect(b.status, b.stderr).toBe(0);
  dir = await mkdtemp(join(tmpdir(), 'dman-crash-'));
  const out = JSON.parse(dman(['--json', 'token', 'create', '--user', 'alice', '--device', 'crash-test', '--data-dir', join(dir, 'data')]));
  token = out.token;
}, 60_000);

afterAll(async () => {
  for (const c of children) await killHard(c);
  await rm(dir, { recursive: true, force: true });
});

describe('dman serve on disk', () => {
  it('survives kill -9 mid-publish with nothing torn, then stops cleanly on SIGTERM', async () => {
    let { url, child } = await serve();
    const batches = new Map<string, string[]>();
    const base = rawTar([{ path: 'alice/.bashrc', data: 'base\n' }]);
    expect((await fetch(`${url}/publish`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-tar' }, body: base })).status).toBe(200);

    let sawWhole = 0;
    let sawNone = 0;
    const delays = [10, 100, 300, 700, 1500, 4000];
    for (let round = 0; round < delays.length; round++) {
      const paths = Array.from({ length: 400 }, (_, i) => `.config/r${round}/f${i}`);
      batches.set(`r${round}`, paths);
      const tar = rawTar(paths.map((p, i) => ({ path: `alice/${p}`, data: `round ${round} file ${i} `.repeat(40) })));
      const pending = fetch(`${url}/publish`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-tar' }, body: tar }).then((r) => r.status, () => 'killed');
      // Kill at staggered moments: before, during and after the commit of the batch.
      await new Promise((r) => setTimeout(r, delays[round]));
      await killHard(child);
      await pending;
      ({ url, child } = await serve());
      const live = await checkIntact(url, batches);
      expect(live.get('.bashrc')).toBe(sha('base\n'));
      if (paths.every((p) => live.has(p))) sawWhole += 1; else sawNone += 1;
    }
    expect(sawWhole + sawNone).toBe(delays.length);
    if (process.env.DMAN_DEBUG_CRASH) console.log({ sawWhole, sawNone });

    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
