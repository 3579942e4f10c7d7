// Engine memory while it watches a home, as `dman watch` runs it (issue 10: ≤ 150 MB RSS at
// 100,000 files). A disk `dman serve`, one `dman publish` of the generated home, then a
// `dman watch --json` child: its VmRSS and VmHWM are sampled from /proc until the first full run
// is done and the watcher has settled, then one file is saved and must reach the server.
// With --heap, the child also writes a heap snapshot (SIGUSR2) that `--heap-summary` sums by
// constructor, to tell chokidar/fs.watch objects from state maps and strings.
// The engine caps V8's young generation at 8 MB while it watches (engine/util/youngGeneration.ts
// capYoungGeneration) unless node gets a semi-space flag: the variant dirs:max-semi-space-size=16
// runs it with V8's default young generation, for comparison.
// Run: node --import tsx bench/memory.bench.ts [--files N] [--home DIR] [--settle S] [--watchers LIST] [--heap] [--json] [--keep]
//      (npm run bench -- memory --quick: 2,000 files)
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { buildCli, cliEnv, startDmanServer, writeClientConfig } from './lib/dman.js';
import { createChildSet, runMeasured } from './lib/procs.js';

const root = new URL('..', import.meta.url).pathname;
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (a === undefined) return undefined;
  if (a.includes('=')) return a.slice(a.indexOf('=') + 1);
  const i = argv.indexOf(a);
  const next = argv[i + 1];
  return next && !next.startsWith('--') ? next : '';
};
const FILES = Number(flag('files') ?? (argv.includes('--quick') ? 2_000 : 10_000));
const SETTLE_S = Number(flag('settle') ?? 20);
const HOME = flag('home');
const HEAP = argv.includes('--heap');
const AS_JSON = argv.includes('--json');
/** Keep the temp dir (server data, client config and state) for a look afterwards. */
const KEEP = argv.includes('--keep');
const NODE_FLAGS = flag('node-flags') ?? '';
/** Watch runs after the one publish: WATCHER[:FLAG+FLAG] (V8 flags without the dashes), e.g. dirs,chokidar,dirs:max-semi-space-size=1. */
const VARIANTS = (flag('watchers') || 'dirs').split(',');
if (!Number.isInteger(FILES) || FILES < 1) throw new Error(`--files must be a positive whole number (got ${flag('files')})`);

const log = (m: string): void => { process.stderr.write(`[memory] ${m}\n`); };
const status = (pid: number): Record<string, number> => {
  const out: Record<string, number> = {};
  try {
    for (const l of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const m = /^(Vm\w+|RssAnon|RssFile):\s+(\d+) kB/.exec(l);
      if (m) out[m[1]!] = Number(m[2]) / 1024;
    }
  } catch { /* gone */ }
  return out;
};
/** CPU seconds (user + system) a process has used so far. */
const cpuS = (pid: number): number => {
  try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) / 100; } catch { return NaN; }
};
const fds = (pid: number): number => { try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; } };
const inotifyWatches = (pid: number): number => {
  let n = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
      try { n += (readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').match(/^inotify /gm) ?? []).length; } catch { /* closed */ }
    }
  } catch { /* gone */ }
  return n;
};

/** Sums a heap snapshot's self sizes by node name (constructor) and type; returns the largest. */
function heapSummary(file: string, top = 25): Array<{ name: string; count: number; mb: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] };
  const f = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const iType = f.indexOf('type'), iName = f.indexOf('name'), iSize = f.indexOf('self_size');
  const by = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += f.length) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = snap.strings[snap.nodes[i + iName]!]!;
    const key = type === 'object' || type === 'native' || type === 'closure' ? `${type}:${name}`
      : type === 'string' ? (/^[0-9a-f]{64}$/.test(name) ? 'string (sha-256 hex)' : name.includes('/') || name.startsWith('.') ? 'string (path-like)' : 'string (other)') : type;
    const e = by.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += snap.nodes[i + iSize]!;
    by.set(key, e);
  }
  const total = [...by.values()].reduce((a, e) => ({ count: a.count + e.count, bytes: a.bytes + e.bytes }), { count: 0, bytes: 0 });
  by.set('(live heap total)', total);
  return [...by].map(([name, e]) => ({ name, count: e.count, mb: Math.round(e.bytes / 1e4) / 100 })).sort((a, b) => b.mb - a.mb).slice(0, top);
}

