// dman against the tools people use today, side by side in one run (issue 10): rsync -a,
// sha256sum, unison and syncthing on the same generated home, and dman on disk, Redis and MariaDB
// (first publish and install, no-op sync by the CLI and by a long-lived engine, sync after 100
// changes, save-to-other-machine latency through one server, commits and no-op compares per second
// with 20 clients, peak RSS). Everything listens on 127.0.0.1, every loop has a count and a time
// limit, and everything started here is stopped by PID and its temp dir removed.
// Run: npm run bench -- peers [--quick | --smoke] [--files N] [--drivers disk,redis,mariadb] [--saves N] [--no-watch] [--json[=FILE]]
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadConfig } from '../engine/config/load.js';
import { createEngine } from '../engine/createEngine.js';
import { silentLogger } from '../engine/log.js';
import { buildCli, cliEnv, nodeStartupMs, startDmanServer, writeClientConfig, type Driver } from './lib/dman.js';
import { ensurePeerTools, createUnison, sha256sumCommand, startSyncthingPair } from './lib/peers.js';
import { createChildSet, runMeasured, treePeakRssMb } from './lib/procs.js';
import { formatTable, isMet, writeJson, type Row } from './lib/report.js';
import { flushWrites, median, medianOf, percentile, settle, timedRun, until } from './lib/stats.js';

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

const smoke = argv.includes('--smoke');
const quick = argv.includes('--quick');
const FILES = Number(flag('files') || (smoke ? 200 : quick ? 10_000 : 100_000));
const REPS = smoke ? 1 : 5;
const SAVES = Number(flag('saves') || (smoke ? 3 : 30));
const LOAD_S = smoke ? 1 : quick ? 5 : 10;
const CHANGES = smoke ? 10 : 100;
/** Rounds of CHANGES changes each (dman, then unison, then the other machine): the figures are medians. */
const CHANGE_ROUNDS = smoke ? 1 : 3;
const DRIVERS = (flag('drivers') || (smoke ? 'disk' : 'disk,redis,mariadb')).split(',').map((d) => d.trim()) as Driver[];
const JSON_FLAG = flag('json');
/** The whole run stops after this (each step has its own smaller limit too). */
const LIMIT_MS = Number(process.env.DMAN_BENCH_LIMIT_MS ?? (smoke ? 5 : quick ? 30 : 180) * 60_000);
const USER = 'alice';
/**
 * The inotify watches are per user. On Linux dman watches folders (engine/watch/DirWatcher.ts: one
 * watch per folder); chokidar (the watcher elsewhere, or DMAN_WATCHER=chokidar) takes one per file
 * and per folder. Two watching engines that would take more than a share of the limit from
 * everyone else on the machine are not started: the latency figures are then left to smaller runs.
 */
const MAX_WATCHES = Number(readFileSyncSafe('/proc/sys/fs/inotify/max_user_watches') || 8192);
/** The watches two watching engines take on `home` (with a tenth more for folders made meanwhile). */
function watchesNeeded(home: string): number {
  let folders = 0;
  const visit = (dir: string): void => {
    folders++;
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) visit(join(dir, d.name));
  };
  visit(home);
  const perEngine = process.platform === 'linux' && process.env.DMAN_WATCHER !== 'chokidar' ? folders : FILES + folders;
  return Math.ceil(2 * perEngine * 1.1);
}

for (const d of DRIVERS) if (!['disk', 'redis', 'mariadb'].includes(d)) throw new Error(`--drivers: unknown driver "${d}"; use disk, redis, mariadb`);
if (!(FILES > 0)) throw new Error(`--files must be a positive number, got ${flag('files')}`);

function readFileSyncSafe(path: string): string {
  try { return readFileSync(path, 'utf8').trim(); } catch { return ''; }
}

const log = (m: string) => process.stderr.write(`[peers ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
/** Waits for the machine to be quiet (stats.ts settle) and logs how long that took. */
const quiet = async (what: string): Promise<void> => {
  const f = flushWrites();
  const s = await settle();
  log(`${what}: ${f.unwrittenMb === null ? '' : `wrote out ${f.unwrittenMb.toFixed(0)} MB of dirty pages in ${(f.ms / 1000).toFixed(1)} s, `}waited ${(s.waitedMs / 1000).toFixed(1)} s for a quiet machine (CPU ${(s.busy * 100).toFixed(0)}% busy in its last look)`);
};

function gen(dir: string, args: string[]): { bytes?: number; after?: number } {
  const r = spawnSync(process.execPath, [join(root, 'bench/gen-home.mjs'), dir, ...args], { encoding: 'utf8', timeout: 1_800_000 });
  if (r.status !== 0) throw new Error(`gen-home ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { bytes?: number; after?: number };
}

