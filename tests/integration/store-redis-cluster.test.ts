// The Store contract against a real 3-master Redis Cluster (started by the global test setup), plus
// what only a cluster shows: users spread over slots and nodes, every key of one user in one slot,
// notifications from a commit on any node reaching another server process, and bad cluster config.
import { Redis } from 'ioredis';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeStoreContract, sha256, waitFor } from '../../server/store/contract.js';
import { RedisStore } from '../../server/store/redis/RedisStore.js';
import type { RedisBlock } from '../../server/store/redis/redisOptions.js';
import { startRedisCluster, type RedisClusterFacts } from '../setup/services.js';
import { getService, uniqueId } from '../setup/testServices.js';

function clusterBlock(f: RedisClusterFacts, over: Partial<RedisBlock> = {}): RedisBlock {
  // One seed in addr, the rest in nodes: the client must find the whole cluster from them.
  return { cluster: true, addr: `${f.host}:${f.ports[0]}`, nodes: f.ports.slice(1).map((p) => `${f.host}:${p}`), db: 0, tls: false, tls_insecure_skip_verify: false, ...over };
}

async function openStore(keyPrefix = `c${uniqueId()}:`): Promise<{ store: RedisStore; cleanup: () => Promise<void>; reopen: () => Promise<RedisStore>; facts: RedisClusterFacts }> {
  const facts = await getService('redis-cluster');
  const make = async (): Promise<RedisStore> => {
    const s = new RedisStore({ redis: clusterBlock(facts), keyPrefix, commandTimeoutMs: 10_000 });
    await s.open();
    return s;
  };
  const store = await make();
  return {
    store, facts, reopen: make,
    cleanup: async () => {
      await store.close();
      const sweeper = await make();
      await sweeper.destroyAll();
      await sweeper.close();
    },
  };
}

describeStoreContract('RedisStore on a 3-master Redis Cluster', () => openStore(), { persistent: true });

