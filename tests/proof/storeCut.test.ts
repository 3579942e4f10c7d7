// Crash points of Redis and MariaDB commits (issue 9): the store's database connection is cut
// after exactly k bytes of a batch commit, for k spread over the whole commit. After each cut,
// a fresh store on a direct connection sees the batch wholly old or wholly new, every blob
// intact, and a retry with the same idempotency key applies exactly once.
import { Readable } from 'node:stream';
import { createConnection } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { MariaDbStore } from '../../server/store/mariadb/MariaDbStore.js';
import type { DbBlock } from '../../server/store/mariadb/mariaDbOptions.js';
import { RedisStore } from '../../server/store/redis/RedisStore.js';
import type { RedisBlock } from '../../server/store/redis/redisOptions.js';
import type { Store } from '../../server/store/Store.js';
import { getService, mariaDbBlock, redisBlock, uniqueId } from '../setup/testServices.js';
import { newBlobs, newOps, seedOld } from './crash/commitCase.js';
import { startCutProxy, type CutProxy } from './crash/cutProxy.js';
import { retry, versions } from './crash/storeCheck.js';

const POINTS = Number(process.env.DMAN_PROOF_FULL ? 40 : 10);
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });

interface Driver { open(port: number | null): Promise<Store>; target: { host: string; port: number }; drop(): Promise<void> }

async function redisDriver(): Promise<Driver> {
  const f = await getService('redis');
  const prefix = `cut${uniqueId()}:`;
  return {
    target: { host: f.host, port: f.port },
    async open(port) {
      const block = { ...redisBlock(f, 'tcp'), ...(port ? { addr: `127.0.0.1:${port}` } : {}) } as unknown as RedisBlock;
      const s = new RedisStore({ redis: block, keyPrefix: prefix });
      await s.open();
      return s;
    },
    async drop() {
      const s = new RedisStore({ redis: redisBlock(f, 'tcp') as unknown as RedisBlock, keyPrefix: prefix });
      await s.open();
      await s.destroyAll();
      await s.close();
    },
  };
}

async function mariaDriver(): Promise<Driver> {
  const f = await getService('mariadb');
  const db = `dman_cut_${uniqueId()}`;
  return {
    target: { host: f.host, port: f.port },
    async open(port) {
      const block = { ...mariaDbBlock(f, 'tcp', db), ...(port ? { addr: `127.0.0.1:${port}` } : {}) } as unknown as DbBlock;
      const s = new MariaDbStore({ db: block, pollMs: 50 });
      await s.open();
      return s;
    },
    async drop() {
      const conn = await createConnection({ host: f.host, port: f.port, user: f.user, password: f.password });
      try { await conn.query(`DROP DATABASE IF EXISTS \`${db}\``); } finally { await conn.end(); }
    },
  };
}

describe.each([['redis', redisDriver], ['mariadb', mariaDriver]] as const)('a %s connection cut inside a batch commit', (_name, make) => {
  it('leaves the batch wholly old or new, blobs intact, and a retry applies once', async () => {
    const d = await make();
    cleanups.push(() => d.drop());
    const proxy: CutProxy = await startCutProxy(d.target);
    cleanups.push(() => proxy.close());
    // Measure how many bytes one commit sends.
    let store = await d.open(null);
    await seedOld(store);
    for (const b of newBlobs('batch')) await store.putBlob('alice', b.hash, Readable.from([b.data]), 1 << 20);
    await store.close();
    store = await d.open(proxy.port);
    const ops = await newOps(store, 'batch');
    proxy.arm(0);
    const probe = await store.commit({ user: 'alice', device: 'probe', ops, now: 2, idempotencyKey: 'probe-key-0001' });
    const total = proxy.counted();
    expect(probe.ok).toBe(true);
    expect(total).toBeGreaterThan(50);
    await store.close();
    const seen = new Set<string>();
    const outcomes: string[] = [];
    // POINTS cuts spread over the commit, and one right after its last byte (the reply is lost).
    for (let i = 0; i <= POINTS; i++) {
      const k = i === POINTS ? total : Math.max(1, Math.round(((i + 0.5) / POINTS) * total));
      // A fresh user per point: same content, old version first.
      const user = `u${i}`;
      const direct = await d.open(null);
      const userStore = scoped(direct, user);
      await seedOld(userStore);
      for (const b of newBlobs('batch')) await userStore.putBlob('alice', b.hash, Readable.from([b.data]), 1 << 20);
      const viaProxy = await d.open(proxy.port);
      const scopedProxy = scoped(viaProxy, user);
      const batchOps = await newOps(scopedProxy, 'batch');
      proxy.arm(k);
      const outcome = await scopedProxy.commit({ user: 'alice', device: 'crash', ops: batchOps, now: 2, idempotencyKey: 'case-batch' }).then((r) => (r.ok ? 'ok' : 'conflict'), (e: Error) => `error ${(e as { code?: string }).code ?? e.message}`);
      proxy.arm(0);
      await viaProxy.close().catch(() => {});
      const what = `cut after ${k} of ${total} bytes (${outcome})`;
      outcomes.push(`${k}:${outcome}`);
      const v = await versions(userStore, 'batch');
      expect(v.every((x) => x === 'old' || x === 'new'), `${what}: ${v.join(', ')}`).toBe(true);
      expect(new Set(v).size, `${what}: ${v.join(', ')}`).toBe(1);
      if (outcome === 'ok') expect(v[0], what).toBe('new');
      seen.add(v[0]!);
      const head = await userStore.headRev('alice');
      const first = await retry(userStore, 'batch', batchOps);
      expect(first.ok, what).toBe(true);
      expect(first.replayed, what).toBe(v[0] === 'new');
      expect(await retry(userStore, 'batch', batchOps), what).toEqual({ ok: true, replayed: true, rev: first.rev });
      expect(await userStore.headRev('alice'), what).toBe(v[0] === 'new' ? head : first.rev);
      await direct.close();
    }
    // The cuts straddle the commit point: some leave the old batch, the last ones the new.
    expect([...seen].sort(), outcomes.join(' ')).toEqual(['new', 'old']);
    if (process.env.DMAN_PROOF_VERBOSE) console.log(`${_name}: ${total} bytes; ${outcomes.join(' ')}; seen ${[...seen].join('+')}`);
  }, 120_000);
});

/** A view of `store` where user "alice" is `user` (so each cut point starts from a clean user). */
function scoped(store: Store, user: string): Store {
  const map = (u: string): string => (u === 'alice' ? user : u);
  return new Proxy(store, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string') args[0] = map(args[0]);
        else if (args[0] && typeof args[0] === 'object' && 'user' in (args[0] as object)) args[0] = { ...(args[0] as object), user: map((args[0] as { user: string }).user) };
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
