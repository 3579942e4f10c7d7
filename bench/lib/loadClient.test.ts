// The load bench's client against a real in-process server: it does every kind of request without
// an error when all is well, what it committed is on the server, and a failing request is counted
// (never hidden, never thrown), which is what makes `npm run bench -- load` exit 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../server/auth/tokens.js';
import { startHarness, type Harness } from '../../tests/integration/serverHarness.js';
import { opKinds, prng, runLoadClient } from './loadClient.js';

let h: Harness;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness({ driver: 'memory' });
  for (const device of ['d1', 'd2']) {
    const t = mintToken({ user: 'alice', device, admin: false, now: Date.now() });
    await h.store.putToken(t.record);
    tokens[device] = t.token;
  }
});
afterAll(async () => { await h.close(); });

describe('runLoadClient', () => {
  it('runs the mix with no error, and the server holds what each client committed last', async () => {
    const deadline = Date.now() + 120_000;
    const results = await Promise.all(['d1', 'd2'].map((device, i) => runLoadClient({ url: h.url, token: tokens[device]!, user: 'alice', device, seed: 7 + i, deadline, maxSteps: 60 })));
    for (const r of results) {
      expect(r.firstErrors).toEqual([]);
      for (const k of opKinds) expect(r.errors[k]).toBe(0);
      for (const k of ['upload', 'commit', 'changes', 'noop'] as const) expect(r.latencies[k].length, k).toBeGreaterThan(0);
      expect(r.bytesUp).toBeGreaterThanOrEqual(1024 * r.latencies.upload.length);
      expect(r.bytesUp).toBeLessThanOrEqual(64 * 1024 * r.latencies.upload.length);
    }
    expect(results[0]!.latencies.download.length + results[1]!.latencies.download.length).toBeGreaterThan(0);
    const m = await (await h.req('/v1/users/alice/manifest', { token: h.tokens.alice })).json() as { entries: Array<{ path: string; hash: string }> };
    const onServer = new Map(m.entries.map((e) => [e.path, e.hash]));
    for (const r of results) {
      expect(r.committed.size).toBeGreaterThan(0);
      for (const [path, hash] of r.committed) expect(onServer.get(path), path).toBe(hash);
    }
  });

  it('counts every failed request by kind and keeps the first messages', async () => {
    // bob's token on alice's data: every request is refused with 403.
    const r = await runLoadClient({ url: h.url, token: h.tokens.bob, user: 'alice', device: 'intruder', seed: 1, deadline: Date.now() + 120_000, maxSteps: 20 });
    const failed = opKinds.reduce((s, k) => s + r.errors[k], 0);
    expect(failed).toBeGreaterThan(0);
    expect(r.latencies.upload.length + r.latencies.commit.length + r.latencies.changes.length).toBe(0);
    expect(r.firstErrors[0]).toMatch(/^alice\/intruder \w+: .*403/);
    expect(r.committed.size).toBe(0);
  });

  it('draws the same sizes from the same seed', () => {
    const a = prng(42);
    const b = prng(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
