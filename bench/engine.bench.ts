// Engine speed against its peers, measured side by side in one run (issue 4, "Speed"):
//  - no-op `dman sync` (one-shot CLI, wall) vs no-op `rsync -a` of the same tree;
//  - the first publish (`dman publish`, wall) vs `sha256sum` over the same files;
//  - save-to-other-machine latency (median, p95) of two watching engines through one server.
// The home comes from bench/gen-home.mjs (10,000 files, ~130 MB; --quick: 2,000 files).
// Everything runs on 127.0.0.1 and is stopped and removed at the end.
// Run: node --import tsx bench/engine.bench.ts [--quick] [--json]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createEngine } from '../engine/createEngine.js';
import type { Engine } from '../engine/Engine.js';
import { silentLogger } from '../engine/log.js';
import { testConfig } from '../engine/testing/engineFixture.js';
import { createChokidarWatcher } from '../engine/watch/ChokidarWatcher.js';
import { withoutMachineNodeVars } from './lib/dman.js';

const root = new URL('..', import.meta.url).pathname;
const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
const FILES = quick ? 2_000 : 10_000;
const NOOP_RUNS = quick ? 3 : 5;
const SAVES = 30;
const cli = join(root, 'bin/dman.js');

interface Row { figure: string; value: number; peer: string; peerValue: number; unit: string; goal: string; met: boolean }

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!; };

