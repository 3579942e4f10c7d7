// The MariaDB/MySQL driver of the Store port (mysql2). One pool with prepared statements and
// bounded waits; schema migrations at open under GET_LOCK; a commit is one transaction that
// locks the user's head row, checks every baseRev and writes all or nothing, in two
// multi-statement packets (reads, then writes and COMMIT) whose values are hex literals; blobs are rows of
// chunks below max_allowed_packet, published only once their hash verifies; other servers'
// commits are noticed by polling the head revs while anyone listens.
import { createHash } from 'node:crypto';
import { v7 as timeOrderedId } from 'uuid';
import { Readable } from 'node:stream';
import { createPool, type Pool, type PoolConnection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../../../engine/log.js';
import { silentLogger } from '../../../engine/log.js';
import { DmanError, isDmanError } from '../../../shared/errors.js';
import { entrySchema, tokenInfoSchema, type CommitConflict, type Entry } from '../../../shared/protocol.js';
import { consumeVerified, createChunker, receiveHeldOrChunked, uploadInGroups, type ReceiveState } from '../blobStream.js';
import { assertHash, assertSameBatch, assertUserName, batchDigest, blobsNamedBy, entryFromOp, findConflicts, missingBlobsError, validateCommit, versionsToDrop, revokedToken } from '../commitRules.js';
import { BLOB_GC_GRACE_MS, GET_BLOBS_INLINE_BYTES } from '../Store.js';
import type {
  BlobUpload, PutBlobResult, AuditQuery, GcOptions, AuditRecord, ChangesPage, CommitInput, CommitOutcome, RetentionPolicy, RetentionScope, Store, StoreHealth, TokenRecord, Unsubscribe, UserStats,
} from '../Store.js';
import { DEFAULT_DATABASE, describeDbTarget, mariaDbPoolOptions, type DbBlock } from './mariaDbOptions.js';
import { SCHEMA_VERSION, migrations } from './migrations.js';

type Conn = PoolConnection;
type Param = string | number | Buffer | null;

/** Idempotency records older than this are dropped by gcBlobs. */
const IDEMPOTENCY_TTL_MS = 7 * 86_400_000;
/** Uploads that never finished are removed by gcBlobs after this long. */
const UPLOAD_TTL_MS = 3_600_000;
/** Bytes of small blobs putBlobs holds in memory before writing them in one transaction. */
const HELD_BYTES = 8 * 1024 * 1024;
/** Blobs in one putBlobs transaction. */
const HELD_COUNT = 2000;
/** Largest row count of one prepared multi-row chunk INSERT (counts are powers of two, so few statements are prepared). */
const CHUNK_ROWS = 256;

/** Rows per multi-row statement (well under the 65,535 placeholders of a prepared statement). */
const ROWS_PER_STATEMENT = 500;
/** How long, and for how many paths, a commit's version counts are kept for the retention pass after it. */
const HISTORY_MEMO_MS = 10_000;
const HISTORY_MEMO_MAX = 50_000;
/** MySQL error numbers after which the whole transaction may simply be retried. */
const RETRY_TXN_ERRNOS = new Set([1213 /* deadlock */, 1205 /* lock wait timeout */]);
/** Error codes that mean the connection (not the statement) failed. */
const CONNECTION_ERRORS = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOENT|EHOSTUNREACH|ENETUNREACH|PROTOCOL_CONNECTION_LOST|PROTOCOL_SEQUENCE_TIMEOUT|PROTOCOL_PACKETS_OUT_OF_ORDER|ER_CON_COUNT_ERROR|ER_SERVER_SHUTDOWN|ER_CONNECTION_KILLED|ER_QUERY_INTERRUPTED|ERR_SSL.*|EPROTO|ER_LOCK_WAIT_TIMEOUT|ER_LOCK_DEADLOCK|ER_ACCESS_DENIED_ERROR|ER_DBACCESS_DENIED_ERROR|ER_BAD_DB_ERROR|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|ERR_TLS_CERT_ALTNAME_INVALID|HANDSHAKE_.*)$/;

/** Options of the MariaDB driver; the limits have production defaults that tests shorten. */
export interface MariaDbStoreOptions {
  db: DbBlock;
  log?: Logger;
  connectTimeoutMs?: number;
  /** Longest wait for a free pooled connection before failing with STORE_UNAVAILABLE. */
  acquireTimeoutMs?: number;
  /** Longest a single statement may take. */
  queryTimeoutMs?: number;
  connectionLimit?: number;
  queueLimit?: number;
  /** How often other servers' commits are looked for while anyone subscribes (ms). */
  pollMs?: number;
  /** Largest blob chunk; the driver also keeps chunks under a quarter of max_allowed_packet. */
  blobChunkBytes?: number;
}

/** Stores dman's data in MariaDB or MySQL; several server processes may share one database. */
export class MariaDbStore implements Store {
  readonly driver = 'mariadb' as const;
  private readonly opts: MariaDbStoreOptions;
  private readonly log: Logger;
  private readonly target: string;
  private readonly database: string;
  private pool: Pool | null = null;
  private chunkBytes = 1024 * 1024;
  private maxAllowedPacket = 0;
  private serverVersion = '';
  private readonly listeners = new Map<string, Set<(user: string, rev: number) => void>>();
  private readonly lastNotified = new Map<string, number>();
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
  /**
   * Version counts of paths this process just committed ("user\0path key hex" -> count and until
   * when it may be used), read under the commit's lock. Commits of one user are serialised, so
   * the last committer of a path counted every version it has; a retention pass soon after that
   * commit skips the paths too short to trim. Counts are used once and for a few seconds only.
   */
  private readonly histories = new Map<string, { n: number; until: number }>();

  constructor(opts: MariaDbStoreOptions) {
    this.opts = opts;
    this.log = (opts.log ?? silentLogger()).child({ mod: 'store.mariadb' });
    this.target = describeDbTarget(opts.db);
    this.database = opts.db.db ?? DEFAULT_DATABASE;
  }

  // ---- lifecycle

  async open(): Promise<void> {
    if (!/^[A-Za-z0-9_$-]{1,64}$/.test(this.database)) {
      throw new DmanError('CONFIG_INVALID', `db.db ${JSON.stringify(this.database)} is not a usable database name: use 1-64 letters, digits, "_", "$" or "-"`, { context: { key: 'db.db' } });
    }
    const limits = { connectTimeoutMs: this.opts.connectTimeoutMs ?? 5000, connectionLimit: this.opts.connectionLimit ?? 10, queueLimit: this.opts.queueLimit ?? 1000 };
    try {
      await this.ensureDatabase(limits);
      this.pool = createPool(mariaDbPoolOptions(this.opts.db, limits, this.database));
      // The pool drops connections that fail; this only keeps the failure in the log.
      this.pool.on('connection', (c) => c.on('error', (err: Error) => this.log.debug({ err: err.message }, 'mariadb connection closed')));
      const [[vars]] = await this.rows<RowDataPacket>(null, 'SELECT @@max_allowed_packet AS packet, VERSION() AS version', []);
      this.maxAllowedPacket = Number(vars!.packet);
      this.serverVersion = String(vars!.version);
      this.chunkBytes = Math.max(16 * 1024, Math.min(this.opts.blobChunkBytes ?? 1024 * 1024, Math.floor(this.maxAllowedPacket / 4)));
      await this.migrate();
    } catch (err) {
      await this.close();
      if (isDmanError(err) && err.code !== 'STORE_UNAVAILABLE') throw err;
      const cause = isDmanError(err) && err.cause !== undefined ? err.cause : err;
      throw new DmanError('STORE_UNAVAILABLE', `Cannot open the MariaDB store at ${this.target}: ${describeCause(cause)}`, {
        hint: 'Check that MariaDB/MySQL is running and that db.addr/db.socket, db.user, db.password, db.db and the TLS settings in the config are right.',
        context: { driver: 'mariadb', url: this.target }, cause,
      });
    }
  }

