// Store speed: commits per second (batches of 1 and of 100) and a no-op change feed /
// manifest listing of 10,000 entries, for each driver, printed side by side. Bounded time.
// Run: node --import tsx bench/store.bench.ts [--quick] [--json]  (or `npm run bench -- store`)
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { CommitOp } from '../shared/protocol.js';
import { DiskStore } from '../server/store/DiskStore.js';
import { MemoryStore } from '../server/store/MemoryStore.js';
import type { Store } from '../server/store/Store.js';

interface Row { driver: string; metric: string; value: number; unit: string }

const BUDGET_MS = Number(process.env.DMAN_BENCH_MS ?? (process.argv.includes('--quick') ? 300 : 1500));

function op(path: string, baseRev: number | null, hash: string): CommitOp {
  return { path, baseRev, deleted: false, kind: 'file', hash, size: 5, mode: 0o644, mtime: 0 };
}

/** Runs `fn` repeatedly until the time budget or `max` runs; returns runs per second and the median ms. */
async function measure(fn: (i: number) => Promise<void>, max: number): Promise<{ perSec: number; medianMs: number; runs: number }> {
  const times: number[] = [];
  const start = performance.now();
  while (times.length < max && performance.now() - start < BUDGET_MS) {
    const t = performance.now();
    await fn(times.length);
    times.push(performance.now() - t);
  }
  const total = performance.now() - start;
  times.sort((a, b) => a - b);
  return { perSec: (times.length / total) * 1000, medianMs: times[Math.floor(times.length / 2)] ?? 0, runs: times.length };
}

async function benchDriver(name: string, store: Store): Promise<Row[]> {
  const rows: Row[] = [];
  const content = Buffer.from('hello');
  const hash = createHash('sha256').update(content).digest('hex');
  for (const user of ['b1', 'b100', 'big']) await store.putBlob(user, hash, Readable.from([content]), 1024);

  const one = await measure(async (i) => {
    const out = await store.commit({ user: 'b1', device: 'bench', ops: [op(`f${i}`, 0, hash)], now: Date.now() });
    if (!out.ok) throw new Error('conflict');
  }, 5000);
  rows.push({ driver: name, metric: 'commits/s (1 op)', value: one.perSec, unit: '/s' });

  const hundred = await measure(async (i) => {
    const ops = Array.from({ length: 100 }, (_, j) => op(`d${i}/f${j}`, 0, hash));
    const out = await store.commit({ user: 'b100', device: 'bench', ops, now: Date.now() });
    if (!out.ok) throw new Error('conflict');
  }, 2000);
  rows.push({ driver: name, metric: 'commits/s (100 ops)', value: hundred.perSec, unit: '/s' });
  rows.push({ driver: name, metric: 'entries/s (100-op commits)', value: hundred.perSec * 100, unit: '/s' });

  const ops = Array.from({ length: 10_000 }, (_, j) => op(`.config/dir${j % 100}/file${j}`, 0, hash));
  const seed = await store.commit({ user: 'big', device: 'bench', ops, now: Date.now() });
  if (!seed.ok) throw new Error('conflict');
  const head = await store.headRev('big');
  const noop = await measure(async () => {
    const page = await store.changes('big', head, 1000);
    if (page.entries.length !== 0) throw new Error('not a no-op');
  }, 20_000);
  rows.push({ driver: name, metric: 'no-op changes(since=head), 10k entries', value: noop.medianMs, unit: 'ms' });
  const list = await measure(async () => {
    const all = await store.listEntries('big');
    if (all.length !== 10_000) throw new Error('bad count');
  }, 500);
  rows.push({ driver: name, metric: 'listEntries, 10k entries', value: list.medianMs, unit: 'ms' });
  const full = await measure(async () => {
    let since = 0;
    for (;;) {
      const page = await store.changes('big', since, 10_000);
      if (!page.more) break;
      since = page.entries[page.entries.length - 1]!.rev;
    }
  }, 500);
  rows.push({ driver: name, metric: 'full changes(since=0), 10k entries', value: full.medianMs, unit: 'ms' });
  return rows;
}

const rows: Row[] = [];
rows.push(...(await benchDriver('memory', new MemoryStore())));
const dir = await mkdtemp(join(tmpdir(), 'dman-bench-'));
try {
  const disk = new DiskStore({ dataDir: dir });
  await disk.open();
  rows.push(...(await benchDriver('disk', disk)));
  const t = performance.now();
  await disk.close();
  const closeMs = performance.now() - t;
  const t2 = performance.now();
  const again = new DiskStore({ dataDir: dir });
  await again.open();
  rows.push({ driver: 'disk', metric: 'close (snapshot) then open', value: closeMs + (performance.now() - t2), unit: 'ms' });
  await again.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}

if (process.argv.includes('--json')) {
  process.stdout.write(JSON.stringify(rows) + '\n');
} else {
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const drivers = [...new Set(rows.map((r) => r.driver))];
  const fmt = (r: Row | undefined): string => (r ? `${r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(2)} ${r.unit}` : '-');
  console.log(['metric'.padEnd(42), ...drivers.map((d) => d.padStart(14))].join(''));
  for (const m of metrics) console.log([m.padEnd(42), ...drivers.map((d) => fmt(rows.find((r) => r.driver === d && r.metric === m)).padStart(14))].join(''));
}
