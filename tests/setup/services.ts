// Throwaway Redis and MariaDB instances for tests and benchmarks: each in its own temp dir on a
// random port, with a unix socket, optional TLS, stopped by PID (never by name).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The services the global setup serves to workers. */
export const serviceNames = ['redis', 'redis-socket', 'redis-tls', 'redis-cluster', 'mariadb', 'mariadb-socket', 'mariadb-tls'] as const;
export type ServiceName = (typeof serviceNames)[number];

/** Connection facts of a Redis a test may use (JSON-serialisable: crosses from the global setup to workers). */
export interface RedisFacts {
  host: string;
  port: number;
  socket?: string;
  password?: string;
  username?: string;
  /** Present for a TLS instance: the files the client needs. */
  tls?: TlsFiles;
}

/** Connection facts of a throwaway Redis Cluster: its masters, all on `host`. */
export interface RedisClusterFacts {
  host: string;
  /** One port per master (the cluster bus is port + 10000). */
  ports: number[];
}

/** Connection facts of a MariaDB a test may use; tests create their own databases in it. */
export interface MariaDbFacts {
  host: string;
  port: number;
  socket?: string;
  user: string;
  password?: string;
  tls?: TlsFiles;
}

/** Paths of a throwaway CA and the server/client certificates signed by it. */
export interface TlsFiles { ca: string; cert: string; key: string; serverName: string }

/** A throwaway database process that the caller stops (and may kill and restart, for fault tests). */
export interface Instance<F> {
  facts: F;
  dir: string;
  /** Stops gracefully and removes the temp dir. */
  stop(): Promise<void>;
  /** SIGKILLs the process (data dir kept) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts the process again on the same port, socket and data dir, and waits until it answers. */
  restart(): Promise<void>;
  /** Starts the process again only when it is not running (a failed fault test must not break the next). */
  ensureRunning(): Promise<void>;
}

/** Finds a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function hasCommand(cmd: string): Promise<boolean> {
  try { await run('sh', ['-c', `command -v ${cmd}`]); return true; } catch { return false; }
}

/** Installs a Debian package when `cmd` is missing (serialised by flock so parallel workers do not collide). */
export async function ensureCommand(cmd: string, pkg: string): Promise<void> {
  if (await hasCommand(cmd)) return;
  await run('flock', ['/tmp/dman-apt.lock', 'sh', '-c',
    `command -v ${cmd} >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkg} >/dev/null; }`],
  { timeout: 300_000 });
  if (!(await hasCommand(cmd))) throw new Error(`${cmd} is missing and installing the Debian package ${pkg} did not provide it`);
}

async function waitFor(what: string, probe: () => Promise<boolean>, child: ChildProcess, timeoutMs: number, logFile: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} during start-up; see ${logFile}`);
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not answer within ${timeoutMs} ms; see ${logFile}`);
}

function isRunning(child: ChildProcess | null): boolean {
  return child !== null && child.exitCode === null && child.signalCode === null;
}

async function stopChild(child: ChildProcess | null, signal: NodeJS.Signals, timeoutMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(t);
}

/** Generates a CA and a certificate for 127.0.0.1/localhost (used as both server and client cert). */
export async function makeTlsFiles(dir: string): Promise<TlsFiles> {
  await ensureCommand('openssl', 'openssl');
  const ca = join(dir, 'ca.pem'), caKey = join(dir, 'ca.key'), key = join(dir, 'cert.key'), csr = join(dir, 'cert.csr'), cert = join(dir, 'cert.pem');
  const ext = join(dir, 'ext.cnf');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=dman test CA', '-keyout', caKey, '-out', ca]);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', csr]);
  await run('sh', ['-c', `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > '${ext}'`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]);
  return { ca, cert, key, serverName: 'localhost' };
}

