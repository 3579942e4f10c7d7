// The Redis driver of the Store port, on a single Redis or a Redis Cluster. Every key one commit
// touches shares the user's hash tag {u:<user>} (one slot): entries, feed, history, head,
// idempotency records, the user's blob index and the user's blob reference counts. Blob bytes are
// stored once under {b:<hash>} (deduplicated across users) with a holders hash naming the users who
// uploaded them; uploads and gc touch those, commits never do. Global keys (users, blobs, audit,
// schema, the two token hashes under {tokens}) are only written by single-key commands or a MULTI
// within one slot. See README.md for the layout, gc's two steps and the v1 migration.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Cluster, Redis } from 'ioredis';
import type { Logger } from '../../../engine/log.js';
import { silentLogger } from '../../../engine/log.js';
import { DmanError, isDmanError } from '../../../shared/errors.js';
import { entrySchema, type Entry } from '../../../shared/protocol.js';
import { consumeVerified, createChunker, receiveHeldOrChunked, uploadInGroups, type ReceiveState } from '../blobStream.js';
import { assertHash, assertSameBatch, assertUserName, batchDigest, entryFromOp, missingBlobsError, validateCommit, versionsToDrop, revokedToken } from '../commitRules.js';
import { BLOB_GC_GRACE_MS, GET_BLOBS_INLINE_BYTES } from '../Store.js';
import type {
  BlobUpload, PutBlobResult, AuditQuery, GcOptions, AuditRecord, ChangesPage, CommitInput, CommitOutcome, RetentionPolicy, RetentionScope, Store, StoreHealth, TokenRecord, Unsubscribe, UserStats,
} from '../Store.js';
import { describeRedisTarget, redisClusterOptions, redisConnectionOptions, type RedisBlock } from './redisOptions.js';

/** How long a commit's idempotency record is kept. */
const IDEMPOTENCY_TTL_S = 7 * 86_400;
/** How long an abandoned upload's temp chunks live. */
const UPLOAD_TTL_S = 3600;
/** Bytes of small blobs putBlobs holds in memory before writing them as one group. */
const HELD_BYTES = 8 * 1024 * 1024;
/** Blobs in one group: bounds the Lua call that indexes them (Redis runs nothing else meanwhile). */
const HELD_COUNT = 1000;

/** How long a layout migration may hold its lock before another server may take over. */
const MIGRATION_LOCK_MS = 120_000;
/** How long a server waits at start-up for another one's migration. */
const MIGRATION_WAIT_MS = 600_000;

/** The key layout this code writes; stored in <prefix>schema. 1 had global blob refs (no cluster). */
const LAYOUT_VERSION = 2;

// KEYS: head, entries, feed, blob index, idem, last, refs (all {u:<user>}).
// ARGV: hasIdem, histPrefix, n, channel, user, now, ttl, batch digest, then 4 per op (path, baseRev, body, hash).
// The idempotency record is '<digest>#<result>', so a key reused for another batch is refused, not replayed.
// A blob counts as present when the user's blob index names it; every referencing version is
// counted in the user's refs, so gc (which drops a user's hold only at count 0, in a script on
// the same slot) can never take a blob away from a commit that just used it.
const COMMIT_LUA = `
local has_idem = ARGV[1] == '1'
if has_idem then
  local prev = redis.call('GET', KEYS[5])
  if prev then return {'replay', prev} end
end
local n = tonumber(ARGV[3])
local first = 9
local missing = {'missing'}
for i = 0, n - 1 do
  local h = ARGV[first + i * 4 + 3]
  if h ~= '' and redis.call('HEXISTS', KEYS[4], h) == 0 then missing[#missing + 1] = h end
end
if #missing > 1 then return missing end
local conflicts = {'conflict'}
for i = 0, n - 1 do
  local b = first + i * 4
  if ARGV[b + 1] ~= '' then
    local cur = redis.call('HGET', KEYS[2], ARGV[b])
    local rev = 0
    if cur then rev = tonumber(string.match(cur, '^{"rev":(%d+),')) end
    if rev ~= tonumber(ARGV[b + 1]) then
      conflicts[#conflicts + 1] = tostring(i)
      conflicts[#conflicts + 1] = cur or ''
    end
  end
end
if #conflicts > 1 then return conflicts end
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
local out = {}
for i = 0, n - 1 do
  local b = first + i * 4
  head = head + 1
  local json = '{"rev":' .. head .. ',' .. ARGV[b + 2]
  redis.call('HSET', KEYS[2], ARGV[b], json)
  redis.call('ZADD', KEYS[3], head, ARGV[b])
  redis.call('LPUSH', ARGV[2] .. ARGV[b], json)
  if ARGV[b + 3] ~= '' then redis.call('HINCRBY', KEYS[7], ARGV[b + 3], 1) end
  out[#out + 1] = json
end
redis.call('SET', KEYS[1], head)
redis.call('SET', KEYS[6], ARGV[6])
local result = head .. '|[' .. table.concat(out, ',') .. ']'
if has_idem then redis.call('SET', KEYS[5], ARGV[8] .. '#' .. result, 'EX', tonumber(ARGV[7])) end
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. head)
return {'ok', result}
`;

// KEYS: history list, the user's refs.  ARGV: pairs of (version json, hash or '').  Drops versions
// by exact value (safe against a commit pushing a new one meanwhile) and uncounts their blobs.
const RETAIN_LUA = `
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    removed = removed + 1
    if ARGV[i + 1] ~= '' then
      if redis.call('HINCRBY', KEYS[2], ARGV[i + 1], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[i + 1]) end
    end
  end
end
return removed
`;

// KEYS: feed, entries, head.  ARGV: since, limit+1. Reads a page of the feed atomically.
const CHANGES_LUA = `
local paths = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {redis.call('GET', KEYS[3]) or '0'}
for s = 1, #paths, 500 do
  local e = math.min(s + 499, #paths)
  local vals = redis.call('HMGET', KEYS[2], unpack(paths, s, e))
  for _, v in ipairs(vals) do out[#out + 1] = v end
end
return out
`;

// KEYS: tmp, data, meta, holders (all {b:<hash>}).  ARGV: size, chunks, 'known' when no chunks were
// written, user, hold ('<id>:<ms>'). Publishes a verified upload unless the blob exists, and either
// way records the user's hold, whose time gc's grace period counts from. -1: gone meanwhile.
const FINISH_BLOB_LUA = `
if ARGV[3] == 'known' and redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
  return 0
end
if tonumber(ARGV[2]) > 0 then redis.call('RENAME', KEYS[1], KEYS[2]) end
redis.call('HSET', KEYS[3], 'size', ARGV[1], 'chunks', ARGV[2])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
return 1
`;