/** Waits for the first `{"event":"watching"}` line of a `dman watch --json` child. */
async function watching(child: ChildProcess, name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`dman watch ${name} did not start watching within 300 s`)), 300_000);
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (l) => { if (l.includes('"watching"')) { clearTimeout(t); resolve(); } });
    child.once('exit', (c) => { clearTimeout(t); reject(new Error(`dman watch ${name} exited with ${c}`)); });
  });
}

/** Measures save-to-other-machine latency: write a small file in `from`, poll until `to` holds the same bytes. */
async function saveLatency(from: string, to: string, saves: number): Promise<number[]> {
  const probe = '.bench-latency.conf';
  const all: number[] = [];
  for (let i = 0; i < saves; i++) {
    const text = `# save ${i} at ${Date.now()}\n`;
    const t = performance.now();
    await writeFile(join(from, probe), text);
    await until(async () => (await readFile(join(to, probe), 'utf8').catch(() => '')) === text, 30_000, `save ${i} to reach the other home`, 2);
    all.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 150)); // let both sides settle so a save does not queue behind the last
  }
  return all;
}

interface LoadResult { requests: number; perSec: number; p50: number; p99: number; errors: number; non2xx: number }

function load(url: string, token: string, mode: 'commit' | 'compare', extra: string[]): LoadResult {
  const r = spawnSync(process.execPath, [join(root, 'bench/lib/load.mjs'), url, token, USER, mode, '20', String(LOAD_S), ...extra], { encoding: 'utf8', timeout: (LOAD_S + 60) * 1000 });
  if (r.status !== 0) throw new Error(`autocannon (${mode}) failed: ${r.stderr}`);
  const res = JSON.parse(r.stdout) as LoadResult;
  if (res.errors || res.non2xx) throw new Error(`autocannon (${mode}): ${res.errors} errors and ${res.non2xx} non-2xx replies of ${res.requests}`);
  return res;
}

