// Starts a real dman server on 127.0.0.1:0 for the server integration tests, with tokens ready.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Header, Pax } from 'tar';
import { silentLogger } from '../../engine/log.js';
import { createServer, type ServerOptions } from '../../server/app.js';
import { mintToken } from '../../server/auth/tokens.js';
import { DiskStore } from '../../server/store/DiskStore.js';
import { MemoryStore } from '../../server/store/MemoryStore.js';
import { RedisStore } from '../../server/store/redis/RedisStore.js';
import type { RedisBlock } from '../../server/store/redis/redisOptions.js';
import { MariaDbStore } from '../../server/store/mariadb/MariaDbStore.js';
import type { DbBlock } from '../../server/store/mariadb/mariaDbOptions.js';
import { createConnection } from 'mysql2/promise';
import { getService, mariaDbBlock, redisBlock, uniqueId } from '../setup/testServices.js';
import type { Store } from '../../server/store/Store.js';

export const ADMIN_SHARED = 'shared-admin-token-from-config-0123456789';

/** A fetch Response whose json() is loosely typed: the tests assert the shapes themselves. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TestResponse = Omit<Response, 'json'> & { json(): Promise<any> };

export interface Harness {
  url: string;
  store: Store;
  tokens: { alice: string; bob: string; admin: string; aliceId: string };
  close(): Promise<void>;
  req(path: string, init?: RequestInit & { token?: string | null }): Promise<TestResponse>;
}

/** Starts a server with users alice, bob and carol, one device token each for alice and bob, and an admin token. */
/** Opens a RedisStore on the test Redis under a fresh key prefix (or the given one, to share it). */
export async function redisTestStore(keyPrefix = `srv${uniqueId()}:`): Promise<RedisStore> {
  const facts = await getService('redis');
  return new RedisStore({ redis: redisBlock(facts, 'tcp') as unknown as RedisBlock, keyPrefix });
}

/** Opens a MariaDbStore on the test MariaDB in a fresh database; drop() removes the database. */
export async function mariaDbTestStore(): Promise<{ store: MariaDbStore; drop: () => Promise<void> }> {
  const facts = await getService('mariadb');
  const db = `dman_srv_${uniqueId()}`;
  const store = new MariaDbStore({ db: mariaDbBlock(facts, 'tcp', db) as unknown as DbBlock, pollMs: 50 });
  return {
    store,
    async drop() {
      const conn = await createConnection({ host: facts.host, port: facts.port, user: facts.user, password: facts.password });
      try { await conn.query(`DROP DATABASE IF EXISTS \`${db}\``); } finally { await conn.end(); }
    },
  };
}

export async function startHarness(over: Partial<ServerOptions> & { store?: Store; driver?: 'memory' | 'disk' | 'redis' | 'mariadb' } = {}): Promise<Harness> {
  const { driver, ...serverOver } = over;
  const tmp = driver === 'disk' ? await mkdtemp(join(tmpdir(), 'dman-server-')) : null;
  const maria = driver === 'mariadb' ? await mariaDbTestStore() : null;
  const store = over.store ?? maria?.store ?? (tmp ? new DiskStore({ dataDir: join(tmp, 'data'), fsync: false }) : driver === 'redis' ? await redisTestStore() : new MemoryStore());
  await store.open();
  const now = Date.now();
  const a = mintToken({ user: 'alice', device: 'laptop', admin: false, now });
  const b = mintToken({ user: 'bob', device: 'desktop', admin: false, now });
  const ad = mintToken({ user: null, device: 'ops', admin: true, now });
  for (const t of [a, b, ad]) await store.putToken(t.record);
  const server = createServer({
    log: silentLogger(), authToken: ADMIN_SHARED, users: ['alice', 'bob', 'carol'],
    retention: { versions: 20, days: 30, gcIntervalMs: 0 }, version: 'test', ...serverOver, store,
  });
  const url = await server.listen('127.0.0.1:0');
  return {
    url, store,
    tokens: { alice: a.token, bob: b.token, admin: ad.token, aliceId: a.record.id },
    async close() {
      await server.close();
      if (driver === 'redis') await (store as RedisStore).destroyAll();
      await store.close();
      await maria?.drop();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    },
    req(path, init = {}) {
      const { token, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token) headers.set('authorization', `Bearer ${token}`);
      return fetch(url + path, { ...rest, headers }) as Promise<TestResponse>;
    },
  };
}

/** SHA-256 hex of a string or buffer. */
export const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** One raw tar entry for hand-made (possibly malicious) archives. */
export interface RawTarEntry { path: string; type?: 'File' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'Directory' | 'FIFO'; data?: string | Buffer; linkpath?: string; mode?: number; size?: number }

/** Builds a tar archive byte by byte, without any of the safety checks a normal packer applies. */
export function rawTar(entries: RawTarEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const block = Buffer.alloc(512);
    const fields = { path: e.path, type: e.type ?? 'File', size: e.size ?? (e.type && e.type !== 'File' ? 0 : data.length), mode: e.mode ?? 0o644, mtime: new Date(1_700_000_000_000), linkpath: e.linkpath, uid: 0, gid: 0 } as const;
    if (new Header(fields).encode(block, 0)) parts.push(new Pax({ path: e.path, linkpath: e.linkpath }).encode());
    parts.push(block);
    if (data.length) {
      parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
