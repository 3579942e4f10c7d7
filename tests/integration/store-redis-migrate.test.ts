// The Redis key layout version: a v1 layout (global blob refs, per-user `owns` sets, tokens in
// <prefix>tokens/<prefix>tokenhash) is migrated once at start-up, also when two servers start at
// once; a layout newer than the code is refused. Real Redis; v1 data is made by rewriting the keys
// a v2 store wrote into their v1 form with plain commands.
import { Redis } from 'ioredis';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { mintToken } from '../../server/auth/tokens.js';
import { sha256 } from '../../server/store/contract.js';
import { RedisStore } from '../../server/store/redis/RedisStore.js';
import type { RedisBlock } from '../../server/store/redis/redisOptions.js';
import { getService, redisBlock, uniqueId } from '../setup/testServices.js';

async function readAll(stream: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

/** Rewrites the v2 keys under `p` into the v1 layout, as a v1 server would have left them. */
async function downgradeToV1(r: Redis, p: string): Promise<void> {
  // layout 2 retires the layout-1 keys (strings a v1 server fails on); v1 data has none of that
  for (const key of [...await r.keys(`${p}{u:*}:owns`), `${p}refs`, `${p}tokens`, `${p}tokenhash`, `${p}v1-retired`]) await r.del(key);
  const refs = new Map<string, number>();
  for (const key of await r.keys(`${p}{u:*}:blobs`)) {
    const base = key.slice(0, -'blobs'.length);
    const hashes = await r.hkeys(key);
    if (hashes.length > 0) await r.sadd(`${base}owns`, ...hashes);
    await r.del(key);
    for (const [h, n] of Object.entries(await r.hgetall(`${base}refs`))) refs.set(h, (refs.get(h) ?? 0) + Number(n));
    await r.del(`${base}refs`);
  }
  if (refs.size > 0) await r.hset(`${p}refs`, Object.fromEntries(refs));
  for (const key of await r.keys(`${p}{b:*}:holders`)) {
    const at = Math.max(...Object.values(await r.hgetall(key)).map((h) => Number(h.split(':').pop())));
    await r.hset(key.replace(/holders$/, 'meta'), 'at', String(at));
    await r.del(key);
  }
  if (await r.exists(`${p}{tokens}:byid`)) await r.rename(`${p}{tokens}:byid`, `${p}tokens`);
  if (await r.exists(`${p}{tokens}:byhash`)) await r.rename(`${p}{tokens}:byhash`, `${p}tokenhash`);
  await r.del(`${p}schema`);
}

async function setup(): Promise<{ admin: Redis; block: RedisBlock; p: string; make: () => Promise<RedisStore> }> {
  const facts = await getService('redis');
  const admin = new Redis({ host: facts.host, port: facts.port, username: facts.username, password: facts.password });
  const block = redisBlock(facts, 'tcp') as unknown as RedisBlock;
  const p = `m${uniqueId()}:`;
  const make = async () => { const s = new RedisStore({ redis: block, keyPrefix: p }); await s.open(); return s; };
  return { admin, block, p, make };
}

const file = (path: string, content: string) => ({ path, baseRev: 0, deleted: false, kind: 'file' as const, hash: sha256(content), size: content.length, mode: 0o644, mtime: 0 });

describe('RedisStore layout versions', () => {
  it('migrates a v1 layout once at start-up: blobs, holds, refs and tokens carry over, old keys go', async () => {
    const { admin, p, make } = await setup();
    try {
      const v2 = await make();
      const shared = 'shared by alice and bob', orphan = 'uploaded by alice, never committed';
      for (const [user, c] of [['alice', shared], ['bob', shared], ['alice', orphan]] as const) await v2.putBlob(user, sha256(c), Readable.from([Buffer.from(c)]), 1024);
      expect((await v2.commit({ user: 'alice', device: 'd', ops: [file('.a', shared)], now: 1 })).ok).toBe(true);
      expect((await v2.commit({ user: 'bob', device: 'd', ops: [file('.b', shared)], now: 1 })).ok).toBe(true);
      const { token, record } = mintToken({ user: 'alice', device: 'laptop', admin: false, now: 1 });
      await v2.putToken(record);
      await v2.close();
      await downgradeToV1(admin, p);
      expect(await admin.exists(`${p}refs`, `${p}tokens`, `${p}{u:alice}:owns`)).toBe(3);

      // two servers start at once on the v1 data: one migrates, the other waits for it
      const [s1, s2] = await Promise.all([make(), make()]);
      try {
        expect(await admin.get(`${p}schema`)).toBe('2');
        expect(await admin.exists(`${p}migrate-lock`)).toBe(0);
        // the old keys are retired: replaced by strings a layout-1 server fails on (WRONGTYPE)
        for (const k of ['refs', 'tokens', 'tokenhash', '{u:alice}:owns', '{u:bob}:owns']) expect(await admin.type(`${p}${k}`)).toBe('string');
        for (const s of [s1, s2]) {
          expect(await readAll((await s.getBlob('alice', sha256(shared)))!.stream)).toBe(shared);
          expect(await readAll((await s.getBlob('bob', sha256(shared)))!.stream)).toBe(shared);
          expect(await s.hasBlob('alice', sha256(orphan))).toBe(true);
          expect(await s.hasBlob('bob', sha256(orphan))).toBe(false);
          expect((await s.getTokenByHash(record.hash))?.id).toBe(record.id);
        }
        expect(token.length).toBeGreaterThan(10);
        // refs were rebuilt per user: gc takes only the orphan; the shared bytes stay for both users
        expect(await s1.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 1, bytesFreed: orphan.length });
        expect(await s1.hasBlob('alice', sha256(shared))).toBe(true);
        // and commits go on from the old head
        const next = await s2.commit({ user: 'alice', device: 'd', ops: [file('.c', shared)], now: 2 });
        expect(next.ok && next.rev).toBe(2);
        // once alice no longer references it, only bob's hold keeps the bytes
        expect((await s1.commit({ user: 'alice', device: 'd', ops: [{ ...file('.a', shared), baseRev: 1, deleted: true, hash: null, size: 0 }, { ...file('.c', shared), baseRev: 2, deleted: true, hash: null, size: 0 }], now: 3 })).ok).toBe(true);
        await s1.applyRetention('alice', { versions: 0, days: 0 }, 100 * 86_400_000);
        expect(await s1.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
        expect(await s1.hasBlob('alice', sha256(shared))).toBe(false);
        expect(await readAll((await s1.getBlob('bob', sha256(shared)))!.stream)).toBe(shared);
      } finally {
        await s2.close();
        await s1.destroyAll();
        await s1.close();
      }
    } finally { admin.disconnect(); }
  });

  it('refuses a layout newer than this code with SCHEMA_TOO_NEW and a fix', async () => {
    const { admin, p, block } = await setup();
    try {
      await admin.set(`${p}schema`, '3');
      const err = await new RedisStore({ redis: block, keyPrefix: p }).open().then(() => null, (e: unknown) => e as Error & { code?: string; hint?: string });
      expect(err?.code).toBe('SCHEMA_TOO_NEW');
      expect(err?.message).toContain('layout 3');
      expect(err?.hint).toMatch(/Upgrade/);
    } finally {
      await admin.del(`${p}schema`);
      admin.disconnect();
    }
  });

  it('records the layout on a fresh prefix without migrating anything', async () => {
    const { admin, p, make } = await setup();
    try {
      const s = await make();
      expect(await admin.get(`${p}schema`)).toBe('2');
      await s.destroyAll();
      await s.close();
    } finally { admin.disconnect(); }
  });
  // Review finding: after the migration a layout-1 server still running kept writing the old keys
  // (owns sets, the global refs), which layout 2 never reads; its commits passed, and the next gc
  // deleted the bytes they referenced. The old server's writes are emulated with the raw commands
  // its code sends (SADD/SISMEMBER on {u:<user>}:owns, HINCRBY on refs, HGET on tokenhash, and an
  // upload's data/meta with 'at' but no holders).
  it('retires the layout-1 keys: a layout-1 server still running gets errors, and gc keeps the bytes it wrote within the grace', async () => {
    const { admin, p, make } = await setup();
    try {
      const v2 = await make();
      const old = 'old content', fresh = 'fresh content written by an old server';
      await v2.putBlob('alice', sha256(old), Readable.from([Buffer.from(old)]), 1024);
      expect((await v2.commit({ user: 'alice', device: 'd', ops: [file('.a', old)], now: 1 })).ok).toBe(true);
      const { record } = mintToken({ user: 'alice', device: 'laptop', admin: false, now: 1 });
      await v2.putToken(record);
      await v2.close();
      await downgradeToV1(admin, p);
      const s = await make(); // migrates
      try {
        const h = sha256(fresh);
        // the old server's upload: bytes and meta (with its upload time) land, then its ownership write fails
        await admin.rpush(`${p}{b:${h}}:data`, fresh);
        await admin.hset(`${p}{b:${h}}:meta`, 'size', String(fresh.length), 'chunks', '1', 'at', String(Date.now()));
        await admin.sadd(`${p}blobs`, h);
        await expect(admin.sadd(`${p}{u:alice}:owns`, h)).rejects.toThrow(/WRONGTYPE/);
        // its commit's check, its reference count and its token lookup fail too
        await expect(admin.sismember(`${p}{u:alice}:owns`, h)).rejects.toThrow(/WRONGTYPE/);
        await expect(admin.hincrby(`${p}refs`, h, 1)).rejects.toThrow(/WRONGTYPE/);
        await expect(admin.hget(`${p}tokenhash`, record.hash)).rejects.toThrow(/WRONGTYPE/);
        await expect(admin.hset(`${p}tokens`, 'x', '{}')).rejects.toThrow(/WRONGTYPE/);
        // gc keeps holder-less bytes younger than the grace, and takes them after it
        expect(await s.gcBlobs()).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
        expect(await admin.exists(`${p}{b:${h}}:data`)).toBe(1);
        expect(await s.gcBlobs({ graceMs: 0, now: Date.now() + 1000 })).toEqual({ blobsRemoved: 1, bytesFreed: fresh.length });
        expect(await readAll((await s.getBlob('alice', sha256(old)))!.stream)).toBe(old);
        // and a restart finds nothing left to retire
        const again = await make();
        expect(await again.hasBlob('alice', sha256(old))).toBe(true);
        await again.close();
      } finally {
        await s.destroyAll();
        await s.close();
      }
    } finally { admin.disconnect(); }
  });

  it('retires layout-1 keys an old server re-created on data an earlier layout-2 server migrated', async () => {
    const { admin, p, make } = await setup();
    try {
      const s = await make();
      const content = 'uploaded through an old server after the upgrade';
      const h = sha256(content);
      // what a layout-2 server that deleted the old keys left, then an old server's upload
      await admin.del(`${p}v1-retired`, `${p}refs`, `${p}tokens`, `${p}tokenhash`);
      await admin.rpush(`${p}{b:${h}}:data`, content);
      await admin.hset(`${p}{b:${h}}:meta`, 'size', String(content.length), 'chunks', '1', 'at', String(Date.now()));
      await admin.sadd(`${p}{u:bob}:owns`, h);
      await admin.hset(`${p}refs`, h, '1');
      await s.close();
      const again = await make();
      try {
        for (const k of ['refs', 'tokens', 'tokenhash', '{u:bob}:owns']) expect(await admin.type(`${p}${k}`)).toBe('string');
        expect(await readAll((await again.getBlob('bob', h))!.stream)).toBe(content);
        expect(await admin.get(`${p}v1-retired`)).toBe('1');
      } finally {
        await again.destroyAll();
        await again.close();
      }
    } finally { admin.disconnect(); }
  });

  // Review finding: the migrator renewed its lock only now and then and never checked it still held
  // it, so one that stalled past the lock kept writing while another migrated (or after it finished).
  it('a migrator that does not hold the lock writes nothing, and a re-run never overwrites refs already rebuilt', async () => {
    const { admin, p, make } = await setup();
    try {
      const s = await make();
      const c = 'content';
      await s.putBlob('alice', sha256(c), Readable.from([Buffer.from(c)]), 1024);
      expect((await s.commit({ user: 'alice', device: 'd', ops: [file('.a', c)], now: 1 })).ok).toBe(true);
      await downgradeToV1(admin, p);
      const migrate = (lock: string) => (s as unknown as { migrateFromV1(lock: string): Promise<void> }).migrateFromV1(lock);
      await admin.set(`${p}migrate-lock`, 'another server');
      await expect(migrate('mine')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/lost the migration lock/) });
      expect(await admin.type(`${p}{u:alice}:owns`)).toBe('set');
      expect(await admin.type(`${p}refs`)).toBe('hash');
      expect(await admin.exists(`${p}schema`, `${p}{u:alice}:blobs`, `${p}{u:alice}:refs`)).toBe(0);
      await admin.set(`${p}migrate-lock`, 'mine');
      await migrate('mine');
      expect(await admin.get(`${p}schema`)).toBe('2');
      expect(await admin.hget(`${p}{u:alice}:refs`, sha256(c))).toBe('1');
      // a stale migrator running again (its history read before later commits) leaves the counts alone
      await admin.hset(`${p}{u:alice}:refs`, sha256(c), '7');
      await migrate('mine');
      expect(await admin.hget(`${p}{u:alice}:refs`, sha256(c))).toBe('7');
      await s.destroyAll();
      await s.close();
    } finally { admin.disconnect(); }
  });
});
