// Turns the `redis:` config block into ioredis connection options: addr or unix socket,
// ACL user, TLS files read once, bounded timeouts, no offline queue (fail fast when down).
import { readFileSync } from 'node:fs';
import type { RedisOptions } from 'ioredis';
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
