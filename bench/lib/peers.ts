// The peers dman is measured against, run on the same tree in the same run: rsync, sha256sum,
// unison (two local replicas) and a pair of syncthing instances on 127.0.0.1. Missing tools are
// installed from Debian's packages; everything started here is stopped by PID.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../tests/setup/services.js';
import type { ChildSet } from './procs.js';
import { treePeakRssMb } from './procs.js';
import { median, percentile, timedRun, until } from './stats.js';

const TOOLS: Array<[cmd: string, pkg: string]> = [['rsync', 'rsync'], ['sha256sum', 'coreutils'], ['unison', 'unison'], ['syncthing', 'syncthing'], ['find', 'findutils']];

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Installs the peer tools that are missing from Debian's packages (apt-cache policy first); throws naming any it could not get. */
export function ensurePeerTools(log: (m: string) => void): Record<string, string> {
  const missing = TOOLS.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
  if (missing.length) {
    const policy = spawnSync('apt-cache', ['policy', ...missing], { encoding: 'utf8' }).stdout;
    if (/Candidate: \(none\)/.test(policy) || !/Candidate:/.test(policy)) {
      log(`apt-get update (no candidate yet for ${missing.join(', ')})`);
      spawnSync('flock', ['/tmp/dman-apt.lock', 'apt-get', 'update', '-qq'], { stdio: 'ignore', timeout: 300_000 });
    }
    log(`installing ${missing.join(', ')} from Debian's packages`);
    const r = spawnSync('flock', ['/tmp/dman-apt.lock', 'apt-get', 'install', '-y', '-qq', ...missing],
      { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
    const still = TOOLS.filter(([cmd]) => !has(cmd)).map(([cmd]) => cmd);
    if (still.length) throw new Error(`the peers ${still.join(', ')} are missing and apt-get install failed: ${r.stderr.slice(0, 1000)}; install them by hand (apt-get install -y ${missing.join(' ')})`);
  }
  const version = (cmd: string, args: string[]) => (spawnSync(cmd, args, { encoding: 'utf8' }).stdout.split('\n')[0] ?? '').trim();
  return {
    rsync: version('rsync', ['--version']),
    sha256sum: version('sha256sum', ['--version']),
    unison: version('unison', ['-version']),
    syncthing: version('syncthing', ['--version']),
  };
}

/** Returns the shell command that hashes every file under `dir` with sha256sum, one process per 500 files. */
export function sha256sumCommand(dir: string): string[] {
  return ['sh', '-c', `find "${dir}" -type f -print0 | xargs -0 -n 500 sha256sum > /dev/null`];
}

/** Creates a unison runner syncing `a` and `b` in batch mode with a fresh archive dir and host name. */
export function createUnison(a: string, b: string, scratch: string): { sync(): number } {
  const home = join(scratch, 'unison-home');
  mkdirSync(join(home, '.unison'), { recursive: true });
  const env = { ...process.env, HOME: home, UNISON: join(home, '.unison'), UNISONLOCALHOSTNAME: `dman-bench-${process.pid}` };
  return {
    sync: () => timedRun('unison', [a, b, '-auto', '-batch', '-times', '-terse', '-ui', 'text'], { env, timeoutMs: 1_800_000 }),
  };
}

interface StNode { child: ChildProcess; api: string; key: string; id: string; home: string; listen: number }

/** A pair of syncthing instances on loopback sharing one folder. */
export interface SyncthingPair {
  /** Shares `dirA` (full) with `dirB` (empty) and returns the ms until B holds all `files` files. */
  initialSync(dirA: string, dirB: string, files: number, timeoutMs: number): Promise<number>;
  /** Saves a small file on A `saves` times and returns each save's ms until B has the same bytes. */
  latency(dirA: string, dirB: string, saves: number): Promise<{ median: number; p95: number; all: number[] }>;
  /** Peak RSS of each instance (its monitor process and the syncthing it runs), MB. */
  rssMb(): number[];
  /** Shuts both down (REST, then SIGTERM by PID). */
  stop(): Promise<void>;
}

async function stGet<T>(n: StNode, path: string): Promise<T> {
  const r = await fetch(`${n.api}${path}`, { headers: { 'X-API-Key': n.key } });
  if (!r.ok) throw new Error(`syncthing GET ${path} answered ${r.status}: ${await r.text()}`);
  return (await r.json()) as T;
}

async function stSend(n: StNode, method: string, path: string, body: unknown): Promise<void> {
  const r = await fetch(`${n.api}${path}`, { method, headers: { 'X-API-Key': n.key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`syncthing ${method} ${path} answered ${r.status}: ${await r.text()}`);
}

/** Rewrites a generated config.xml so that the instance stays on 127.0.0.1 and phones nobody. */
function loopbackOnly(xml: string, listen: number): string {
  const set = (tag: string, value: string) => { xml = xml.replace(new RegExp(`<${tag}>[^<]*</${tag}>`, 'g'), `<${tag}>${value}</${tag}>`); };
  set('listenAddress', `tcp://127.0.0.1:${listen}`);
  for (const t of ['globalAnnounceEnabled', 'localAnnounceEnabled', 'relaysEnabled', 'natEnabled', 'startBrowser', 'crashReportingEnabled', 'restartOnWakeup', 'setLowPriority', 'announceLANAddresses']) set(t, 'false');
  set('urAccepted', '-1');
  set('autoUpgradeIntervalH', '0');
  set('stunKeepaliveStartS', '0');
  set('globalAnnounceServer', '');
  set('stunServer', '');
  return xml;
}

async function startNode(children: ChildSet, home: string, name: string): Promise<StNode> {
  const gui = await freePort();
  const listen = await freePort();
  const key = randomBytes(16).toString('hex');
  const env = { ...process.env, HOME: home, STNODEFAULTFOLDER: '1', STNOUPGRADE: '1', STNORESTART: '1', STNOUSAGEREPORTING: '1' };
  const gen = spawnSync('syncthing', ['generate', `--home=${home}`, '--no-default-folder', '--skip-port-probing'], { env, encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`syncthing generate failed in ${home}: ${gen.stderr}`);
  const cfg = join(home, 'config.xml');
  writeFileSync(cfg, loopbackOnly(readFileSync(cfg, 'utf8'), listen));
  const child = children.spawn('syncthing', ['serve', `--home=${home}`, '--no-browser', '--no-restart', '--no-upgrade',
    `--gui-address=http://127.0.0.1:${gui}`, `--gui-apikey=${key}`, `--logfile=${join(home, `${name}.log`)}`], { env, stdio: 'ignore' });
  const node: StNode = { child, api: `http://127.0.0.1:${gui}`, key, id: '', home, listen };
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`syncthing ${name} exited with ${child.exitCode}; see ${join(home, `${name}.log`)}`);
    return (await fetch(`${node.api}/rest/system/ping`, { headers: { 'X-API-Key': key } }).catch(() => null))?.ok === true;
  }, 30_000, `syncthing ${name} to answer on ${node.api}`, 50);
  node.id = (await stGet<{ myID: string }>(node, '/rest/system/status')).myID;
  return node;
}

/** Starts two syncthing instances on 127.0.0.1 that know each other (no discovery, relays, NAT or usage reports). */
export async function startSyncthingPair(children: ChildSet, scratch: string): Promise<SyncthingPair> {
  const a = await startNode(children, join(scratch, 'st-a'), 'a');
  const b = await startNode(children, join(scratch, 'st-b'), 'b');
  for (const [self, other] of [[a, b], [b, a]] as const) {
    await stSend(self, 'POST', '/rest/config/devices', { deviceID: other.id, name: other === a ? 'a' : 'b', addresses: [`tcp://127.0.0.1:${other.listen}`], autoAcceptFolders: false });
  }
  await until(async () => (await stGet<{ connections: Record<string, { connected: boolean }> }>(a, '/rest/system/connections')).connections[b.id]?.connected === true,
    60_000, 'the two syncthing instances to connect', 100);
  const folder = (path: string) => ({
    id: 'dman-bench', label: 'dman-bench', path, type: 'sendreceive', devices: [{ deviceID: a.id }, { deviceID: b.id }],
    fsWatcherEnabled: true, fsWatcherDelayS: 1, rescanIntervalS: 3600, ignorePerms: false,
  });
  return {
    async initialSync(dirA, dirB, files, timeoutMs) {
      const t = performance.now();
      await stSend(a, 'POST', '/rest/config/folders', folder(dirA));
      await stSend(b, 'POST', '/rest/config/folders', folder(dirB));
      await until(async () => {
        const s = await stGet<{ localFiles: number; globalFiles: number; needFiles: number; state: string }>(b, '/rest/db/status?folder=dman-bench');
        return s.localFiles >= files && s.globalFiles >= files && s.needFiles === 0 && s.state === 'idle';
      }, timeoutMs, `syncthing to copy ${files} files to the other side`, 50);
      return performance.now() - t;
    },
    async latency(dirA, dirB, saves) {
      const all: number[] = [];
      const probe = '.bench-latency-st.conf';
      for (let i = 0; i < saves; i++) {
        const text = `# save ${i} at ${Date.now()}\n`;
        const t = performance.now();
        await writeFile(join(dirA, probe), text);
        await until(async () => (await readFile(join(dirB, probe), 'utf8').catch(() => '')) === text, 30_000, `syncthing save ${i} to reach the other side`, 5);
        all.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 150)); // let both sides settle so a save does not queue behind the last
      }
      return { median: median(all), p95: percentile(all, 95), all };
    },
    rssMb: () => [treePeakRssMb(a.child.pid!), treePeakRssMb(b.child.pid!)],
    async stop() {
      await Promise.allSettled([a, b].map((n) => fetch(`${n.api}/rest/system/shutdown`, { method: 'POST', headers: { 'X-API-Key': n.key } })));
      await Promise.all([a, b].map((n) => children.stop(n.child, 15_000)));
    },
  };
}