  /** Creates the database when it is missing (best effort: a user without CREATE rights gets a clear error later). */
  private async ensureDatabase(limits: { connectTimeoutMs: number; connectionLimit: number; queueLimit: number }): Promise<void> {
    const admin = createPool(mariaDbPoolOptions(this.opts.db, { ...limits, connectionLimit: 1 }, null));
    try {
      await admin.query(`CREATE DATABASE IF NOT EXISTS \`${this.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!/DENIED/.test(code)) throw err;
    } finally {
      await admin.end().catch(() => undefined);
    }
  }

  /** Applies pending migrations under a named lock so servers starting together migrate once. */
  private async migrate(): Promise<void> {
    const conn = await this.acquire();
    const lock = `dman_migrate_${this.database}`.slice(0, 64);
    try {
      const [[got]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 30) AS ok', [lock]);
      if (Number(got!.ok) !== 1) throw new DmanError('STORE_UNAVAILABLE', `Timed out after 30 s waiting for the migration lock ${lock} on ${this.target}; another server may be stuck migrating`, { context: { driver: 'mariadb', url: this.target } });
      try {
        await conn.query(`CREATE TABLE IF NOT EXISTS dman_schema (id TINYINT NOT NULL PRIMARY KEY, version INT NOT NULL, updated_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
        const [rows] = await conn.query<RowDataPacket[]>('SELECT version FROM dman_schema WHERE id = 1');
        const current = rows.length === 0 ? 0 : Number(rows[0]!.version);
        if (current > SCHEMA_VERSION) {
          throw new DmanError('SCHEMA_TOO_NEW', `The database ${this.target} has dman schema version ${current}, newer than this server understands (${SCHEMA_VERSION})`, {
            hint: 'Upgrade this dman server to the version the other servers run; it refuses to touch a newer schema.',
            context: { driver: 'mariadb', url: this.target, schema: current, supported: SCHEMA_VERSION },
          });
        }
        for (const m of migrations) {
          if (m.version <= current) continue;
          for (const sql of m.statements) {
            try {
              await conn.query(sql);
            } catch (err) {
              // DDL is not transactional: a server that died mid-migration left this column already added.
              if ((err as { errno?: number }).errno !== 1060 /* ER_DUP_FIELDNAME */) throw err;
            }
          }
          await conn.query('INSERT INTO dman_schema (id, version, updated_at) VALUES (1, ?, ?) ON DUPLICATE KEY UPDATE version = VALUES(version), updated_at = VALUES(updated_at)', [m.version, Date.now()]);
          this.log.info({ version: m.version, target: this.target }, 'mariadb schema migrated');
        }
      } finally {
        await conn.query('SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
      }
    } finally {
      conn.release();
    }
  }

  async close(): Promise<void> {
    this.stopPolling();
    this.listeners.clear();
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.end().catch(() => undefined);
  }

  async health(): Promise<StoreHealth> {
    const started = performance.now();
    const details: Record<string, unknown> = { target: this.target, serverVersion: this.serverVersion, schemaVersion: SCHEMA_VERSION, maxAllowedPacket: this.maxAllowedPacket, pool: this.poolStats() };
    try {
      await this.rows(null, 'SELECT 1', []);
      return { ok: true, latencyMs: performance.now() - started, details, warnings: [] };
    } catch (err) {
      return { ok: false, latencyMs: performance.now() - started, error: this.toStoreError(err, 'ping').message, details, warnings: [] };
    }
  }

  /** Counts the pool's connections (all, idle, waiting callers): how tests prove nothing leaks. */
  poolStats(): { all: number; free: number; queued: number } {
    const p = this.pool as unknown as { pool?: { _allConnections?: { length: number }; _freeConnections?: { length: number }; _connectionQueue?: { length: number } } } | null;
    const inner = p?.pool;
    return { all: inner?._allConnections?.length ?? 0, free: inner?._freeConnections?.length ?? 0, queued: inner?._connectionQueue?.length ?? 0 };
  }

  // ---- plumbing

  private unavailable(message: string, cause?: unknown): DmanError {
    return new DmanError('STORE_UNAVAILABLE', message, {
      hint: 'Retry shortly; if it persists, check that MariaDB is running and reachable.',
      context: { driver: 'mariadb', url: this.target }, cause,
    });
  }

  /** Maps a driver error to DmanError: connection trouble is STORE_UNAVAILABLE (retryable). */
  private toStoreError(err: unknown, what: string): DmanError {
    if (isDmanError(err)) return err;
    if (isConnectionError(err)) return this.unavailable(`MariaDB at ${this.target} is unavailable (${what}): ${describeCause(err)}`, err);
    return new DmanError('INTERNAL', `MariaDB at ${this.target} failed ${what}: ${describeCause(err)}`, { context: { driver: 'mariadb', url: this.target }, cause: err });
  }

  /** Takes a pooled connection, waiting at most acquireTimeoutMs. */
  private async acquire(): Promise<Conn> {
    const pool = this.pool;
    if (!pool) throw this.unavailable(`The MariaDB store (${this.target}) is not open`);
    const ms = this.opts.acquireTimeoutMs ?? 10_000;
    const pending = pool.getConnection().catch((err: unknown) => { throw this.toStoreError(err, 'connect'); });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.unavailable(`No MariaDB connection to ${this.target} became free within ${ms} ms (pool ${JSON.stringify(this.poolStats())})`)), ms);
    });
    try {
      return await Promise.race([pending, timeout]);
    } catch (err) {
      // A connection that arrives after we gave up goes straight back to the pool.
      pending.then((c) => c.release(), () => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Returns a connection to the pool, or destroys it when it failed at the connection level. */
  private done(conn: Conn, err?: unknown): void {
    if (err !== undefined && isConnectionError(err)) conn.destroy();
    else conn.release();
  }

  private async exec<T extends RowDataPacket[] | ResultSetHeader>(conn: Conn, sql: string, params: Param[]): Promise<T> {
    const [res] = await conn.execute<T>({ sql, timeout: this.opts.queryTimeoutMs ?? 15_000 }, params);
    return res;
  }

  /** Runs one statement, on `conn` or on a pooled connection; a read on a connection that died idle is retried once. */
  private async rows<T extends RowDataPacket>(conn: Conn | null, sql: string, params: Param[]): Promise<[T[]]> {
    if (conn) return [await this.exec<T[]>(conn, sql, params)];
    for (let attempt = 0; ; attempt++) {
      const c = await this.acquire();
      try {
        const out = await this.exec<T[]>(c, sql, params);
        this.done(c);
        return [out];
      } catch (err) {
        this.done(c, err);
        if (attempt === 0 && isStaleConnection(err)) continue;
        throw this.toStoreError(err, sql.slice(0, 40));
      }
    }
  }

  private async write(sql: string, params: Param[]): Promise<ResultSetHeader> {
    const c = await this.acquire();
    try {
      const out = await this.exec<ResultSetHeader>(c, sql, params);
      this.done(c);
      return out;
    } catch (err) {
      this.done(c, err);
      throw this.toStoreError(err, sql.slice(0, 40));
    }
  }

  /** Runs fn in a transaction, retrying the whole of it after a deadlock. */
  private async tx<T>(what: string, fn: (conn: Conn) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const conn = await this.acquire();
      let failure: unknown;
      try {
        await conn.query('START TRANSACTION');
        const out = await fn(conn);
        await conn.query('COMMIT');
        return out;
      } catch (err) {
        failure = err;
        await conn.query('ROLLBACK').catch(() => undefined);
        const errno = (err as { errno?: number }).errno;
        if (errno !== undefined && RETRY_TXN_ERRNOS.has(errno) && attempt < 8) {
          await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
          continue;
        }
        throw this.toStoreError(err, what);
      } finally {
        this.done(conn, failure);
      }
    }
  }

  // ---- blobs

  async putBlob(user: string, hash: string, data: Readable | AsyncIterable<Buffer>, maxBytes: number): Promise<{ size: number; created: boolean }> {
    assertUserName(user);
    assertHash(hash);
    const [existing] = await this.rows<RowDataPacket>(null, 'SELECT size FROM dman_blobs WHERE hash = ?', [hash]);
    const exists = existing.length > 0;
    const uploadId = newUploadId();
    if (!exists) await this.write('INSERT INTO dman_uploads (upload_id, started_at) VALUES (?, ?)', [uploadId, Date.now()]);
    const chunker = this.uploadChunker(uploadId);
    let size: number;
    try {
      size = await consumeVerified(data, hash, maxBytes, async (chunk) => {
        // Known content is still read and verified (it proves possession) but not written again.
        if (!exists) await chunker.push(chunk);
      }, { user, driver: 'mariadb' });
      if (!exists) await chunker.flush();
    } catch (err) {
      if (!exists) await this.discardUpload(uploadId);
      throw this.toStoreError(err, 'putBlob');
    }
    // One transaction publishes the blob (or renews the known one) and records the owner, so it
    // either checks out whole or leaves nothing acknowledged: the upload's chunks must still be
    // there (gc drops uploads older than UPLOAD_TTL_MS) and a known blob must not have been
    // collected since it was looked up.
    const race = { lost: false };
    const out = await this.tx('putBlob', async (conn) => {
      let created = false;
      if (!exists) {
        const res = await this.exec<ResultSetHeader>(conn, 'INSERT IGNORE INTO dman_blobs (hash, size, chunks, upload_id, created_at, uploaded_at) VALUES (?, ?, ?, ?, ?, ?)', [hash, size, chunker.count, uploadId, Date.now(), Date.now()]);
        created = res.affectedRows === 1;
        if (created) {
          const done = await this.exec<ResultSetHeader>(conn, 'DELETE FROM dman_uploads WHERE upload_id = ?', [uploadId]);
          if (done.affectedRows !== 1) throw uploadCleanedUp(user, [hash]);
        }
        race.lost = !created; // a parallel upload of the same content won
      }
      if (!created) {
        const still = await this.exec<RowDataPacket[]>(conn, 'SELECT hash FROM dman_blobs WHERE hash = ? FOR UPDATE', [hash]);
        if (still.length === 0) throw collectedMeanwhile(user, [hash]);
        await this.exec(conn, 'UPDATE dman_blobs SET uploaded_at = GREATEST(uploaded_at, ?) WHERE hash = ?', [Date.now(), hash]);
      }
      const owning = await this.exec<ResultSetHeader>(conn, 'INSERT IGNORE INTO dman_blob_owners (user, hash) VALUES (?, ?)', [user, hash]);
      // "Did this user have it?", never "did anyone?": that would tell bob alice stored the content.
      return { size, created: created || owning.affectedRows === 1 };
    }).catch(async (err: unknown) => {
      if (!exists) await this.discardUpload(uploadId);
      throw err;
    });
    if (race.lost) await this.discardUpload(uploadId);
    return out;
  }

  /**
   * Writes a pending upload's chunk rows, renewing the upload's started_at at most once a minute
   * so gc (which drops uploads older than UPLOAD_TTL_MS) leaves a slow but living upload alone.
   */
  private uploadChunker(uploadId: string): ReturnType<typeof createChunker> {
    let touched = Date.now();
    return createChunker(this.chunkBytes, async (chunk, seq) => {
      await this.write('INSERT INTO dman_blob_chunks (upload_id, seq, data) VALUES (?, ?, ?)', [uploadId, seq, chunk]);
      if (Date.now() - touched >= 60_000) {
        touched = Date.now();
        await this.write('UPDATE dman_uploads SET started_at = ? WHERE upload_id = ?', [touched, uploadId]);
      }
    });
  }

  /**
   * Bulk upload. Blobs up to one chunk are verified into memory; a group of them (HELD_BYTES or
   * HELD_COUNT) is written in one transaction: one multi-statement packet inserts the blob rows
   * (INSERT IGNORE, so a blob that exists or arrives twice is kept once) and reads which rows are
   * this upload's and which the user already held, then multi-row prepared INSERTs of the chunks of
   * the new ones (under max_allowed_packet), then one packet renews the existing ones' upload time
   * and records the user's ownership. Larger blobs are received into chunks as in putBlob and
   * published with their group. A blob counts as stored once that transaction committed; on the
   * first failure the blobs before it are stored and its error thrown.
   */
  async putBlobs(user: string, blobs: AsyncIterable<BlobUpload>, maxBytes: number): Promise<PutBlobResult[]> {
    assertUserName(user);
    const { results, receiveError, writeError } = await uploadInGroups<MariaReceived>(blobs, {
      receive: (b) => { assertHash(b.hash); return this.receive(user, b.hash, b.data, maxBytes); },
      heldBytes: (got) => (got.data ? got.data.length : 0),
      maxBytes: HELD_BYTES,
      maxCount: HELD_COUNT,
      write: (group) => this.writeGroup(user, group),
      discard: (group) => this.discardLarge(group),
    });
    if (writeError) throw this.toStoreError(writeError, 'putBlobs');
    if (receiveError) throw this.toStoreError(receiveError, 'putBlobs');
    return results;
  }

  /** Receives one verified blob: whole into memory up to one chunk, else into chunk rows of a pending upload. */
  private async receive(user: string, hash: string, data: Readable | AsyncIterable<Buffer>, maxBytes: number): Promise<MariaReceived> {
    const uploadId = newUploadId();
    const chunker = this.uploadChunker(uploadId);
    const state: ReceiveState = { large: false, exists: false };
    try {
      const got = await receiveHeldOrChunked(data, hash, maxBytes, {
        chunkBytes: this.chunkBytes, chunker, state, context: { user, driver: 'mariadb' },
        startLarge: async () => {
          const [existing] = await this.rows<RowDataPacket>(null, 'SELECT size FROM dman_blobs WHERE hash = ?', [hash]);
          if (existing.length > 0) return true;
          await this.write('INSERT INTO dman_uploads (upload_id, started_at) VALUES (?, ?)', [uploadId, Date.now()]);
          return false;
        },
      });
      if (got.data) return { hash, size: got.size, uploadId, chunks: got.size > 0 ? 1 : 0, data: got.data, exists: false };
      return { hash, size: got.size, uploadId, chunks: chunker.count, data: null, exists: state.exists };
    } catch (err) {
      if (state.large && !state.exists) await this.discardUpload(uploadId);
      throw err;
    }
  }

  /** Writes one group of received blobs in one transaction (see putBlobs); results in order. */
  private async writeGroup(user: string, list: MariaReceived[]): Promise<PutBlobResult[]> {
    const now = Date.now();
    // The first copy of each hash that brings bytes (a held blob or a new large upload) offers a row.
    const offered = new Map<string, MariaReceived>();
    for (const b of list) if (!b.exists && !offered.has(b.hash)) offered.set(b.hash, b);
    const hashes = [...new Set(list.map((b) => b.hash))].sort();
    const limit = this.statementBytes();
    const known = [...new Set(list.filter((b) => b.exists).map((b) => b.hash))].sort();
    const { created, owned } = await this.tx('putBlobs', async (conn) => {
      // Blobs receive() found known kept no bytes: they must still be there, and stay (locked) until
      // this transaction ends; one gc took away meanwhile fails the group instead of being reported stored.
      for (let i = 0; i < known.length; i += ROWS_PER_STATEMENT) {
        const part = known.slice(i, i + ROWS_PER_STATEMENT);
        const still = await this.exec<RowDataPacket[]>(conn, `SELECT hash FROM dman_blobs WHERE hash IN (${part.map(lit).join(',')}) FOR UPDATE`, []);
        if (still.length !== part.length) {
          const have = new Set(still.map((r) => String(r.hash)));
          throw collectedMeanwhile(user, part.filter((h) => !have.has(h)));
        }
      }
      const inserts = multiRow('INSERT IGNORE INTO dman_blobs (hash, size, chunks, upload_id, created_at, uploaded_at) VALUES ',
        [...offered.values()].sort((a, b) => (a.hash < b.hash ? -1 : 1)).map((b) => render('(?, ?, ?, ?, ?, ?)', [b.hash, b.size, b.chunks, b.uploadId, now, now])), '', limit);
      const reads: string[] = [];
      for (let i = 0; i < hashes.length; i += ROWS_PER_STATEMENT) {
        const part = hashes.slice(i, i + ROWS_PER_STATEMENT).map(lit).join(',');
        reads.push(`SELECT hash, upload_id FROM dman_blobs WHERE hash IN (${part})`);
        reads.push(`SELECT hash FROM dman_blob_owners WHERE user = ${lit(user)} AND hash IN (${part})`);
      }
      const res = (await this.batch(conn, [...inserts, ...reads], 'putBlobs')).slice(inserts.length);
      const created = new Set<string>();
      const owned = new Set<string>();
      const present = new Set<string>();
      for (let i = 0; i < res.length; i += 2) {
        for (const r of res[i] as RowDataPacket[]) {
          present.add(String(r.hash));
          if (offered.get(String(r.hash))?.uploadId === String(r.upload_id)) created.add(String(r.hash));
        }
        for (const r of res[i + 1] as RowDataPacket[]) owned.add(String(r.hash));
      }
      // Chunks of the new held blobs, as prepared multi-row INSERTs under the packet limit.
      const rows = [...offered.values()].filter((b) => b.data && b.data.length > 0 && created.has(b.hash));
      for (let i = 0; i < rows.length;) {
        let n = 0, bytes = 0;
        while (i + n < rows.length && n < CHUNK_ROWS && (n === 0 || bytes + rows[i + n]!.data!.length <= limit)) bytes += rows[i + n++]!.data!.length;
        n = 2 ** Math.floor(Math.log2(n));
        const part = rows.slice(i, i + n);
        await this.exec(conn, `INSERT INTO dman_blob_chunks (upload_id, seq, data) VALUES ${part.map(() => '(?, 0, ?)').join(', ')}`, part.flatMap((b) => [b.uploadId, b.data!]));
        i += n;
      }
      const writes: string[] = [];
      const renewed = hashes.filter((h) => !created.has(h));
      for (let i = 0; i < renewed.length; i += ROWS_PER_STATEMENT) {
        writes.push(`UPDATE dman_blobs SET uploaded_at = GREATEST(uploaded_at, ${now}) WHERE hash IN (${renewed.slice(i, i + ROWS_PER_STATEMENT).map(lit).join(',')})`);
      }
      // The large uploads published here must still be pending: gc drops uploads older than
      // UPLOAD_TTL_MS with their chunks, and publishing a row whose chunks are gone would
      // acknowledge a blob nobody can read. Rolled back whole when one was cleaned up.
      const done = [...offered.values()].filter((b) => !b.data && created.has(b.hash));
      if (done.length > 0) {
        const res = await this.exec<ResultSetHeader>(conn, `DELETE FROM dman_uploads WHERE upload_id IN (${done.map((b) => lit(b.uploadId)).join(',')})`, []);
        if (res.affectedRows !== done.length) throw uploadCleanedUp(user, done.map((b) => b.hash));
      }
      // An owner row only for a blob the server has: one gc took away meanwhile stays unowned (putBlob does the same).
      writes.push(...multiRow('INSERT IGNORE INTO dman_blob_owners (user, hash) VALUES ', hashes.filter((h) => present.has(h)).map((h) => render('(?, ?)', [user, h])), '', limit));
      if (writes.length > 0) await this.batch(conn, writes, 'putBlobs');
      return { created, owned };
    });
    // Large uploads another upload of the same content beat go.
    await this.discardLarge(list.filter((b) => !b.data && !b.exists && !created.has(b.hash)));
    // "Did this user have it?", never "did anyone?"; a hash sent twice is created on its first copy only.
    const seen = new Set<string>();
    return list.map((b) => {
      const first = !seen.has(b.hash);
      seen.add(b.hash);
      return { hash: b.hash, size: b.size, created: first && !owned.has(b.hash) };
    });
  }

  /** Removes the chunk rows of large blobs received but not published. */
  private async discardLarge(list: MariaReceived[]): Promise<void> {
    for (const b of list) if (!b.data && !b.exists) await this.discardUpload(b.uploadId);
  }

  private async discardUpload(uploadId: string): Promise<void> {
    try {
      await this.write('DELETE FROM dman_blob_chunks WHERE upload_id = ?', [uploadId]);
      await this.write('DELETE FROM dman_uploads WHERE upload_id = ?', [uploadId]);
    } catch (err) {
      // gcBlobs removes the leftovers of uploads older than an hour.
      this.log.warn({ uploadId, err: describeCause(err) }, 'could not discard a failed upload');
    }
  }

  async hasBlob(user: string, hash: string): Promise<boolean> {
    assertUserName(user);
    if (!/^[0-9a-f]{64}$/.test(hash)) return false;
    const [rows] = await this.rows<RowDataPacket>(null, 'SELECT 1 FROM dman_blob_owners o JOIN dman_blobs b ON b.hash = o.hash WHERE o.user = ? AND o.hash = ?', [user, hash]);
    return rows.length > 0;
  }

  async getBlob(user: string, hash: string): Promise<{ size: number; stream: Readable } | null> {
    assertUserName(user);
    if (!/^[0-9a-f]{64}$/.test(hash)) return null;
    const [rows] = await this.rows<RowDataPacket>(null, 'SELECT b.size, b.chunks, b.upload_id FROM dman_blob_owners o JOIN dman_blobs b ON b.hash = o.hash WHERE o.user = ? AND o.hash = ?', [user, hash]);
    const row = rows[0];
    if (!row) return null;
    return { size: Number(row.size), stream: Readable.from(this.readChunks(hash, String(row.upload_id), Number(row.chunks)), { objectMode: false }) };
  }

  /**
   * One query per ROWS_PER_STATEMENT hashes: which of them the user may read, their sizes, and the
   * bytes of the small ones (their one chunk, joined in); larger ones stream as getBlob's do.
   */
  async getBlobs(user: string, hashes: string[]): Promise<Array<{ size: number; stream: Readable } | null>> {
    assertUserName(user);
    const asked = [...new Set(hashes.filter((h) => /^[0-9a-f]{64}$/.test(h)))];
    const found = new Map<string, RowDataPacket>();
    for (let i = 0; i < asked.length; i += ROWS_PER_STATEMENT) {
      const part = asked.slice(i, i + ROWS_PER_STATEMENT);
      const [rows] = await this.rows<RowDataPacket>(null,
        `SELECT b.hash, b.size, b.chunks, b.upload_id, c.data FROM dman_blob_owners o JOIN dman_blobs b ON b.hash = o.hash
         LEFT JOIN dman_blob_chunks c ON b.chunks = 1 AND b.size <= ${GET_BLOBS_INLINE_BYTES} AND c.upload_id = b.upload_id AND c.seq = 0
         WHERE o.user = ? AND o.hash IN (${part.map(() => '?').join(',')})`, [user, ...part]);
      for (const r of rows) found.set(String(r.hash), r);
    }
    return hashes.map((h) => {
      const row = found.get(h);
      if (!row) return null;
      const size = Number(row.size), chunks = Number(row.chunks);
      if (chunks === 0) return { size, stream: Readable.from([], { objectMode: false }) };
      if (row.data) return { size, stream: Readable.from([row.data as Buffer], { objectMode: false }) };
      return { size, stream: Readable.from(this.readChunks(h, String(row.upload_id), chunks), { objectMode: false }) };
    });
  }

  /** Yields a blob's chunks one query each: memory stays at one chunk however large the blob. */
  private async *readChunks(hash: string, uploadId: string, chunks: number): AsyncGenerator<Buffer> {
    for (let seq = 0; seq < chunks; seq++) {
      const [rows] = await this.rows<RowDataPacket>(null, 'SELECT data FROM dman_blob_chunks WHERE upload_id = ? AND seq = ?', [uploadId, seq]);
      if (!rows[0]) throw new DmanError('STORE_CORRUPT', `Blob ${hash} lost chunk ${seq} of ${chunks} in ${this.target}`, { context: { driver: 'mariadb', hash } });
      yield rows[0].data as Buffer;
    }
  }

  // ---- manifest

  private parseEntry(json: string): Entry {
    return entrySchema().parse(JSON.parse(json));
  }

  async headRev(user: string): Promise<number> {
    assertUserName(user);
    const [rows] = await this.rows<RowDataPacket>(null, 'SELECT rev FROM dman_heads WHERE user = ?', [user]);
    return rows[0] ? Number(rows[0].rev) : 0;
  }

  async getEntry(user: string, path: string): Promise<Entry | null> {
    assertUserName(user);
    const [rows] = await this.rows<RowDataPacket>(null, 'SELECT entry FROM dman_entries WHERE user = ? AND path_key = ?', [user, pathKey(path)]);
    return rows[0] ? this.parseEntry(String(rows[0].entry)) : null;
  }

  async listEntries(user: string, opts: { live?: boolean } = {}): Promise<Entry[]> {
    assertUserName(user);
    const [rows] = await this.rows<RowDataPacket>(null, opts.live ? 'SELECT entry FROM dman_entries WHERE user = ? AND deleted = 0' : 'SELECT entry FROM dman_entries WHERE user = ?', [user]);
    return rows.map((r) => this.parseEntry(String(r.entry))).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async changes(user: string, since: number, limit: number): Promise<ChangesPage> {
    assertUserName(user);
    const n = Math.max(1, Math.floor(limit));
    // One statement, so one read view for the head and the page: headRev never trails the entries.
    // The head row is the one whose entry is NULL (entries are never NULL).
    const [rows] = await this.rows<RowDataPacket>(null, `(SELECT rev, NULL AS entry FROM dman_heads WHERE user = ?) UNION ALL (SELECT rev, entry FROM dman_entries WHERE user = ? AND rev > ? ORDER BY rev LIMIT ${n + 1})`, [user, user, Math.floor(since)]);
    let headRev = 0;
    const found: Array<{ rev: number; entry: string }> = [];
    for (const r of rows) {
      if (r.entry === null) headRev = Number(r.rev);
      else found.push({ rev: Number(r.rev), entry: String(r.entry) });
    }
    found.sort((a, b) => a.rev - b.rev);
    const entries = found.slice(0, n).map((f) => this.parseEntry(f.entry));
    return { entries, headRev, more: found.length > n };
  }

  async commit(input: CommitInput): Promise<CommitOutcome> {
    validateCommit(input);
    const { user } = input;
    const named = blobsNamedBy(input.ops);
    const keyed = input.ops.filter((o) => o.baseRev !== null).map((o) => ({ path: o.path, key: pathKey(o.path) }));
    // A cheap early refusal, one round trip outside the lock; the checks that count are repeated
    // under locks inside the transaction. Fast path for losers: revs only grow, so a conflict seen
    // without the lock stands (the commit is refused as of that read) and the head-row queue is left
    // to commits that may win. A commit with an idempotency key always goes straight to the lock
    // (its first attempt may have landed, so a conflict seen early proves nothing), and the
    // transaction checks its blobs anyway: an early round trip would only cost it time.
    if (!input.idempotencyKey) {
      const blobStmts = this.blobCheckStatements(user, named, false);
      const entryStmts = this.entryReadStatements(user, keyed.map((k) => k.key));
      if (blobStmts.length + entryStmts.length > 0) {
        const res = await this.batch(null, [...blobStmts, ...entryStmts], 'commit checks');
        const missing = missingFrom(named, res.slice(0, blobStmts.length));
        if (missing.length > 0) throw missingBlobsError(user, missing);
        if (entryStmts.length > 0) {
          const early = this.conflictsFrom(input, res.slice(blobStmts.length));
          if (early.length > 0) return { ok: false, conflicts: early };
        }
      }
    }
    const outcome = await this.commitTx(input, named, keyed.map((k) => k.key));
    if (outcome.ok && !outcome.replayed) this.notify(user, outcome.rev);
    return outcome;
  }

  /**
   * The commit transaction in two round trips while the user's head row is locked: one that takes
   * the lock and reads everything the decision needs (head, idempotency record, blob rows with
   * shared locks, current entries), and one that writes every row and commits. Retried whole after
   * a deadlock. Statements are rendered with literals that need no escaping (see `lit`).
   */
  private async commitTx(input: CommitInput, named: string[], keys: Buffer[]): Promise<CommitOutcome> {
    const { user } = input;
    for (let attempt = 1; ; attempt++) {
      const conn = await this.acquire();
      let failure: unknown;
      try {
        const u = lit(user);
        const blobStmts = this.blobCheckStatements(user, named, true);
        const entryStmts = this.entryReadStatements(user, keys);
        const idem = input.idempotencyKey ? [`SELECT result FROM dman_idempotency WHERE user = ${u} AND k = ${lit(input.idempotencyKey)}`] : [];
        // How many versions each path has (index only), so the retention pass after this commit
        // can skip the paths it could not trim without asking the database again.
        // Any size of commit (a first publish commits 5,000 paths at a time): without the counts,
        // retention asks the database about every path it committed.
        const paths = input.ops.length <= HISTORY_MEMO_MAX ? input.ops.map((o) => pathKey(o.path)) : [];
        const counts: string[] = [];
        for (let i = 0; i < paths.length; i += ROWS_PER_STATEMENT) {
          counts.push(`SELECT path_key, COUNT(*) AS n FROM dman_versions WHERE user = ${u} AND path_key IN (${paths.slice(i, i + ROWS_PER_STATEMENT).map(lit).join(',')}) GROUP BY path_key`);
        }
        // The head row is the per-user commit lock: every commit of this user queues behind it.
        const reads = await this.batch(conn, [
          'START TRANSACTION',
          `INSERT INTO dman_heads (user, rev, last_commit_at) VALUES (${u}, 0, NULL) ON DUPLICATE KEY UPDATE user = user`,
          `SELECT rev FROM dman_heads WHERE user = ${u} FOR UPDATE`,
          ...idem,
          // Shared locks on the blob rows: gcBlobs' DELETE waits for this commit (and then sees its
          // versions), or ran first and the blob is missing here.
          ...blobStmts,
          ...entryStmts,
          ...counts,
        ], 'commit');
        let head = Number((reads[2] as RowDataPacket[])[0]!.rev);
        let at = 3;
        if (idem.length > 0) {
          const prev = reads[at++] as RowDataPacket[];
          if (prev[0]) {
            const r = JSON.parse(String(prev[0].result)) as { rev: number; entries: unknown[]; digest?: string };
            assertSameBatch(input, r.digest);
            await conn.query('COMMIT');
            return { ok: true, rev: r.rev, entries: r.entries.map((e) => entrySchema().parse(e)), replayed: true };
          }
        }
        const missing = missingFrom(named, reads.slice(at, at + blobStmts.length));
        if (missing.length > 0) throw missingBlobsError(user, missing);
        const conflicts = this.conflictsFrom(input, reads.slice(at + blobStmts.length, at + blobStmts.length + entryStmts.length));
        if (conflicts.length > 0) {
          await conn.query('COMMIT');
          return { ok: false, conflicts };
        }
        const entries = input.ops.map((op) => entryFromOp(op, ++head, input.device, input.now));
        const eRows: string[] = [], vRows: string[] = [];
        for (const e of entries) {
          const json = lit(JSON.stringify(e)), key = lit(pathKey(e.path));
          eRows.push(`(${u}, ${key}, ${e.rev}, ${e.deleted ? 1 : 0}, ${e.deleted ? 0 : lit(e.size)}, ${json})`);
          vRows.push(`(${u}, ${e.rev}, ${key}, ${!e.deleted && e.kind === 'file' ? lit(e.hash) : 'NULL'}, ${lit(e.updatedAt)}, ${json})`);
        }
        const limit = this.statementBytes();
        const writes: Array<string | Prepared> = [
          ...multiRow('INSERT INTO dman_entries (user, path_key, rev, deleted, size, entry) VALUES ', eRows, ' ON DUPLICATE KEY UPDATE rev = VALUES(rev), deleted = VALUES(deleted), size = VALUES(size), entry = VALUES(entry)', limit),
          ...multiRow('INSERT INTO dman_versions (user, rev, path_key, hash, updated_at, entry) VALUES ', vRows, '', limit),
          `UPDATE dman_heads SET rev = ${head}, last_commit_at = ${lit(input.now)} WHERE user = ${u}`,
        ];
        if (input.idempotencyKey) {
          const result = JSON.stringify({ rev: head, entries, digest: batchDigest(input) });
          const sql = 'INSERT INTO dman_idempotency (user, k, created_at, result) VALUES (?, ?, ?, ?)';
          const params: Param[] = [user, input.idempotencyKey, Date.now(), result];
          // The outcome of a huge batch is sent prepared (as bytes, not hex) so it fits in one packet.
          writes.push(result.length * 2 > limit / 2 ? { sql, params } : render(sql, params));
        }
        writes.push('COMMIT');
        await this.batch(conn, writes, 'commit');
        if (counts.length > 0) this.rememberHistories(user, paths, (reads.slice(reads.length - counts.length) as RowDataPacket[][]).flat());
        return { ok: true, rev: head, entries, replayed: false };
      } catch (err) {
        failure = err;
        await conn.query('ROLLBACK').catch(() => undefined);
        const errno = (err as { errno?: number }).errno;
        if (errno !== undefined && RETRY_TXN_ERRNOS.has(errno) && attempt < 8) {
          await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
          continue;
        }
        throw this.toStoreError(err, 'commit');
      } finally {
        this.done(conn, failure);
      }
    }
  }

  private rememberHistories(user: string, paths: Buffer[], counted: RowDataPacket[]): void {
    if (this.histories.size > HISTORY_MEMO_MAX) this.histories.clear();
    const n = new Map<string, number>();
    for (const r of counted) n.set((r.path_key as Buffer).toString('hex'), Number(r.n));
    const until = Date.now() + HISTORY_MEMO_MS;
    // +1: the version this commit added.
    for (const k of paths) { const hex = k.toString('hex'); this.histories.set(`${user}\0${hex}`, { n: (n.get(hex) ?? 0) + 1, until }); }
  }

  /** Statements that return which of `named` the user owns and the server still has (shared-locked when `lock`). */
  private blobCheckStatements(user: string, named: string[], lock: boolean): string[] {
    const out: string[] = [];
    for (let i = 0; i < named.length; i += ROWS_PER_STATEMENT) {
      const part = named.slice(i, i + ROWS_PER_STATEMENT);
      out.push(`SELECT o.hash FROM dman_blob_owners o JOIN dman_blobs b ON b.hash = o.hash WHERE o.user = ${lit(user)} AND o.hash IN (${part.map(lit).join(',')})${lock ? ' LOCK IN SHARE MODE' : ''}`);
    }
    return out;
  }

  /** Statements that read the user's current entries at `keys`. */
  private entryReadStatements(user: string, keys: Buffer[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < keys.length; i += ROWS_PER_STATEMENT) {
      out.push(`SELECT entry FROM dman_entries WHERE user = ${lit(user)} AND path_key IN (${keys.slice(i, i + ROWS_PER_STATEMENT).map(lit).join(',')})`);
    }
    return out;
  }

  /** Compares every op's baseRev with the entries the statements of `entryReadStatements` returned. */
  private conflictsFrom(input: CommitInput, results: unknown[]): CommitConflict[] {
    const current = new Map<string, Entry>();
    for (const rows of results) for (const r of rows as RowDataPacket[]) { const e = this.parseEntry(String(r.entry)); current.set(e.path, e); }
    return findConflicts(input.ops, (path) => current.get(path) ?? null);
  }

  /** Largest SQL text sent in one packet: well under max_allowed_packet. */
  private statementBytes(): number {
    return Math.max(64 * 1024, Math.floor((this.maxAllowedPacket || 4 * 1024 * 1024) / 4));
  }

  /**
   * Sends `stmts` as few multi-statement packets as fit under max_allowed_packet, on `conn` or (for
   * reads) on a pooled connection retried once when it had died idle; returns one result per statement.
   */
  private async batch(conn: Conn | null, stmts: Array<string | Prepared>, what: string): Promise<unknown[]> {
    if (!conn) {
      for (let attempt = 0; ; attempt++) {
        const c = await this.acquire();
        try {
          const out = await this.batch(c, stmts, what);
          this.done(c);
          return out;
        } catch (err) {
          this.done(c, err);
          if (attempt === 0 && isStaleConnection(err)) continue;
          throw this.toStoreError(err, what);
        }
      }
    }
    const limit = this.statementBytes();
    const out: unknown[] = [];
    for (let i = 0; i < stmts.length;) {
      const first = stmts[i]!;
      if (typeof first !== 'string') {
        out.push(await this.exec(conn, first.sql, first.params));
        i++;
        continue;
      }
      let j = i + 1, bytes = first.length;
      for (let next = stmts[j]; typeof next === 'string' && bytes + next.length + 1 <= limit; next = stmts[++j]) bytes += next.length + 1;
      const part = stmts.slice(i, j) as string[];
      const [res] = await conn.query({ sql: part.join(';\n'), timeout: this.opts.queryTimeoutMs ?? 15_000 });
      if (part.length === 1) out.push(res);
      else out.push(...(res as unknown[]));
      i = j;
    }
    return out;
  }

  async history(user: string, path: string, limit?: number): Promise<Entry[]> {
    assertUserName(user);
    const lim = limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(limit))}`;
    const [rows] = await this.rows<RowDataPacket>(null, `SELECT entry FROM dman_versions WHERE user = ? AND path_key = ? ORDER BY rev DESC${lim}`, [user, pathKey(path)]);
    return rows.map((r) => this.parseEntry(String(r.entry)));
  }

  async applyRetention(user: string, policy: RetentionPolicy, now: number, opts: RetentionScope = {}): Promise<{ versionsRemoved: number }> {
    assertUserName(user);
    // Only paths with more versions than retention always keeps (the current one and
    // policy.versions past ones) and with a version old enough to go can lose any (versionsToDrop):
    // only their versions come back. A pass over 10,000 short or young histories returns nothing.
    const keep = Math.max(0, Math.floor(policy.versions)) + 1;
    const cutoff = now - policy.days * 86_400_000;
    const rows: RowDataPacket[] = [];
    // The scope filters the outer rows too: with it only in the derived table, MariaDB joined it
    // against every version of the user (a 100,000-file first publish examined 19 million rows in
    // its 146 retention passes, 6.6 s of the database's time).
    /** `places`: the `?` list of the paths a scoped pass names (none: every path of the user). */
    const select = (places?: string): string => {
      const inner = places ? ` AND path_key IN (${places})` : '', outer = places ? ` AND v.path_key IN (${places})` : '';
      return `SELECT v.path_key, v.rev, v.updated_at FROM dman_versions v JOIN (SELECT path_key FROM dman_versions WHERE user = ?${inner} GROUP BY path_key HAVING COUNT(*) > ${keep} AND MIN(updated_at) <= ?) p ON p.path_key = v.path_key WHERE v.user = ?${outer} ORDER BY v.path_key, v.rev DESC`;
    };
    if (opts.paths) {
      // Only the named paths, through the same index: no scan of the user's whole history. Paths
      // this process just committed and counted too short to trim are not asked about at all.
      const t = Date.now();
      const keys = [...new Map(opts.paths.map((p) => { const k = pathKey(p); return [k.toString('hex'), k] as const; })).entries()].filter(([hex]) => {
        const memo = this.histories.get(`${user}\0${hex}`);
        if (memo) this.histories.delete(`${user}\0${hex}`);
        return !(memo && memo.until > t && memo.n <= keep);
      }).map(([, k]) => k);
      for (let i = 0; i < keys.length; i += ROWS_PER_STATEMENT) {
        const part = keys.slice(i, i + ROWS_PER_STATEMENT);
        const [got] = await this.rows<RowDataPacket>(null, select(part.map(() => '?').join(',')), [user, ...part, cutoff, user, ...part]);
        rows.push(...got);
      }
    } else {
      const [got] = await this.rows<RowDataPacket>(null, select(), [user, cutoff, user]);
      rows.push(...got);
    }
    const byPath = new Map<string, Array<{ rev: number; updatedAt: number }>>();
    for (const r of rows) {
      const k = (r.path_key as Buffer).toString('hex');
      let list = byPath.get(k);
      if (!list) { list = []; byPath.set(k, list); }
      list.push({ rev: Number(r.rev), updatedAt: Number(r.updated_at) });
    }
    const drop: number[] = [];
    for (const list of byPath.values()) for (const v of versionsToDrop(list, policy, now)) drop.push(v.rev);
    let removed = 0;
    for (let i = 0; i < drop.length; i += ROWS_PER_STATEMENT) {
      const part = drop.slice(i, i + ROWS_PER_STATEMENT);
      const res = await this.write(`DELETE FROM dman_versions WHERE user = ? AND rev IN (${part.map(() => '?').join(',')})`, [user, ...part]);
      removed += res.affectedRows;
    }
    return { versionsRemoved: removed };
  }

  async gcBlobs(opts: GcOptions = {}): Promise<{ blobsRemoved: number; bytesFreed: number }> {
    const cutoff = (opts.now ?? Date.now()) - (opts.graceMs ?? BLOB_GC_GRACE_MS);
    const [orphans] = await this.rows<RowDataPacket>(null, 'SELECT b.hash, b.size, b.upload_id FROM dman_blobs b WHERE b.uploaded_at <= ? AND NOT EXISTS (SELECT 1 FROM dman_versions v WHERE v.hash = b.hash)', [cutoff]);
    let blobsRemoved = 0, bytesFreed = 0;
    for (const o of orphans) {
      const hash = String(o.hash);
      const gone = await this.tx('gcBlobs', async (conn) => {
        // Re-checked under the transaction: a commit may have started referencing it meanwhile.
        const res = await this.exec<ResultSetHeader>(conn, 'DELETE FROM dman_blobs WHERE hash = ? AND uploaded_at <= ? AND NOT EXISTS (SELECT 1 FROM dman_versions v WHERE v.hash = ?)', [hash, cutoff, hash]);
        if (res.affectedRows === 0) return false;
        await this.exec(conn, 'DELETE FROM dman_blob_owners WHERE hash = ?', [hash]);
        return true;
      });
      if (!gone) continue;
      await this.write('DELETE FROM dman_blob_chunks WHERE upload_id = ?', [String(o.upload_id)]);
      blobsRemoved++;
      bytesFreed += Number(o.size);
    }
    const [stale] = await this.rows<RowDataPacket>(null, 'SELECT upload_id FROM dman_uploads WHERE started_at < ?', [Date.now() - UPLOAD_TTL_MS]);
    for (const s of stale) await this.discardUpload(String(s.upload_id));
    await this.write('DELETE FROM dman_idempotency WHERE created_at < ?', [Date.now() - IDEMPOTENCY_TTL_MS]);
    return { blobsRemoved, bytesFreed };
  }

  async listUsers(): Promise<string[]> {
    const [rows] = await this.rows<RowDataPacket>(null, 'SELECT user FROM dman_heads WHERE rev > 0', []);
    return rows.map((r) => String(r.user)).sort();
  }

  async stats(user: string): Promise<UserStats> {
    assertUserName(user);
    const [agg] = await this.rows<RowDataPacket>(null, 'SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM dman_entries WHERE user = ? AND deleted = 0', [user]);
    const [head] = await this.rows<RowDataPacket>(null, 'SELECT rev, last_commit_at FROM dman_heads WHERE user = ?', [user]);
    const h = head[0];
    return {
      files: Number(agg[0]!.files), bytes: Number(agg[0]!.bytes),
      headRev: h ? Number(h.rev) : 0,
      lastCommitAt: h && h.last_commit_at !== null ? Number(h.last_commit_at) : null,
    };
  }

  // ---- notifications

  subscribe(user: string, onRev: (user: string, rev: number) => void): Unsubscribe {
    let set = this.listeners.get(user);
    if (!set) { set = new Set(); this.listeners.set(user, set); }
    const fn = (u: string, r: number): void => onRev(u, r);
    set.add(fn);
    this.startPolling();
    return () => {
      this.listeners.get(user)?.delete(fn);
      if ([...this.listeners.values()].every((s) => s.size === 0)) this.stopPolling();
    };
  }

  /** Tells listeners once per (user, rev): a local commit and the poller may both see it. */
  private notify(user: string, rev: number): void {
    if ((this.lastNotified.get(user) ?? 0) >= rev) return;
    this.lastNotified.set(user, rev);
    for (const key of [user, '*']) {
      for (const fn of [...(this.listeners.get(key) ?? [])]) {
        try { fn(user, rev); } catch (err) { this.log.warn({ user, err }, 'subscriber threw'); }
      }
    }
  }

  private startPolling(): void {
    if (this.pollTimer || !this.pool) return;
    let seeded = false;
    const tick = async (): Promise<void> => {
      if (this.polling) return;
      this.polling = true;
      try {
        const [rows] = await this.rows<RowDataPacket>(null, 'SELECT user, rev FROM dman_heads', []);
        for (const r of rows) {
          const user = String(r.user), rev = Number(r.rev);
          // The first poll only learns where everyone is: those commits happened before anyone listened.
          if (!seeded) { if (rev > (this.lastNotified.get(user) ?? 0)) this.lastNotified.set(user, rev); }
          else this.notify(user, rev);
        }
        seeded = true;
      } catch (err) {
        this.log.debug({ err: describeCause(err) }, 'mariadb poll failed');
      } finally {
        this.polling = false;
      }
    };
    void tick();
    this.pollTimer = setInterval(() => void tick(), this.opts.pollMs ?? 150);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  // ---- tokens

  private parseToken(json: string): TokenRecord {
    const raw = JSON.parse(json) as TokenRecord;
    return { ...tokenInfoSchema().parse(raw), hash: raw.hash };
  }

  async putToken(rec: TokenRecord): Promise<void> {
    await this.write('INSERT INTO dman_tokens (id, hash, rec) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE hash = VALUES(hash), rec = VALUES(rec)', [rec.id, rec.hash, JSON.stringify(rec)]);
  }

  async getTokenByHash(hash: string): Promise<TokenRecord | null> {
    const [rows] = await this.rows<RowDataPacket>(null, 'SELECT rec FROM dman_tokens WHERE hash = ? LIMIT 1', [hash]);
    return rows[0] ? this.parseToken(String(rows[0].rec)) : null;
  }

  async listTokens(): Promise<TokenRecord[]> {
    const [rows] = await this.rows<RowDataPacket>(null, 'SELECT rec FROM dman_tokens', []);
    return rows.map((r) => this.parseToken(String(r.rec))).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  private async updateToken(id: string, what: string, change: (t: TokenRecord) => TokenRecord): Promise<boolean> {
    return await this.tx(what, async (conn) => {
      const [rows] = await this.rows<RowDataPacket>(conn, 'SELECT rec FROM dman_tokens WHERE id = ? FOR UPDATE', [id]);
      if (!rows[0]) return false;
      await this.exec(conn, 'UPDATE dman_tokens SET rec = ? WHERE id = ?', [JSON.stringify(change(this.parseToken(String(rows[0].rec)))), id]);
      return true;
    });
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    return await this.updateToken(id, 'revokeToken', (t) => revokedToken(t, now));
  }

  async touchToken(id: string, now: number): Promise<void> {
    await this.updateToken(id, 'touchToken', (t) => ({ ...t, lastUsedAt: now }));
  }

  // ---- audit

  async appendAudit(rec: AuditRecord): Promise<void> {
    await this.write('INSERT INTO dman_audit (time, user, rec) VALUES (?, ?, ?)', [rec.time, rec.user, JSON.stringify(rec)]);
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const where: string[] = [], params: Param[] = [];
    if (q.since !== undefined) { where.push('time >= ?'); params.push(q.since); }
    if (q.user !== undefined) { where.push('user = ?'); params.push(q.user); }
    const lim = q.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(q.limit))}`;
    const [rows] = await this.rows<RowDataPacket>(null, `SELECT rec FROM dman_audit${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY time DESC, id DESC${lim}`, params);
    return rows.map((r) => JSON.parse(String(r.rec)) as AuditRecord);
  }
}

