// Driver speed side by side: commits per second, a no-op compare (changes since head, and the
// full listing) of 10,000 entries, and the server's peak RSS growth while a 200 MB blob streams
// through it (PUT then GET over HTTP; the server runs in a child process so the figure is its
// own), for disk, Redis and MariaDB. Starts and stops its own throwaway
// Redis and MariaDB. Bounded time. Run: node --import tsx bench/drivers.bench.ts [--quick] [--json]
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../engine/log.js';
import { createServer } from '../server/app.js';
import { mintToken } from '../server/auth/tokens.js';
import { DiskStore } from '../server/store/DiskStore.js';
import { MariaDbStore } from '../server/store/mariadb/MariaDbStore.js';
import { RedisStore } from '../server/store/redis/RedisStore.js';
import type { Store } from '../server/store/Store.js';
import type { CommitOp } from '../shared/protocol.js';
import { startMariaDb, startRedis, type Instance } from '../tests/setup/services.js';

interface Row { driver: string; metric: string; value: number; unit: string }

const QUICK = process.argv.includes('--quick');
const BUDGET_MS = Number(process.env.DMAN_BENCH_MS ?? (QUICK ? 300 : 1500));
const BLOB_MB = Number(process.env.DMAN_BENCH_BLOB_MB ?? (QUICK ? 50 : 200));
const MB = 1024 * 1024;

function op(path: string, baseRev: number | null, hash: string): CommitOp {
  return { path, baseRev, deleted: false, kind: 'file', hash, size: 5, mode: 0o644, mtime: 0 };
}

/** Runs `fn` repeatedly until the time budget or `max` runs; returns runs per second and the median ms. */
async function measure(fn: (i: number) => Promise<void>, max: number): Promise<{ perSec: number; medianMs: number }> {
  const times: number[] = [];
  const start = performance.now();
  while (times.length < max && performance.now() - start < BUDGET_MS) {
    const t = performance.now();
    await fn(times.length);
    times.push(performance.now() - t);
  }
  const total = performance.now() - start;
  times.sort((a, b) => a - b);
  return { perSec: (times.length / total) * 1000, medianMs: times[Math.floor(times.length / 2)] ?? 0 };
}

async function benchStore(name: string, store: Store): Promise<Row[]> {
  const rows: Row[] = [];
  const t0 = performance.now();
  const push = rows.push.bind(rows);
  rows.push = (...r: Row[]) => { if (process.env.DMAN_BENCH_TRACE) console.error(`${name} ${r[0]?.metric} at ${(performance.now() - t0).toFixed(0)} ms`); return push(...r); };
  const content = Buffer.from('hello');
  const hash = createHash('sha256').update(content).digest('hex');
  for (const user of ['b1', 'b100', 'big']) await store.putBlob(user, hash, Readable.from([content]), 1024);
  const one = await measure(async (i) => {
    if (!(await store.commit({ user: 'b1', device: 'bench', ops: [op(`f${i}`, 0, hash)], now: Date.now() })).ok) throw new Error('conflict');
  }, 5000);
  rows.push({ driver: name, metric: 'commits/s (1 op)', value: one.perSec, unit: '/s' });
  const hundred = await measure(async (i) => {
    const ops = Array.from({ length: 100 }, (_, j) => op(`d${i}/f${j}`, 0, hash));
    if (!(await store.commit({ user: 'b100', device: 'bench', ops, now: Date.now() })).ok) throw new Error('conflict');
  }, 2000);
  rows.push({ driver: name, metric: 'commits/s (100 ops)', value: hundred.perSec, unit: '/s' });

  const t = performance.now();
  const seed = await store.commit({ user: 'big', device: 'bench', ops: Array.from({ length: 10_000 }, (_, j) => op(`.config/dir${j % 100}/file${j}`, 0, hash)), now: Date.now() });
  if (!seed.ok) throw new Error('conflict');
  rows.push({ driver: name, metric: 'one 10,000-op commit', value: performance.now() - t, unit: 'ms' });
  const head = await store.headRev('big');
  const noop = await measure(async () => {
    if ((await store.changes('big', head, 1000)).entries.length !== 0) throw new Error('not a no-op');
  }, 20_000);
  rows.push({ driver: name, metric: 'no-op changes(since=head), 10k', value: noop.medianMs, unit: 'ms' });
  const list = await measure(async () => {
    if ((await store.listEntries('big')).length !== 10_000) throw new Error('bad count');
  }, 200);
  rows.push({ driver: name, metric: 'listEntries, 10k entries', value: list.medianMs, unit: 'ms' });
  return rows;
}

/** Where a store lives, so a child process can open the same one. */
interface StoreSpec { driver: string; dir?: string; port?: number }

function makeStore(spec: StoreSpec): Store {
  if (spec.driver === 'disk') return new DiskStore({ dataDir: spec.dir!, log: silentLogger() });
  if (spec.driver === 'redis') return new RedisStore({ redis: { addr: `127.0.0.1:${spec.port}`, db: 0, tls: false, tls_insecure_skip_verify: false }, commandTimeoutMs: 30_000 });
  if (spec.driver === 'mariadb') return new MariaDbStore({ db: { addr: `127.0.0.1:${spec.port}`, user: 'root', db: 'dman_bench', tls: false, tls_insecure_skip_verify: false }, queryTimeoutMs: 60_000 });
  throw new Error(`unknown driver ${spec.driver} in DMAN_BENCH_DRIVERS: use disk, redis, mariadb`);
}