/** One `dman watch` child: RSS samples until it has settled, one save that must reach the server, optionally a heap summary. */
async function watchOnce(o: { cli: string; cfg: string; dir: string; home: string; children: ReturnType<typeof createChildSet>; env: NodeJS.ProcessEnv }): Promise<Record<string, unknown>> {
  const { cli, cfg, dir, home, children, env } = o;
  const facts: Record<string, unknown> = {};
  log(`dman watch (DMAN_WATCHER=${env.DMAN_WATCHER}, NODE_OPTIONS=${env.NODE_OPTIONS || '-'})`);
  const t0 = performance.now();
  const w: ChildProcess = children.spawn(process.execPath, [cli, '--config', cfg, '--json', '--log-level', 'warn', 'watch'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let synced = 0;
  createInterface({ input: w.stdout! }).on('line', (l) => { lines.push(l); if (l.includes('"synced"') && l.includes('.zshrc')) synced++; });
  createInterface({ input: w.stderr! }).on('line', (l) => { log(`watch: ${l}`); });
  const samples: Array<{ s: number; rss: number; hwm: number; fds: number }> = [];
  const sample = (): Record<string, number> => {
    const st = status(w.pid!);
    samples.push({ s: Math.round((performance.now() - t0) / 100) / 10, rss: Math.round(st.VmRSS ?? NaN), hwm: Math.round(st.VmHWM ?? NaN), fds: fds(w.pid!) });
    return st;
  };
  const timer = setInterval(sample, 250);
  const wait = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
    for (const end = Date.now() + ms; !cond();) {
      if (w.exitCode !== null) throw new Error(`dman watch exited with ${w.exitCode} while waiting for ${what}: ${lines.slice(-5).join('\n')}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await wait(() => lines.some((l) => l.includes('"watching"')), 900_000, 'the watching event');
  const readyS = (performance.now() - t0) / 1000;
  // The first full run prints nothing when there is nothing to do: it is over when the CPU goes quiet.
  for (let last = cpuS(w.pid!); ;) {
    await new Promise((r) => setTimeout(r, 2000));
    const now = cpuS(w.pid!);
    if (!(now - last > 0.1)) break;
    last = now;
  }
  const firstRunS = (performance.now() - t0) / 1000;
  log(`watching after ${readyS.toFixed(1)} s, first run done after ${firstRunS.toFixed(1)} s; settling ${SETTLE_S} s`);
  await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
  const settled = sample();
  const watches = inotifyWatches(w.pid!);
  // One save must still reach the server (the watcher is alive, not just cheap).
  const before = synced;
  await appendFile(join(home, '.zshrc'), `# memory bench ${Date.now()}\n`);
  await wait(() => synced > before, 120_000, 'the save to be synced');
  const end = sample();
  clearInterval(timer);
  if (HEAP) {
    const snapDir = dir;
    const known = new Set(readdirSync(snapDir));
    w.kill('SIGUSR2');
    await wait(() => readdirSync(snapDir).some((f) => f.endsWith('.heapsnapshot') && !known.has(f)), 300_000, 'the heap snapshot');
    const file = join(snapDir, readdirSync(snapDir).find((f) => f.endsWith('.heapsnapshot') && !known.has(f))!);
    // The snapshot is written in pieces: read it once it parses.
    for (const end = Date.now() + 300_000; ;) {
      await new Promise((r) => setTimeout(r, 2000));
      try { facts.heapTop = heapSummary(file); break; } catch (err) { if (Date.now() > end) throw err; }
    }
    if (!AS_JSON) console.table(facts.heapTop);
  }
  await children.stop(w);
  Object.assign(facts, {
    watchingAfterS: Math.round(readyS * 10) / 10, firstRunAfterS: Math.round(firstRunS * 10) / 10,
    peakRssMb: Math.round(end.VmHWM ?? NaN), settledRssMb: Math.round(settled.VmRSS ?? NaN), rssAnonMb: Math.round(settled.RssAnon ?? NaN),
    inotifyWatches: watches, fds: samples.at(-1)?.fds, samples,
  });
  return facts;
}

async function main(): Promise<void> {
  if (flag('heap-summary')) {
    console.table(heapSummary(flag('heap-summary')!));
    return;
  }
  buildCli(root);
  const cli = join(root, 'bin/dman.js');
  const dir = await mkdtemp(join(tmpdir(), 'dman-bench-memory-'));
  const children = createChildSet();
  const facts: Record<string, unknown> = { date: new Date().toISOString(), commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(), load1: loadavg()[0], files: FILES, nodeFlags: NODE_FLAGS };
  try {
    let home = HOME;
    if (!home) {
      home = join(dir, 'home');
      log(`generating ${FILES} files`);
      const g = spawnSync(process.execPath, [join(root, 'bench/gen-home.mjs'), home, '--files', String(FILES), '--seed', '1'], { encoding: 'utf8' });
      if (g.status !== 0) throw new Error(`gen-home failed: ${g.stderr}`);
    } else if (!existsSync(home)) throw new Error(`--home ${home} does not exist; make it with node bench/gen-home.mjs ${home} --files ${FILES} --seed 1`);
    const server = await startDmanServer({ cli, dir: join(dir, 'srv'), driver: 'disk', user: 'alice', home, devices: ['a'], children });
    const cfg = writeClientConfig({ dir, name: 'a', url: server.url, token: server.tokens.a!, user: 'alice', home });
    const env = { ...cliEnv(dir), NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', NODE_FLAGS, HEAP ? '--heapsnapshot-signal=SIGUSR2' : ''].join(' ').trim() };
    log('first publish');
    const pub = runMeasured(process.execPath, [cli, '--config', cfg, '--quiet', 'publish', '--yes'], { env, timeoutMs: 3_600_000 });
    facts.publish = { ms: Math.round(pub.ms), rssMb: Math.round(pub.rssMb) };
    log(`published in ${Math.round(pub.ms)} ms, peak ${Math.round(pub.rssMb)} MB`);

    const rows: Array<Record<string, unknown>> = [];
    for (const variant of VARIANTS) {
      const [watcher, flags = ''] = variant.split(':');
      const r = await watchOnce({ cli, cfg, dir, home, children, env: { ...env, DMAN_WATCHER: watcher!, NODE_OPTIONS: [env.NODE_OPTIONS, flags.split('+').filter(Boolean).map((f) => `--${f}`).join(' ')].join(' ').trim() } });
      rows.push({ watcher: watcher, flags: flags || '-', ...r, samples: undefined, heapTop: undefined });
      (facts.runs ??= [] as unknown[]);
      (facts.runs as unknown[]).push({ watcher, flags, ...r });
    }
    await server.stop();
    facts.load1After = loadavg()[0];
    if (AS_JSON) console.log(JSON.stringify(facts));
    else {
      console.table(rows);
      console.log(`first publish: ${facts.publish ? JSON.stringify(facts.publish) : '-'}; ${JSON.stringify({ ...facts, runs: undefined, publish: undefined })}`);
    }
  } finally {
    await children.stopAll();
    if (KEEP) log(`kept ${dir} (client config a.yaml, state in state-a/)`);
    else await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
