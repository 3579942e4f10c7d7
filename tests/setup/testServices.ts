// Worker-side access to the services of the global setup, plus per-test isolation helpers:
// every test gets its own Redis key prefix or MariaDB database, so files run in parallel.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';
import type { MariaDbFacts, RedisClusterFacts, RedisFacts, ServiceName, TlsFiles } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext { dmanServices: string }
}


/** Asks the global setup for a service, starting it on first use. */
export async function getService(name: 'redis' | 'redis-socket' | 'redis-tls'): Promise<RedisFacts>;
export async function getService(name: 'redis-cluster'): Promise<RedisClusterFacts>;
export async function getService(name: 'mariadb' | 'mariadb-socket' | 'mariadb-tls'): Promise<MariaDbFacts>;
export async function getService(name: ServiceName): Promise<RedisFacts | RedisClusterFacts | MariaDbFacts> {
  const res = await fetch(`${inject('dmanServices')}/${name}`);
  if (!res.ok) throw new Error(`test service ${name} could not start: ${await res.text()}`);
  return (await res.json()) as RedisFacts | RedisClusterFacts | MariaDbFacts;
}

/** Returns a short random id for key prefixes and database names. */
export function uniqueId(): string {
  return randomBytes(6).toString('hex');
}

/** Which way a test connects to a database. */
export type Transport = 'tcp' | 'socket' | 'tls';

/** Builds the `redis:` config block for facts over one transport. */
export function redisBlock(f: RedisFacts, via: Transport): Record<string, unknown> {
  if (via === 'socket') {
    if (!f.socket) throw new Error('this Redis has no unix socket');
    return { socket: f.socket, db: 0, tls: false, tls_insecure_skip_verify: false };
  }
  return {
    addr: `${f.host}:${f.port}`, username: f.username, password: f.password, db: 0,
    ...(via === 'tls' ? tlsBlock(f.tls) : { tls: false, tls_insecure_skip_verify: false }),
  };
}

/** Builds the `db:` config block for facts over one transport, naming database `db`. */
export function mariaDbBlock(f: MariaDbFacts, via: Transport, db: string): Record<string, unknown> {
  const auth = { user: f.user, password: f.password, db };
  if (via === 'socket') {
    if (!f.socket) throw new Error('this MariaDB has no unix socket');
    return { socket: f.socket, ...auth, tls: false, tls_insecure_skip_verify: false };
  }
  return { addr: `${f.host}:${f.port}`, ...auth, ...(via === 'tls' ? tlsBlock(f.tls) : { tls: false, tls_insecure_skip_verify: false }) };
}

function tlsBlock(t: TlsFiles | undefined): Record<string, unknown> {
  if (!t) throw new Error('this instance was not started with TLS');
  return { tls: true, tls_ca: t.ca, tls_cert: t.cert, tls_key: t.key, tls_server_name: t.serverName, tls_insecure_skip_verify: false };
}

/** Reads the CA of a TLS instance (for tests that talk to it directly). */
export function readCa(t: TlsFiles): Buffer {
  return readFileSync(t.ca);
}