// KEYS: per blob its data, meta and holders (all {b:<hash>}).  ARGV: per blob its bytes, size,
// user, hold. Stores each small verified blob whole (one chunk, none when empty) unless it exists,
// and either way records the user's hold. Per blob 1: stored, 0: was there; at the first blob that
// fails, its error in its place and nothing after it (the blobs before it stay stored). One call
// takes a whole write group on a single Redis (a cluster calls it per blob, in the blob's slot):
// one command instead of one per blob, each of which ioredis built and copied twice.
const PUT_SMALL_LUA = `
local out = {}
local function put(data, meta, holders, bytes, size, user, hold)
  if redis.call('EXISTS', meta) == 1 then
    redis.call('HSET', holders, user, hold)
    return 0
  end
  local chunks = 0
  if tonumber(size) > 0 then
    redis.call('RPUSH', data, bytes)
    chunks = 1
  end
  redis.call('HSET', meta, 'size', size, 'chunks', chunks)
  redis.call('HSET', holders, user, hold)
  return 1
end
for i = 0, #KEYS / 3 - 1 do
  local a = i * 4
  local ok, res = pcall(put, KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
  if not ok then
    if type(res) == 'table' and res.err then out[#out + 1] = res else out[#out + 1] = redis.error_reply(tostring(res)) end
    return out
  end
  out[#out + 1] = res
end
return out
`;

// KEYS: the user's blob index ({u:<user>}).  ARGV: pairs of (hash, hold). Indexes a group of
// uploaded blobs in order; per blob 1 when the user did not have it before.
const INDEX_BLOBS_LUA = `
local out = {}
for i = 1, #ARGV, 2 do out[#out + 1] = redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return out
`;

// gc, step 1 (the user's slot). KEYS: blob index, refs.  ARGV: hash, hold seen in holders ('' for
// none), cutoff. Drops the user's index entry when no version of the user references the blob,
// the hold is older than the cutoff, and no newer upload replaced it. 1: dropped (go on to step 2).
const DROP_HOLD_LUA = `
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') > 0 then return 0 end
local at = tonumber(string.match(ARGV[2], ':(%d+)$') or '0')
if at > tonumber(ARGV[3]) then return 0 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

// gc, step 2 (the blob's slot). KEYS: holders, meta, data.  ARGV: user ('' for none), hold, cutoff.
// Removes the user's hold unless an upload renewed it, then deletes the bytes once nobody holds
// them, unless the blob's upload time (meta 'at', written by layout-1 servers) is past the cutoff:
// bytes without holders an old server wrote lately get the same grace as any upload. Returns the
// size freed, -1 when the blob was gone, -2 while someone still holds it, -3 while in its grace.
const DROP_DATA_LUA = `
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
if redis.call('HLEN', KEYS[1]) > 0 then return -2 end
if tonumber(redis.call('HGET', KEYS[2], 'at') or '0') > tonumber(ARGV[3]) then return -3 end
local size = redis.call('HGET', KEYS[2], 'size')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
if not size then return -1 end
return tonumber(size)
`;

// Value written over every retired layout-1 key (per-user owns sets, the global refs and the token
// hashes): a server still running layout-1 code then fails on it with WRONGTYPE instead of writing
// where no layout-2 server looks. Per-user owns keys say how far their user's migration got.
const RETIRED = 'retired by dman layout 2: stop every older dman server sharing this Redis';
const OWNS_HOLDS = 'retired by dman layout 2: holds moved';
const OWNS_DONE = 'retired by dman layout 2: holds and refs moved';

// KEYS: a layout-1 key.  ARGV: the value to write, 'set' or 'hash', then what the migrator copied
// (set members, or hash field/value pairs). Replaces the key with the value unless it holds
// something not copied yet (written by an old server meanwhile): returns those members/fields to
// copy first (then call again), {} when retired. A key already retired is left as it is.
const RETIRE_LUA = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'string' then return {} end
if t == 'none' then redis.call('SET', KEYS[1], ARGV[1]) return {} end
local seen = {}
local extra = {}
if t == 'set' then
  for i = 3, #ARGV do seen[ARGV[i]] = true end
  for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do if not seen[m] then extra[#extra + 1] = m end end
elseif t == 'hash' then
  for i = 3, #ARGV, 2 do seen[ARGV[i]] = ARGV[i + 1] end
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do if seen[all[i]] ~= all[i + 1] then extra[#extra + 1] = all[i] end end
end
if #extra == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return extra
`;