/** Starts a throwaway redis-server; `persistent` turns on appendonly with fsync always (for kill/restart tests). */
export async function startRedis(opts: { tls?: boolean; persistent?: boolean } = {}): Promise<Instance<RedisFacts>> {
  await ensureCommand('redis-server', 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'rds.'));
  const port = await freePort();
  const socket = join(dir, 'redis.sock');
  const tls = opts.tls ? await makeTlsFiles(dir) : undefined;
  const args = ['--bind', '127.0.0.1', '--save', '', '--dir', dir, '--logfile', join(dir, 'redis.log'),
    '--unixsocket', socket, '--unixsocketperm', '700', '--daemonize', 'no'];
  if (opts.persistent) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  if (tls) args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'optional');
  else args.push('--port', String(port));
  let child: ChildProcess | null = null;
  const probeArgs = ['-s', socket, 'ping'];
  const start = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    const c = child;
    writeFileSync(join(dir, 'server.pid'), String(c.pid));
    await waitFor('redis-server', async () => {
      try { return (await run('redis-cli', probeArgs)).stdout.trim() === 'PONG'; } catch { return false; }
    }, c, 15_000, join(dir, 'redis.log'));
  };
  await start();
  return {
    facts: { host: '127.0.0.1', port, socket, tls },
    dir,
    async stop() { await stopChild(child, 'SIGTERM'); rmSync(dir, { recursive: true, force: true }); },
    async kill() { await stopChild(child, 'SIGKILL'); },
    async restart() { await stopChild(child, 'SIGKILL'); await start(); },
    async ensureRunning() { if (!isRunning(child)) await start(); },
  };
}

/**
 * Starts a throwaway Redis Cluster of `masters` masters (no replicas) in one temp dir: one
 * redis-server per master with --cluster-enabled on a random port, joined by
 * `redis-cli --cluster create`, ready once every node reports cluster_state:ok.
 */
