// Server speed over real HTTP on 127.0.0.1: commits per second (batches of 1 and of 100), a
// seed publish of 1,000 small files, one commit of 10,000 ops, and a no-op compare of 10,000 entries, for the memory and
// disk stores. Bounded time (about 30 s on 2 busy cores). Run: node --import tsx bench/server.bench.ts [--quick] [--json]
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Header } from 'tar';
import { silentLogger } from '../engine/log.js';
import { createServer } from '../server/app.js';
import { mintToken } from '../server/auth/tokens.js';
import { DiskStore } from '../server/store/DiskStore.js';
import { MemoryStore } from '../server/store/MemoryStore.js';
import type { Store } from '../server/store/Store.js';

interface Row { driver: string; metric: string; value: number; unit: string }

const BUDGET_MS = Number(process.env.DMAN_BENCH_MS ?? (process.argv.includes('--quick') ? 300 : 1500));
const N = 10_000;
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

async function measure(fn: (i: number) => Promise<void>, max: number): Promise<{ perSec: number; medianMs: number; runs: number }> {
  const times: number[] = [];
  const start = performance.now();
  while (times.length < max && performance.now() - start < BUDGET_MS) {
    const t = performance.now();
    await fn(times.length);
    times.push(performance.now() - t);
  }
  const total = times.reduce((a, b) => a + b, 0);
  times.sort((a, b) => a - b);
  return { perSec: (times.length * 1000) / total, medianMs: times[Math.floor(times.length / 2)] ?? 0, runs: times.length };
}

function tarOf(files: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of files) {
    const block = Buffer.alloc(512);
    new Header({ path: name, type: 'File', size: Buffer.byteLength(data), mode: 0o644, mtime: new Date(0) }).encode(block, 0);
    const body = Buffer.from(data);
    parts.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

async function benchDriver(driver: string, store: Store): Promise<Row[]> {
  await store.open();
  const { token, record } = mintToken({ user: 'alice', device: 'bench', admin: false, now: Date.now() });
  await store.putToken(record);
  const server = createServer({ store, log: silentLogger(), retention: { versions: 20, days: 30, gcIntervalMs: 0 }, version: 'bench', users: ['alice'] });
  const url = await server.listen('127.0.0.1:0');
  const auth = { authorization: `Bearer ${token}` };
  const rows: Row[] = [];
  try {
    const blob = 'bench';
    const hash = sha(blob);
    await fetch(`${url}/v1/users/alice/blobs/${hash}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: blob });
    const commit = async (ops: unknown[]) => {
      const r = await fetch(`${url}/v1/users/alice/commit`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ ops }) });
      if (r.status !== 200) throw new Error(`commit: HTTP ${r.status} ${await r.text()}`);
      await r.arrayBuffer();
    };
    const one = await measure((i) => commit([{ path: `one/f${i}`, baseRev: 0, hash, size: 5 }]), 5000);
    rows.push({ driver, metric: 'commits/s over HTTP (1 op)', value: one.perSec, unit: `/s (median ${one.medianMs.toFixed(2)} ms, ${one.runs} runs)` });
    const hundred = await measure((i) => commit(Array.from({ length: 100 }, (_, j) => ({ path: `hundred/b${i}/f${j}`, baseRev: 0, hash, size: 5 }))), 1000);
    rows.push({ driver, metric: 'commits/s over HTTP (100 ops)', value: hundred.perSec, unit: `/s (median ${hundred.medianMs.toFixed(2)} ms, ${hundred.runs} runs)` });

    // A seed publish of 1,000 distinct small files (each a new blob: the disk driver fsyncs each).
    const P = 1000;
    const pubFiles: Array<[string, string]> = Array.from({ length: P }, (_, i) => [`alice/pub/d${i % 50}/f${i}`, `published ${i}\n`]);
    const t0 = performance.now();
    const pub = await fetch(`${url}/publish`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-tar' }, body: tarOf(pubFiles) });
    if (pub.status !== 200) throw new Error(`publish: HTTP ${pub.status} ${await pub.text()}`);
    await pub.arrayBuffer();
    const pubMs = performance.now() - t0;
    rows.push({ driver, metric: `seed publish of ${P} new files`, value: pubMs, unit: `ms (${((P * 1000) / pubMs).toFixed(0)} files/s)` });

    // 10,000 entries for the compare, committed in one batch over /v1 (they share one blob).
    const files: Array<[string, string]> = Array.from({ length: N }, (_, i) => [`alice/cmp/d${i % 100}/f${i}`, blob]);
    const t1 = performance.now();
    await commit(files.map(([name]) => ({ path: name.slice('alice/'.length), baseRev: 0, hash, size: 5 })));
    rows.push({ driver, metric: `one commit of ${N} ops`, value: performance.now() - t1, unit: 'ms' });

    const body = JSON.stringify({ entries: files.map(([name, data]) => ({ user: 'alice', path: name.slice('alice/'.length), sha256: sha(data) })), users: [] });
    const cmp = await measure(async () => {
      const r = await fetch(`${url}/compare`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
      const out = (await r.json()) as { counts: { same: number } };
      if (out.counts.same !== N) throw new Error(`compare: expected ${N} same, got ${JSON.stringify(out.counts)}`);
    }, 50);
    rows.push({ driver, metric: `no-op compare of ${N} entries`, value: cmp.medianMs, unit: `ms median (${cmp.runs} runs)` });
  } finally {
    await server.close();
    await store.close();
  }
  return rows;
}

const dir = await mkdtemp(join(tmpdir(), 'dman-bench-server-'));
try {
  const rows = [
    ...(await benchDriver('memory', new MemoryStore())),
    ...(await benchDriver('disk', new DiskStore({ dataDir: join(dir, 'disk') }))),
  ];
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
  else for (const r of rows) console.log(`${r.driver.padEnd(7)} ${r.metric.padEnd(34)} ${r.value.toFixed(1).padStart(9)} ${r.unit}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