// KEYS: the user's owns key, the user's refs ({u:<user>}).  ARGV: OWNS_DONE, then (hash, count)
// pairs counted from the user's history. Writes the user's refs once: -1 while the owns key is
// still a layout-1 set (move its holds first), 0 when already done (a migrator that lost its lock
// or died never overwrites counts layout-2 commits keep since), 1 when written.
const REBUILD_REFS_LUA = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'set' then return -1 end
if t == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`;

// KEYS: the migration lock.  ARGV: its owner's id, ms. Renews the lock only while the caller holds it.
const RENEW_LOCK_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** Options of the Redis driver; the timeouts have production defaults that tests shorten. */
export interface RedisStoreOptions {
  redis: RedisBlock;
  log?: Logger;
  /** Namespace of every key and channel (default "dman:"); tests use one per test. */
  keyPrefix?: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  maxBackoffMs?: number;
  /** Size of the chunks a blob is split into (default 256 KiB). */
  blobChunkBytes?: number;
}

/** Stores dman's data in Redis or a Redis Cluster; several server processes may share it. */
export class RedisStore implements Store {
  readonly driver = 'redis' as const;
  private readonly opts: RedisStoreOptions;
  private readonly log: Logger;
  private readonly p: string;
  private readonly chunkBytes: number;
  private readonly target: string;
  private readonly clustered: boolean;
  // A Cluster client answers the same commands as a Redis one (each routed by its key's slot), so
  // both are typed as Redis; only scans over every master need to know (see masters()).
  private cmd: Redis | null = null;
  private blob: Redis | null = null;
  private sub: Redis | null = null;
  private persistence: 'on' | 'off' | 'unknown' = 'unknown';
  /** The last connection error, which says more than ioredis' "Connection is closed". */
  private lastError: Error | null = null;
  private readonly listeners = new Map<string, Set<(user: string, rev: number) => void>>();
  private readonly lastNotified = new Map<string, number>();

  constructor(opts: RedisStoreOptions) {
    this.opts = opts;
    this.log = (opts.log ?? silentLogger()).child({ mod: 'store.redis' });
    this.p = opts.keyPrefix ?? 'dman:';
    this.chunkBytes = opts.blobChunkBytes ?? 256 * 1024;
    this.target = describeRedisTarget(opts.redis);
    this.clustered = opts.redis.cluster === true;
  }

  // ---- lifecycle

  async open(): Promise<void> {
    const t = { connectTimeoutMs: this.opts.connectTimeoutMs ?? 5000, commandTimeoutMs: this.opts.commandTimeoutMs ?? 5000, maxBackoffMs: this.opts.maxBackoffMs ?? 2000 };
    const watch = (r: Redis, name: string): Redis => {
      let lastLogged = 0;
      r.on('error', (err: Error) => {
        this.lastError = err;
        // ioredis emits an error per reconnect attempt; one line per 10 s is enough.
        if (Date.now() - lastLogged > 10_000) { lastLogged = Date.now(); this.log.warn({ conn: name, target: this.target, err: err.message }, 'redis connection error'); }
      });
      return r;
    };
    let make: (name: string, subscriber?: boolean) => Redis;
    if (this.clustered) {
      const { seeds, options } = redisClusterOptions(this.opts.redis, t);
      make = (name, subscriber = false) => watch(new Cluster(seeds, {
        ...options,
        ...(subscriber ? { enableOfflineQueue: true } : {}),
        redisOptions: { ...options.redisOptions, connectionName: `dman-${name}`, ...(subscriber ? { commandTimeout: undefined } : {}) },
      }) as unknown as Redis, name);
    } else {
      const base = redisConnectionOptions(this.opts.redis, t);
      // The subscriber keeps its subscription across reconnects; no command timeout for it.
      make = (name, subscriber = false) => watch(new Redis({ ...base, connectionName: `dman-${name}`, ...(subscriber ? { commandTimeout: undefined, enableOfflineQueue: true } : {}) }), name);
    }
    this.cmd = make('cmd');
    this.blob = make('blob');
    this.sub = make('sub', true);
    this.sub.on('message', (_ch: string, msg: string) => this.onMessage(msg));
    try {
      // allSettled: leaving a connection mid-handshake would surface its TLS errors later, unhandled.
      const settled = await Promise.allSettled([this.cmd.connect(), this.blob.connect(), this.sub.connect()]);
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      await this.sub.subscribe(this.channel());
    } catch (err) {
      await this.close();
      // ioredis rejects connect() with a bare "Connection is closed."; the error event said why.
      const detail = this.lastError?.message ?? (err as Error).message;
      throw new DmanError('STORE_UNAVAILABLE', `Cannot connect to Redis at ${this.target}: ${detail}`, {
        hint: this.clustered
          ? 'Check that the cluster is up (cluster_state:ok), that redis.addr/redis.nodes name reachable nodes, and that the password and TLS settings in the config are right.'
          : 'Check that Redis is running and that redis.addr/redis.socket, the password and the TLS settings in the config are right.',
        context: { driver: 'redis', url: this.target }, cause: err,
      });
    }
    for (const r of [this.cmd, this.blob]) {
      r.defineCommand('dmanCommit', { numberOfKeys: 7, lua: COMMIT_LUA });
      r.defineCommand('dmanRetain', { numberOfKeys: 2, lua: RETAIN_LUA });
      r.defineCommand('dmanChanges', { numberOfKeys: 3, lua: CHANGES_LUA });
      r.defineCommand('dmanFinishBlob', { numberOfKeys: 4, lua: FINISH_BLOB_LUA });
      // The number of keys comes first in each call (3 per blob).
      r.defineCommand('dmanPutSmall', { lua: PUT_SMALL_LUA });
      r.defineCommand('dmanIndexBlobs', { numberOfKeys: 1, lua: INDEX_BLOBS_LUA });
      r.defineCommand('dmanDropHold', { numberOfKeys: 2, lua: DROP_HOLD_LUA });
      r.defineCommand('dmanDropData', { numberOfKeys: 3, lua: DROP_DATA_LUA });
      r.defineCommand('dmanRetire', { numberOfKeys: 1, lua: RETIRE_LUA });
      r.defineCommand('dmanRebuildRefs', { numberOfKeys: 2, lua: REBUILD_REFS_LUA });
      r.defineCommand('dmanRenewLock', { numberOfKeys: 1, lua: RENEW_LOCK_LUA });
    }
    try {
      await this.ensureLayout();
    } catch (err) {
      await this.close();
      throw this.toStoreError(err, 'layout check');
    }
    this.persistence = await this.checkPersistence();
    if (this.persistence === 'off') this.log.warn({ target: this.target }, 'redis persistence is off (appendonly no): acknowledged writes may be lost on a Redis restart');
  }

  async close(): Promise<void> {
    const conns = [this.cmd, this.blob, this.sub].filter((c): c is Redis => c !== null);
    this.cmd = this.blob = this.sub = null;
    this.listeners.clear();
    await Promise.all(conns.map(async (c) => {
      // QUIT only on a ready connection: on one still connecting (or a TLS handshake) it would be
      // written too early; those are simply dropped.
      if (c.status !== 'ready') { c.disconnect(); return; }
      try { await c.quit(); } catch { c.disconnect(); }
    }));
  }

  async health(): Promise<StoreHealth> {
    const started = performance.now();
    const details = { target: this.target, persistence: this.persistence, keyPrefix: this.p, cluster: this.clustered, layout: LAYOUT_VERSION };
    const warnings = this.persistence === 'off'
      ? ['Redis persistence is off (appendonly no): acknowledged writes could be lost when Redis restarts. Set "appendonly yes" in redis.conf.']
      : [];
    try {
      await this.c().ping();
      return { ok: true, latencyMs: performance.now() - started, details, warnings };
    } catch (err) {
      return { ok: false, latencyMs: performance.now() - started, error: this.toStoreError(err, 'ping').message, details, warnings };
    }
  }

  private async checkPersistence(): Promise<'on' | 'off' | 'unknown'> {
    try {
      const reply = (await this.c().call('CONFIG', 'GET', 'appendonly')) as string[];
      if (reply.length >= 2) return reply[1] === 'yes' ? 'on' : 'off';
    } catch {
      // CONFIG may be renamed or denied by ACL; INFO usually still answers.
    }
    try {
      const info = await this.c().info('persistence');
      const m = /aof_enabled:(\d)/.exec(info);
      if (m) return m[1] === '1' ? 'on' : 'off';
    } catch {}
    return 'unknown';
  }

  // ---- keys

  private u(user: string, k: string): string { return `${this.p}{u:${user}}:${k}`; }
  private b(hash: string, k: string): string { return `${this.p}{b:${hash}}:${k}`; }
  private g(k: string): string { return `${this.p}${k}`; }
  /** The token hashes share one slot, so a MULTI may write both. */
  private t(k: 'byid' | 'byhash'): string { return `${this.p}{tokens}:${k}`; }
  private channel(): string { return `${this.p}revs`; }

  /** Every key matching a glob, over every master of a cluster (a SCAN on one node sees only its slots). */
  private async scanKeys(pattern: string): Promise<string[]> {
    const c = this.c();
    const nodes = this.clustered ? (c as unknown as Cluster).nodes('master') : [c];
    const out: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        out.push(...keys);
      } while (cursor !== '0');
    }
    return out;
  }

  /** Deletes keys one command per slot-safe batch (a multi-key DEL across slots fails on a cluster). */
  private async deleteKeys(keys: string[]): Promise<void> {
    const c = this.c();
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      if (this.clustered) await Promise.all(batch.map((k) => c.unlink(k)));
      else if (batch.length > 0) await c.unlink(...batch);
    }
  }

  private glob(): string { return this.p.replace(/[*?[\]\\]/g, '\\$&'); }

  private c(): Redis {
    if (!this.cmd) throw new DmanError('STORE_UNAVAILABLE', `The Redis store (${this.target}) is not open`, { context: { driver: 'redis', url: this.target } });
    return this.cmd;
  }

  private bc(): Redis {
    if (!this.blob) throw new DmanError('STORE_UNAVAILABLE', `The Redis store (${this.target}) is not open`, { context: { driver: 'redis', url: this.target } });
    return this.blob;
  }

  /** Maps a driver error to DmanError: connection trouble is STORE_UNAVAILABLE (retryable). */
  private toStoreError(err: unknown, what: string): DmanError {
    if (isDmanError(err)) return err;
    const msg = err instanceof Error ? err.message : String(err);
    const name = err instanceof Error ? err.name : '';
    if (name === 'ReplyError' && !/^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|NOAUTH|WRONGPASS)/.test(msg)) {
      return new DmanError('INTERNAL', `Redis refused ${what} at ${this.target}: ${msg}`, { context: { driver: 'redis', url: this.target }, cause: err });
    }
    const why = this.lastError && this.lastError.message !== msg && this.cmd?.status !== 'ready' ? ` (last connection error: ${this.lastError.message})` : '';
    return new DmanError('STORE_UNAVAILABLE', `Redis at ${this.target} is unavailable (${what}): ${msg}${why}`, {
      hint: 'Retry shortly; if it persists, check that Redis is running and reachable.',
      context: { driver: 'redis', url: this.target }, cause: err,
    });
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.toStoreError(err, what);
    }
  }

  // ---- blobs

  async putBlob(user: string, hash: string, data: Readable | AsyncIterable<Buffer>, maxBytes: number): Promise<{ size: number; created: boolean }> {
    assertUserName(user);
    assertHash(hash);
    const r = this.bc();
    const exists = await this.run('putBlob', () => r.exists(this.b(hash, 'meta')));
    // Listed before the bytes land, so gc finds them even if this process dies before the end.
    await this.run('putBlob', () => r.sadd(this.g('blobs'), hash));
    const tmp = this.b(hash, `tmp:${randomUUID()}`);
    const chunker = createChunker(this.chunkBytes, async (chunk) => {
      await this.run('putBlob', () => r.multi().rpush(tmp, chunk).expire(tmp, UPLOAD_TTL_S).exec());
    });
    let size: number;
    try {
      size = await consumeVerified(data, hash, maxBytes, async (chunk) => {
        // Known content is still read and verified (it proves possession) but not written again.
        if (!exists) await chunker.push(chunk);
      }, { user, driver: 'redis' });
      if (!exists) await chunker.flush();
    } catch (err) {
      await r.del(tmp).catch(() => undefined);
      throw this.toStoreError(err, 'putBlob');
    }
    return await this.run('putBlob', async () => {
      const hold = `${randomUUID()}:${Date.now()}`;
      const res = Number(await (r as RedisWithScripts).dmanFinishBlob(tmp, this.b(hash, 'data'), this.b(hash, 'meta'), this.b(hash, 'holders'), size, chunker.count, exists ? 'known' : 'new', user, hold));
      if (res === -1) {
        throw new DmanError('STORE_UNAVAILABLE', `Blob ${hash} was garbage-collected while it was being uploaded again; retry the upload`, { context: { driver: 'redis', user, hash } });
      }
      // Again: gc may have unlisted it between the first SADD and the bytes landing.
      await r.sadd(this.g('blobs'), hash);
      // The user's index entry is what a commit checks. "Did this user have it?", never "did
      // anyone?": that would tell bob alice stored the content.
      const added = await r.hset(this.u(user, 'blobs'), hash, hold);
      return { size, created: added === 1 };
    });
  }

  /**
   * Bulk upload. Blobs up to one chunk are verified into memory and written a group at a time
   * (up to HELD_BYTES / HELD_COUNT): one pipeline of per-blob scripts in the blobs' slots (one
   * write per node on a cluster), then one script that indexes the whole group in the user's slot.
   * Larger blobs stream into temporary chunks as in putBlob and are published with their group.
   * One group is written while the next is received. A blob is acknowledged only after Redis
   * answered its writes; on the first failure the blobs before it are stored and its error thrown.
   */
  async putBlobs(user: string, blobs: AsyncIterable<BlobUpload>, maxBytes: number): Promise<PutBlobResult[]> {
    assertUserName(user);
    this.bc();
    const { results, receiveError, writeError } = await uploadInGroups<Received>(blobs, {
      receive: (b) => { assertHash(b.hash); return this.receive(user, b.hash, b.data, maxBytes); },
      heldBytes: (got) => (got.kind === 'small' ? got.data.length : 0),
      maxBytes: HELD_BYTES,
      maxCount: HELD_COUNT,
      write: (group) => this.writeGroup(user, group),
      // Temporary chunks of large blobs never published expire on their own (UPLOAD_TTL_S).
    });
    if (writeError) throw this.toStoreError(writeError, 'putBlobs');
    if (receiveError) throw this.toStoreError(receiveError, 'putBlobs');
    return results;
  }

  /** Receives one verified blob: whole into memory up to one chunk, else streamed into temporary chunks. */
  private async receive(user: string, hash: string, data: Readable | AsyncIterable<Buffer>, maxBytes: number): Promise<Received> {
    const r = this.bc();
    const tmp = this.b(hash, `tmp:${randomUUID()}`);
    const chunker = createChunker(this.chunkBytes, async (chunk) => {
      await this.run('putBlobs', () => r.multi().rpush(tmp, chunk).expire(tmp, UPLOAD_TTL_S).exec());
    });
    const state: ReceiveState = { large: false, exists: false };
    try {
      const got = await receiveHeldOrChunked(data, hash, maxBytes, {
        chunkBytes: this.chunkBytes, chunker, state, context: { user, driver: 'redis' },
        startLarge: async () => {
          const exists = (await this.run('putBlobs', () => r.exists(this.b(hash, 'meta')))) === 1;
          await this.run('putBlobs', () => r.sadd(this.g('blobs'), hash));
          return exists;
        },
      });
      if (got.data) return { kind: 'small', hash, data: got.data };
      return { kind: 'large', hash, size: got.size, tmp, chunks: chunker.count, exists: state.exists };
    } catch (err) {
      if (state.large) await r.del(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** Writes one group of received blobs (see putBlobs) and returns their results in order. */
  private async writeGroup(user: string, list: Received[]): Promise<PutBlobResult[]> {
    const r = this.bc() as RedisWithScripts;
    const now = Date.now();
    const holds = list.map(() => `${randomUUID()}:${now}`);
    const hashes = [...new Set(list.map((b) => b.hash))];
    // Listed before the bytes land (gc finds them even if this process dies) and again after (gc
    // may have unlisted one meanwhile), as putBlob does.
    await r.sadd(this.g('blobs'), ...hashes);
    const writeOne = (q: RedisWithScripts, b: Received, i: number): Promise<unknown> => b.kind === 'small'
      ? q.dmanPutSmall(3, this.b(b.hash, 'data'), this.b(b.hash, 'meta'), this.b(b.hash, 'holders'), b.data, b.data.length, user, holds[i]!)
      : q.dmanFinishBlob(b.tmp, this.b(b.hash, 'data'), this.b(b.hash, 'meta'), this.b(b.hash, 'holders'), b.size, b.chunks, b.exists ? 'known' : 'new', user, holds[i]!);
    // Per blob its script's reply or error: a script that failed (the rest may have run) must not
    // leave the blobs before it stored and held but unindexed, so those are indexed below.
    type Reply = { err: unknown; v: unknown };
    /** A call's reply or its error, never a rejection: the blobs before a failure still get indexed. */
    const settle = (p: Promise<unknown>): Promise<Reply> => p.then((v) => ({ err: null, v }), (err: unknown) => ({ err: err ?? new Error('script failed'), v: null }));
    let replies: Reply[];
    if (this.clustered) {
      // A cluster pipeline cannot span nodes; concurrent commands still go out without waiting for each other.
      replies = await Promise.all(list.map((b, i) => settle(writeOne(r, b, i))));
    } else {
      // The group's small blobs in one script call, then each large blob's, sent one after another
      // on the blob connection without waiting for replies (one round trip, as a pipeline), each as
      // ioredis encodes it: a pipeline would copy the whole group's encoded commands into one more
      // buffer before writing it (~120 MB more copying, and its GCs, per 10,000-file first publish).
      const small: number[] = [], large: number[] = [];
      list.forEach((b, i) => (b.kind === 'small' ? small : large).push(i));
      const calls: Array<Promise<unknown>> = [];
      if (small.length > 0) {
        const keys: string[] = [], args: Array<string | number | Buffer> = [];
        for (const i of small) {
          const b = list[i] as Extract<Received, { kind: 'small' }>;
          keys.push(this.b(b.hash, 'data'), this.b(b.hash, 'meta'), this.b(b.hash, 'holders'));
          args.push(b.data, b.data.length, user, holds[i]!);
        }
        calls.push(r.dmanPutSmall(keys.length, ...keys, ...args));
      }
      for (const i of large) calls.push(writeOne(r, list[i]!, i));
      const res = await Promise.all(calls.map(settle));
      replies = new Array<Reply>(list.length);
      // The group script answers per blob up to the first that failed (that one's error in its
      // place); a blob it did not reach, or a failed call, gets the call's error.
      if (small.length > 0) {
        const { err: callErr, v: out } = res[0]!;
        const perBlob = Array.isArray(out) ? out as unknown[] : [];
        small.forEach((i, k) => {
          const v = perBlob[k];
          replies[i] = v instanceof Error ? { err: v, v: null } : v === undefined ? { err: callErr ?? perBlob.find((x) => x instanceof Error) ?? new Error('no reply'), v: null } : { err: null, v };
        });
      }
      const first = small.length > 0 ? 1 : 0;
      large.forEach((i, k) => { replies[i] = res[first + k]!; });
    }
    await r.sadd(this.g('blobs'), ...hashes);
    // Only blobs before the first one that failed or gc took away meanwhile (see putBlob's -1) are indexed.
    let ok = replies.findIndex((x) => x.err !== null || Number(x.v) === -1);
    if (ok === -1) ok = list.length;
    const failed = ok < list.length ? replies[ok]!.err : null;
    const args = list.slice(0, ok).flatMap((b, i) => [b.hash, holds[i]!]);
    const added = args.length === 0 ? [] : (await r.dmanIndexBlobs(this.u(user, 'blobs'), ...args)) as number[];
    const out = list.slice(0, ok).map((b, i) => ({ hash: b.hash, size: b.kind === 'small' ? b.data.length : b.size, created: Number(added[i]) === 1 }));
    // The blobs before the failure are indexed (stored, as the contract says); it and those after it
    // are reported as not stored (their holds, if any, go with gc after the grace).
    if (failed) throw this.toStoreError(failed, 'putBlobs');
    if (ok < list.length) {
      throw new DmanError('STORE_UNAVAILABLE', `Blob ${list[ok]!.hash} was garbage-collected while it was being uploaded again; retry the upload`, { context: { driver: 'redis', user, hash: list[ok]!.hash } });
    }
    return out;
  }

  async hasBlob(user: string, hash: string): Promise<boolean> {
    assertUserName(user);
    if (!/^[0-9a-f]{64}$/.test(hash)) return false;
    return (await this.run('hasBlob', () => this.c().hexists(this.u(user, 'blobs'), hash))) === 1;
  }

  async getBlob(user: string, hash: string): Promise<{ size: number; stream: Readable } | null> {
    if (!(await this.hasBlob(user, hash))) return null;
    const meta = await this.run('getBlob', () => this.bc().hgetall(this.b(hash, 'meta')));
    if (meta.size === undefined) return null;
    const size = Number(meta.size), chunks = Number(meta.chunks);
    return { size, stream: Readable.from(this.readChunks(hash, chunks), { objectMode: false }) };
  }

  /**
   * Two round trips for the whole list: the user's index and every blob's size and chunk count in
   * one pipeline (concurrent commands on a cluster), then the one chunk of each small blob.
   */
  async getBlobs(user: string, hashes: string[]): Promise<Array<{ size: number; stream: Readable } | null>> {
    assertUserName(user);
    if (hashes.length === 0) return [];
    const valid = hashes.map((h) => /^[0-9a-f]{64}$/.test(h));
    return await this.run('getBlobs', async () => {
      const r = this.bc();
      const asked = hashes.filter((_, i) => valid[i]);
      const send = async (cmds: Array<(q: Redis) => Promise<unknown>>): Promise<unknown[]> => {
        if (this.clustered) return await Promise.all(cmds.map((f) => f(r)));
        const pipe = r.pipeline();
        for (const f of cmds) void f(pipe as unknown as Redis);
        return ((await pipe.exec()) ?? []).map(([err, v]) => { if (err) throw err; return v; });
      };
      const first = asked.length === 0 ? [] : await send([
        (q) => q.hmget(this.u(user, 'blobs'), ...asked),
        ...asked.map((h) => (q: Redis) => q.hmget(this.b(h, 'meta'), 'size', 'chunks')),
      ]);
      const indexed = (first[0] ?? []) as Array<string | null>;
      const meta = new Map<string, { size: number; chunks: number }>();
      asked.forEach((h, i) => {
        const [size, chunks] = first[i + 1] as [string | null, string | null];
        if (indexed[i] !== null && size !== null) meta.set(h, { size: Number(size), chunks: Number(chunks) });
      });
      const inline = [...meta].filter(([, m]) => m.chunks === 1 && m.size <= GET_BLOBS_INLINE_BYTES).map(([h]) => h);
      const bodies = new Map<string, Buffer>();
      const got = inline.length === 0 ? [] : await send(inline.map((h) => (q: Redis) => q.lindexBuffer(this.b(h, 'data'), 0)));
      inline.forEach((h, i) => { if (got[i]) bodies.set(h, got[i] as Buffer); });
      return hashes.map((h) => {
        const m = meta.get(h);
        if (!m) return null;
        const body = bodies.get(h);
        if (m.chunks === 0) return { size: 0, stream: Readable.from([], { objectMode: false }) };
        if (body) return { size: m.size, stream: Readable.from([body], { objectMode: false }) };
        return { size: m.size, stream: Readable.from(this.readChunks(h, m.chunks), { objectMode: false }) };
      });
    });
  }

  /** Yields a blob's chunks one round trip each: memory stays at one chunk however large the blob. */
  private async *readChunks(hash: string, chunks: number): AsyncGenerator<Buffer> {
    const r = this.bc();
    const dataKey = this.b(hash, 'data');
    for (let i = 0; i < chunks; i++) {
      const part = await this.run('getBlob', () => r.lrangeBuffer(dataKey, i, i));
      if (part.length !== 1) throw new DmanError('STORE_CORRUPT', `Blob ${hash} lost chunk ${i} of ${chunks} in Redis at ${this.target}`, { context: { driver: 'redis', hash } });
      yield part[0]!;
    }
  }

  // ---- manifest

  private parseEntry(json: string): Entry {
    return entrySchema().parse(JSON.parse(json));
  }

  async headRev(user: string): Promise<number> {
    assertUserName(user);
    return Number((await this.run('headRev', () => this.c().get(this.u(user, 'head')))) ?? 0);
  }

  async getEntry(user: string, path: string): Promise<Entry | null> {
    assertUserName(user);
    const raw = await this.run('getEntry', () => this.c().hget(this.u(user, 'entries'), path));
    return raw === null ? null : this.parseEntry(raw);
  }

  async listEntries(user: string, opts: { live?: boolean } = {}): Promise<Entry[]> {
    assertUserName(user);
    const raw = await this.run('listEntries', () => this.c().hvals(this.u(user, 'entries')));
    const all = raw.map((j) => this.parseEntry(j));
    return (opts.live ? all.filter((e) => !e.deleted) : all).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async changes(user: string, since: number, limit: number): Promise<ChangesPage> {
    assertUserName(user);
    const reply = await this.run('changes', () => (this.c() as RedisWithScripts).dmanChanges(this.u(user, 'feed'), this.u(user, 'entries'), this.u(user, 'head'), since, limit + 1)) as Array<string | null>;
    const headRev = Number(reply[0] ?? 0);
    const entries = reply.slice(1).filter((j): j is string => j !== null).map((j) => this.parseEntry(j));
    return { entries: entries.slice(0, limit), headRev, more: entries.length > limit };
  }

  async commit(input: CommitInput): Promise<CommitOutcome> {
    validateCommit(input);
    const { user } = input;
    const c = this.c();
    const args: Array<string | number> = [input.idempotencyKey ? '1' : '0', this.u(user, 'h:'), input.ops.length, this.channel(), user, input.now, IDEMPOTENCY_TTL_S, input.idempotencyKey ? batchDigest(input) : ''];
    for (const op of input.ops) {
      const { rev: _rev, ...rest } = entryFromOp(op, 1, input.device, input.now);
      args.push(op.path, op.baseRev === null ? '' : op.baseRev, JSON.stringify(rest).slice(1), !op.deleted && op.kind === 'file' && op.hash ? op.hash : '');
    }
    const idemKey = this.u(user, `idem:${input.idempotencyKey ?? ''}`);
    const reply = await this.run('commit', () => (c as RedisWithScripts).dmanCommit(
      this.u(user, 'head'), this.u(user, 'entries'), this.u(user, 'feed'), this.u(user, 'blobs'), idemKey, this.u(user, 'last'), this.u(user, 'refs'), ...args,
    )) as string[];
    if (reply[0] === 'missing') throw missingBlobsError(user, reply.slice(1));
    if (reply[0] === 'conflict') {
      const conflicts = [];
      for (let i = 1; i < reply.length; i += 2) {
        const op = input.ops[Number(reply[i])]!;
        conflicts.push({ path: op.path, expected: op.baseRev, current: reply[i + 1] ? this.parseEntry(reply[i + 1]!) : null });
      }
      return { ok: false, conflicts };
    }
    let result = reply[1]!;
    const replayed = reply[0] === 'replay';
    // Records written before digests existed have none (they start with the rev).
    const hashMark = /^[0-9a-f]{64}#/.test(result) ? 64 : -1;
    if (replayed) assertSameBatch(input, hashMark > 0 ? result.slice(0, hashMark) : null);
    if (hashMark > 0) result = result.slice(hashMark + 1);
    const bar = result.indexOf('|');
    const rev = Number(result.slice(0, bar));
    const entries = (JSON.parse(result.slice(bar + 1)) as unknown[]).map((e) => entrySchema().parse(e));
    if (!replayed) {
      await this.run('commit', () => c.sadd(this.g('users'), user));
      this.notify(user, rev);
    }
    return { ok: true, rev, entries, replayed };
  }

  async history(user: string, path: string, limit?: number): Promise<Entry[]> {
    assertUserName(user);
    const raw = await this.run('history', () => this.c().lrange(this.u(user, `h:${path}`), 0, limit === undefined ? -1 : limit - 1));
    return raw.map((j) => this.parseEntry(j));
  }

  async applyRetention(user: string, policy: RetentionPolicy, now: number, opts: RetentionScope = {}): Promise<{ versionsRemoved: number }> {
    assertUserName(user);
    return await this.run('applyRetention', async () => {
      const c = this.c();
      const paths = opts.paths ? [...new Set(opts.paths)] : await c.hkeys(this.u(user, 'entries'));
      let removed = 0;
      for (let i = 0; i < paths.length; i += 200) {
        const batch = paths.slice(i, i + 200);
        // Only the tail past the current version and the `versions` kept ones can go: read just that,
        // so a pass over 10,000 paths with short histories parses nothing (it used to read them all).
        const keep = policy.versions + 1;
        const read = c.pipeline();
        for (const p of batch) read.lrange(this.u(user, `h:${p}`), keep, -1);
        const lists = (await read.exec()) ?? [];
        for (const [j, p] of batch.entries()) {
          const raw = (lists[j]?.[1] ?? []) as string[];
          if (raw.length === 0) continue;
          const tail = raw.map((json) => ({ json, entry: this.parseEntry(json) })).map((v) => ({ ...v, updatedAt: v.entry.updatedAt }));
          // The same rule as every driver: the tail stands after a current version and none kept by count.
          const drop = versionsToDrop([{ json: '', entry: tail[0]!.entry, updatedAt: now }, ...tail], { ...policy, versions: 0 }, now);
          if (drop.length === 0) continue;
          const args = drop.flatMap((v) => [v.json, !v.entry.deleted && v.entry.kind === 'file' && v.entry.hash ? v.entry.hash : '']);
          removed += Number(await (c as RedisWithScripts).dmanRetain(this.u(user, `h:${p}`), this.u(user, 'refs'), ...args));
        }
      }
      return { versionsRemoved: removed };
    });
  }

  /**
   * Two steps per (blob, holder), each one script on one slot: drop the user's hold in the user's
   * slot (only at reference count 0, past the grace, and not renewed by an upload meanwhile), then
   * remove the hold in the blob's slot and delete the bytes once nobody holds them. A commit checks
   * the user's index in the same slot as step 1, so it either sees the blob or fails cleanly.
   */
  async gcBlobs(opts: GcOptions = {}): Promise<{ blobsRemoved: number; bytesFreed: number }> {
    const cutoff = (opts.now ?? Date.now()) - (opts.graceMs ?? BLOB_GC_GRACE_MS);
    return await this.run('gcBlobs', async () => {
      const c = this.c() as RedisWithScripts;
      let blobsRemoved = 0, bytesFreed = 0;
      for (const hash of await c.smembers(this.g('blobs'))) {
        const holders = await c.hgetall(this.b(hash, 'holders'));
        const drops: Array<[string, string]> = Object.keys(holders).length === 0 ? [['', '']] : [];
        for (const [user, hold] of Object.entries(holders)) {
          if (Number(await c.dmanDropHold(this.u(user, 'blobs'), this.u(user, 'refs'), hash, hold, cutoff)) === 1) drops.push([user, hold]);
        }
        for (const [user, hold] of drops) {
          const size = Number(await c.dmanDropData(this.b(hash, 'holders'), this.b(hash, 'meta'), this.b(hash, 'data'), user, hold, cutoff));
          if (size === -2 || size === -3) continue;
          // Unlisted once gone; an upload running now lists it again after its bytes land.
          await c.srem(this.g('blobs'), hash);
          if (size >= 0) { blobsRemoved++; bytesFreed += size; }
          break;
        }
      }
      return { blobsRemoved, bytesFreed };
    });
  }

  async listUsers(): Promise<string[]> {
    return (await this.run('listUsers', () => this.c().smembers(this.g('users')))).sort();
  }

  async stats(user: string): Promise<UserStats> {
    const [live, headRev, last] = await Promise.all([
      this.listEntries(user, { live: true }),
      this.headRev(user),
      this.run('stats', () => this.c().get(this.u(user, 'last'))),
    ]);
    return { files: live.length, bytes: live.reduce((s, e) => s + e.size, 0), headRev, lastCommitAt: last === null ? null : Number(last) };
  }

  // ---- notifications

  subscribe(user: string, onRev: (user: string, rev: number) => void): Unsubscribe {
    let set = this.listeners.get(user);
    if (!set) { set = new Set(); this.listeners.set(user, set); }
    const fn = (u: string, r: number): void => onRev(u, r);
    set.add(fn);
    return () => { this.listeners.get(user)?.delete(fn); };
  }

  private onMessage(msg: string): void {
    const m = /^(\S+) (\d+)$/.exec(msg);
    if (m) this.notify(m[1]!, Number(m[2]));
  }

  /** Tells listeners once per (user, rev): a local commit and its pub/sub echo arrive both. */
  private notify(user: string, rev: number): void {
    if ((this.lastNotified.get(user) ?? 0) >= rev) return;
    this.lastNotified.set(user, rev);
    for (const key of [user, '*']) {
      for (const fn of [...(this.listeners.get(key) ?? [])]) {
        try { fn(user, rev); } catch (err) { this.log.warn({ user, err }, 'subscriber threw'); }
      }
    }
  }

  // ---- tokens

  private parseToken(json: string): TokenRecord {
    return JSON.parse(json) as TokenRecord;
  }

  async putToken(rec: TokenRecord): Promise<void> {
    await this.run('putToken', async () => {
      const prev = await this.c().hget(this.t('byid'), rec.id);
      const tx = this.c().multi();
      if (prev) tx.hdel(this.t('byhash'), this.parseToken(prev).hash);
      await tx.hset(this.t('byid'), rec.id, JSON.stringify(rec)).hset(this.t('byhash'), rec.hash, rec.id).exec();
    });
  }

  async getTokenByHash(hash: string): Promise<TokenRecord | null> {
    return await this.run('getTokenByHash', async () => {
      const id = await this.c().hget(this.t('byhash'), hash);
      if (id === null) return null;
      const raw = await this.c().hget(this.t('byid'), id);
      return raw === null ? null : this.parseToken(raw);
    });
  }

  async listTokens(): Promise<TokenRecord[]> {
    const raw = await this.run('listTokens', () => this.c().hvals(this.t('byid')));
    return raw.map((j) => this.parseToken(j)).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  private async updateToken(id: string, what: string, change: (t: TokenRecord) => TokenRecord): Promise<boolean> {
    return await this.run(what, async () => {
      const raw = await this.c().hget(this.t('byid'), id);
      if (raw === null) return false;
      await this.c().hset(this.t('byid'), id, JSON.stringify(change(this.parseToken(raw))));
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
    await this.run('appendAudit', () => this.c().rpush(this.g('audit'), JSON.stringify(rec)));
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const raw = await this.run('listAudit', () => this.c().lrange(this.g('audit'), 0, -1));
    const out: AuditRecord[] = [];
    for (let i = raw.length - 1; i >= 0 && (q.limit === undefined || out.length < q.limit); i--) {
      const r = JSON.parse(raw[i]!) as AuditRecord;
      if (q.since !== undefined && r.time < q.since) continue;
      if (q.user !== undefined && r.user !== q.user) continue;
      out.push(r);
    }
    return out.sort((a, b) => b.time - a.time);
  }

  /** Deletes every key under this store's prefix, on every master (tests and `dman` admin tools). */
  async destroyAll(): Promise<void> {
    await this.run('destroyAll', async () => {
      await this.deleteKeys(await this.scanKeys(`${this.glob()}*`));
    });
  }

  // ---- layout version and the v1 migration

  /**
   * Makes sure the keys are in this code's layout: records it on an empty prefix, migrates a v1
   * layout once (under a lock; other servers wait), refuses a newer one.
   */
  private async ensureLayout(): Promise<void> {
    const c = this.c();
    const until = Date.now() + MIGRATION_WAIT_MS;
    for (;;) {
      const v = await c.get(this.g('schema'));
      if (v !== null) {
        if (Number(v) > LAYOUT_VERSION) {
          throw new DmanError('SCHEMA_TOO_NEW', `The Redis data under prefix "${this.p}" at ${this.target} has layout ${v}; this dman understands up to ${LAYOUT_VERSION}`, {
            hint: 'Upgrade this dman server to the version that wrote the data (every server sharing a Redis must run the same version).', context: { driver: 'redis', url: this.target },
          });
        }
        if (Number(v) === LAYOUT_VERSION) {
          // Data migrated by an earlier layout-2 server (which deleted the old keys instead of
          // retiring them), or by one that died after recording the version: retire what is left.
          if ((await c.exists(this.g('v1-retired'))) === 0) await this.retireV1Keys(null);
          return;
        }
      }
      // One EXISTS per key: a multi-key EXISTS across slots fails on a cluster.
      const old = await Promise.all(['users', 'blobs', 'refs', 'tokens'].map((k) => c.exists(this.g(k))));
      if (v === null && !old.some((n) => n === 1)) {
        // Fresh prefix (or audit records only): nothing to migrate.
        await c.set(this.g('schema'), String(LAYOUT_VERSION), 'NX');
        continue;
      }
      const lock = randomUUID();
      if ((await c.set(this.g('migrate-lock'), lock, 'PX', MIGRATION_LOCK_MS, 'NX')) === 'OK') {
        try {
          // Another server may have finished while we looked.
          if (Number((await c.get(this.g('schema'))) ?? 0) < LAYOUT_VERSION) await this.migrateFromV1(lock);
        } catch (err) {
          // Lost the lock (this process stalled past it): whoever holds it now migrates; wait for it.
          if (!(isDmanError(err) && err.context?.lostLock === true)) throw err;
          this.log.warn({ target: this.target, prefix: this.p }, 'redis: lost the migration lock; waiting for the server that holds it');
        } finally {
          if ((await c.get(this.g('migrate-lock'))) === lock) await c.del(this.g('migrate-lock'));
        }
        continue;
      }
      if (Date.now() > until) {
        throw new DmanError('STORE_UNAVAILABLE', `Another dman server has been migrating the Redis data under prefix "${this.p}" at ${this.target} for over ${MIGRATION_WAIT_MS / 1000} s`, {
          hint: `Wait for it to finish and start again. If no server is migrating (one died mid-way), delete the key ${this.g('migrate-lock')}; the migration starts over safely.`,
          context: { driver: 'redis', url: this.target },
        });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * v1 kept one global reference count (<prefix>refs), per-user ownership sets ({u:<user>}:owns)
   * and the tokens in <prefix>tokens / <prefix>tokenhash. Copies them into the v2 keys (holds and
   * the users' blob indexes from the ownership sets, per-user refs from the kept history, tokens
   * under {tokens}) and retires each old key (see RETIRE_LUA): a v1 server still running fails on
   * it instead of writing where v2 does not look. Every step is checked against the lock first
   * (and a heartbeat renews it); a migrator that lost it stops. A migration that died is run again:
   * the copies overwrite, retired keys are skipped, refs are written once per user.
   */
  private async migrateFromV1(lock: string): Promise<void> {
    const c = this.c() as RedisWithScripts;
    const started = Date.now();
    this.log.info({ target: this.target, prefix: this.p }, 'redis: migrating the key layout from v1 to v2');
    let lost = false;
    const renew = async (): Promise<boolean> => Number(await c.dmanRenewLock(this.g('migrate-lock'), lock, MIGRATION_LOCK_MS)) === 1;
    const check = async (): Promise<void> => {
      if (lost || !(await renew())) {
        lost = true;
        throw new DmanError('STORE_UNAVAILABLE', `This server lost the migration lock ${this.g('migrate-lock')} at ${this.target} (it expired or was taken over) and stopped migrating`, {
          hint: 'Start the server again: it waits for the migration another server runs, or runs it again from where it stopped.', context: { driver: 'redis', url: this.target, lostLock: true },
        });
      }
    };
    const beat = setInterval(() => { renew().then((ok) => { if (!ok) lost = true; }, () => undefined); }, MIGRATION_LOCK_MS / 6);
    beat.unref();
    try {
      await check();
      const holds = await this.retireV1Keys(check);
      for (const user of await c.smembers(this.g('users'))) {
        await check();
        const counts = new Map<string, number>();
        const paths = await c.hkeys(this.u(user, 'entries'));
        for (let i = 0; i < paths.length; i += 200) {
          const read = c.pipeline();
          for (const path of paths.slice(i, i + 200)) read.lrange(this.u(user, `h:${path}`), 0, -1);
          for (const [, raw] of (await read.exec()) ?? []) {
            for (const json of (raw ?? []) as string[]) {
              const e = this.parseEntry(json);
              if (!e.deleted && e.kind === 'file' && e.hash) counts.set(e.hash, (counts.get(e.hash) ?? 0) + 1);
            }
          }
        }
        await check();
        const args = [OWNS_DONE, ...[...counts].flat()];
        let res = Number(await c.dmanRebuildRefs(this.u(user, 'owns'), this.u(user, 'refs'), ...args));
        if (res === -1) {
          // An old server gave this user an ownership set after the first pass: move it, then count.
          await this.retireOwns(user, check);
          res = Number(await c.dmanRebuildRefs(this.u(user, 'owns'), this.u(user, 'refs'), ...args));
        }
        if (res === -1) throw new DmanError('STORE_UNAVAILABLE', `Redis at ${this.target}: a layout-1 server keeps writing user ${user}'s blob ownership during the migration`, { hint: 'Stop every older dman server sharing this Redis, then start this one again.', context: { driver: 'redis', url: this.target } });
      }
      await check();
      await c.set(this.g('v1-retired'), '1');
      await check();
      await c.set(this.g('schema'), String(LAYOUT_VERSION));
      this.log.info({ target: this.target, prefix: this.p, holds, ms: Date.now() - started }, 'redis: key layout migrated to v2');
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * Retires every layout-1 key left (copying what it holds first): the ownership sets, the token
   * hashes (copied without overwriting layout-2 records), the global refs. Run by the migration
   * (with `check`, the lock test) and at start-up on layout-2 data not marked <prefix>v1-retired
   * (migrated by a server that deleted the old keys, which old servers then re-created).
   */
  private async retireV1Keys(check: (() => Promise<void>) | null): Promise<number> {
    const c = this.c() as RedisWithScripts;
    const ownsRe = new RegExp(`^${this.p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\{u:(.+)\\}:owns$`);
    let holds = 0;
    for (const key of await this.scanKeys(`${this.glob()}{u:*}:owns`)) {
      const user = ownsRe.exec(key)?.[1];
      if (user) holds += await this.retireOwns(user, check);
    }
    for (const [from, to] of [['tokens', 'byid'], ['tokenhash', 'byhash']] as const) {
      for (let round = 0; ; round++) {
        await check?.();
        if ((await c.type(this.g(from))) !== 'hash') { await c.dmanRetire(this.g(from), RETIRED, 'hash'); break; }
        const all = await c.hgetall(this.g(from));
        // HSETNX: a record layout-2 servers changed since (a revoked token) is not undone.
        for (const [k, v] of Object.entries(all)) await c.hsetnx(this.t(to), k, v);
        const extra = (await c.dmanRetire(this.g(from), RETIRED, 'hash', ...Object.entries(all).flat())) as string[];
        if (extra.length === 0) break;
        if (round >= 10) throw this.oldServerWriting(from);
      }
    }
    await check?.();
    await c.set(this.g('refs'), RETIRED);
    if (!check) await c.set(this.g('v1-retired'), '1');
    return holds;
  }

  /** Copies one user's layout-1 ownership set into holds and the user's blob index, then retires it. */
  private async retireOwns(user: string, check: (() => Promise<void>) | null): Promise<number> {
    const c = this.c() as RedisWithScripts;
    const key = this.u(user, 'owns');
    let holds = 0;
    let copied: string[] = [];
    for (let round = 0; ; round++) {
      if ((await c.type(key)) !== 'set') return holds;
      await check?.();
      const all = await c.smembers(key);
      const seen = new Set(copied);
      for (const hash of all) {
        if (seen.has(hash)) continue;
        const [size, at] = await c.hmget(this.b(hash, 'meta'), 'size', 'at');
        if (size === null) continue; // listed as owned but already collected
        const hold = `v1:${at ?? 0}`;
        // NX: a hold a layout-2 upload wrote since is newer; keep it.
        await c.hsetnx(this.b(hash, 'holders'), user, hold);
        await c.hsetnx(this.u(user, 'blobs'), hash, hold);
        holds++;
      }
      copied = all;
      const extra = (await c.dmanRetire(key, OWNS_HOLDS, 'set', ...all)) as string[];
      if (extra.length === 0) return holds;
      if (round >= 10) throw this.oldServerWriting(key);
    }
  }

  private oldServerWriting(key: string): DmanError {
    return new DmanError('STORE_UNAVAILABLE', `Redis at ${this.target}: a layout-1 dman server keeps writing ${key} while it is being migrated`, {
      hint: 'Stop every older dman server sharing this Redis, then start this one again.', context: { driver: 'redis', url: this.target },
    });
  }
}

/** A blob putBlobs received: held whole in memory, or already in temporary chunks. */
type Received =
  | { kind: 'small'; hash: string; data: Buffer }
  | { kind: 'large'; hash: string; size: number; tmp: string; chunks: number; exists: boolean };

/** ioredis with this driver's Lua commands (defineCommand adds them at run time). */
interface RedisWithScripts extends Redis {
  dmanCommit(...args: Array<string | number>): Promise<unknown>;
  dmanChanges(...args: Array<string | number>): Promise<unknown>;
  dmanFinishBlob(...args: Array<string | number>): Promise<unknown>;
  dmanPutSmall(...args: Array<string | number | Buffer>): Promise<unknown>;
  dmanIndexBlobs(...args: Array<string | number>): Promise<unknown>;
  dmanDropHold(...args: Array<string | number>): Promise<unknown>;
  dmanDropData(...args: Array<string | number>): Promise<unknown>;
  dmanRetain(...args: Array<string | number>): Promise<unknown>;
  dmanRetire(...args: Array<string | number>): Promise<unknown>;
  dmanRebuildRefs(...args: Array<string | number>): Promise<unknown>;
  dmanRenewLock(...args: Array<string | number>): Promise<unknown>;
}
