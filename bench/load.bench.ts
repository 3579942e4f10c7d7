// The load test of issue 9: 20 clients (4 users × 5 devices, each device with its own token) for
// 60 s against a real `dman serve` on 127.0.0.1, on disk, Redis and MariaDB in turn. Each client
// speaks /v1 through the engine's HTTP client and does a seeded mix: uploads of 1–64 KiB blobs,
// batch commits with compare-and-swap base revs, change-feed polls, downloads of other devices'
// files (checked against their hash) and no-op compares. Afterwards the server must hold exactly
// what each client committed last. Prints requests, errors, throughput and p50/p95/p99 per
// operation kind, and the server's peak RSS (VmHWM, reset before the load). Exits 1 on any error.
// Every client loop has a deadline and a step limit, the whole run a time limit, and everything
// started here is stopped by PID and its temp dir removed.
// Run: npm run bench -- load [--seconds N | --quick] [--drivers disk,redis,mariadb] [--clients N] [--seed N] [--json[=FILE]]
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createHttpRemote } from '../engine/remote/HttpRemote.js';
import { fetchAllChanges } from '../engine/remote/Remote.js';
import { buildCli, startDmanServer, type DmanServer, type Driver } from './lib/dman.js';
import { opKinds, runLoadClient, type ClientResult, type OpKind } from './lib/loadClient.js';
import { createChildSet, descendants, treePeakRssMb } from './lib/procs.js';
import { writeJson, type Row } from './lib/report.js';
import { percentile } from './lib/stats.js';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'bin/dman.js');
const argv = process.argv.slice(2);

/** Reads `--name=value` or `--name value` (a value never starts with --). */
function flag(name: string): string | undefined {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = argv[i]!;
  if (a.includes('=')) return a.slice(a.indexOf('=') + 1);
  const next = argv[i + 1];
  return next && !next.startsWith('--') ? next : '';
}

const quick = argv.includes('--quick');
const SECONDS = Number(flag('seconds') || (quick ? 15 : 60));
const CLIENTS = Number(flag('clients') || 20);
const USERS = Math.min(4, CLIENTS);
const SEED = Number(flag('seed') || 1);
const DRIVERS = (flag('drivers') || 'disk,redis,mariadb').split(',').map((d) => d.trim()) as Driver[];
const JSON_FLAG = flag('json');
/** Each client stops after this many steps even before its deadline (a step is one to five requests). */
const MAX_STEPS = 1_000_000;
/** The whole run stops after this: the load itself plus five minutes per driver for starting and checking. */
const LIMIT_MS = Number(process.env.DMAN_BENCH_LIMIT_MS ?? DRIVERS.length * (SECONDS * 1000 + 300_000));

for (const d of DRIVERS) if (!['disk', 'redis', 'mariadb'].includes(d)) throw new Error(`--drivers: unknown driver "${d}"; use disk, redis, mariadb`);
if (!(SECONDS > 0 && SECONDS <= 3600)) throw new Error(`--seconds must be a number of seconds from 1 to 3600, got "${flag('seconds')}"`);
if (!(Number.isInteger(CLIENTS) && CLIENTS >= 1 && CLIENTS <= 200)) throw new Error(`--clients must be a whole number from 1 to 200, got "${flag('clients')}"`);
if (!Number.isInteger(SEED)) throw new Error(`--seed must be a whole number, got "${flag('seed')}"`);

