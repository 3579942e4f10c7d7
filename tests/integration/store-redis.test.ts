// The Store contract against a real Redis over TCP, a unix socket and TLS (each test in its own key prefix).
import { Redis } from 'ioredis';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../server/store/contract.js';
import { describeStoreContract } from '../../server/store/contract.js';
import { RedisStore } from '../../server/store/redis/RedisStore.js';
import type { RedisBlock } from '../../server/store/redis/redisOptions.js';
import { getService, redisBlock, uniqueId, type Transport } from '../setup/testServices.js';

async function openStore(via: Transport): Promise<{ store: RedisStore; cleanup: () => Promise<void>; reopen: () => Promise<RedisStore> }> {
  const facts = await getService(via === 'tls' ? 'redis-tls' : via === 'socket' ? 'redis-socket' : 'redis');
  const keyPrefix = `t${uniqueId()}:`;
  const make = async (): Promise<RedisStore> => {
    const s = new RedisStore({ redis: redisBlock(facts, via) as unknown as RedisBlock, keyPrefix });
    await s.open();
    return s;
  };
  const store = await make();
  return {
    store,
    reopen: make,
    cleanup: async () => {
      await store.close();
      const sweeper = await make();
      await sweeper.destroyAll();
      await sweeper.close();
    },
  };
}

for (const via of ['tcp', 'socket', 'tls'] as const) {
  describeStoreContract(`RedisStore over ${via}`, () => openStore(via), { persistent: true });
}

describe('RedisStore specifics', () => {
  // Review finding: a script failing inside a putBlobs group left the blobs before it stored and
  // held but not in the user's index (not stored as far as a commit can tell, yet not reported so).
  it('putBlobs: when one blob\'s script fails, the blobs before it are indexed and it and the rest are not', async () => {
    const facts = await getService('redis');
    const admin = new Redis({ host: facts.host, port: facts.port, username: facts.username, password: facts.password });
    const keyPrefix = `t${uniqueId()}:`;
    const store = new RedisStore({ redis: redisBlock(facts, 'tcp') as unknown as RedisBlock, keyPrefix });
    await store.open();
    try {
      const blobs = ['one', 'two', 'three', 'four'].map((t) => Buffer.from(`blob ${t}`));
      // the third blob's holders key has the wrong type: its script fails with WRONGTYPE
      await admin.set(`${keyPrefix}{b:${sha256(blobs[2]!)}}:holders`, 'not a hash');
      const err = await store.putBlobs('alice', (async function* () { for (const b of blobs) yield { hash: sha256(b), data: Readable.from([b]) }; })(), 1024).then(() => null, (e: unknown) => e as Error);
      expect(err?.message).toMatch(/WRONGTYPE/);
      expect(await Promise.all(blobs.map((b) => store.hasBlob('alice', sha256(b))))).toEqual([true, true, false, false]);
      expect((await store.commit({ user: 'alice', device: 'd', ops: [{ path: 'f', baseRev: 0, deleted: false, kind: 'file', hash: sha256(blobs[1]!), size: blobs[1]!.length, mode: 0o644, mtime: 0 }], now: 1 })).ok).toBe(true);
      await store.destroyAll();
    } finally { await store.close(); admin.disconnect(); }
  });

  it('warns in health() when persistence is off and names the target', async () => {
    const { store, cleanup } = await openStore('tcp');
    try {
      const h = await store.health();
      expect(h.ok).toBe(true);
      expect(h.details?.persistence).toBe('off');
      expect(h.warnings?.join(' ')).toMatch(/appendonly/);
    } finally { await cleanup(); }
  });

  it('refuses a TLS connection whose CA does not match, with the address in the error', async () => {
    const facts = await getService('redis-tls');
    const block = { ...redisBlock(facts, 'tls'), tls_ca: undefined } as unknown as RedisBlock;
    const store = new RedisStore({ redis: block, connectTimeoutMs: 2000 });
    const err = await store.open().then(() => null, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('STORE_UNAVAILABLE');
    expect(err?.message).toContain(`rediss://127.0.0.1:${facts.port}`);
  });

  it('checks the server certificate against tls_server_name', async () => {
    const facts = await getService('redis-tls');
    const store = new RedisStore({ redis: { ...redisBlock(facts, 'tls'), tls_server_name: 'wrong.example' } as unknown as RedisBlock, connectTimeoutMs: 2000 });
    const err = await store.open().then(() => null, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('STORE_UNAVAILABLE');
    expect(err?.message).toMatch(/wrong\.example/);
  });

  it('logs in as an ACL user without CONFIG rights (persistence read from INFO) and refuses a wrong password', async () => {
    const facts = await getService('redis');
    const admin = new Redis({ host: facts.host, port: facts.port, username: facts.username, password: facts.password });
    const user = `dman_${uniqueId()}`;
    const prefix = `acl${uniqueId()}:`;
    await admin.call('ACL', 'SETUSER', user, 'on', '>s3cret-pass', `~${prefix}*`, `&${prefix}*`, '+@all', '-@admin', '-config');
    try {
      const block = { ...redisBlock(facts, 'tcp'), username: user, password: 's3cret-pass' } as unknown as RedisBlock;
      const store = new RedisStore({ redis: block, keyPrefix: prefix });
      await store.open();
      try {
        expect((await store.health()).details?.persistence).toBe('off');
        const data = Buffer.from('acl content');
        await store.putBlob('alice', sha256(data), Readable.from([data]), 100);
        const out = await store.commit({ user: 'alice', device: 'd', ops: [{ path: 'f', baseRev: 0, deleted: false, kind: 'file', hash: sha256(data), size: data.length, mode: 0o644, mtime: 0 }], now: 1 });
        expect(out.ok).toBe(true);
        // every key of a user shares one hash tag (Cluster: one slot), every blob key its own
        const keys = await admin.keys(`${prefix}*`);
        // (refs, tokens, tokenhash: retired layout-1 keys, strings an old server fails on; see README)
        const perUser = keys.filter((k) => !/^[^{]*(users|blobs|schema|audit|v1-retired|refs|tokens|tokenhash)$/.test(k));
        expect(perUser.length).toBeGreaterThan(3);
        for (const k of perUser) expect(k).toMatch(new RegExp(`^${prefix}\\{(u:alice|b:${sha256(data)})\\}:`));
        await store.destroyAll();
      } finally { await store.close(); }
      const wrong = new RedisStore({ redis: { ...block, password: 'nope' } as RedisBlock, keyPrefix: prefix });
      const err = await wrong.open().then(() => null, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe('STORE_UNAVAILABLE');
      expect(err?.message).toMatch(/WRONGPASS|invalid username-password/i);
    } finally {
      await admin.call('ACL', 'DELUSER', user);
      admin.disconnect();
    }
  });
});
