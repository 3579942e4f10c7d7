// Shared steps of the fault tests: run against any Store, so Redis and MariaDB prove the same things.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import type { CommitOp, Entry } from '../../shared/protocol.js';
import { MemoryStore } from '../../server/store/MemoryStore.js';
import type { CommitOutcome, Store } from '../../server/store/Store.js';
import type { Harness } from '../integration/serverHarness.js';

export const T0 = Date.UTC(2026, 0, 1);

/** Returns the lowercase hex SHA-256 of `data`. */
export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Uploads `content` as `user` and returns its hash and size. */
export async function upload(store: Store, user: string, content: string): Promise<{ hash: string; size: number }> {
  const buf = Buffer.from(content);
  const hash = sha256(buf);
  await store.putBlob(user, hash, Readable.from([buf]), 1 << 20);
  return { hash, size: buf.length };
}

/** Builds a file op. */
export function fileOp(path: string, baseRev: number | null, blob: { hash: string; size: number }): CommitOp {
  return { path, baseRev, deleted: false, kind: 'file', hash: blob.hash, size: blob.size, mode: 0o644, mtime: 0 };
}

/** Builds a tombstone op (needs no blob, so no blob lookup precedes the commit). */
export function deleteOp(path: string, baseRev: number | null): CommitOp {
  return { path, baseRev, deleted: true, kind: 'file', hash: null, size: 0, mode: 0, mtime: 0 };
}

/** Polls an async check until it returns true; fails after `ms` (an explicit wait, never a fixed sleep). */
export async function waitUntil(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try { if (await check()) return; } catch {}
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Settles a promise into a value or its error, for steps that may fail either way. */
export async function settle<T>(p: Promise<T>): Promise<{ value?: T; error?: Error & { code?: string } }> {
  try { return { value: await p }; } catch (error) { return { error: error as Error & { code?: string } }; }
}

/** Asserts that `p` fails with a DmanError of `code` within `ms`, and returns the error. */
export async function expectFastFailure(p: Promise<unknown>, code: string, ms: number): Promise<Error & { code?: string }> {
  const started = performance.now();
  const { error } = await settle(p);
  const took = performance.now() - started;
  expect(error, `expected ${code}`).toBeDefined();
  expect(error!.code).toBe(code);
  expect(took).toBeLessThan(ms);
  return error!;
}

/**
 * Fires `n` commits at once through two stores sharing one database, all based on the same revs
 * of `paths`: exactly one commit per path may win; every loser must see a conflict naming the
 * winner's entry; the final manifest must equal a MemoryStore that replays only the winners.
 */
export async function conflictStorm(a: Store, b: Store, user: string, n: number, paths: string[]): Promise<{ winners: number; losers: number }> {
  const seed = await upload(a, user, 'seed');
  const seeded = await a.commit({ user, device: 'seed', ops: paths.map((p) => fileOp(p, 0, seed)), now: T0 });
  if (!seeded.ok) throw new Error('seed commit conflicted');
  const base = new Map(seeded.entries.map((e) => [e.path, e.rev]));
  const blobs = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const content = `writer ${i}`;
    const store = i % 2 === 0 ? a : b;
    return { content, store, blob: await upload(store, user, content) };
  }));
  const attempts = blobs.map(({ store, blob }, i) => {
    const path = paths[i % paths.length]!;
    const op = fileOp(path, base.get(path)!, blob);
    return store.commit({ user, device: `dev${i}`, ops: [op], now: T0 + 1 }).then((out) => ({ i, op, out }));
  });
  const results = await Promise.all(attempts);
  const winners = results.filter((r): r is typeof r & { out: Extract<CommitOutcome, { ok: true }> } => r.out.ok);
  // exactly one winner per base rev (one per path)
  expect(winners.map((w) => w.op.path).sort()).toEqual([...paths].sort());
  const winnerEntry = new Map<string, Entry>(winners.map((w) => [w.op.path, w.out.entries[0]!]));
  for (const r of results) {
    if (r.out.ok) continue;
    expect(r.out.conflicts).toEqual([{ path: r.op.path, expected: base.get(r.op.path), current: winnerEntry.get(r.op.path) }]);
  }
  // the reference model: the seed plus the winners, replayed in rev order
  const model = new MemoryStore();
  await model.open();
  await upload(model, user, 'seed');
  await model.commit({ user, device: 'seed', ops: paths.map((p) => fileOp(p, 0, seed)), now: T0 });
  for (const w of [...winners].sort((x, y) => x.out.rev - y.out.rev)) {
    await upload(model, user, blobs[w.i]!.content);
    const out = await model.commit({ user, device: `dev${w.i}`, ops: [w.op], now: T0 + 1 });
    expect(out.ok).toBe(true);
  }
  const [fromA, fromB, expected] = await Promise.all([a.listEntries(user), b.listEntries(user), model.listEntries(user)]);
  expect(fromA).toEqual(expected);
  expect(fromB).toEqual(expected);
  expect(await a.headRev(user)).toBe(paths.length * 2);
  await model.close();
  return { winners: winners.length, losers: results.length - winners.length };
}