/** Maps each slot range of the cluster to the port of the master serving it. */
async function slotOwners(admin: Redis): Promise<Array<{ from: number; to: number; port: number }>> {
  const slots = (await admin.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
  return slots.map(([from, to, master]) => ({ from, to, port: master[1] }));
}

describe('RedisStore on a Redis Cluster', () => {
  it('puts the commits of different users on different slots and nodes, and every key of one user in one slot', async () => {
    const { store, cleanup, facts } = await openStore();
    const admin = new Redis({ host: facts.host, port: facts.ports[0] });
    try {
      const users = Array.from({ length: 12 }, (_, i) => `user${i}`);
      for (const user of users) {
        const data = Buffer.from(`dotfile of ${user}`);
        await store.putBlob(user, sha256(data), Readable.from([data]), 1024);
        const out = await store.commit({ user, device: 'd', ops: [{ path: '.bashrc', baseRev: 0, deleted: false, kind: 'file', hash: sha256(data), size: data.length, mode: 0o644, mtime: 0 }], now: 1 });
        expect(out.ok).toBe(true);
      }
      const owners = await slotOwners(admin);
      const nodeOf = (slot: number) => owners.find((o) => slot >= o.from && slot <= o.to)!.port;
      const placed = new Map<string, { slot: number; port: number }>();
      for (const user of users) {
        const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', `{u:${user}}`));
        placed.set(user, { slot, port: nodeOf(slot) });
      }
      expect(new Set([...placed.values()].map((p) => p.slot)).size).toBe(users.length);
      expect(new Set([...placed.values()].map((p) => p.port))).toEqual(new Set(facts.ports));
      // Each user's data really sits on the node that owns the user's slot (asked directly, no redirects).
      const prefix = (store as unknown as { p: string }).p;
      for (const [user, { slot, port }] of placed) {
        const node = new Redis({ host: facts.host, port });
        try {
          const keys = await node.keys(`${prefix}{u:${user}}:*`);
          expect(keys.length, `keys of ${user} on node ${port}`).toBeGreaterThanOrEqual(6);
          for (const k of keys) expect(Number(await node.call('CLUSTER', 'KEYSLOT', k)), k).toBe(slot);
        } finally { node.disconnect(); }
      }
      // and the store reads every user back through the cluster client
      for (const user of users) expect((await store.getEntry(user, '.bashrc'))?.rev).toBe(1);
      expect(await store.listUsers()).toEqual([...users].sort());
      // destroyAll reaches every master: nothing under the prefix is left on any node
      await store.destroyAll();
      for (const port of facts.ports) {
        const node = new Redis({ host: facts.host, port });
        try { expect(await node.keys(`${prefix}*`), `node ${port}`).toEqual([]); } finally { node.disconnect(); }
      }
    } finally {
      admin.disconnect();
      await cleanup();
    }
  });

  it('tells another server process about commits of users on every node (pub/sub across the cluster)', async () => {
    const keyPrefix = `n${uniqueId()}:`;
    const a = await openStore(keyPrefix);
    const b = await a.reopen();
    const admin = new Redis({ host: a.facts.host, port: a.facts.ports[0] });
    try {
      const owners = await slotOwners(admin);
      // one user per master, so the commit scripts (and their PUBLISH) run on every node
      const byPort = new Map<number, string>();
      for (let i = 0; byPort.size < a.facts.ports.length && i < 200; i++) {
        const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', `{u:n${i}}`));
        const port = owners.find((o) => slot >= o.from && slot <= o.to)!.port;
        if (!byPort.has(port)) byPort.set(port, `n${i}`);
      }
      expect(byPort.size).toBe(a.facts.ports.length);
      const seen: string[] = [];
      const off = b.subscribe('*', (user, rev) => seen.push(`${user}@${rev}`));
      for (const user of byPort.values()) {
        const out = await a.store.commit({ user, device: 'd', ops: [{ path: 'gone', baseRev: 0, deleted: true, kind: 'file', hash: null, size: 0, mode: 0o644, mtime: 0 }], now: 1 });
        expect(out.ok).toBe(true);
      }
      const want = [...byPort.values()].map((u) => `${u}@1`).sort();
      await waitFor(() => seen.length >= want.length, 10_000, 'notifications on the other store');
      expect([...seen].sort()).toEqual(want);
      off();
    } finally {
      admin.disconnect();
      await b.close();
      await a.cleanup();
    }
  });

  it('refuses a cluster block with a unix socket or a database other than 0, saying how to fix it', async () => {
    const facts = await getService('redis-cluster');
    for (const [over, key] of [[{ socket: '/run/redis.sock' }, 'redis.socket'], [{ db: 2 }, 'redis.db']] as const) {
      const store = new RedisStore({ redis: clusterBlock(facts, over) });
      const err = await store.open().then(() => null, (e: unknown) => e as Error & { code?: string; hint?: string; context?: { key?: string } });
      expect(err?.code).toBe('CONFIG_INVALID');
      expect(err?.context?.key).toBe(key);
      expect(err?.hint?.length).toBeGreaterThan(10);
    }
  });

  it('names the seed nodes when the cluster cannot be reached', async () => {
    const store = new RedisStore({ redis: { cluster: true, addr: '127.0.0.1:1', db: 0, tls: false, tls_insecure_skip_verify: false }, connectTimeoutMs: 1000, maxBackoffMs: 100 });
    const err = await store.open().then(() => null, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('STORE_UNAVAILABLE');
    expect(err?.message).toContain('redis cluster 127.0.0.1:1');
  });
});

describe('RedisStore on a Redis Cluster with a master down', () => {
  it('fails with STORE_UNAVAILABLE (retryable) while a master is down, and works again once it is back', async () => {
    // Its own cluster: killing a node of the shared one would break the other tests.
    const inst = await startRedisCluster();
    const store = new RedisStore({ redis: clusterBlock(inst.facts), keyPrefix: `k${uniqueId()}:`, commandTimeoutMs: 1000, connectTimeoutMs: 1000, maxBackoffMs: 100 });
    try {
      await store.open();
      const admin = new Redis({ host: inst.facts.host, port: inst.facts.ports[0] });
      const owners = await slotOwners(admin);
      admin.disconnect();
      // a user whose slot is on the last node, which is the one killed
      const victim = inst.facts.ports[inst.facts.ports.length - 1]!;
      const probe = new Redis({ host: inst.facts.host, port: inst.facts.ports[0] });
      let user = '';
      for (let i = 0; !user && i < 500; i++) {
        const slot = Number(await probe.call('CLUSTER', 'KEYSLOT', `{u:k${i}}`));
        if (owners.find((o) => slot >= o.from && slot <= o.to)!.port === victim) user = `k${i}`;
      }
      probe.disconnect();
      expect(user).not.toBe('');
      const del = (baseRev: number | null) => ({ path: 'f', baseRev, deleted: true, kind: 'file' as const, hash: null, size: 0, mode: 0o644, mtime: 0 });
      expect((await store.commit({ user, device: 'd', ops: [del(0)], now: 1 })).ok).toBe(true);
      await inst.killNode(inst.facts.ports.length - 1);
      const err = await store.commit({ user, device: 'd', ops: [del(null)], now: 2 }).then(() => null, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe('STORE_UNAVAILABLE');
      expect(err?.message).toContain('redis cluster');
      await inst.ensureRunning();
      // the cluster client finds the node again (the data of that node is gone: no persistence in this test)
      let out: Awaited<ReturnType<RedisStore['commit']>> | null = null;
      const until = Date.now() + 30_000;
      while (!out && Date.now() < until) {
        out = await store.commit({ user, device: 'd', ops: [del(null)], now: 3 }).catch(() => null);
        if (!out) await new Promise((r) => setTimeout(r, 200));
      }
      expect(out?.ok).toBe(true);
    } finally {
      await store.close();
      await inst.stop();
    }
  });
});