async function main(): Promise<void> {
  const started = Date.now();
  const facts: Record<string, unknown> = {
    date: new Date().toISOString(), mode: smoke ? 'smoke' : quick ? 'quick' : 'full', files: FILES, changes: CHANGES, saves: SAVES, loadSeconds: LOAD_S, drivers: DRIVERS,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, loadavgAtStart: loadavg().map((l) => Number(l.toFixed(2))) },
    commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim(),
  };
  facts.peers = ensurePeerTools(log);
  log('building the CLI bundle');
  buildCli(root);
  const children = createChildSet();
  const dir = await mkdtemp(join(tmpdir(), 'dman-bench-peers-'));
  facts.scratch = dir;
  const rows: Row[] = [];
  // Each figure is also logged as it is measured, so that a run stopped by its limit still tells something.
  const record = (r: Row) => {
    rows.push(r);
    log(`${r.section}: ${r.figure} = ${r.value.toFixed(1)} ${r.unit}${r.peer ? ` (${r.peer}: ${r.peerValue?.toFixed(1)} ${r.unit})` : ''}`);
  };
  const watchdog = setTimeout(() => {
    log(`the run passed its limit of ${LIMIT_MS / 60_000} min: stopping`);
    void children.stopAll().finally(() => rm(dir, { recursive: true, force: true }).finally(() => process.exit(1)));
  }, LIMIT_MS);
  try {
    const pristine = join(dir, 'pristine');
    log(`generating a home of ${FILES} files`);
    const { bytes = 0 } = gen(pristine, ['--files', String(FILES), '--seed', '1']);
    facts.bytes = bytes;
    const watches = watchesNeeded(pristine);
    const WATCH = !argv.includes('--no-watch') && watches <= 0.4 * MAX_WATCHES;
    const mb = `${(bytes / 1e6).toFixed(0)} MB`;
    const copyOf = (to: string) => { timedRun('cp', ['-a', pristine, to]); return to; };

    // ---- Node's own start-up: what the machine's settings that dman runs without cost here (lib/dman.ts, MACHINE_NODE_VARS)
    const startup = nodeStartupMs();
    facts.nodeStartupMs = startup;
    if (startup.dropped.length > 0) {
      record({ section: 'peers', figure: `node start-up (node -e 0) as dman runs, without ${startup.dropped.join(', ')}`, value: startup.dman, unit: 'ms', peer: 'with it (this machine\'s setting)', peerValue: startup.inherited });
    } else log(`node start-up (node -e 0): ${startup.dman.toFixed(0)} ms`);

    // ---- peers
    log('sha256sum and rsync');
    const [shaCmd, ...shaArgs] = sha256sumCommand(pristine);
    const sha = await medianOf(REPS, () => timedRun(shaCmd!, shaArgs));
    const mirror = join(dir, 'rsync-mirror');
    const rsyncCopy = timedRun('rsync', ['-a', `${pristine}/`, `${mirror}/`]);
    const rsyncNoop = await medianOf(REPS, () => timedRun('rsync', ['-a', `${pristine}/`, `${mirror}/`]));
    await rm(mirror, { recursive: true, force: true });

    log('unison: initial, no-op, after changes');
    const uA = copyOf(join(dir, 'unison-a'));
    const uB = join(dir, 'unison-b');
    mkdirSync(uB);
    const unison = createUnison(uA, uB, dir);
    const unisonInit = unison.sync();
    const unisonNoop = await medianOf(REPS, () => unison.sync(), 0);
    gen(uA, ['--mutate', String(CHANGES), '--seed', '2']);
    const unisonChanges = unison.sync();
    await Promise.all([rm(uA, { recursive: true, force: true }), rm(uB, { recursive: true, force: true })]);

    log('syncthing: two instances on 127.0.0.1');
    const stA = copyOf(join(dir, 'st-home-a'));
    const stB = join(dir, 'st-home-b');
    mkdirSync(stB);
    const st = await startSyncthingPair(children, dir);
    let stInit: number, stLat: { median: number; p95: number };
    let stRss: number[];
    try {
      stInit = await st.initialSync(stA, stB, FILES, Math.max(120_000, FILES * 30));
      log(`syncthing: ${SAVES} saves`);
      stLat = await st.latency(stA, stB, SAVES);
      stRss = st.rssMb();
    } finally {
      await st.stop();
    }
    await Promise.all([stA, stB, join(dir, 'st-a'), join(dir, 'st-b')].map((d) => rm(d, { recursive: true, force: true })));
    log(`peers: sha256sum ${sha.median.toFixed(0)} ms; rsync copy ${rsyncCopy.toFixed(0)} ms, no-op ${rsyncNoop.median.toFixed(0)} ms; unison initial ${unisonInit.toFixed(0)} ms, no-op ${unisonNoop.median.toFixed(0)} ms, after changes ${unisonChanges.toFixed(0)} ms; syncthing initial ${stInit.toFixed(0)} ms, latency ${stLat.median.toFixed(0)}/${stLat.p95.toFixed(0)} ms, RSS ${stRss.map((m) => m.toFixed(0)).join('/')} MB`);
    facts.peerFigures = { sha256sum: sha.all, rsyncCopy, rsyncNoop: rsyncNoop.all, unisonInit, unisonNoop: unisonNoop.all, unisonChanges, syncthingInit: stInit, syncthingLatency: stLat, syncthingRssMb: stRss };
    record({ section: 'peers', figure: `syncthing initial sync (${FILES} files, ${mb})`, value: stInit, unit: 'ms', peer: 'unison initial', peerValue: unisonInit });

    // ---- dman, once per driver
    const rssGoalNote = FILES >= 100_000 ? undefined : 'goal is at 100,000 files';
    for (const driver of DRIVERS) {
      const ddir = join(dir, driver);
      mkdirSync(ddir);
      const homeA = copyOf(join(ddir, 'home-a'));
      const homeB = join(ddir, 'home-b');
      mkdirSync(homeB);
      log(`${driver}: starting dman serve`);
      const server = await startDmanServer({ cli, dir: join(ddir, 'server'), driver, user: USER, home: homeA, devices: ['a', 'b', 'load'], children });
      const row = (r: Omit<Row, 'section'>) => record({ section: driver, ...r });
      try {
        const tokens = server.tokens as { a: string; b: string; load: string };
        const cfgA = writeClientConfig({ dir: ddir, name: 'a', url: server.url, token: tokens.a, user: USER, home: homeA });
        const cfgB = writeClientConfig({ dir: ddir, name: 'b', url: server.url, token: tokens.b, user: USER, home: homeB });
        // The cold one-shot rows stay cold even while a `dman watch` for the same config runs.
        const env = { ...cliEnv(ddir), DMAN_NO_DAEMON: '1' };
        const dman = (cfg: string, ...args: string[]) => runMeasured(process.execPath, [cli, '--config', cfg, '--quiet', ...args], { env, timeoutMs: 1_800_000 });

        // The peers are measured again beside each dman figure (bracketing or interleaved), so that a
        // load change between the peer phase and this driver's phase does not move the ratio.
        await quiet(`${driver}: before the first publish`);
        log(`${driver}: first publish, first install (sha256sum and rsync beside them)`);
        const [hashCmd, ...hashArgs] = sha256sumCommand(homeA);
        const shaBefore = timedRun(hashCmd!, hashArgs);
        const publish = dman(cfgA, 'publish', '--yes');
        const shaHere = (shaBefore + timedRun(hashCmd!, hashArgs)) / 2;
        const mirrorA = join(ddir, 'rsync-mirror');
        const copyBefore = timedRun('rsync', ['-a', `${homeA}/`, `${mirrorA}/`]);
        await rm(mirrorA, { recursive: true, force: true });
        const install = dman(cfgB, 'install', '--yes');
        const copyHere = (copyBefore + timedRun('rsync', ['-a', `${homeA}/`, `${mirrorA}/`])) / 2;
        row({ figure: `first publish (${FILES} files, ${mb})`, value: publish.ms, unit: 'ms', peer: 'sha256sum (before and after)', peerValue: shaHere, goal: { kind: 'ratio', max: 1.5 } });
        row({ figure: 'first install into an empty home', value: install.ms, unit: 'ms', peer: 'rsync -a copy (before and after)', peerValue: copyHere });
        row({ figure: 'initial sync (publish + install)', value: publish.ms + install.ms, unit: 'ms', peer: 'unison initial', peerValue: unisonInit });
        row({ figure: 'initial sync (publish + install)', value: publish.ms + install.ms, unit: 'ms', peer: 'syncthing initial', peerValue: stInit });

        log(`${driver}: no-op sync (CLI and engine), interleaved with rsync and unison no-ops`);
        const replica = join(ddir, 'unison-replica');
        mkdirSync(replica);
        const unisonHere = createUnison(homeA, replica, ddir);
        unisonHere.sync();
        // The publish, install and unison's first copy wrote ~3 x 123 MB: measure the no-ops once that is done.
        await quiet(`${driver}: before the no-ops`);
        const noopRuns: Array<{ ms: number; rssMb: number }> = [];
        const rsyncHere: number[] = [];
        const unisonNoopHere: number[] = [];
        const noop = await medianOf(REPS, () => {
          const r = dman(cfgA, 'sync', '--yes');
          noopRuns.push(r);
          rsyncHere.push(timedRun('rsync', ['-a', `${homeA}/`, `${mirrorA}/`]));
          unisonNoopHere.push(unisonHere.sync());
          return r.ms;
        });
        // The warm-up round of each is not counted.
        const rsyncNoopHere = median(rsyncHere.slice(1));
        row({ figure: 'no-op dman sync (one-shot CLI)', value: noop.median, unit: 'ms', peer: 'rsync -a (no-op, interleaved)', peerValue: rsyncNoopHere, goal: { kind: 'ratio', max: 2 } });
        row({ figure: 'no-op dman sync (one-shot CLI)', value: noop.median, unit: 'ms', peer: 'unison (no-op, interleaved)', peerValue: median(unisonNoopHere.slice(1)), goal: { kind: 'lessThanPeer' } });
        const { config } = await loadConfig({ configPath: cfgA, env });
        const engine = createEngine({ config, log: silentLogger(), stateDir: config.state_dir!, rescanMs: 0 });
        try {
          const cycle = await medianOf(REPS, async () => { const t = performance.now(); await engine.sync({ direction: 'both', yes: true }); return performance.now() - t; });
          row({ figure: 'no-op sync cycle (long-lived engine, as the agent runs it)', value: cycle.median, unit: 'ms', peer: 'rsync -a (no-op, interleaved)', peerValue: rsyncNoopHere });
        } finally {
          await engine.close();
        }
        // The same one-shot command with a `dman watch` for this config running: the CLI hands the
        // run to the watching engine over its control socket (cli/control/) and prints its answer.
        if (watches / 2 <= 0.4 * MAX_WATCHES) {
          log(`${driver}: no-op dman sync through a running dman watch, interleaved with rsync and unison`);
          const runDir = join(ddir, 'run');
          mkdirSync(runDir, { mode: 0o700 });
          const hostEnv = { ...env, DMAN_NO_DAEMON: '', XDG_RUNTIME_DIR: runDir };
          const host = children.spawn(process.execPath, [cli, '--config', cfgA, '--json', '--log-level', 'error', 'watch', '--rescan', '0'], { env: hostEnv, stdio: ['ignore', 'pipe', 'inherit'] });
          try {
            await watching(host, 'a (control socket host)');
            const rsyncBeside: number[] = [];
            const unisonBeside: number[] = [];
            const viaHost = await medianOf(Math.max(REPS, 7), () => {
              const t = performance.now();
              const r = spawnSync(process.execPath, [cli, '--config', cfgA, '--quiet', 'sync', '--yes'], { env: { ...hostEnv, DMAN_DEBUG: '1' }, encoding: 'utf8', timeout: 600_000 });
              const ms = performance.now() - t;
              if (r.status !== 0 || !/sync runs in dman watch/.test(r.stderr)) throw new Error(`dman sync through dman watch: exit ${r.status}, not delegated? ${r.stderr.slice(0, 2000)}`);
              rsyncBeside.push(timedRun('rsync', ['-a', `${homeA}/`, `${mirrorA}/`]));
              unisonBeside.push(unisonHere.sync());
              return ms;
            });
            row({ figure: 'no-op dman sync (one-shot CLI, engine running)', value: viaHost.median, unit: 'ms', peer: 'rsync -a (no-op, interleaved)', peerValue: median(rsyncBeside.slice(1)), goal: { kind: 'ratio', max: 2 } });
            row({ figure: 'no-op dman sync (one-shot CLI, engine running)', value: viaHost.median, unit: 'ms', peer: 'unison (no-op, interleaved)', peerValue: median(unisonBeside.slice(1)), goal: { kind: 'lessThanPeer' } });
            facts[`${driver}NoopViaWatch`] = { dman: viaHost.all, rsync: rsyncBeside, unison: unisonBeside };
          } finally {
            await children.stop(host);
          }
        }

        // Rounds of fresh changes (another seed each), medians: one run of each was one sample of a noisy machine.
        await quiet(`${driver}: before the changes`);
        log(`${driver}: sync after ${CHANGES} changes (${CHANGE_ROUNDS} rounds)`);
        const changed: number[] = [], unisonChangesHere: number[] = [], other: number[] = [];
        for (let round = 0; round < CHANGE_ROUNDS; round++) {
          gen(homeA, ['--mutate', String(CHANGES), '--seed', String(2 + round)]);
          changed.push(dman(cfgA, 'sync', '--yes').ms);
          // Unison carries the very same changes from this home to its replica, right after.
          unisonChangesHere.push(unisonHere.sync());
          other.push(dman(cfgB, 'sync', '--yes').ms);
        }
        facts[`${driver}Changes`] = { dman: changed, unison: unisonChangesHere, otherMachine: other };
        await rm(replica, { recursive: true, force: true });
        await rm(mirrorA, { recursive: true, force: true });
        row({ figure: `sync after ${CHANGES} changes (+${Math.floor(CHANGES / 2)} added, -${Math.floor(CHANGES / 4)} deleted), median of ${CHANGE_ROUNDS}`, value: median(changed), unit: 'ms', peer: 'unison (same changes, right after)', peerValue: median(unisonChangesHere), goal: { kind: 'ratio', max: 1.5 } });
        row({ figure: `other machine installs those changes (dman sync), median of ${CHANGE_ROUNDS}`, value: median(other), unit: 'ms' });

        let watchRss: number[] = [];
        if (WATCH) {
          log(`${driver}: ${SAVES} saves through two watching engines`);
          const watchers = [cfgA, cfgB].map((cfg) => children.spawn(process.execPath, [cli, '--config', cfg, '--json', '--log-level', 'error', 'watch'], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
          let lat: number[];
          try {
            await Promise.all(watchers.map((w, i) => watching(w, i ? 'b' : 'a')));
            lat = await saveLatency(homeA, homeB, SAVES);
            watchRss = watchers.map((w) => treePeakRssMb(w.pid!));
            facts[`${driver}LatencyMs`] = lat;
          } finally {
            await Promise.all(watchers.map((w) => children.stop(w)));
          }
          row({ figure: `save→other machine, median (${SAVES} saves)`, value: median(lat), unit: 'ms', peer: 'syncthing (watcher delay 1 s)', peerValue: stLat.median, goal: { kind: 'abs', max: 150, unit: 'ms' } });
          row({ figure: 'save→other machine, p95', value: percentile(lat, 95), unit: 'ms', peer: 'syncthing (watcher delay 1 s)', peerValue: stLat.p95, goal: { kind: 'abs', max: 300, unit: 'ms' } });
        } else {
          log(`${driver}: no watching engines at ${FILES} files (two would need ~${watches} of the ${MAX_WATCHES} inotify watches this user has, over 40%)`);
        }

        log(`${driver}: 20 clients for ${LOAD_S} s (autocannon)`);
        const content = Buffer.from('hello');
        const hash = createHash('sha256').update(content).digest('hex');
        const auth = { authorization: `Bearer ${tokens.load}` };
        const put = await fetch(`${server.url}/v1/users/${USER}/blobs/${hash}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: content });
        if (!put.ok) throw new Error(`PUT blob answered ${put.status}: ${await put.text()}`);
        const commits = load(server.url, tokens.load, 'commit', ['0', hash]);
        const head = ((await (await fetch(`${server.url}/v1/users/${USER}/changes?since=0&limit=1`, { headers: auth })).json()) as { headRev: number }).headRev;
        const compares = load(server.url, tokens.load, 'compare', [String(head), hash]);
        row({ figure: 'server commits/s (20 clients, 1 op each)', value: commits.perSec, unit: '/s' });
        row({ figure: `server no-op compares/s (20 clients, changes since head of ${FILES} entries)`, value: compares.perSec, unit: '/s' });

        const serverRss = treePeakRssMb(server.child.pid!);
        row({ figure: 'server peak RSS', value: serverRss, unit: 'MB', peer: 'syncthing instance', peerValue: Math.max(...stRss) });
        row({ figure: `engine peak RSS, first publish (${FILES} files)`, value: publish.rssMb, unit: 'MB', goal: { kind: 'abs', max: 150, unit: 'MB' }, goalNote: rssGoalNote });
        row({ figure: `engine peak RSS, no-op sync (${FILES} files)`, value: Math.max(...noopRuns.map((r) => r.rssMb)), unit: 'MB', goal: { kind: 'abs', max: 150, unit: 'MB' }, goalNote: rssGoalNote });
        if (WATCH) row({ figure: `engine peak RSS, watching (${FILES} files)`, value: Math.max(...watchRss), unit: 'MB', peer: 'syncthing instance', peerValue: Math.max(...stRss), goal: { kind: 'abs', max: 150, unit: 'MB' }, goalNote: rssGoalNote });
        facts[driver] = { noopCli: noop.all, commits, compares, publishRssMb: publish.rssMb, installRssMb: install.rssMb, watchRssMb: watchRss };
      } finally {
        await server.stop();
        await rm(ddir, { recursive: true, force: true });
      }
    }
  } finally {
    clearTimeout(watchdog);
    await children.stopAll();
    await rm(dir, { recursive: true, force: true });
  }
  facts.seconds = Math.round((Date.now() - started) / 1000);
  if (JSON_FLAG === '') {
    // A bare --json (as `npm run bench -- --json` passes to every bench): the document replaces the table.
    writeJson(null, facts, rows);
    return;
  }
  process.stdout.write(`\npeers: ${FILES} files, ${facts.mode as string} run, ${facts.seconds} s, ${String(facts.date)}\n${formatTable(rows)}\n`);
  const missed = rows.filter((r) => isMet(r) === false);
  process.stdout.write(`goals: ${rows.filter((r) => isMet(r) === true).length} met, ${missed.length} missed\n`);
  if (JSON_FLAG) {
    writeJson(JSON_FLAG, facts, rows);
    log(`wrote ${JSON_FLAG}`);
  }
}

await main();