/** Child mode: serves the store named by DMAN_BENCH_SERVE until stdin closes, so its RSS is the server's alone. */
async function serve(spec: StoreSpec): Promise<void> {
  const store = makeStore(spec);
  await store.open();
  const { token, record } = mintToken({ user: 'stream', device: 'bench', admin: false, now: Date.now() });
  await store.putToken(record);
  const limit = 1024 * MB;
  const server = createServer({
    store, log: silentLogger(), users: ['stream'], version: 'bench',
    retention: { versions: 20, days: 30, gcIntervalMs: 0 },
    limits: { blobBytes: limit, bodyBytes: limit, decompressedBytes: limit },
  });
  const url = await server.listen('127.0.0.1:0');
  process.stdout.write(JSON.stringify({ url, token }) + '\n');
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await server.close();
  await store.close();
}

function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** PUTs then GETs a `mb` MB blob through a running server, never holding it whole on this side either. */
async function putAndGet(url: string, token: string, mb: number, label: string): Promise<void> {
  const block = Buffer.alloc(MB);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  const h = createHash('sha256');
  const salt = Buffer.from(label);
  for (let i = 0; i < mb; i++) { block.writeUInt32LE(i, 0); salt.copy(block, 4); h.update(block); }
  const hash = h.digest('hex');
  async function* body(): AsyncGenerator<Buffer> {
    for (let i = 0; i < mb; i++) { const b = Buffer.from(block); b.writeUInt32LE(i, 0); salt.copy(b, 4); yield b; }
  }
  const put = await fetch(`${url}/v1/users/stream/blobs/${hash}`, {
    method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: Readable.toWeb(Readable.from(body())) as ReadableStream, duplex: 'half',
  } as RequestInit);
  if (!put.ok) throw new Error(`PUT failed with ${put.status}: ${await put.text()}`);
  // identity: the figure is about streaming, not about gzip speed
  const get = await fetch(`${url}/v1/users/stream/blobs/${hash}`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' } });
  const check = createHash('sha256');
  for await (const c of get.body as unknown as AsyncIterable<Uint8Array>) check.update(c);
  if (check.digest('hex') !== hash) throw new Error('the blob came back different');
}

/** Runs a server on `spec` in a child process and reports its peak RSS growth while a BLOB_MB blob streams through. */
async function streamThroughServer(spec: StoreSpec): Promise<Row[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, DMAN_BENCH_SERVE: JSON.stringify(spec) }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    const lines = createInterface({ input: child.stdout! });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the bench server exited with ${code}`)));
    });
    const { url, token } = JSON.parse(first) as { url: string; token: string };
    // the first large transfer grows the server's pools for good: pay that before measuring
    await putAndGet(url, token, Math.min(32, BLOB_MB), 'warm');
    writeFileSync(`/proc/${child.pid}/clear_refs`, '5'); // resets VmHWM (peak RSS) to the current RSS
    const base = procStatus(child.pid!, 'VmRSS');
    const t = performance.now();
    await putAndGet(url, token, BLOB_MB, 'real');
    const secs = (performance.now() - t) / 1000;
    const peak = procStatus(child.pid!, 'VmHWM');
    return [
      { driver: spec.driver, metric: `server peak RSS growth, ${BLOB_MB} MB`, value: (peak - base) / MB, unit: 'MB' },
      { driver: spec.driver, metric: `server RSS before streaming`, value: base / MB, unit: 'MB' },
      { driver: spec.driver, metric: `PUT+GET throughput, ${BLOB_MB} MB`, value: (2 * BLOB_MB) / secs, unit: 'MB/s' },
    ];
  } finally {
    child.stdin!.end();
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  }
}

const rows: Row[] = [];
const started: Array<Instance<unknown>> = [];
if (process.env.DMAN_BENCH_SERVE) {
  await serve(JSON.parse(process.env.DMAN_BENCH_SERVE) as StoreSpec);
  process.exit(0);
}
// DMAN_BENCH_DRIVERS picks and orders the drivers (e.g. "redis,disk").
const drivers = (process.env.DMAN_BENCH_DRIVERS ?? 'disk,redis,mariadb').split(',').map((d) => d.trim());
const dir = await mkdtemp(join(tmpdir(), 'dman-bench-'));
try {
  for (const d of drivers) {
    const spec: StoreSpec = { driver: d };
    if (d === 'disk') spec.dir = dir;
    if (d === 'redis') { const i = await startRedis(); started.push(i); spec.port = i.facts.port; }
    if (d === 'mariadb') { const i = await startMariaDb(); started.push(i); spec.port = i.facts.port; }
    const store = makeStore(spec);
    await store.open();
    rows.push(...(await benchStore(d, store)));
    await store.close();
    rows.push(...(await streamThroughServer(spec)));
  }
} finally {
  for (const s of started.reverse()) await s.stop();
  await rm(dir, { recursive: true, force: true });
}

if (process.argv.includes('--json')) {
  process.stdout.write(JSON.stringify(rows) + '\n');
} else {
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const drivers = [...new Set(rows.map((r) => r.driver))];
  const fmt = (r: Row | undefined): string => (r ? `${r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(2)} ${r.unit}` : '-');
  console.log(['metric'.padEnd(40), ...drivers.map((d) => d.padStart(14))].join(''));
  for (const m of metrics) console.log([m.padEnd(40), ...drivers.map((d) => fmt(rows.find((r) => r.driver === d && r.metric === m)).padStart(14))].join(''));
}
