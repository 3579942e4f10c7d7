// dman as a bench drives it: the bundled CLI (`node bin/dman.js`), a `dman serve` child per
// storage driver (with its throwaway Redis or MariaDB), tokens and client configs.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startMariaDb, startRedis, type Instance } from '../../tests/setup/services.js';
import type { ChildSet } from './procs.js';
import { median } from './stats.js';

/** The storage drivers a bench can run dman on. */
export type Driver = 'disk' | 'redis' | 'mariadb';

/** A running `dman serve` with the database behind it. */
export interface DmanServer {
  url: string;
  child: ChildProcess;
  configPath: string;
  /** Device tokens for the user, by device name (made with `dman token create` before the server starts: the disk driver locks its data dir). */
  tokens: Record<string, string>;
  /** Stops the server, then its database, and keeps nothing. */
  stop(): Promise<void>;
}

/** Builds dist/cli.js (the bundle `bin/dman.js` runs) so that the bench measures the committed code. */
export function buildCli(root: string): void {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  if (b.status !== 0) throw new Error(`npm run build (cli) failed: ${b.stderr || b.stdout}`);
}

/**
 * Settings of the machine the bench runs on that slow every Node process down before its first
 * line runs, which a user's shell does not have and dman does not need against the bench's
 * loopback server (plain HTTP). NODE_EXTRA_CA_CERTS makes Node 20 read and parse the CA bundle it
 * names at start-up: with the system bundle (as on the build machines, for their npm proxy) a bare
 * `node -e 0` took 51 ms instead of 19 ms, 30 ms more on every one-shot `dman` than on a machine
 * without it. The bench prints what it costs here (nodeStartupMs) and runs dman without it.
 */
export const MACHINE_NODE_VARS = ['NODE_EXTRA_CA_CERTS'] as const;

/** `env` without MACHINE_NODE_VARS. */
export function withoutMachineNodeVars(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of MACHINE_NODE_VARS) delete out[k];
  return out;
}

/** Returns the environment the CLI runs in: a private HOME and XDG dirs under `dir`, no inherited dman settings, none of MACHINE_NODE_VARS. */
export function cliEnv(dir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...withoutMachineNodeVars(base), HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), XDG_DATA_HOME: join(dir, 'share'), XDG_STATE_HOME: join(dir, 'state'), DMAN_CONFIG: '', DMAN_AUTH_TOKEN: '', NO_COLOR: '1' };
}

/**
 * A bare Node start (`node -e 0`, median of `runs` after one warm-up) with the bench's own
 * environment and with the one dman runs in: what MACHINE_NODE_VARS cost on this machine.
 */
export function nodeStartupMs(runs = 7): { inherited: number; dman: number; dropped: string[] } {
  const time = (env: NodeJS.ProcessEnv): number => {
    const xs: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`node -e 0 exited with ${r.status}`);
      xs.push(performance.now() - t);
    }
    return median(xs.slice(1));
  };
  return { inherited: time(process.env), dman: time(withoutMachineNodeVars(process.env)), dropped: MACHINE_NODE_VARS.filter((k) => process.env[k] !== undefined) };
}

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o600);
}

/** Starts `dman serve` on 127.0.0.1 (any port) with `driver`, starting a throwaway Redis or MariaDB first. */
export async function startDmanServer(opts: {
  cli: string; dir: string; driver: Driver; user: string; home: string; devices: string[]; children: ChildSet;
  /** More users with the same home, and their devices: their tokens are keyed "user/device". */
  others?: Record<string, string[]>;
}): Promise<DmanServer> {
  const { cli, dir, driver, children } = opts;
  mkdirSync(dir, { recursive: true });
  const env = cliEnv(dir);
  let db: Instance<{ host: string; port: number }> | null = null;
  let storage = `storage_driver: disk\ndata_dir: ${join(dir, 'data')}\n`;
  if (driver === 'redis') {
    db = await startRedis();
    storage = `storage_driver: redis\nredis:\n  addr: 127.0.0.1:${db.facts.port}\n  db: 0\n`;
  } else if (driver === 'mariadb') {
    db = await startMariaDb();
    storage = `storage_driver: mariadb\ndb:\n  addr: 127.0.0.1:${db.facts.port}\n  user: root\n  db: dman_bench\n`;
  }
  const configPath = join(dir, 'server.yaml');
  const others = opts.others ?? {};
  writePrivate(configPath, `${storage}retention:\n  versions: 5\nusers:\n${[opts.user, ...Object.keys(others)].map((u) => `  ${u}:\n    home: ${opts.home}\n`).join('')}`);
  const token = (device: string, user = opts.user): string => {
    const r = spawnSync(process.execPath, [cli, '--config', configPath, '--json', 'token', 'create', '--user', user, '--device', device], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`dman token create (${driver}) exited with ${r.status}: ${r.stderr || r.stdout}`);
    return (JSON.parse(r.stdout) as { token: string }).token;
  };
  let tokens: Record<string, string>;
  try {
    tokens = Object.fromEntries([...opts.devices.map((d) => [d, token(d)]), ...Object.entries(others).flatMap(([u, ds]) => ds.map((d) => [`${u}/${d}`, token(d, u)]))]);
  } catch (err) {
    await db?.stop();
    throw err;
  }
  const child = children.spawn(process.execPath, [cli, '--config', configPath, '--json', '--log-level', 'error', 'serve', '--addr', '127.0.0.1:0'],
    { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let url: string;
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`dman serve (${driver}) printed no address within 60 s`)), 60_000);
      createInterface({ input: child.stdout! }).once('line', (l) => { clearTimeout(t); resolve(l); });
      child.once('exit', (c) => { clearTimeout(t); reject(new Error(`dman serve (${driver}) exited with ${c} before listening`)); });
    });
    url = (JSON.parse(line) as { url: string }).url;
  } catch (err) {
    await children.stop(child);
    await db?.stop();
    throw err;
  }
  return {
    url,
    child,
    configPath,
    tokens,
    async stop() {
      await children.stop(child);
      await db?.stop();
    },
  };
}

/** Writes a client dman.yaml for `user` with `home`, tracking everything, and returns its path. */
export function writeClientConfig(opts: { dir: string; name: string; url: string; token: string; user: string; home: string }): string {
  const path = join(opts.dir, `${opts.name}.yaml`);
  writePrivate(path, [
    `server_url: ${opts.url}`, `auth_token: ${opts.token}`, `device: ${opts.name}`, `state_dir: ${join(opts.dir, `state-${opts.name}`)}`,
    'conflict_policy: keep-both', 'mass_change:', '  ratio: 1', '  min_files: 1000000',
    'users:', `  ${opts.user}:`, `    home: ${opts.home}`, 'track:', '  - "**"', '',
  ].join('\n'));
  return path;
}