/** The primary-key form of a path: its SHA-256 (paths may be longer than an index key). */
function pathKey(path: string): Buffer {
  return createHash('sha256').update(path).digest();
}

function errCode(err: unknown): string {
  const e = err as { code?: unknown; errno?: unknown } | null;
  return typeof e?.code === 'string' ? e.code : '';
}

/** True when err means the connection failed rather than the statement. */
function isConnectionError(err: unknown): boolean {
  if (isDmanError(err)) return err.code === 'STORE_UNAVAILABLE';
  const e = err as { fatal?: boolean; message?: string } | null;
  if (e?.fatal) return true;
  if (CONNECTION_ERRORS.test(errCode(err))) return true;
  return /closed state|Pool is closed|Queue limit reached|connect ETIMEDOUT|Connection lost/i.test(e?.message ?? '');
}

/** True when a pooled connection had died while idle (safe to retry a read on a fresh one). */
function isStaleConnection(err: unknown): boolean {
  return /closed state/i.test((err as Error | null)?.message ?? '') || ['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE'].includes(errCode(err));
}

/** Describes a database error in one line: code and message, never parameters. */
function describeCause(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(describeCause).join('; ');
  const code = errCode(err);
  const msg = err instanceof Error ? err.message : String(err);
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg || code || 'unknown error';
}

