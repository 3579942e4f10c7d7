// Turns the `db:` config block into mysql2 pool options: addr or unix socket, TLS files read
// once (the server name checked against tls_server_name when set), bounded connect and queue.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { format, type PoolOptions } from 'mysql2/promise';
import { DmanError } from '../../../shared/errors.js';
import type { EffectiveConfig } from '../../../shared/config/schema.js';
import { parseAddr } from '../redis/redisOptions.js';

/** The `db:` block after defaults. */
export type DbBlock = EffectiveConfig['db'];

/** Limits that bound every wait on the database. */
export interface MariaDbLimits { connectTimeoutMs: number; connectionLimit: number; queueLimit: number }

/** The database name used when the block names none. */
export const DEFAULT_DATABASE = 'dman';

/** Describes where a block points, for error messages (never includes the password). */
export function describeDbTarget(b: DbBlock): string {
  const db = b.db ?? DEFAULT_DATABASE;
  if (b.socket) return `unix socket ${b.socket} (database ${db})`;
  const { host, port } = parseAddr(b.addr ?? '127.0.0.1:3306', 3306, 'db.addr');
  return `mysql://${b.user ?? 'root'}@${host}:${port}/${db}${b.tls ? ' (TLS)' : ''}`;
}

function readTlsFile(path: string | undefined, key: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new DmanError('CONFIG_INVALID', `Cannot read ${key} ${path}: ${(err as Error).message}`, { hint: `Fix the path in ${key} or make the file readable by the server.`, context: { key, file: path }, cause: err });
  }
}

/**
 * mysql2's `query` formats every statement, with or without values: its formatter walks the whole
 * SQL text for `?` places, skipping quoted strings and comments, in JavaScript. The commit and the
 * blob index send theirs pre-rendered (hex literals, no values) in packets of up to a quarter of
 * max_allowed_packet: that walk was ~230 ms of a 10,000-file first publish's server CPU. A
 * statement with no values goes as it is; one with values is formatted as mysql2 would.
 */
export function formatQuery(sql: string, values?: unknown): string {
  if (values === undefined || values === null || (Array.isArray(values) && values.length === 0)) return sql;
  return format(sql, values as Parameters<typeof format>[1]);
}

/** Builds mysql2 pool options from the config block; `database` null connects without one (to create it). */
export function mariaDbPoolOptions(b: DbBlock, l: MariaDbLimits, database: string | null): PoolOptions {
  const base: PoolOptions = {
    user: b.user ?? 'root',
    password: b.password,
    database: database ?? undefined,
    connectTimeout: l.connectTimeoutMs,
    connectionLimit: l.connectionLimit,
    queueLimit: l.queueLimit,
    waitForConnections: true,
    maxIdle: l.connectionLimit,
    idleTimeout: 60_000,
    enableKeepAlive: true,
    keepAliveInitialDelay: 10_000,
    charset: 'utf8mb4_bin',
    supportBigNumbers: true,
    dateStrings: true,
    // The commit sends its statements as a few multi-statement packets (two round trips while the
    // user's head row is locked). Those packets carry no escaped data: every value is a hex literal.
    multipleStatements: true,
    // No stack trace captured per statement (a few % of a busy server's CPU): every failure is
    // wrapped in a DmanError that names the operation anyway.
    trace: false,
    queryFormat: formatQuery,
  };
  if (b.socket) return { ...base, socketPath: b.socket };
  const { host, port } = parseAddr(b.addr ?? '127.0.0.1:3306', 3306, 'db.addr');
  if (!b.tls) return { ...base, host, port };
  const verify = !b.tls_insecure_skip_verify;
  const opts: PoolOptions = {
    ...base, host, port,
    ssl: {
      ca: readTlsFile(b.tls_ca, 'db.tls_ca'),
      cert: readTlsFile(b.tls_cert, 'db.tls_cert'),
      key: readTlsFile(b.tls_key, 'db.tls_key'),
      rejectUnauthorized: verify,
      verifyIdentity: verify,
    },
  };
  if (b.tls_server_name) {
    // mysql2 checks the certificate against `host`: connect the socket ourselves and name the
    // expected server in `host`, so tls_server_name is what the certificate must match.
    return { ...opts, host: b.tls_server_name, stream: () => connect({ host, port }) };
  }
  return opts;
}