export async function startRedisCluster(opts: { masters?: number } = {}): Promise<Instance<RedisClusterFacts> & { killNode(i: number): Promise<void> }> {
  await ensureCommand('redis-server', 'redis-server');
  const masters = opts.masters ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'rds.'));
  const ports: number[] = [];
  // The cluster bus listens on port + 10000, so a port is only usable when that one is free too.
  while (ports.length < masters) {
    const p = await freePort();
    if (p + 10000 > 65535 || ports.includes(p)) continue;
    if (await isPortFree(p + 10000)) ports.push(p);
  }
  const children: Array<ChildProcess | null> = ports.map(() => null);
  const nodeDir = (i: number) => join(dir, `node${i}`);
  const startNode = async (i: number) => {
    const d = nodeDir(i);
    mkdirSync(d, { recursive: true });
    const log = join(d, 'redis.log');
    const c = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(ports[i]), '--dir', d, '--logfile', log, '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(d, 'nodes.conf'), '--cluster-node-timeout', '5000', '--daemonize', 'no'], { stdio: 'ignore' });
    children[i] = c;
    writeFileSync(join(d, 'server.pid'), String(c.pid));
    // sweepStaleInstanceDirs looks at the top-level pid file: node 0 stands for the cluster.
    if (i === 0) writeFileSync(join(dir, 'server.pid'), String(c.pid));
    await waitFor(`redis-server (cluster node ${i})`, async () => {
      try { return (await run('redis-cli', ['-p', String(ports[i]), 'ping'])).stdout.trim() === 'PONG'; } catch { return false; }
    }, c, 15_000, log);
  };
  const allOk = async () => {
    for (const p of ports) {
      try {
        if (!/cluster_state:ok/.test((await run('redis-cli', ['-p', String(p), 'cluster', 'info'])).stdout)) return false;
      } catch { return false; }
    }
    return true;
  };
  const waitOk = async () => {
    const until = Date.now() + 30_000;
    while (!(await allOk())) {
      if (Date.now() > until) throw new Error(`the Redis Cluster in ${dir} did not reach cluster_state:ok within 30 s; see ${dir}/node*/redis.log`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stopAll = async (signal: NodeJS.Signals) => { await Promise.all(children.map((c) => stopChild(c, signal))); };
  try {
    await Promise.all(ports.map((_, i) => startNode(i)));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
    await waitOk();
  } catch (err) {
    await stopAll('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    facts: { host: '127.0.0.1', ports },
    dir,
    async stop() { await stopAll('SIGTERM'); rmSync(dir, { recursive: true, force: true }); },
    async kill() { await stopAll('SIGKILL'); },
    /** SIGKILLs one node (its dir and nodes.conf stay); ensureRunning() brings it back. */
    async killNode(i: number) { await stopChild(children[i] ?? null, 'SIGKILL'); },
    async restart() { await stopAll('SIGKILL'); await Promise.all(ports.map((_, i) => startNode(i))); await waitOk(); },
    async ensureRunning() {
      const down = children.map((c, i) => (isRunning(c) ? -1 : i)).filter((i) => i >= 0);
      if (down.length === 0) return;
      await Promise.all(down.map((i) => startNode(i)));
      await waitOk();
    },
  };
}

async function isPortFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Starts a throwaway MariaDB (root, empty password) with a 64 MiB max_allowed_packet. */
export async function startMariaDb(opts: { tls?: boolean } = {}): Promise<Instance<MariaDbFacts>> {
  await ensureCommand('mariadbd', 'mariadb-server');
  const dir = mkdtempSync(join(tmpdir(), 'mdb.'));
  const port = await freePort();
  const socket = join(dir, 'mysqld.sock');
  const data = join(dir, 'data');
  const tls = opts.tls ? await makeTlsFiles(dir) : undefined;
  await run('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { timeout: 120_000 });
  const errLog = join(dir, 'err.log');
  const args = ['--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${socket}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`, `--log-error=${errLog}`, '--user=root', '--skip-log-bin',
    '--innodb-buffer-pool-size=64M', '--max-allowed-packet=64M', '--max-connections=500', '--skip-name-resolve',
    // Tests create and drop a database per test: keep DDL off the fsync path. A log flushed to the
    // OS at each commit still survives the process being killed, which is what the fault tests do.
    '--innodb-file-per-table=0', '--innodb-flush-log-at-trx-commit=2', '--innodb-doublewrite=0', '--innodb-flush-method=nosync'];
  if (tls) args.push(`--ssl-ca=${tls.ca}`, `--ssl-cert=${tls.cert}`, `--ssl-key=${tls.key}`);
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn('mariadbd', args, { stdio: 'ignore' });
    const c = child;
    writeFileSync(join(dir, 'server.pid'), String(c.pid));
    await waitFor('mariadbd', async () => {
      if (!existsSync(socket)) return false;
      try { await run('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '-uroot', 'ping']); return true; } catch { return false; }
    }, c, 60_000, errLog);
  };
  await start();
  return {
    facts: { host: '127.0.0.1', port, socket, user: 'root', tls },
    dir,
    async stop() { await stopChild(child, 'SIGTERM', 20_000); rmSync(dir, { recursive: true, force: true }); },
    async kill() { await stopChild(child, 'SIGKILL'); },
    async restart() { await stopChild(child, 'SIGKILL'); await start(); },
    async ensureRunning() { if (!isRunning(child)) await start(); },
  };
}

/**
 * Removes temp dirs of throwaway instances whose test run died before its teardown: older than
 * `minAgeMs` and without a live server process. Never touches a live instance (or kills anything).
 */
export function sweepStaleInstanceDirs(minAgeMs = 30 * 60_000): number {
  let removed = 0;
  for (const name of readdirSync(tmpdir())) {
    if (!/^(rds|mdb)\.[A-Za-z0-9]{6}$/.test(name)) continue;
    const dir = join(tmpdir(), name);
    try {
      if (Date.now() - statSync(dir).mtimeMs < minAgeMs) continue;
      const pidFile = join(dir, 'server.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8'));
        try { process.kill(pid, 0); continue; } catch { /* not running */ }
      }
      rmSync(dir, { recursive: true, force: true });
      removed++;
    } catch {}
  }
  return removed;
}

/** Parses DMAN_TEST_REDIS_URL (redis://[user:pass@]host:port or rediss://…) into facts. */
export function redisFactsFromUrl(url: string): RedisFacts {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1', port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

/** Parses DMAN_TEST_MARIADB_URL (mysql://user[:pass]@host:port[/db]) into facts. */
export function mariaDbFactsFromUrl(url: string): MariaDbFacts {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1', port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || 'root'),
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}
