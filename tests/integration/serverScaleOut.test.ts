// Two server processes' worth of servers sharing one Redis: a commit through one is pushed to a
// client of the other within milliseconds, and CAS holds across them (exactly one writer wins).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisTestStore, sha, startHarness, type Harness } from './serverHarness.js';
import { uniqueId } from '../setup/testServices.js';
import type { RedisStore } from '../../server/store/redis/RedisStore.js';

let a: Harness;
let b: Harness;
let storeB: RedisStore;
beforeAll(async () => {
  const prefix = `scale${uniqueId()}:`;
  const storeA = await redisTestStore(prefix);
  storeB = await redisTestStore(prefix);
  a = await startHarness({ store: storeA });
  // Each harness adds its own tokens to the shared database; both servers accept all of them.
  b = await startHarness({ store: storeB });
});
afterAll(async () => {
  await a.close();
  await storeB.destroyAll();
  await b.close();
});

const put = (h: Harness, token: string, data: string) => h.req(`/v1/users/alice/blobs/${sha(data)}`, { method: 'PUT', token, headers: { 'content-type': 'application/octet-stream' }, body: data });
const commit = (h: Harness, token: string, ops: unknown[]) => h.req('/v1/users/alice/commit', { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops }) });

describe('servers sharing one Redis', () => {
  it('pushes a commit made through server A to a push stream on server B', async () => {
    const ac = new AbortController();
    const res = await b.req('/v1/users/alice/events', { token: b.tokens.alice, signal: ac.signal });
    const reader = res.body!.getReader();
    let buf = '';
    const revs: number[] = [];
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buf += new TextDecoder().decode(value);
        for (const m of buf.matchAll(/data: (\{[^\n]*\})\n\n/g)) revs.push(JSON.parse(m[1]!).rev);
        buf = buf.slice(buf.lastIndexOf('\n\n') + 2);
      }
    })();
    await expect.poll(() => revs.length).toBe(1);
    await put(a, a.tokens.alice, 'shared');
    const t0 = performance.now();
    expect((await commit(a, a.tokens.alice, [{ path: 'x', baseRev: 0, hash: sha('shared'), size: 6 }])).status).toBe(200);
    await expect.poll(() => revs.at(-1), { interval: 5 }).toBe(revs[0]! + 1);
    expect(performance.now() - t0).toBeLessThan(1000);
    ac.abort();
    await pump;
  });

  it('lets exactly one of two writers on different servers win', async () => {
    await put(a, a.tokens.alice, 'base');
    const c = await commit(a, a.tokens.alice, [{ path: 'race', baseRev: 0, hash: sha('base'), size: 4 }]);
    const base = (await c.json()).rev as number;
    await put(a, a.tokens.alice, 'from-a');
    await put(b, b.tokens.alice, 'from-b');
    const [ra, rb] = await Promise.all([
      commit(a, a.tokens.alice, [{ path: 'race', baseRev: base, hash: sha('from-a'), size: 6 }]),
      commit(b, b.tokens.alice, [{ path: 'race', baseRev: base, hash: sha('from-b'), size: 6 }]),
    ]);
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
  });
});
