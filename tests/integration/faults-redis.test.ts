// Faults against the Redis driver with real processes: Redis killed mid-batch and restarted, a
// proxy that stalls, resets and truncates, two stores on one Redis, and an unreachable address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../server/store/createStore.js';
import { RedisStore, type RedisStoreOptions } from '../../server/store/redis/RedisStore.js';
import type { RedisBlock } from '../../server/store/redis/redisOptions.js';
import {
  T0, conflictStorm, crossInstanceNotification, deleteOp, expectFastFailure, fileOp, httpOutage, settle, twoServersStorm, upload, waitUntil,
} from '../setup/faultHelpers.js';
import { startHarness } from './serverHarness.js';
import { freePort, startRedis, type Instance, type RedisFacts } from '../setup/services.js';
import { startTcpProxy, type TcpProxy } from '../setup/tcpProxy.js';
import { getService, redisBlock, uniqueId } from '../setup/testServices.js';

const block = (addr: string): RedisBlock => ({ addr, db: 0, tls: false, tls_insecure_skip_verify: false });

async function open(redis: RedisBlock, over: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  const store = new RedisStore({ redis, keyPrefix: `f${uniqueId()}:`, commandTimeoutMs: 1000, connectTimeoutMs: 1000, maxBackoffMs: 100, ...over });
  await store.open();
  return store;
}

describe('Redis faults', () => {
  let inst: Instance<RedisFacts>;
  beforeAll(async () => { inst = await startRedis({ persistent: true }); });
  afterAll(async () => { await inst?.stop(); });

  it('killed mid-batch then restarted: no partial batch, fast failures while down, the retry lands exactly once', async () => {
    const store = await open(block(`127.0.0.1:${inst.facts.port}`));
    try {
      const blob = await upload(store, 'alice', 'zshrc content');
      const ops = Array.from({ length: 3000 }, (_, i) => fileOp(`.config/p${i}`, 0, blob));
      const input = { user: 'alice', device: 'laptop', ops, now: T0, idempotencyKey: 'batch-0001' };
      const first = settle(store.commit(input));
      await inst.kill();
      const r1 = await first;
      if (r1.error) expect(r1.error.code).toBe('STORE_UNAVAILABLE');

      // while down: every request fails fast with STORE_UNAVAILABLE
      const err = await expectFastFailure(store.headRev('alice'), 'STORE_UNAVAILABLE', 1000);
      expect(err.message).toContain(`127.0.0.1:${inst.facts.port}`);
      await expectFastFailure(store.commit(input), 'STORE_UNAVAILABLE', 1000);
      expect((await store.health()).ok).toBe(false);

      await inst.restart();
      await waitUntil(async () => (await store.health()).ok, 10_000, 'the store to reconnect');
      // all or none of the first attempt is there
      const head = await store.headRev('alice');
      expect([0, 3000]).toContain(head);
      expect((await store.listEntries('alice')).length).toBe(head);
      // the client's retry with the same key lands exactly once
      const retry = await store.commit(input);
      expect(retry.ok && retry.rev).toBe(3000);
      expect(await store.headRev('alice')).toBe(3000);
      expect(await store.history('alice', '.config/p0')).toHaveLength(1);
      expect(await store.history('alice', '.config/p2999')).toHaveLength(1);
      // and the next ordinary request works
      expect((await store.commit({ user: 'alice', device: 'laptop', ops: [deleteOp('.config/p1', 2)], now: T0 })).ok).toBe(true);
    } finally {
      await store.destroyAll().catch(() => undefined);
      await store.close();
    }
  });

  it('through the HTTP server: a fast 503 with Retry-After while Redis is down, and success once it is back', async () => {
    const h = await startHarness({ store: new RedisStore({ redis: block(`127.0.0.1:${inst.facts.port}`), keyPrefix: `h${uniqueId()}:`, commandTimeoutMs: 1000, connectTimeoutMs: 1000, maxBackoffMs: 100 }) });
    try {
      await httpOutage(h, () => inst.kill(), () => inst.restart());
    } finally {
      await (h.store as RedisStore).destroyAll().catch(() => undefined);
      await h.close();
    }
  });

  describe('through a proxy that stalls, resets and truncates', () => {
    let proxy: TcpProxy;
    let store: RedisStore;
    beforeAll(async () => {
      await inst.ensureRunning();
      proxy = await startTcpProxy({ host: '127.0.0.1', port: inst.facts.port });
      store = await open(block(`127.0.0.1:${proxy.port}`), { commandTimeoutMs: 500 });
    });
    afterAll(async () => {
      proxy?.setMode('pass');
      await store?.destroyAll().catch(() => undefined);
      await store?.close();
      await proxy?.close();
    });
    const batch = (n: number, key: string) => ({ user: 'bob', device: 'd', ops: Array.from({ length: n }, (_, i) => deleteOp(`${key}/f${i}`, 0)), now: T0, idempotencyKey: key });

    it('a stall times out with a clear error; the held batch lands whole or not at all, and its retry exactly once', async () => {
      const before = await store.headRev('bob');
      proxy.setMode('stall');
      const err = await expectFastFailure(store.headRev('bob'), 'STORE_UNAVAILABLE', 2000);
      expect(err.message).toMatch(/timed out/i);
      const input = batch(500, 'stall-0001');
      const r = await settle(store.commit(input));
      expect(r.error?.code).toBe('STORE_UNAVAILABLE');
      proxy.setMode('pass');
      await waitUntil(async () => (await store.health()).ok, 5000, 'the proxy to pass again');
      const head = await store.headRev('bob');
      expect([before, before + 500]).toContain(head);
      const retry = await store.commit(input);
      expect(retry.ok && retry.rev).toBe(before + 500);
      expect(await store.headRev('bob')).toBe(before + 500);
    });

    it('a reset fails the request with STORE_UNAVAILABLE and the store reconnects; the retry lands exactly once', async () => {
      const before = await store.headRev('bob');
      const input = batch(2000, 'reset-0001');
      const pending = settle(store.commit(input));
      proxy.resetAll();
      const r = await pending;
      if (r.error) expect(r.error.code).toBe('STORE_UNAVAILABLE');
      await waitUntil(async () => (await store.health()).ok, 5000, 'reconnect after reset');
      expect([before, before + 2000]).toContain(await store.headRev('bob'));
      const retry = await store.commit(input);
      expect(retry.ok && retry.rev).toBe(before + 2000);
      expect((await store.listEntries('bob')).filter((e) => e.path.startsWith('reset-0001/')).length).toBe(2000);
    });

    it('a truncated command is never executed: nothing torn, and the retry lands', async () => {
      const before = await store.headRev('bob');
      const input = batch(300, 'trunc-0001');
      proxy.truncateNext(200);
      const r = await settle(store.commit(input));
      expect(r.error?.code).toBe('STORE_UNAVAILABLE');
      await waitUntil(async () => (await store.health()).ok, 5000, 'reconnect after truncation');
      expect(await store.headRev('bob')).toBe(before);
      const retry = await store.commit(input);
      expect(retry.ok && retry.rev).toBe(before + 300);
    });
  });
});