/**
 * A new upload's id: a time-ordered UUID (v7), not a random one. Chunk rows are keyed by it, and
 * InnoDB keeps rows in key order with the bytes of small chunks inside the index pages: random ids
 * put each new chunk on a random page of the whole table, which a buffer pool smaller than the
 * stored blobs has to read back from disk first (a 100,000-file first publish read ~440,000 pages,
 * 7 GB); ids in time order append to the end of the index.
 */
function newUploadId(): string {
  return timeOrderedId();
}

/**
 * Renders a value as an SQL literal that needs no escaping whatever the server's sql_mode: numbers
 * as digits, bytes as X'hex', text as _utf8mb4 X'hex' (so no quote or backslash of the data ever
 * reaches the parser). Used for the commit's multi-statement packets, which cannot be prepared.
 */
function lit(v: Param): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new DmanError('BAD_REQUEST', `Cannot store the number ${v}: expected a finite number`);
    return String(v);
  }
  if (Buffer.isBuffer(v)) return v.length === 0 ? "''" : `X'${v.toString('hex')}'`;
  return v.length === 0 ? "''" : `_utf8mb4 X'${Buffer.from(v, 'utf8').toString('hex')}'`;
}

/** A blob putBlobs received: held whole (`data`), or in the chunk rows of `uploadId`, or known (`exists`, nothing written). */
/** A large upload whose pending chunks gc removed before it was published. */
function uploadCleanedUp(user: string, hashes: string[]): DmanError {
  return new DmanError('STORE_UNAVAILABLE', `The upload of blob ${hashes.join(', ')} took too long and was cleaned up before it could be stored; upload again`, {
    hint: 'Uploads that stay unfinished for over an hour are removed by the blob gc; retry the upload.', context: { driver: 'mariadb', user, hashes },
  });
}

