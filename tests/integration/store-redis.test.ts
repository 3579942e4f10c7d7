// The Store contract against a real Redis over TCP, a unix socket and TLS (each test in its own key prefix).
import { describe, expect, it } from 'vitest';
import { describeStoreContract } from '../../server/store/contract.js';
import { RedisStore } from '../../server/store/redis/RedisStore.js';
import type { RedisBlock } from '../../server/store/redis/redisOptions.js';
import { getService, redisBlock, uniqueId, type Transport } from '../setup/testServices.js';

async function openStore(via: Transport): Promise<{ store: RedisStore; cleanup: () => Promise<void> }> {
  const facts = await getService(via === 'tls' ? 'redis-tls' : via === 'socket' ? 'redis-socket' : 'redis');
  const store = new RedisStore({ redis: redisBlock(facts, via) as unknown as RedisBlock, keyPrefix: `t${uniqueId()}:` });
  await store.open();
  return { store, cleanup: async () => { await store.destroyAll(); await store.close(); } };
}

for (const via of ['tcp', 'socket', 'tls'] as const) {
  describeStoreContract(`RedisStore over ${via}`, () => openStore(via));
}

describe('RedisStore specifics', () => {
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
});
