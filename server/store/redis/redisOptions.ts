// Turns the `redis:` config block into ioredis connection options: addr or unix socket,
// ACL user, TLS files read once, bounded timeouts, no offline queue (fail fast when down).
import { readFileSync } from 'node:fs';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { DmanError } from '../../../shared/errors.js';
import type { EffectiveConfig } from '../../../shared/config/schema.js';

/** The `redis:` block after defaults. */
export type RedisBlock = EffectiveConfig['redis'];

/** Timeouts that bound every wait on Redis. */
export interface RedisTimeouts { connectTimeoutMs: number; commandTimeoutMs: number; maxBackoffMs: number }

/** Splits "host:port", "[v6]:port" or "host" (port 6379) into its parts; throws CONFIG_INVALID on garbage. */
export function parseAddr(addr: string, defaultPort: number, key: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(addr.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, ''));
  const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    throw new DmanError('CONFIG_INVALID', `${key} ${JSON.stringify(addr)} is not an address: expected host:port (e.g. 127.0.0.1:${defaultPort})`, { context: { key } });
  }
  return { host: m[1] ?? m[2]!, port };
}

/** Describes where a block points, for error messages (never includes the password). */
export function describeRedisTarget(b: RedisBlock): string {
  if (b.cluster) return `redis cluster ${clusterSeeds(b).map((n) => `${n.host}:${n.port}`).join(',')}${b.tls ? ' (TLS)' : ''}`;
  if (b.socket) return `unix socket ${b.socket}`;
  const { host, port } = parseAddr(b.addr ?? '127.0.0.1:6379', 6379, 'redis.addr');
  return `${b.tls ? 'rediss' : 'redis'}://${host}:${port}/${b.db}`;
}

function readTlsFile(path: string | undefined, key: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new DmanError('CONFIG_INVALID', `Cannot read ${key} ${path}: ${(err as Error).message}`, { hint: `Fix the path in ${key} or make the file readable by the server.`, context: { key, file: path }, cause: err });
  }
}

/** The seed nodes of a cluster block: `addr` then `nodes`, without duplicates. */
export function clusterSeeds(b: RedisBlock): Array<{ host: string; port: number }> {
  const all = [...(b.addr ? [b.addr] : []), ...(b.nodes ?? [])];
  if (all.length === 0) all.push('127.0.0.1:6379');
  const seen = new Set<string>();
  return all.map((a, i) => parseAddr(a, 6379, i === 0 && b.addr ? 'redis.addr' : 'redis.nodes')).filter((n) => {
    const k = `${n.host}:${n.port}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/**
 * Builds ioredis Cluster options from a block with `cluster: true`: the seeds, and per-node options
 * as for a single Redis (ACL user, TLS, timeouts). Refuses what a cluster cannot do (socket, db).
 */
export function redisClusterOptions(b: RedisBlock, t: RedisTimeouts): { seeds: Array<{ host: string; port: number }>; options: ClusterOptions } {
  if (b.socket) throw new DmanError('CONFIG_INVALID', 'redis.cluster is true but redis.socket is set; a Redis Cluster is reached over TCP', { hint: 'Give the seed nodes as redis.addr (and redis.nodes) instead of redis.socket.', context: { key: 'redis.socket' } });
  if (b.db !== 0) throw new DmanError('CONFIG_INVALID', `redis.cluster is true but redis.db is ${b.db}; Redis Cluster has only database 0`, { hint: 'Remove redis.db; dman keeps its keys apart with its key prefix.', context: { key: 'redis.db' } });
  const seeds = clusterSeeds(b);
  const node = redisConnectionOptions({ ...b, cluster: false, nodes: undefined, addr: `${seeds[0]!.host}:${seeds[0]!.port}` }, t);
  const { host: _h, port: _p, db: _db, retryStrategy: _r, enableOfflineQueue: _o, lazyConnect: _l, ...redisOptions } = node;
  if (redisOptions.tls) {
    // One certificate name for every node only when the config names it; otherwise each node's own host.
    if (!b.tls_server_name) delete redisOptions.tls.servername;
  }
  return {
    seeds,
    options: {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      redisOptions,
      slotsRefreshTimeout: t.connectTimeoutMs,
      clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), t.maxBackoffMs),
    },
  };
}

/** Builds ioredis options for one connection from the config block. */
export function redisConnectionOptions(b: RedisBlock, t: RedisTimeouts): RedisOptions {
  const base: RedisOptions = {
    username: b.username,
    password: b.password,
    db: b.db,
    lazyConnect: true,
    connectTimeout: t.connectTimeoutMs,
    commandTimeout: t.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Reconnect forever with capped exponential backoff; callers fail fast meanwhile.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), t.maxBackoffMs),
  };
  if (b.socket) return { ...base, path: b.socket };
  const { host, port } = parseAddr(b.addr ?? '127.0.0.1:6379', 6379, 'redis.addr');
  const opts: RedisOptions = { ...base, host, port };
  if (b.tls) {
    opts.tls = {
      ca: readTlsFile(b.tls_ca, 'redis.tls_ca'),
      cert: readTlsFile(b.tls_cert, 'redis.tls_cert'),
      key: readTlsFile(b.tls_key, 'redis.tls_key'),
      rejectUnauthorized: !b.tls_insecure_skip_verify,
      servername: b.tls_server_name ?? (/^[\d.]+$|:/.test(host) ? undefined : host),
    };
  }
  return opts;
}