/** A blob found known at upload time (so no bytes were kept) that gc removed before it was recorded. */
function collectedMeanwhile(user: string, hashes: string[]): DmanError {
  return new DmanError('STORE_UNAVAILABLE', `Blob ${hashes.join(', ')} was garbage-collected while it was being uploaded again; retry the upload`, {
    hint: 'Retry the upload; the content is stored anew.', context: { driver: 'mariadb', user, hashes },
  });
}

interface MariaReceived { hash: string; size: number; uploadId: string; chunks: number; data: Buffer | null; exists: boolean }

/** A statement sent on its own as a prepared statement (for a value too large to send as hex). */
interface Prepared { sql: string; params: Param[] }

/** Puts literals (see `lit`) in the places of the `?` of `sql`, which holds no other `?`. */
function render(sql: string, params: Param[]): string {
  let i = 0;
  const out = sql.replace(/\?/g, () => lit(params[i++] ?? null));
  if (i !== params.length) throw new DmanError('INTERNAL', `Statement ${sql.slice(0, 60)} has ${i} placeholders for ${params.length} values`);
  return out;
}

/** Joins rendered rows into multi-row statements of at most ROWS_PER_STATEMENT rows and about `maxBytes` each. */
function multiRow(head: string, rows: string[], tail: string, maxBytes: number): string[] {
  const out: string[] = [];
  let part: string[] = [], bytes = 0;
  for (const r of rows) {
    if (part.length > 0 && (part.length >= ROWS_PER_STATEMENT || bytes + r.length > maxBytes)) { out.push(head + part.join(', ') + tail); part = []; bytes = 0; }
    part.push(r);
    bytes += r.length + 2;
  }
  if (part.length > 0) out.push(head + part.join(', ') + tail);
  return out;
}

/** Returns the hashes of `named` missing from the rows the blob check statements returned. */
function missingFrom(named: string[], results: unknown[]): string[] {
  const have = new Set<string>();
  for (const rows of results) for (const r of rows as RowDataPacket[]) have.add(String(r.hash));
  return named.filter((h) => !have.has(h));
}