/** Runs a command and returns its wall time in ms; a failure stops the bench with its stderr. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, shell = false): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', shell, maxBuffer: 64 << 20 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(0, 2000)}`);
  return ms;
}

async function until(cond: () => Promise<boolean>, ms: number, what: string, everyMs = 2): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  if (spawnSync('rsync', ['--version']).status !== 0) throw new Error('rsync is missing: apt-get install -y rsync');
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  const dir = await mkdtemp(join(tmpdir(), 'dman-bench-engine-'));
  const children: ChildProcess[] = [];
  const engines: Engine[] = [];
  const env = { ...withoutMachineNodeVars(process.env), HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), XDG_DATA_HOME: join(dir, 'share'), DMAN_CONFIG: '', DMAN_AUTH_TOKEN: '', NO_COLOR: '1' };
  const rows: Row[] = [];
  let noopBreakdown: Record<string, number> | undefined;
  const loadBefore = loadavg()[0]!;
  try {
    const home = join(dir, 'home');
    const gen = spawnSync(process.execPath, [join(root, 'bench/gen-home.mjs'), home, '--files', String(FILES), '--seed', '1'], { encoding: 'utf8' });
    if (gen.status !== 0) throw new Error(`gen-home failed: ${gen.stderr}`);
    const { bytes } = JSON.parse(gen.stdout) as { bytes: number };
    process.stderr.write(`home: ${FILES} files, ${(bytes / 1e6).toFixed(0)} MB\n`);

    // The server: `dman serve` with disk storage, a device token made by `dman token create`.
    const serverCfg = join(dir, 'server.yaml');
    await writeFile(serverCfg, `storage_driver: disk\ndata_dir: ${join(dir, 'data')}\nretention:\n  versions: 5\nusers:\n  alice:\n    home: ${home}\n`);
    await chmod(serverCfg, 0o600);
    const tokenOf = (device: string) => {
      const r = spawnSync(process.execPath, [cli, '--config', serverCfg, '--json', 'token', 'create', '--user', 'alice', '--device', device], { env, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`token create failed: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { token: string }).token;
    };
    const tokens = { cli: tokenOf('cli'), a: tokenOf('a'), b: tokenOf('b') };
    const server = spawn(process.execPath, [cli, '--config', serverCfg, '--json', '--log-level', 'error', 'serve', '--addr', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    const url = (JSON.parse(await new Promise<string>((resolve, reject) => {
      createInterface({ input: server.stdout! }).once('line', resolve);
      server.once('exit', (c) => reject(new Error(`dman serve exited with ${c}`)));
    })) as { url: string }).url;

    const cfg = join(dir, 'dman.yaml');
    await writeFile(cfg, `server_url: ${url}\nauth_token: ${tokens.cli}\ndevice: bench\nstate_dir: ${join(dir, 'state-cli')}\nusers:\n  alice:\n    home: ${home}\ntrack:\n  - "**"\n`);
    await chmod(cfg, 0o600);
    const dman = (...args: string[]) => timed(process.execPath, [cli, '--config', cfg, '--quiet', ...args], env);

    // 1. First publish vs sha256sum of the same files (page cache warm for both: sha256sum first reads it in).
    const shaCmd = `find "${home}" -type f -print0 | xargs -0 -n 500 -P 1 sha256sum > /dev/null`;
    timed('sh', ['-c', shaCmd]);
    const shaMs = timed('sh', ['-c', shaCmd]);
    const publishMs = dman('publish');
    rows.push({ figure: `first publish (${(bytes / 1e6).toFixed(0)} MB)`, value: publishMs, peer: 'sha256sum', peerValue: shaMs, unit: 'ms', goal: '≤ 1.5x', met: publishMs <= 1.5 * shaMs });

    // 2. No-op sync vs no-op rsync -a.
    dman('sync');
    const noop: number[] = [];
    for (let i = 0; i < NOOP_RUNS; i++) noop.push(dman('sync'));
    const mirror = join(dir, 'rsync-mirror');
    timed('rsync', ['-a', `${home}/`, `${mirror}/`]);
    const rs: number[] = [];
    for (let i = 0; i < NOOP_RUNS; i++) rs.push(timed('rsync', ['-a', `${home}/`, `${mirror}/`]));
    const noopProbe = spawnSync(process.execPath, [cli, '--config', cfg, '--json', 'sync'], { env, encoding: 'utf8' });
    noopBreakdown = (JSON.parse(noopProbe.stdout) as { users: Array<{ timings: Record<string, number> }> }).users[0]!.timings;
    const noopMs = median(noop);
    const rsyncMs = median(rs);
    rows.push({ figure: 'no-op dman sync (CLI, wall)', value: noopMs, peer: 'rsync -a (no-op)', peerValue: rsyncMs, unit: 'ms', goal: '≤ 2x and < 300 ms', met: noopMs <= 2 * rsyncMs && noopMs < 300 });

    // 3. Save-to-other-machine latency: two watching engines (A on the published home, B on a fresh
    // home that installs it first) through the one server.
    const homeB = join(dir, 'home-b');
    await mkdir(homeB);
    const mk = async (name: 'a' | 'b', h: string) => {
      const config = testConfig(h, { device: name, server_url: url, auth_token: tokens[name], mass_change: { ratio: 1, min_files: 1_000_000 } });
      const engine = createEngine({ config, log: silentLogger(), stateDir: join(dir, `state-${name}`), watcher: createChokidarWatcher(), rescanMs: 0 });
      engines.push(engine);
      await engine.sync({ direction: 'both', yes: true });
      await engine.watch();
      return engine;
    };
    await mk('a', home);
    await mk('b', homeB);
    const probe = '.bench-latency.conf';
    const lat: number[] = [];
    for (let i = 0; i < SAVES; i++) {
      const text = `# save ${i} at ${Date.now()}\n`;
      const t = performance.now();
      await writeFile(join(home, probe), text);
      await until(async () => (await readFile(join(homeB, probe), 'utf8').catch(() => '')) === text, 10_000, `save ${i} to reach B`);
      lat.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 150)); // let both sides settle so saves do not queue behind each other
    }
    const med = median(lat);
    const p95 = pct(lat, 95);
    rows.push({ figure: `save→other machine, median (${SAVES} saves)`, value: med, peer: '-', peerValue: NaN, unit: 'ms', goal: '≤ 150 ms', met: med <= 150 });
    rows.push({ figure: 'save→other machine, p95', value: p95, peer: '-', peerValue: NaN, unit: 'ms', goal: '≤ 300 ms', met: p95 <= 300 });
  } finally {
    await Promise.allSettled(engines.map((e) => e.close()));
    for (const c of children) {
      if (c.exitCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  }

  if (asJson) {
    process.stdout.write(`${JSON.stringify({ files: FILES, rows, noopBreakdown, loadavg: [loadBefore, loadavg()[0]] })}\n`);
    return;
  }
  const f = (n: number) => (Number.isNaN(n) ? '-' : `${n.toFixed(0)} ms`);
  const lines = [
    ['figure', 'dman', 'peer', 'peer figure', 'ratio', 'goal', 'met'],
    ...rows.map((r) => [r.figure, f(r.value), r.peer, f(r.peerValue), Number.isNaN(r.peerValue) ? '-' : `${(r.value / r.peerValue).toFixed(2)}x`, r.goal, r.met ? 'yes' : 'NO']),
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  process.stdout.write(`${lines.map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')}\n`);
  // Where a no-op's time goes inside the engine (the rest of the wall time is process start and module loading).
  process.stdout.write(`no-op inside the engine: ${Object.entries(noopBreakdown ?? {}).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}\n`);
  process.stdout.write(`load average (1 min) before/after: ${loadBefore.toFixed(1)} / ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores\n`);
}

await main();