/** Checks that commits through `a` reach a subscriber on `b` (another process sharing the database). */
export async function crossInstanceNotification(a: Store, b: Store, user: string): Promise<void> {
  const heard: Array<[string, number]> = [];
  const made: number[] = [];
  const off = b.subscribe(user, (u, r) => heard.push([u, r]));
  const touch = async (): Promise<number> => {
    const cur = await a.getEntry(user, 'notify-me');
    const out = await a.commit({ user, device: 'a', ops: [deleteOp('notify-me', cur?.rev ?? 0)], now: T0 });
    if (!out.ok) throw new Error('notification commit conflicted');
    made.push(out.rev);
    return out.rev;
  };
  try {
    // B's listener may need a moment to attach (first poll, pub/sub round trip): commit until it hears one.
    await waitUntil(async () => heard.length > 0 || (await touch(), false), 10_000, `B hearing any commit of ${user} through A`);
    expect(made).toContain(heard[0]![1]);
    // Attached now: the next commit through A must reach B.
    const rev = await touch();
    await waitUntil(() => heard.some(([u, r]) => u === user && r === rev), 5000, `B hearing rev ${rev}`);
  } finally {
    off();
  }
}

/** Reads `data:` events of an SSE response, one at a time. */
export function sseReader(res: Response): { next(): Promise<{ user: string; rev: number }>; cancel(): Promise<void> } {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  return {
    async next() {
      for (;;) {
        const m = /data: (\{[^\n]*\})\n\n/.exec(buf);
        if (m) { buf = buf.slice(m.index + m[0].length); return JSON.parse(m[1]!) as { user: string; rev: number }; }
        const { value, done } = await reader.read();
        if (done) throw new Error('the event stream ended');
        buf += dec.decode(value, { stream: true });
      }
    },
    async cancel() { await reader.cancel().catch(() => undefined); },
  };
}

/**
 * Through the real HTTP server: while the database is down requests get a fast 503
 * STORE_UNAVAILABLE (and /health says so), and once it is back (and the store has reconnected) the next request succeeds.
 */
export async function httpOutage(h: Harness, down: () => Promise<void>, up: () => Promise<void>): Promise<void> {
  const get = () => h.req('/v1/users/alice/changes?since=0', { token: h.tokens.alice });
  expect((await get()).status).toBe(200);
  await down();
  const started = performance.now();
  const res = await get();
  expect(performance.now() - started).toBeLessThan(2500);
  expect(res.status).toBe(503);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  const body = await res.json();
  expect(body.error.code).toBe('STORE_UNAVAILABLE');
  const health = await (await h.req('/health')).json();
  expect(health.storage.ok).toBe(false);
  await up();
  await waitUntil(async () => (await (await h.req('/health')).json()).storage.ok === true, 10_000, '/health to report the storage ok');
  const again = await get();
  expect(again.status).toBe(200);
  expect((await again.json()).headRev).toBe(0);
}