const log = (m: string) => process.stderr.write(`[load ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

/** Figures of one operation kind. */
interface KindFigures { requests: number; errors: number; perSec: number; p50: number; p95: number; p99: number; max: number }

/** Everything measured on one driver. */
interface DriverResult {
  driver: Driver;
  seconds: number;
  clients: number;
  requests: number;
  errors: number;
  perSec: number;
  kinds: Record<OpKind | 'all', KindFigures>;
  /** MB up and down (blob bodies only). */
  mbUp: number;
  mbDown: number;
  server: { rssStartMb: number; rssPeakMb: number; rssEndMb: number; hwmBeforeLoadMb: number };
  /** Files whose last committed hash the server does not hold (must be 0). */
  lostWrites: number;
  firstErrors: string[];
}

/** Current RSS in MB of a process and its descendants (NaN when gone). */
function treeRssMb(pid: number): number {
  let sum = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) sum += Number(m[1]) / 1024;
    } catch { /* gone */ }
  }
  return sum || NaN;
}

function figures(xs: number[], errors: number, secs: number): KindFigures {
  return { requests: xs.length + errors, errors, perSec: (xs.length + errors) / secs, p50: percentile(xs, 50), p95: percentile(xs, 95), p99: percentile(xs, 99), max: xs.length ? Math.max(...xs) : NaN };
}

async function loadOne(driver: Driver, dir: string, children: ReturnType<typeof createChildSet>, setCurrent: (s: DmanServer | null) => void): Promise<DriverResult> {
  const users = Array.from({ length: USERS }, (_, i) => `load${i}`);
  const devicesOf = (u: number) => Array.from({ length: CLIENTS }, (_, c) => c).filter((c) => c % USERS === u).map((c) => `dev${c}`);
  const home = join(dir, 'home');
  await mkdir(home, { recursive: true });
  log(`${driver}: starting dman serve and creating ${CLIENTS} device tokens`);
  const server = await startDmanServer({
    cli, dir: join(dir, driver), driver, user: users[0]!, home, devices: devicesOf(0), children,
    others: Object.fromEntries(users.slice(1).map((u, i) => [u, devicesOf(i + 1)])),
  });
  setCurrent(server);
  try {
    const pid = server.child.pid!;
    const clients = Array.from({ length: CLIENTS }, (_, c) => {
      const u = c % USERS;
      const user = users[u]!;
      const device = `dev${c}`;
      return { user, device, token: u === 0 ? server.tokens[device]! : server.tokens[`${user}/${device}`]! };
    });
    // One request per client first: the server has loaded its tokens and the connections exist.
    for (const c of clients) await createHttpRemote({ url: server.url, token: c.token, retries: 0 }).changes(c.user, 0, 1);
    const hwmBeforeLoadMb = treePeakRssMb(pid);
    for (const p of [pid, ...descendants(pid)]) {
      try { writeFileSync(`/proc/${p}/clear_refs`, '5'); } catch { /* not allowed or gone: VmHWM then includes the start */ }
    }
    const rssStartMb = treeRssMb(pid);
    let rssPeakSampled = rssStartMb;
    const sampler = setInterval(() => { rssPeakSampled = Math.max(rssPeakSampled, treeRssMb(pid) || 0); }, 200);
    log(`${driver}: ${CLIENTS} clients (${USERS} users) for ${SECONDS} s at ${server.url}`);
    const t0 = performance.now();
    const deadline = Date.now() + SECONDS * 1000;
    let results: ClientResult[];
    try {
      results = await Promise.all(clients.map((c, i) => runLoadClient({ url: server.url, token: c.token, user: c.user, device: c.device, seed: SEED * 1000 + i, deadline, maxSteps: MAX_STEPS })));
    } finally {
      clearInterval(sampler);
    }
    const secs = (performance.now() - t0) / 1000;
    const rssPeakMb = Math.max(treePeakRssMb(pid), rssPeakSampled);
    const rssEndMb = treeRssMb(pid);

    // What each client committed last must be what the server holds now.
    let lostWrites = 0;
    const firstErrors = results.flatMap((r) => r.firstErrors).slice(0, 10);
    for (const user of users) {
      const c = clients.find((x) => x.user === user)!;
      const all = await fetchAllChanges(createHttpRemote({ url: server.url, token: c.token, retries: 2 }), user, 0);
      const latest = new Map<string, string | null>();
      for (const e of all.entries) latest.set(e.path, e.hash);
      for (const [i, r] of results.entries()) {
        if (clients[i]!.user !== user) continue;
        for (const [path, hash] of r.committed) {
          if (latest.get(path) !== hash) {
            lostWrites++;
            if (firstErrors.length < 10) firstErrors.push(`${user}: ${path} should hold ${hash.slice(0, 12)}…, the server has ${String(latest.get(path)).slice(0, 12)}`);
          }
        }
      }
    }

    const kinds = {} as Record<OpKind | 'all', KindFigures>;
    for (const k of opKinds) kinds[k] = figures(results.flatMap((r) => r.latencies[k]), results.reduce((s, r) => s + r.errors[k], 0), secs);
    kinds.all = figures(results.flatMap((r) => opKinds.flatMap((k) => r.latencies[k])), opKinds.reduce((s, k) => s + kinds[k].errors, 0), secs);
    const out: DriverResult = {
      driver, seconds: secs, clients: CLIENTS, requests: kinds.all.requests, errors: kinds.all.errors + lostWrites, perSec: kinds.all.perSec, kinds,
      mbUp: results.reduce((s, r) => s + r.bytesUp, 0) / 2 ** 20, mbDown: results.reduce((s, r) => s + r.bytesDown, 0) / 2 ** 20,
      server: { rssStartMb, rssPeakMb, rssEndMb, hwmBeforeLoadMb }, lostWrites, firstErrors,
    };
    log(`${driver}: ${out.requests} requests, ${out.errors} errors, ${out.perSec.toFixed(0)}/s, p99 ${kinds.all.p99.toFixed(1)} ms, server peak RSS ${rssPeakMb.toFixed(0)} MB`);
    return out;
  } finally {
    setCurrent(null);
    await server.stop();
  }
}

function table(results: DriverResult[]): string {
  const head = ['driver', 'operation', 'requests', 'errors', 'per s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms'];
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
  const body: string[][] = [];
  for (const r of results) {
    for (const k of [...opKinds, 'all'] as const) {
      const x = r.kinds[k];
      body.push([r.driver, k, String(x.requests), String(x.errors), f(x.perSec, 0), f(x.p50), f(x.p95), f(x.p99), f(x.max)]);
    }
  }
  const widths = head.map((_, i) => Math.max(head[i]!.length, ...body.map((l) => l[i]!.length)));
  const lines = [head, ...body].map((l) => l.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  const mem = results.map((r) => `${r.driver}: server RSS ${f(r.server.rssStartMb, 0)} MB at the start of the load, peak ${f(r.server.rssPeakMb, 0)} MB, ${f(r.server.rssEndMb, 0)} MB at the end; ` +
    `${f(r.mbUp, 0)} MB up, ${f(r.mbDown, 0)} MB down; ${r.lostWrites} lost writes; ${r.errors} errors`);
  return [...lines, '', ...mem].join('\n');
}

async function main(): Promise<number> {
  const started = Date.now();
  const facts: Record<string, unknown> = {
    bench: 'load', date: new Date().toISOString(), seconds: SECONDS, clients: CLIENTS, users: USERS, seed: SEED, drivers: DRIVERS,
    fileSizes: '1-64 KiB', mix: 'per step: 35% edit (1-4 PUTs of 1-64 KiB + one commit), 25% changes poll, 25% download of another device\'s file (else a no-op), 15% no-op compare',
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, loadavgAtStart: loadavg().map((l) => Number(l.toFixed(2))) },
    commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
  };
  log('building the CLI bundle');
  buildCli(root);
  const children = createChildSet();
  const dir = await mkdtemp(join(tmpdir(), 'dman-bench-load-'));
  let current: DmanServer | null = null;
  const watchdog = setTimeout(() => {
    log(`the run passed its limit of ${Math.round(LIMIT_MS / 60_000)} min: stopping`);
    void Promise.resolve(current?.stop()).finally(() => children.stopAll()).finally(() => rm(dir, { recursive: true, force: true }).finally(() => process.exit(1)));
  }, LIMIT_MS);
  const results: DriverResult[] = [];
  try {
    for (const d of DRIVERS) results.push(await loadOne(d, dir, children, (s) => { current = s; }));
  } finally {
    clearTimeout(watchdog);
    await children.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  facts.loadavgAtEnd = loadavg().map((l) => Number(l.toFixed(2)));
  facts.wallSeconds = Math.round((Date.now() - started) / 1000);
  facts.results = results;
  const rows: Row[] = results.flatMap((r) => [
    { section: r.driver, figure: 'requests/s (all kinds)', value: r.perSec, unit: '/s' as const },
    ...[...opKinds, 'all' as const].map((k) => ({ section: r.driver, figure: `${k} p99`, value: r.kinds[k].p99, unit: 'ms' as const })),
    { section: r.driver, figure: 'server peak RSS under load', value: r.server.rssPeakMb, unit: 'MB' as const },
  ]);
  const errors = results.reduce((s, r) => s + r.errors, 0);
  if (JSON_FLAG === '') {
    writeJson(null, facts, rows);
  } else {
    process.stdout.write(`\nload: ${CLIENTS} clients (${USERS} users) × ${SECONDS} s per driver, 1–64 KiB files, seed ${SEED}, commit ${String(facts.commit)}, ` +
      `load average ${(facts.machine as { loadavgAtStart: number[] }).loadavgAtStart.join(' ')} at the start, ${String(facts.date)}\n${table(results)}\n`);
    if (JSON_FLAG) { writeJson(JSON_FLAG, facts, rows); log(`wrote ${JSON_FLAG}`); }
  }
  for (const r of results) for (const e of r.firstErrors) process.stderr.write(`load error: ${e}\n`);
  if (errors > 0) process.stderr.write(`load: ${errors} errors: the load test FAILED (it must have none)\n`);
  return errors > 0 ? 1 : 0;
}

process.exitCode = await main();