describe('two Redis stores on one database', () => {
  it('500 concurrent conflicting commits: one winner per base rev, every loser conflicts, the manifest matches the model; B hears A', async () => {
    const facts = await getService('redis');
    const prefix = `two${uniqueId()}:`;
    const a = await open(redisBlock(facts, 'tcp') as unknown as RedisBlock, { keyPrefix: prefix, commandTimeoutMs: 10_000 });
    const b = await open(redisBlock(facts, 'tcp') as unknown as RedisBlock, { keyPrefix: prefix, commandTimeoutMs: 10_000 });
    try {
      const { winners, losers } = await conflictStorm(a, b, 'carol', 500, ['.zshrc', '.gitconfig', '.vimrc', '.tmux.conf', '.ssh/config']);
      expect(winners).toBe(5);
      expect(losers).toBe(495);
      await crossInstanceNotification(a, b, 'carol');
      await crossInstanceNotification(b, a, 'carol');
    } finally {
      await a.destroyAll();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('two servers on one Redis', () => {
  it('500 concurrent conflicting commits through both: one 200 per base rev, 409 for the rest, the model manifest; B streams A\'s commits', async () => {
    const facts = await getService('redis');
    const keyPrefix = `two${uniqueId()}:`;
    const make = () => new RedisStore({ redis: redisBlock(facts, 'tcp') as unknown as RedisBlock, keyPrefix, commandTimeoutMs: 10_000 });
    const a = await startHarness({ store: make() });
    const b = await startHarness({ store: make() });
    try {
      expect(await twoServersStorm(a, b, 500, ['.zshrc', '.gitconfig', '.vimrc', '.tmux.conf', '.ssh/config'])).toEqual({ ok: 5, conflicts: 495 });
    } finally {
      await (a.store as RedisStore).destroyAll().catch(() => undefined);
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('driver selection', () => {
  it('a config naming an unreachable Redis fails at open() with the address and the error, never falling back', async () => {
    const port = await freePort();
    const store = createStore({ driver: 'redis', redis: block(`127.0.0.1:${port}`) });
    expect(store.driver).toBe('redis');
    const err = await expectFastFailure(store.open(), 'STORE_UNAVAILABLE', 6000);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});