/**
 * Two servers on one database: `n` concurrent commits through both on the same base revs give
 * one 200 per path and 409 for every other; both serve the manifest of a MemoryStore replaying the
 * winners; a client on B's push stream hears commits made through A.
 */
export async function twoServersStorm(a: Harness, b: Harness, n: number, paths: string[]): Promise<{ ok: number; conflicts: number }> {
  const user = 'alice';
  const token = a.tokens.alice; // same database: a token minted through A works on B
  const post = (h: Harness, body: unknown) => h.req(`/v1/users/${user}/commit`, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const seed = await upload(a.store, user, 'seed');
  const seedRes = await post(a, { ops: paths.map((p) => fileOp(p, 0, seed)), device: 'seed' });
  expect(seedRes.status).toBe(200);
  const base = new Map<string, number>(((await seedRes.json()).entries as Entry[]).map((e) => [e.path, e.rev]));

  const ac = new AbortController();
  const events = sseReader(await b.req(`/v1/users/${user}/events`, { token, signal: ac.signal }) as unknown as Response);
  expect((await events.next()).rev).toBe(paths.length);

  const blobs = await Promise.all(Array.from({ length: n }, (_, i) => upload(i % 2 === 0 ? a.store : b.store, user, `writer ${i}`)));
  const results = await Promise.all(blobs.map(async (blob, i) => {
    const op = fileOp(paths[i % paths.length]!, base.get(paths[i % paths.length]!)!, blob);
    const res = await post(i % 2 === 0 ? a : b, { ops: [op], device: `dev${i}` });
    return { i, op, status: res.status, body: await res.json() };
  }));
  const winners = results.filter((r) => r.status === 200);
  expect(results.every((r) => r.status === 200 || r.status === 409)).toBe(true);
  expect(winners.map((w) => w.op.path).sort()).toEqual([...paths].sort());
  const winnerEntry = new Map<string, Entry>(winners.map((w) => [w.op.path, w.body.entries[0] as Entry]));
  for (const r of results) {
    if (r.status !== 409) continue;
    expect(r.body.error.code).toBe('CONFLICT');
    expect(r.body.conflicts).toEqual([{ path: r.op.path, expected: base.get(r.op.path), current: winnerEntry.get(r.op.path) }]);
  }
  // B's push stream reaches the final head (revs may coalesce, never go backwards)
  const head = paths.length * 2;
  let last = paths.length;
  while (last < head) {
    const ev = await events.next();
    expect(ev.rev).toBeGreaterThan(last);
    last = ev.rev;
  }
  // one more commit through A is heard on B with its exact rev
  const one = await upload(a.store, user, 'after the storm');
  const after = await post(a, { ops: [fileOp('after', 0, one)], device: 'a' });
  expect(after.status).toBe(200);
  expect((await events.next()).rev).toBe(head + 1);
  ac.abort();
  await events.cancel();

  const model = new MemoryStore();
  await model.open();
  await upload(model, user, 'seed');
  await model.commit({ user, device: 'seed', ops: paths.map((p) => fileOp(p, 0, seed)), now: 0 });
  for (const w of [...winners].sort((x, y) => x.body.rev - y.body.rev)) {
    await upload(model, user, `writer ${w.i}`);
    expect((await model.commit({ user, device: `dev${w.i}`, ops: [w.op], now: 0 })).ok).toBe(true);
  }
  await upload(model, user, 'after the storm');
  await model.commit({ user, device: 'a', ops: [fileOp('after', 0, one)], now: 0 });
  const strip = (es: Entry[]) => es.map(({ updatedAt: _u, ...rest }) => rest);
  const expected = strip(await model.listEntries(user));
  for (const h of [a, b]) {
    const m = await (await h.req(`/v1/users/${user}/manifest`, { token })).json();
    expect(strip(m.entries)).toEqual(expected);
  }
  await model.close();
  return { ok: winners.length, conflicts: results.length - winners.length };
}
