// The one Store contract suite (STYLE.md rule 9): every driver (memory, disk, redis, mariadb)
// runs these same tests unchanged, so "correct" means the same thing everywhere.
//
// Usage, in a driver's test file:
//   describeStoreContract('DiskStore', async () => {
//     const dir = await mkdtemp(...); const store = new DiskStore({ dataDir: dir, log }); await store.open();
//     return { store, cleanup: async () => { await store.close(); await rm(dir, { recursive: true }) } };
//   });
// The factory returns an opened, empty store; the suite calls cleanup() after each test.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DmanError, type ErrorCode } from '../../shared/errors.js';
import type { CommitOp, CommitOpInput, Entry } from '../../shared/protocol.js';
import { putBlobsWith } from './blobStream.js';
import type { AuditRecord, BlobUpload, CommitInput, CommitOutcome, Store, TokenRecord } from './Store.js';

/**
 * Creates an opened, empty store and a cleanup that closes it and removes its data. Persistent
 * drivers (registered with `{ persistent: true }`) also return `reopen`: a new, opened store over
 * the same data (the suite closes the old one first and the reopened one at the end; cleanup
 * still runs and must tolerate a closed store).
 */
export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void>; reopen?: () => Promise<Store> }>;

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const MB = 1024 * 1024;

/** Returns the lowercase hex SHA-256 of `data`. */
export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Builds a full CommitOp from the few fields a test cares about. */
export function op(o: CommitOpInput): CommitOp {
  return {
    path: o.path, baseRev: o.baseRev, deleted: o.deleted ?? false, kind: o.kind ?? 'file',
    hash: o.hash ?? null, size: o.size ?? 0, mode: o.mode ?? 0o644, mtime: o.mtime ?? 0,
    ...(o.target !== undefined ? { target: o.target } : {}),
  };
}

/** Polls `check` until it returns true (explicit wait, no fixed sleep); fails after `ms`. */
export async function waitFor(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function expectDmanError(p: Promise<unknown>, code: ErrorCode): Promise<DmanError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected DmanError ${code}`).toBeInstanceOf(DmanError);
  expect((err as DmanError).code).toBe(code);
  expect((err as DmanError).message.length).toBeGreaterThan(10);
  return err as DmanError;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Registers the Store contract tests for one driver. */
export function describeStoreContract(name: string, factory: StoreFactory, opts: { persistent?: boolean } = {}): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let cleanup: (() => Promise<void>) | undefined;
    let reopen: (() => Promise<Store>) | undefined;
    let reopened: Store[] = [];

    beforeEach(async () => {
      ({ store, cleanup, reopen } = await factory());
      reopened = [];
    });
    afterEach(async () => {
      for (const s of reopened) await s.close();
      await cleanup?.();
      cleanup = undefined;
    });

    /** Uploads `content` as `user` and returns an op-ready description of it. */
    async function upload(user: string, content: string | Buffer): Promise<{ hash: string; size: number }> {
      const buf = Buffer.from(content);
      const hash = sha256(buf);
      const res = await store.putBlob(user, hash, Readable.from([buf]), 64 * MB);
      expect(res.size).toBe(buf.length);
      return { hash, size: buf.length };
    }

    function commit(user: string, ops: CommitOp[], extra: Partial<CommitInput> = {}): Promise<CommitOutcome> {
      return store.commit({ user, device: 'laptop', ops, now: T0, ...extra });
    }

    /** Commits ops that must succeed and returns the outcome. */
    async function commitOk(user: string, ops: CommitOp[], extra: Partial<CommitInput> = {}): Promise<Extract<CommitOutcome, { ok: true }>> {
      const out = await commit(user, ops, extra);
      if (!out.ok) throw new Error(`expected commit to succeed, got conflicts ${JSON.stringify(out.conflicts)}`);
      return out;
    }

    /** Writes `path` for `user` with fresh content and returns the new entry. */
    async function write(user: string, path: string, content: string, extra: Partial<CommitInput> = {}): Promise<Entry> {
      const b = await upload(user, content);
      const cur = await store.getEntry(user, path);
      const out = await commitOk(user, [op({ path, baseRev: cur?.rev ?? 0, ...b })], extra);
      return out.entries[0]!;
    }

    describe('lifecycle', () => {
      it('reports health ok with a latency', async () => {
        const h = await store.health();
        expect(h.ok).toBe(true);
        expect(h.latencyMs).toBeGreaterThanOrEqual(0);
        expect(typeof store.driver).toBe('string');
      });

      it('starts empty: head 0, no entries, no users, no tokens, no audit', async () => {
        expect(await store.headRev('alice')).toBe(0);
        expect(await store.getEntry('alice', '.zshrc')).toBeNull();
        expect(await store.listEntries('alice')).toEqual([]);
        expect(await store.changes('alice', 0, 100)).toEqual({ entries: [], headRev: 0, more: false });
        expect(await store.history('alice', '.zshrc')).toEqual([]);
        expect(await store.listUsers()).toEqual([]);
        expect(await store.listTokens()).toEqual([]);
        expect(await store.listAudit({})).toEqual([]);
        expect(await store.stats('alice')).toEqual({ files: 0, bytes: 0, headRev: 0, lastCommitAt: null });
      });
    });

    describe('blobs', () => {
      it('stores a blob, reports created once, and streams it back to its owner', async () => {
        const data = Buffer.from('export PATH=$HOME/bin:$PATH\n');
        const hash = sha256(data);
        expect(await store.hasBlob('alice', hash)).toBe(false);
        expect(await store.getBlob('alice', hash)).toBeNull();
        const first = await store.putBlob('alice', hash, Readable.from([data]), 1024);
        expect(first).toEqual({ size: data.length, created: true });
        const again = await store.putBlob('alice', hash, Readable.from([data]), 1024);
        expect(again).toEqual({ size: data.length, created: false });
        expect(await store.hasBlob('alice', hash)).toBe(true);
        const got = await store.getBlob('alice', hash);
        expect(got?.size).toBe(data.length);
        expect(await readAll(got!.stream)).toEqual(data);
      });

      it('accepts an async iterable of many chunks and the empty blob', async () => {
        const chunks = Array.from({ length: 50 }, (_, i) => Buffer.from(`line ${i}\n`));
        const all = Buffer.concat(chunks);
        async function* gen(): AsyncIterable<Buffer> {
          for (const c of chunks) yield c;
        }
        expect((await store.putBlob('alice', sha256(all), gen(), 1 << 20)).size).toBe(all.length);
        expect(await readAll((await store.getBlob('alice', sha256(all)))!.stream)).toEqual(all);
        const empty = sha256(Buffer.alloc(0));
        expect((await store.putBlob('alice', empty, Readable.from([]), 10)).size).toBe(0);
        const got = await store.getBlob('alice', empty);
        expect(got?.size).toBe(0);
        expect((await readAll(got!.stream)).length).toBe(0);
      });

      it('rejects content that does not match its hash with HASH_MISMATCH and stores nothing', async () => {
        const claimed = sha256('the real content');
        const err = await expectDmanError(store.putBlob('alice', claimed, Readable.from([Buffer.from('tampered content')]), 1024), 'HASH_MISMATCH');
        expect(err.message).toContain(claimed);
        expect(await store.hasBlob('alice', claimed)).toBe(false);
        expect(await store.getBlob('alice', claimed)).toBeNull();
        // The blob must not be committable either.
        await expectDmanError(commit('alice', [op({ path: 'a', baseRev: 0, hash: claimed, size: 16 })]), 'PRECONDITION_FAILED');
        expect(await store.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
      });

      it('rejects a blob over maxBytes with PAYLOAD_TOO_LARGE and stores nothing; exactly maxBytes is fine', async () => {
        const big = Buffer.alloc(1001, 7);
        await expectDmanError(store.putBlob('alice', sha256(big), Readable.from([big.subarray(0, 500), big.subarray(500)]), 1000), 'PAYLOAD_TOO_LARGE');
        expect(await store.hasBlob('alice', sha256(big))).toBe(false);
        const exact = Buffer.alloc(1000, 7);
        expect((await store.putBlob('alice', sha256(exact), Readable.from([exact]), 1000)).size).toBe(1000);
      });

      it('rejects an invalid hash name with BAD_REQUEST', async () => {
        await expectDmanError(store.putBlob('alice', '../../etc/passwd', Readable.from([Buffer.from('x')]), 10), 'BAD_REQUEST');
        await expectDmanError(store.putBlob('alice', sha256('x').toUpperCase(), Readable.from([Buffer.from('x')]), 10), 'BAD_REQUEST');
      });

      it('stores nothing when the upload stream fails midway, and a retry then succeeds', async () => {
        const data = Buffer.alloc(256 * 1024, 3);
        const hash = sha256(data);
        async function* broken(): AsyncIterable<Buffer> {
          yield data.subarray(0, 1000);
          throw new Error('connection reset by peer');
        }
        await expect(store.putBlob('alice', hash, broken(), MB)).rejects.toThrow();
        expect(await store.hasBlob('alice', hash)).toBe(false);
        expect((await store.putBlob('alice', hash, Readable.from([data]), MB)).created).toBe(true);
        expect(sha256(await readAll((await store.getBlob('alice', hash))!.stream))).toBe(hash);
      });

      it('survives two parallel uploads of the same blob', async () => {
        const data = Buffer.alloc(300 * 1024, 9);
        const hash = sha256(data);
        const chunks = (): Buffer[] => [data.subarray(0, 100_000), data.subarray(100_000, 200_000), data.subarray(200_000)];
        const res = await Promise.all([store.putBlob('alice', hash, Readable.from(chunks()), MB), store.putBlob('alice', hash, Readable.from(chunks()), MB)]);
        expect(res.map((r) => r.size)).toEqual([data.length, data.length]);
        expect(sha256(await readAll((await store.getBlob('alice', hash))!.stream))).toBe(hash);
      });

      it('stores a bulk upload in order, reports created per blob, and keeps the blobs before a bad one', async () => {
        const bufs = ['alpha', 'beta', 'gamma', 'alpha'].map((t) => Buffer.from(`bulk ${t}\n`));
        async function* many(list: Buffer[], claim: (b: Buffer, i: number) => string = (b) => sha256(b)): AsyncIterable<BlobUpload> {
          for (let i = 0; i < list.length; i++) yield { hash: claim(list[i]!, i), data: Readable.from([list[i]!.subarray(0, 3), list[i]!.subarray(3)]) };
        }
        const first = await putBlobsWith(store, 'alice', many(bufs), MB);
        expect(first).toEqual(bufs.map((b, i) => ({ hash: sha256(b), size: b.length, created: i < 3 })));
        for (const b of bufs) expect(sha256(await readAll((await store.getBlob('alice', sha256(b)))!.stream))).toBe(sha256(b));
        expect((await putBlobsWith(store, 'alice', many(bufs.slice(0, 1)), MB))[0]!.created).toBe(false);
        // a lying second blob: the first is stored, the second and third are not
        const next = ['one', 'two', 'three'].map((t) => Buffer.from(`next ${t}`));
        await expectDmanError(putBlobsWith(store, 'bob', many(next, (b, i) => (i === 1 ? sha256('something else') : sha256(b))), MB), 'HASH_MISMATCH');
        expect(await store.hasBlob('bob', sha256(next[0]!))).toBe(true);
        expect(await store.hasBlob('bob', sha256(next[1]!))).toBe(false);
        expect(await store.hasBlob('bob', sha256(next[2]!))).toBe(false);
        // a bulk upload proves possession per blob, like putBlob
        expect(await store.hasBlob('bob', sha256(bufs[0]!))).toBe(false);
        await putBlobsWith(store, 'bob', many(bufs.slice(0, 1)), MB);
        expect(await store.hasBlob('bob', sha256(bufs[0]!))).toBe(true);
      });

      it('streams a multi-MB blob back intact, in more than one chunk', async () => {
        const data = Buffer.alloc(6 * MB);
        for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
        const hash = sha256(data);
        const parts: Buffer[] = [];
        for (let i = 0; i < data.length; i += 256 * 1024) parts.push(data.subarray(i, i + 256 * 1024));
        await store.putBlob('alice', hash, Readable.from(parts), 8 * MB);
        const got = await store.getBlob('alice', hash);
        expect(got?.size).toBe(data.length);
        const h = createHash('sha256');
        let n = 0;
        let chunks = 0;
        for await (const c of got!.stream) {
          h.update(c as Buffer);
          n += (c as Buffer).length;
          chunks++;
        }
        expect(n).toBe(data.length);
        expect(h.digest('hex')).toBe(hash);
        expect(chunks).toBeGreaterThan(1);
      });

      it('keeps blobs private per user: another user can neither see nor read nor commit them', async () => {
        const { hash } = await upload('alice', 'alice secret gitconfig');
        expect(await store.hasBlob('bob', hash)).toBe(false);
        expect(await store.getBlob('bob', hash)).toBeNull();
        await commitOk('alice', [op({ path: '.gitconfig', baseRev: 0, hash, size: 22 })]);
        expect(await store.hasBlob('bob', hash)).toBe(false);
        expect(await store.getBlob('bob', hash)).toBeNull();
        const err = await expectDmanError(commit('bob', [op({ path: '.gitconfig', baseRev: 0, hash, size: 22 })]), 'PRECONDITION_FAILED');
        expect(err.context.user).toBe('bob');
        expect(await store.headRev('bob')).toBe(0);
        // Uploading the same bytes proves possession: then bob may use it.
        await upload('bob', 'alice secret gitconfig');
        expect(await store.hasBlob('bob', hash)).toBe(true);
        expect((await commit('bob', [op({ path: '.gitconfig', baseRev: 0, hash, size: 22 })])).ok).toBe(true);
      });

      it("does not reveal that another user stored the same content: created depends only on the uploader's own blobs", async () => {
        const text = Buffer.from('content only alice has uploaded');
        const hash = sha256(text);
        expect(await store.putBlob('alice', hash, Readable.from([text]), MB)).toEqual({ size: text.length, created: true });
        // bob gets exactly what a fresh upload gets, then what a repeat gets
        expect(await store.putBlob('bob', hash, Readable.from([text]), MB)).toEqual({ size: text.length, created: true });
        expect(await store.putBlob('bob', hash, Readable.from([text]), MB)).toEqual({ size: text.length, created: false });
        // the same through a bulk upload, for a third user and a blob sent twice in one batch
        const other = Buffer.from('carol has her own file too');
        async function* bulk(): AsyncIterable<BlobUpload> {
          for (const b of [text, other, text]) yield { hash: sha256(b), data: Readable.from([b]) };
        }
        expect(await putBlobsWith(store, 'carol', bulk(), MB)).toEqual([
          { hash, size: text.length, created: true },
          { hash: sha256(other), size: other.length, created: true },
          { hash, size: text.length, created: false },
        ]);
        expect((await putBlobsWith(store, 'carol', bulk(), MB)).map((r) => r.created)).toEqual([false, false, false]);
        expect(await store.hasBlob('carol', hash)).toBe(true);
      });
    });

    describe('bulk upload (putBlobs)', () => {
      /** Deterministic bytes of `n` length, different per seed. */
      function bytes(n: number, seed: number): Buffer {
        const b = Buffer.alloc(n);
        for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE(((i + 1) * 2654435761 + seed * 40503) >>> 0, i);
        for (let i = n - (n % 4); i < n; i++) b[i] = (seed + i) & 0xff;
        return b;
      }
      /** An upload stream of `list`, each blob in 64 KiB pieces, named by `claim` (default: its real hash). */
      async function* uploads(list: Buffer[], claim: (b: Buffer, i: number) => string = (b) => sha256(b)): AsyncIterable<BlobUpload> {
        for (let i = 0; i < list.length; i++) {
          const b = list[i]!;
          const pieces: Buffer[] = [];
          for (let o = 0; o < b.length; o += 64 * 1024) pieces.push(b.subarray(o, o + 64 * 1024));
          yield { hash: claim(b, i), data: Readable.from(pieces) };
        }
      }
      async function readBack(user: string, b: Buffer): Promise<void> {
        const got = await store.getBlob(user, sha256(b));
        expect(got, `blob of ${b.length} bytes`).not.toBeNull();
        expect(got!.size).toBe(b.length);
        expect(sha256(await readAll(got!.stream))).toBe(sha256(b));
      }

      it('is implemented natively by every driver that keeps data outside the process', () => {
        if (store.driver !== 'memory') expect(typeof store.putBlobs).toBe('function');
      });

      it('stores mixed sizes (empty, small, several chunks), duplicates in the batch and already-stored blobs, in order', async () => {
        const stored = [bytes(700, 1), bytes(2 * MB + 5, 2)];
        for (const b of stored) await store.putBlob('alice', sha256(b), Readable.from([b]), 8 * MB);
        const fresh = [Buffer.alloc(0), bytes(10, 3), bytes(300 * 1024, 4), bytes(1536 * 1024 + 7, 5), bytes(100, 6), bytes(3 * MB, 7)];
        const batch = [fresh[0]!, fresh[1]!, stored[0]!, fresh[2]!, fresh[3]!, fresh[1]!, stored[1]!, fresh[4]!, fresh[3]!, fresh[5]!, fresh[0]!];
        const res = await putBlobsWith(store, 'alice', uploads(batch), 8 * MB);
        const seen = new Set<string>(stored.map((b) => sha256(b)));
        expect(res).toEqual(batch.map((b) => {
          const created = !seen.has(sha256(b));
          seen.add(sha256(b));
          return { hash: sha256(b), size: b.length, created };
        }));
        for (const b of [...stored, ...fresh]) await readBack('alice', b);
        // again: nothing is new, everything still reads back
        expect((await putBlobsWith(store, 'alice', uploads(batch), 8 * MB)).map((r) => r.created)).toEqual(batch.map(() => false));
        for (const b of fresh) await readBack('alice', b);
        // bob proves possession of alice's bytes per blob: his first copies are created for him
        const bob = await putBlobsWith(store, 'bob', uploads([fresh[3]!, fresh[1]!, fresh[3]!]), 8 * MB);
        expect(bob.map((r) => r.created)).toEqual([true, true, false]);
        await readBack('bob', fresh[3]!);
        expect(await store.hasBlob('bob', sha256(fresh[5]!))).toBe(false);
        // a stored blob can be committed
        await commitOk('alice', batch.slice(0, 10).filter((_, i) => i !== 5 && i !== 8).map((b, i) => op({ path: `f${i}`, baseRev: 0, hash: sha256(b), size: b.length })));
      });

      it('stores thousands of small blobs across several write groups', async () => {
        const list = Array.from({ length: 2600 }, (_, i) => bytes(3000 + (i % 7) * 1000, 1000 + i));
        const res = await putBlobsWith(store, 'alice', uploads(list), MB);
        expect(res).toHaveLength(list.length);
        expect(res.every((r, i) => r.hash === sha256(list[i]!) && r.size === list[i]!.length && r.created)).toBe(true);
        for (const b of list) await readBack('alice', b);
      });

      it('on a hash mismatch keeps the blobs before it (small and large, across groups), stores neither it nor any after it', async () => {
        const before = [...Array.from({ length: 1200 }, (_, i) => bytes(5000, 5000 + i)), bytes(2 * MB, 11)];
        const bad = bytes(1536 * 1024, 12);
        const after = [bytes(50, 13), bytes(2 * MB, 14)];
        const list = [...before, bad, ...after];
        const err = await expectDmanError(putBlobsWith(store, 'alice', uploads(list, (b, i) => (i === before.length ? sha256('not this') : sha256(b))), 8 * MB), 'HASH_MISMATCH');
        expect(err.context.hash).toBe(sha256('not this'));
        for (const b of before) expect(await store.hasBlob('alice', sha256(b))).toBe(true);
        await readBack('alice', before[before.length - 1]!);
        await readBack('alice', before[0]!);
        for (const b of [bad, ...after]) expect(await store.hasBlob('alice', sha256(b))).toBe(false);
        expect(await store.hasBlob('alice', sha256('not this'))).toBe(false);
        // a small lying blob behaves the same, and a retry of the whole batch then succeeds
        const small = [bytes(10, 15), bytes(20, 16), bytes(30, 17)];
        await expectDmanError(putBlobsWith(store, 'alice', uploads(small, (b, i) => (i === 1 ? sha256(small[2]!) : sha256(b))), MB), 'HASH_MISMATCH');
        expect(await store.hasBlob('alice', sha256(small[0]!))).toBe(true);
        expect(await store.hasBlob('alice', sha256(small[2]!))).toBe(false);
        expect((await putBlobsWith(store, 'alice', uploads(list), 8 * MB)).filter((r) => r.created).map((r) => r.hash)).toEqual([bad, ...after].map((b) => sha256(b)));
        for (const b of [bad, ...after]) await readBack('alice', b);
        // nothing half-written is left for gc to find as a blob
        expect(await store.gcBlobs()).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
      });

      it('rejects a blob over maxBytes with PAYLOAD_TOO_LARGE, keeping the blobs before it; a bad hash name is BAD_REQUEST', async () => {
        const list = [bytes(1000, 21), bytes(300 * 1024, 22), bytes(2 * MB + 1, 23), bytes(10, 24)];
        await expectDmanError(putBlobsWith(store, 'alice', uploads(list), 2 * MB), 'PAYLOAD_TOO_LARGE');
        expect(await store.hasBlob('alice', sha256(list[0]!))).toBe(true);
        await readBack('alice', list[1]!);
        expect(await store.hasBlob('alice', sha256(list[2]!))).toBe(false);
        expect(await store.hasBlob('alice', sha256(list[3]!))).toBe(false);
        // exactly maxBytes is fine
        expect((await putBlobsWith(store, 'alice', uploads([list[2]!]), list[2]!.length))[0]).toEqual({ hash: sha256(list[2]!), size: list[2]!.length, created: true });
        const named = [bytes(40, 25), bytes(41, 26)];
        await expectDmanError(putBlobsWith(store, 'alice', uploads(named, (b, i) => (i === 1 ? '../../etc/passwd' : sha256(b))), MB), 'BAD_REQUEST');
        expect(await store.hasBlob('alice', sha256(named[0]!))).toBe(true);
        expect(await store.hasBlob('alice', sha256(named[1]!))).toBe(false);
      });

      it('opens many blobs at once (getBlobs) exactly as getBlob one by one would', async () => {
        const mine = [Buffer.alloc(0), bytes(10, 41), bytes(64 * 1024, 42), bytes(64 * 1024 + 1, 43), bytes(300 * 1024, 44), bytes(2 * MB + 3, 45)];
        await putBlobsWith(store, 'alice', uploads(mine), 8 * MB);
        const bobs = bytes(99, 46);
        await store.putBlob('bob', sha256(bobs), Readable.from([bobs]), MB);
        const asked = [...mine.map((b) => sha256(b)), sha256(bobs), sha256('never uploaded'), 'not-a-hash', sha256(mine[1]!), sha256(mine[5]!)];
        const one = await Promise.all(asked.map((h) => store.getBlob('alice', h)));
        const many = store.getBlobs ? await store.getBlobs('alice', asked) : await Promise.all(asked.map((h) => store.getBlob('alice', h)));
        expect(many).toHaveLength(asked.length);
        for (let i = 0; i < asked.length; i++) {
          expect(many[i] === null, `entry ${i}`).toBe(one[i] === null);
          if (!many[i]) continue;
          expect(many[i]!.size).toBe(one[i]!.size);
          expect(sha256(await readAll(many[i]!.stream))).toBe(sha256(await readAll(one[i]!.stream)));
        }
        expect(many.slice(mine.length).map((g) => g === null)).toEqual([true, true, true, false, false]);
        expect(store.getBlobs ? await store.getBlobs('alice', []) : []).toEqual([]);
        if (store.driver === 'redis' || store.driver === 'mariadb') expect(typeof store.getBlobs).toBe('function');
      });

      it('keeps a blob two users uploaded in bulk while either references it, and collects it once when neither does', async () => {
        const shared = [bytes(777, 31), bytes(2 * MB, 32)];
        const aliceOnly = bytes(500, 33);
        await putBlobsWith(store, 'alice', uploads([...shared, aliceOnly]), 8 * MB);
        await putBlobsWith(store, 'bob', uploads(shared), 8 * MB);
        // uploaded, not committed: kept through the grace period
        expect(await store.gcBlobs()).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
        await commitOk('bob', shared.map((b, i) => op({ path: `s${i}`, baseRev: 0, hash: sha256(b), size: b.length })));
        // past the grace: only alice's uncommitted blob goes; bob's references keep the shared ones
        expect(await store.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 1, bytesFreed: aliceOnly.length });
        for (const b of shared) await readBack('bob', b);
        // bob deletes; once retention drops his versions, each shared blob is collected exactly once
        await commitOk('bob', shared.map((_, i) => op({ path: `s${i}`, baseRev: 1 + i, deleted: true })));
        await store.applyRetention('bob', { versions: 0, days: 0 }, T0 + 100 * DAY);
        expect(await store.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 2, bytesFreed: shared[0]!.length + shared[1]!.length });
        for (const u of ['alice', 'bob']) for (const b of shared) expect(await store.getBlob(u, sha256(b))).toBeNull();
        // and a new bulk upload stores them again from scratch
        expect((await putBlobsWith(store, 'alice', uploads(shared), 8 * MB)).map((r) => r.created)).toEqual([true, true]);
        for (const b of shared) await readBack('alice', b);
      });
    });

    describe('commit', () => {
      it('applies a batch with revs head+1…head+n in op order and stamps device and time', async () => {
        const a = await upload('alice', 'a');
        const b = await upload('alice', 'bb');
        const out = await commitOk('alice', [
          op({ path: '.zshrc', baseRev: 0, ...a, mode: 0o600, mtime: 1234 }),
          op({ path: '.config/nvim/init.lua', baseRev: 0, ...b }),
          op({ path: '.vimrc', baseRev: 0, kind: 'symlink', target: '.config/nvim/init.lua', hash: sha256('.config/nvim/init.lua'), size: 21 }),
        ], { device: 'desk', now: T0 + 5 });
        expect(out.rev).toBe(3);
        expect(out.replayed).toBe(false);
        expect(out.entries.map((e) => [e.path, e.rev])).toEqual([['.zshrc', 1], ['.config/nvim/init.lua', 2], ['.vimrc', 3]]);
        expect(out.entries[0]).toEqual({ path: '.zshrc', kind: 'file', hash: a.hash, size: 1, mode: 0o600, mtime: 1234, rev: 1, deleted: false, device: 'desk', updatedAt: T0 + 5 });
        expect(out.entries[2]).toMatchObject({ kind: 'symlink', target: '.config/nvim/init.lua', mode: 0, deleted: false });
        expect(await store.headRev('alice')).toBe(3);
        expect(await store.getEntry('alice', '.zshrc')).toEqual(out.entries[0]);
        expect(await store.getEntry('alice', '.vimrc')).toEqual(out.entries[2]);

        const c = await upload('alice', 'ccc');
        const out2 = await commitOk('alice', [op({ path: 'x', baseRev: 0, ...c }), op({ path: '.zshrc', baseRev: 1, ...c })]);
        expect(out2.rev).toBe(5);
        expect(out2.entries.map((e) => e.rev)).toEqual([4, 5]);
        expect((await store.getEntry('alice', '.zshrc'))?.hash).toBe(c.hash);
      });

      it('treats baseRev 0 as "must not exist" and rejects it over an existing entry', async () => {
        const e = await write('alice', '.zshrc', 'v1');
        const b = await upload('alice', 'v2');
        const out = await commit('alice', [op({ path: '.zshrc', baseRev: 0, ...b })]);
        expect(out).toEqual({ ok: false, conflicts: [{ path: '.zshrc', expected: 0, current: e }] });
        expect(await store.getEntry('alice', '.zshrc')).toEqual(e);
      });

      it('rejects a stale baseRev, reports every mismatching path with its current entry, and writes nothing', async () => {
        const e1 = await write('alice', 'one', '1');
        const e2 = await write('alice', 'two', '2');
        await write('alice', 'one', '1b'); // one is now at rev 3
        const e1now = await store.getEntry('alice', 'one');
        const n = await upload('alice', 'new');
        const head = await store.headRev('alice');
        const before = await store.listEntries('alice');
        const out = await commit('alice', [
          op({ path: 'fresh', baseRev: 0, ...n }), // fine on its own
          op({ path: 'one', baseRev: e1.rev, ...n }), // stale
          op({ path: 'two', baseRev: e2.rev, ...n }), // fine
          op({ path: 'ghost', baseRev: 7, ...n }), // names a rev of a path that does not exist
        ]);
        expect(out.ok).toBe(false);
        if (out.ok) return;
        expect(out.conflicts).toEqual([
          { path: 'one', expected: e1.rev, current: e1now },
          { path: 'ghost', expected: 7, current: null },
        ]);
        expect(await store.headRev('alice')).toBe(head);
        expect(await store.listEntries('alice')).toEqual(before);
        expect(await store.getEntry('alice', 'fresh')).toBeNull();
        expect((await store.changes('alice', head, 10)).entries).toEqual([]);
      });

      it('applies ops with a null baseRev without a precondition', async () => {
        await write('alice', 'p', 'old');
        const b = await upload('alice', 'forced');
        const out = await commitOk('alice', [op({ path: 'p', baseRev: null, ...b }), op({ path: 'q', baseRev: null, ...b })]);
        expect(out.entries.map((e) => e.rev)).toEqual([2, 3]);
        expect((await store.getEntry('alice', 'p'))?.hash).toBe(b.hash);
      });

      it('is all-or-none when one op names a blob that is missing', async () => {
        const a = await upload('alice', 'present');
        const missing = sha256('never uploaded');
        const err = await expectDmanError(commit('alice', [op({ path: 'ok', baseRev: 0, ...a }), op({ path: 'bad', baseRev: 0, hash: missing, size: 3 })]), 'PRECONDITION_FAILED');
        expect(JSON.stringify(err.context)).toContain(missing);
        expect(await store.headRev('alice')).toBe(0);
        expect(await store.getEntry('alice', 'ok')).toBeNull();
        expect(await store.listUsers()).toEqual([]);
      });

      it('rejects malformed commits with a clear error and writes nothing', async () => {
        const a = await upload('alice', 'x');
        await expectDmanError(commit('alice', []), 'BAD_REQUEST');
        await expectDmanError(commit('alice', [op({ path: 'd', baseRev: 0, ...a }), op({ path: 'd', baseRev: 0, ...a })]), 'BAD_REQUEST');
        await expectDmanError(commit('alice', [op({ path: '../escape', baseRev: 0, ...a })]), 'UNSAFE_PATH');
        await expectDmanError(commit('alice', [op({ path: '/etc/passwd', baseRev: 0, ...a })]), 'UNSAFE_PATH');
        await expectDmanError(commit('alice', [op({ path: 'nul\0byte', baseRev: 0, ...a })]), 'UNSAFE_PATH');
        await expectDmanError(commit('alice', [op({ path: 'x'.repeat(5000), baseRev: 0, ...a })]), 'UNSAFE_PATH');
        await expectDmanError(commit('alice', [op({ path: 'nohash', baseRev: 0 })]), 'BAD_REQUEST');
        await expectDmanError(commit('alice', [op({ path: 'link', baseRev: 0, kind: 'symlink' })]), 'BAD_REQUEST');
        await expectDmanError(commit('../alice', [op({ path: 'f', baseRev: 0, ...a })]), 'BAD_REQUEST');
        expect(await store.headRev('alice')).toBe(0);
        expect(await store.listUsers()).toEqual([]);
      });

      it('writes tombstones that keep their path, carry no content, and need the tombstone rev to recreate', async () => {
        const e = await write('alice', '.bashrc', 'bash');
        // a delete that still names the old hash (a sloppy client) leaves no content behind either
        const out = await commitOk('alice', [op({ path: '.bashrc', baseRev: e.rev, deleted: true, hash: e.hash, size: e.size })], { device: 'desk', now: T0 + 9 });
        const tomb = out.entries[0]!;
        expect(tomb).toMatchObject({ path: '.bashrc', deleted: true, hash: null, size: 0, rev: 2, device: 'desk', updatedAt: T0 + 9 });
        expect(await store.getEntry('alice', '.bashrc')).toEqual(tomb);
        // A tombstone is an entry: "must not exist" (0) conflicts with it.
        const b = await upload('alice', 'bash again');
        const c = await commit('alice', [op({ path: '.bashrc', baseRev: 0, ...b })]);
        expect(c).toEqual({ ok: false, conflicts: [{ path: '.bashrc', expected: 0, current: tomb }] });
        const re = await commitOk('alice', [op({ path: '.bashrc', baseRev: tomb.rev, ...b })]);
        expect(re.entries[0]).toMatchObject({ deleted: false, hash: b.hash, rev: 3 });
      });

      it('replays the first outcome for a repeated idempotency key and writes nothing more', async () => {
        const a = await upload('alice', 'a');
        const b = await upload('alice', 'b');
        const first = await commitOk('alice', [op({ path: 'f', baseRev: 0, ...a }), op({ path: 'g', baseRev: 0, ...a })], { idempotencyKey: 'key-0001' });
        const again = await commitOk('alice', [op({ path: 'f', baseRev: 0, ...a }), op({ path: 'g', baseRev: 0, ...a })], { idempotencyKey: 'key-0001' });
        expect(again).toEqual({ ...first, replayed: true });
        // The same key with different ops (a confused client) is refused: neither replayed nor applied.
        const odd = await expectDmanError(commit('alice', [op({ path: 'h', baseRev: 0, ...b })], { idempotencyKey: 'key-0001' }), 'BAD_REQUEST');
        expect(odd.message).toMatch(/idempotency key reused for a different batch/i);
        // a different device is a different batch too
        await expectDmanError(commit('alice', [op({ path: 'f', baseRev: 0, ...a }), op({ path: 'g', baseRev: 0, ...a })], { idempotencyKey: 'key-0001', device: 'desktop' }), 'BAD_REQUEST');
        // the same batch still replays after the refusal
        expect(await commitOk('alice', [op({ path: 'f', baseRev: 0, ...a }), op({ path: 'g', baseRev: 0, ...a })], { idempotencyKey: 'key-0001' })).toEqual({ ...first, replayed: true });
        expect(await store.headRev('alice')).toBe(2);
        expect(await store.getEntry('alice', 'h')).toBeNull();
        expect(await store.history('alice', 'f')).toHaveLength(1);
        // Keys are per user: bob's commit with the same key is his own.
        const bobBlob = await upload('bob', 'b');
        const bob = await commitOk('bob', [op({ path: 'h', baseRev: 0, ...bobBlob })], { idempotencyKey: 'key-0001' });
        expect(bob.replayed).toBe(false);
        expect(bob.entries[0]?.path).toBe('h');
      });

      it('does not record a conflicting commit under its idempotency key', async () => {
        const e = await write('alice', 'f', 'one');
        const b = await upload('alice', 'two');
        const stale = await commit('alice', [op({ path: 'f', baseRev: 0, ...b })], { idempotencyKey: 'key-0002' });
        expect(stale.ok).toBe(false);
        const fixed = await commitOk('alice', [op({ path: 'f', baseRev: e.rev, ...b })], { idempotencyKey: 'key-0002' });
        expect(fixed.replayed).toBe(false);
        expect(fixed.rev).toBe(2);
      });

      it('lets exactly one of many parallel commits with the same baseRev win', async () => {
        const base = await write('alice', '.zshrc', 'base');
        const N = 12;
        const blobs = await Promise.all(Array.from({ length: N }, (_, i) => upload('alice', `writer ${i}`)));
        const outs = await Promise.all(blobs.map((b, i) => commit('alice', [op({ path: '.zshrc', baseRev: base.rev, ...b })], { device: `dev${i}` })));
        const winners = outs.filter((o) => o.ok);
        expect(winners).toHaveLength(1);
        const win = winners[0] as Extract<CommitOutcome, { ok: true }>;
        expect(win.rev).toBe(base.rev + 1);
        for (const o of outs) if (!o.ok) expect(o.conflicts).toEqual([{ path: '.zshrc', expected: base.rev, current: win.entries[0] }]);
        expect(await store.headRev('alice')).toBe(base.rev + 1);
        expect(await store.history('alice', '.zshrc')).toHaveLength(2);
      });

      it('gives parallel non-conflicting commits distinct, gap-free revs', async () => {
        const blobs = await Promise.all(Array.from({ length: 10 }, (_, i) => upload('alice', `file ${i}`)));
        const outs = await Promise.all(blobs.map((b, i) => commitOk('alice', [op({ path: `f${i}`, baseRev: 0, ...b }), op({ path: `g${i}`, baseRev: 0, ...b })])));
        const revs = outs.flatMap((o) => o.entries.map((e) => e.rev)).sort((x, y) => x - y);
        expect(revs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        for (const o of outs) expect(o.entries[1]!.rev).toBe(o.entries[0]!.rev + 1);
        expect(await store.headRev('alice')).toBe(20);
      });

      it('commits a 2,000-op batch atomically', async () => {
        const b = await upload('alice', 'shared content');
        const ops = Array.from({ length: 2000 }, (_, i) => op({ path: `.oh-my-zsh/plugins/p${i}/p.zsh`, baseRev: 0, ...b }));
        const out = await commitOk('alice', ops);
        expect(out.rev).toBe(2000);
        expect((await store.listEntries('alice')).length).toBe(2000);
        // every op but the last is up to date; the stale last one sinks the whole batch
        const c = await upload('alice', 'second content');
        const next = ops.map((o, i) => op({ ...o, ...c, baseRev: i === 1999 ? 0 : i + 1 }));
        const again = await commit('alice', next);
        expect(again.ok).toBe(false);
        if (!again.ok) expect(again.conflicts.map((x) => x.path)).toEqual([ops[1999]!.path]);
        expect(await store.headRev('alice')).toBe(2000);
        expect((await store.changes('alice', 0, 10_000)).entries.every((e) => e.hash === b.hash)).toBe(true);
      });

      it('rejects user names that could escape their namespace, in every per-user call', async () => {
        const bad = '../etc';
        const h = sha256('x');
        await expectDmanError(store.headRev(bad), 'BAD_REQUEST');
        await expectDmanError(store.getEntry(bad, 'a'), 'BAD_REQUEST');
        await expectDmanError(store.listEntries(bad), 'BAD_REQUEST');
        await expectDmanError(store.changes(bad, 0, 10), 'BAD_REQUEST');
        await expectDmanError(store.history(bad, 'a'), 'BAD_REQUEST');
        await expectDmanError(store.stats(bad), 'BAD_REQUEST');
        await expectDmanError(store.hasBlob(bad, h), 'BAD_REQUEST');
        await expectDmanError(store.getBlob(bad, h), 'BAD_REQUEST');
        await expectDmanError(store.putBlob(bad, h, Readable.from([Buffer.from('x')]), 10), 'BAD_REQUEST');
        await expectDmanError(store.applyRetention(bad, { versions: 1, days: 1 }, T0), 'BAD_REQUEST');
        expect(await store.listUsers()).toEqual([]);
      });
    });

    describe('reads', () => {
      it('pages the change feed by rev with since, limit and more', async () => {
        for (const p of ['a', 'b', 'c', 'd', 'e']) await write('alice', p, `${p}1`);
        await write('alice', 'b', 'b2'); // b moves to rev 6
        const e = await store.getEntry('alice', 'e');
        await commitOk('alice', [op({ path: 'c', baseRev: 3, deleted: true })]); // c tombstone at rev 7
        const all = await store.changes('alice', 0, 100);
        expect(all.headRev).toBe(7);
        expect(all.more).toBe(false);
        expect(all.entries.map((x) => [x.path, x.rev, x.deleted])).toEqual([['a', 1, false], ['d', 4, false], ['e', 5, false], ['b', 6, false], ['c', 7, true]]);
        const p1 = await store.changes('alice', 0, 2);
        expect(p1.entries.map((x) => x.rev)).toEqual([1, 4]);
        expect(p1.more).toBe(true);
        expect(p1.headRev).toBe(7);
        const p2 = await store.changes('alice', 4, 2);
        expect(p2.entries.map((x) => x.rev)).toEqual([5, 6]);
        expect(p2.more).toBe(true);
        expect(p2.entries[0]).toEqual(e);
        const p3 = await store.changes('alice', 6, 2);
        expect(p3.entries.map((x) => x.rev)).toEqual([7]);
        expect(p3.more).toBe(false);
        const exact = await store.changes('alice', 5, 2);
        expect(exact.entries.map((x) => x.rev)).toEqual([6, 7]);
        expect(exact.more).toBe(false);
        expect(await store.changes('alice', 7, 10)).toEqual({ entries: [], headRev: 7, more: false });
        expect(await store.changes('alice', 99, 10)).toEqual({ entries: [], headRev: 7, more: false });
      });

      it('lists entries sorted by path, with tombstones unless live is asked', async () => {
        for (const p of ['z', '.b', 'a/b', 'a']) await write('alice', p, p);
        const z = await store.getEntry('alice', 'z');
        await commitOk('alice', [op({ path: 'z', baseRev: z!.rev, deleted: true })]);
        const all = await store.listEntries('alice');
        expect(all.map((e) => e.path)).toEqual(['.b', 'a', 'a/b', 'z']);
        expect(all[3]?.deleted).toBe(true);
        expect((await store.listEntries('alice', { live: true })).map((e) => e.path)).toEqual(['.b', 'a', 'a/b']);
        expect((await store.listEntries('alice', { live: false })).length).toBe(4);
        for (const e of all) expect(await store.getEntry('alice', e.path)).toEqual(e);
      });

      it('hands out copies: changing a returned entry does not change the store', async () => {
        const e = await write('alice', 'f', 'content');
        e.hash = null;
        const got = await store.getEntry('alice', 'f');
        got!.deleted = true;
        (await store.listEntries('alice'))[0]!.size = 999;
        (await store.changes('alice', 0, 10)).entries[0]!.rev = 42;
        (await store.history('alice', 'f'))[0]!.path = 'g';
        expect(await store.getEntry('alice', 'f')).toMatchObject({ path: 'f', hash: sha256('content'), deleted: false, size: 7, rev: 1 });
      });

      it('keeps history newest first, including tombstones, and honours a limit', async () => {
        const v1 = await write('alice', 'h', 'v1', { now: T0 + 1 });
        const v2 = await write('alice', 'h', 'v2', { now: T0 + 2 });
        await write('alice', 'other', 'o');
        const v3 = (await commitOk('alice', [op({ path: 'h', baseRev: v2.rev, deleted: true })], { now: T0 + 3 })).entries[0]!;
        const v4 = await write('alice', 'h', 'v4', { now: T0 + 4 });
        expect(await store.history('alice', 'h')).toEqual([v4, v3, v2, v1]);
        expect(await store.history('alice', 'h', 2)).toEqual([v4, v3]);
        expect(await store.history('alice', 'nope')).toEqual([]);
      });

      it('reports stats of live files and bytes, and lists users with data', async () => {
        await write('alice', 'a', 'xxxx', { now: T0 + 10 });
        await write('alice', 'b', 'yy', { now: T0 + 20 });
        const b = await store.getEntry('alice', 'b');
        await write('alice', 'a', 'x', { now: T0 + 30 });
        await commitOk('alice', [op({ path: 'b', baseRev: b!.rev, deleted: true })], { now: T0 + 40 });
        await write('carol', 'c', 'c', { now: T0 + 50 });
        expect(await store.stats('alice')).toEqual({ files: 1, bytes: 1, headRev: 4, lastCommitAt: T0 + 40 });
        expect(await store.stats('carol')).toEqual({ files: 1, bytes: 1, headRev: 1, lastCommitAt: T0 + 50 });
        expect(await store.listUsers()).toEqual(['alice', 'carol']);
      });

      it('isolates users completely: revs, entries, feed, history and stats', async () => {
        await write('alice', '.zshrc', 'alice zsh');
        await write('alice', '.vimrc', 'alice vim');
        await write('bob', '.zshrc', 'bob zsh');
        expect(await store.headRev('alice')).toBe(2);
        expect(await store.headRev('bob')).toBe(1);
        expect((await store.getEntry('bob', '.zshrc'))?.hash).toBe(sha256('bob zsh'));
        expect(await store.getEntry('bob', '.vimrc')).toBeNull();
        expect((await store.listEntries('bob')).map((e) => e.path)).toEqual(['.zshrc']);
        expect((await store.changes('bob', 0, 100)).entries.map((e) => e.path)).toEqual(['.zshrc']);
        expect(await store.history('bob', '.vimrc')).toEqual([]);
        expect((await store.stats('bob')).files).toBe(1);
        // bob's stale write does not see alice's revs
        const c = await commit('bob', [op({ path: '.zshrc', baseRev: 2, deleted: true })]);
        expect(c.ok).toBe(false);
        expect((await store.getEntry('alice', '.zshrc'))?.hash).toBe(sha256('alice zsh'));
      });
    });

    describe('retention and garbage collection', () => {
      it('keeps the newest N past versions and anything younger than the age limit, never the current one', async () => {
        // versions of h at days 0..5; now = day 10
        for (let d = 0; d <= 5; d++) await write('alice', 'h', `v${d}`, { now: T0 + d * DAY });
        const now = T0 + 10 * DAY;
        // keep 2 past versions, age limit 7 days (days 0..5 are all older than 7 days at day 10)
        const r = await store.applyRetention('alice', { versions: 2, days: 7 }, now);
        expect(r.versionsRemoved).toBe(3);
        expect((await store.history('alice', 'h')).map((e) => e.updatedAt)).toEqual([5, 4, 3].map((d) => T0 + d * DAY));
        // everything younger than 8 days is kept regardless of the count (days 3..5 at day 10)
        expect((await store.applyRetention('alice', { versions: 0, days: 8 }, now)).versionsRemoved).toBe(0);
        // 0 versions, 0 days: only the current one remains, even when it is old
        expect((await store.applyRetention('alice', { versions: 0, days: 0 }, now)).versionsRemoved).toBe(2);
        const h = await store.history('alice', 'h');
        expect(h).toHaveLength(1);
        expect(h[0]).toEqual(await store.getEntry('alice', 'h'));
        // the current entry of a path written once is never dropped, tombstones included
        await write('alice', 'once', 'x', { now: T0 });
        const once = await store.getEntry('alice', 'once');
        await commitOk('alice', [op({ path: 'once', baseRev: once!.rev, deleted: true })], { now: T0 });
        await store.applyRetention('alice', { versions: 0, days: 0 }, now);
        expect((await store.history('alice', 'once')).map((e) => e.deleted)).toEqual([true]);
        expect(await store.getEntry('alice', 'once')).toMatchObject({ deleted: true });
      });

      it('trims only the named paths when given paths, and every path without them', async () => {
        for (const path of ['a', 'b', 'dir/c d.txt']) for (let d = 0; d < 3; d++) await write('alice', path, `${path}${d}`, { now: T0 + d * DAY });
        const now = T0 + 100 * DAY;
        const keep = { versions: 0, days: 0 };
        // duplicates and paths with no history are harmless
        const r = await store.applyRetention('alice', keep, now, { paths: ['a', 'a', 'dir/c d.txt', 'never-written'] });
        expect(r.versionsRemoved).toBe(4);
        expect(await store.history('alice', 'a')).toEqual([await store.getEntry('alice', 'a')]);
        expect(await store.history('alice', 'dir/c d.txt')).toEqual([await store.getEntry('alice', 'dir/c d.txt')]);
        expect(await store.history('alice', 'b')).toHaveLength(3);
        expect((await store.applyRetention('alice', keep, now, { paths: [] })).versionsRemoved).toBe(0);
        expect(await store.history('alice', 'b')).toHaveLength(3);
        expect((await store.applyRetention('alice', keep, now)).versionsRemoved).toBe(2);
        expect(await store.history('alice', 'b')).toEqual([await store.getEntry('alice', 'b')]);
      });

      it('applies retention per user only', async () => {
        for (let d = 0; d < 3; d++) await write('alice', 'h', `a${d}`, { now: T0 + d * DAY });
        for (let d = 0; d < 3; d++) await write('bob', 'h', `b${d}`, { now: T0 + d * DAY });
        expect((await store.applyRetention('alice', { versions: 0, days: 0 }, T0 + 100 * DAY)).versionsRemoved).toBe(2);
        expect(await store.history('bob', 'h')).toHaveLength(3);
      });

      it('removes only blobs no version of any user references', async () => {
        const orphan = await upload('alice', 'uploaded, never committed');
        await write('alice', 'f', 'old version', { now: T0 });
        await write('alice', 'f', 'new version', { now: T0 + 1 });
        await write('bob', 'g', 'old version'); // bob references the same bytes
        await write('bob', 'k', 'bob only');
        await write('alice', 'h', 'alice past', { now: T0 }); // referenced only by history once h moves on
        await write('alice', 'h', 'alice now', { now: T0 + 1 });
        const gc1 = await store.gcBlobs({ graceMs: 0 });
        expect(gc1).toEqual({ blobsRemoved: 1, bytesFreed: orphan.size });
        expect(await store.hasBlob('alice', orphan.hash)).toBe(false);
        expect(await store.getBlob('alice', orphan.hash)).toBeNull();
        for (const c of ['old version', 'new version', 'alice past']) expect(await store.hasBlob('alice', sha256(c))).toBe(true);
        expect(await readAll((await store.getBlob('alice', sha256('alice past')))!.stream)).toEqual(Buffer.from('alice past'));
        // alice's past versions go: "alice past" is freed, "old version" stays because bob still uses it
        expect((await store.applyRetention('alice', { versions: 0, days: 0 }, T0 + 100 * DAY)).versionsRemoved).toBe(2);
        expect(await store.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 1, bytesFreed: 'alice past'.length });
        expect(await store.hasBlob('alice', sha256('alice past'))).toBe(false);
        expect(await store.hasBlob('bob', sha256('old version'))).toBe(true);
        // once bob deletes and retention drops his versions, it goes too
        const g = await store.getEntry('bob', 'g');
        await commitOk('bob', [op({ path: 'g', baseRev: g!.rev, deleted: true })]);
        await store.applyRetention('bob', { versions: 0, days: 0 }, T0 + 100 * DAY);
        expect(await store.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 1, bytesFreed: 'old version'.length });
        expect(await store.getBlob('bob', sha256('old version'))).toBeNull();
        expect(await readAll((await store.getBlob('bob', sha256('bob only')))!.stream)).toEqual(Buffer.from('bob only'));
        expect(await readAll((await store.getBlob('alice', sha256('new version')))!.stream)).toEqual(Buffer.from('new version'));
      });
    });

    describe('gc grace', () => {
      it('keeps an uploaded blob through gc until its commit lands, and collects an old unreferenced one', async () => {
        const early = await upload('alice', 'uploaded, then gc ran before the commit');
        expect(await store.gcBlobs()).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
        expect(await store.gcBlobs({ now: Date.now() + 30 * 60_000 })).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
        await commitOk('alice', [op({ path: '.zshrc', baseRev: 0, ...early })]);
        const orphan = await upload('alice', 'uploaded, never committed');
        expect(await store.gcBlobs()).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
        // two hours later the orphan goes; the committed blob stays
        expect(await store.gcBlobs({ now: Date.now() + 2 * 3_600_000 })).toEqual({ blobsRemoved: 1, bytesFreed: orphan.size });
        expect(await store.hasBlob('alice', orphan.hash)).toBe(false);
        expect(await store.hasBlob('alice', early.hash)).toBe(true);
        expect(await store.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 0, bytesFreed: 0 });
      });
    });

    describe('races', () => {
      it('never lets gc remove a blob that a concurrent commit references', async () => {
        for (let round = 0; round < 8; round++) {
          const blobs = await Promise.all(Array.from({ length: 4 }, (_, i) => upload('alice', `round ${round} blob ${i}`)));
          const results = await Promise.allSettled([
            store.gcBlobs({ graceMs: 0 }),
            ...blobs.map((b, i) => commit('alice', [op({ path: `p${i}`, baseRev: null, ...b })])),
            store.gcBlobs({ graceMs: 0 }),
          ]);
          for (const r of results) if (r.status === 'rejected') expect((r.reason as DmanError).code).toBe('PRECONDITION_FAILED');
        }
        // every entry's content is still there: gc lost nothing a commit kept
        for (const e of await store.listEntries('alice', { live: true })) {
          const got = await store.getBlob('alice', e.hash!);
          expect(got, `blob of ${e.path}`).not.toBeNull();
          expect(sha256(await readAll(got!.stream))).toBe(e.hash);
        }
        for (const p of ['p0', 'p1', 'p2', 'p3']) for (const v of await store.history('alice', p)) expect(await store.hasBlob('alice', v.hash!)).toBe(true);
      });

      it('never acknowledges an upload of known content that gc collected meanwhile without the bytes being there', async () => {
        // Known content is only verified, not written again; if gc takes the old copy while the
        // upload streams, the upload must fail (retryable) or store the content anew, never
        // report it stored with nothing behind it. Large enough to stream in several chunks.
        const big = Buffer.alloc(600 * 1024, 7);
        const hash = sha256(big);
        const uploads: Array<(user: string) => Promise<unknown>> = [
          (user) => store.putBlob(user, hash, (async function* () {
            yield big.subarray(0, 1000);
            await store.gcBlobs({ graceMs: 0, now: Date.now() + 60_000 });
            yield big.subarray(1000);
          })(), 64 * MB),
        ];
        const bulk = store.putBlobs?.bind(store);
        if (bulk) uploads.push((user) => bulk(user, (async function* () {
          yield { hash, data: Readable.from([big]) };
          await store.gcBlobs({ graceMs: 0, now: Date.now() + 60_000 });
        })(), 64 * MB));
        for (const [i, up] of uploads.entries()) {
          const user = `u${i}`;
          await upload('alice', big); // an old copy nobody references
          const outcome: DmanError | null = await up(user).then(() => null, (err: unknown) => err as DmanError);
          if (outcome === null) {
            const got = await store.getBlob(user, hash);
            expect(got, 'acknowledged but unreadable').not.toBeNull();
            expect(sha256(await readAll(got!.stream))).toBe(hash);
            await commitOk(user, [op({ path: 'f', baseRev: 0, hash, size: big.length })]);
          } else {
            expect(outcome.code).toBe('STORE_UNAVAILABLE');
            expect(await store.hasBlob(user, hash)).toBe(false);
          }
        }
      });

      it('never lets retention drop the current version while commits land concurrently', async () => {
        const blobs = await Promise.all(Array.from({ length: 6 }, (_, i) => upload('alice', `v${i}`)));
        for (let round = 0; round < 6; round++) {
          await Promise.all([
            store.applyRetention('alice', { versions: 0, days: 0 }, T0 + 1000 * DAY),
            ...['a', 'b', 'c'].map((p, i) => commit('alice', [op({ path: p, baseRev: null, ...blobs[(round + i) % 6]! })], { now: T0 + round })),
            store.applyRetention('alice', { versions: 0, days: 0 }, T0 + 1000 * DAY),
          ]);
          for (const p of ['a', 'b', 'c']) {
            const cur = await store.getEntry('alice', p);
            expect((await store.history('alice', p))[0]).toEqual(cur);
          }
        }
      });
    });

    // Registered for persistent drivers only (a memory store has nothing to reopen).
    if (opts.persistent) describe('persistence', () => {
      it('answers the same after close and reopen, replays idempotency keys, and carries on counting', async () => {
        if (!reopen) throw new Error(`describeStoreContract(${name}, …, { persistent: true }): the factory must return reopen()`);
        for (let i = 0; i < 6; i++) await write('alice', `f${i % 3}`, `alice ${i}`, { now: T0 + i * DAY });
        const f0 = await store.getEntry('alice', 'f0');
        await commitOk('alice', [op({ path: 'f0', baseRev: f0!.rev, deleted: true })], { idempotencyKey: 'persist-key-1', now: T0 + 7 * DAY });
        await write('bob', '.zshrc', 'bob');
        const orphan = await upload('bob', 'bob orphan');
        await store.applyRetention('alice', { versions: 0, days: 0 }, T0 + 100 * DAY);
        await store.putToken({ id: 'tk', user: 'alice', device: 'laptop', admin: false, createdAt: T0, lastUsedAt: null, revokedAt: null, hash: sha256('tk') });
        await store.revokeToken('tk', T0 + 1);
        await store.appendAudit({ time: T0, action: 'prune', outcome: 'ok', source: null, user: 'alice', tokenId: 'tk', opId: 'op1', details: { n: 1 } });
        const snapshot = async (s: Store): Promise<unknown> => ({
          users: await s.listUsers(),
          alice: [await s.listEntries('alice'), await s.changes('alice', 0, 1000), await Promise.all(['f0', 'f1', 'f2'].map((p) => s.history('alice', p))), await s.stats('alice')],
          bob: [await s.listEntries('bob'), await s.stats('bob'), await s.hasBlob('bob', orphan.hash), await s.hasBlob('alice', orphan.hash)],
          tokens: await s.listTokens(),
          audit: await s.listAudit({}),
        });
        const before = await snapshot(store);
        await store.close();
        store = await reopen();
        reopened.push(store);
        expect(await snapshot(store)).toEqual(before);
        const replay = await commitOk('alice', [op({ path: 'f0', baseRev: f0!.rev, deleted: true })], { idempotencyKey: 'persist-key-1', now: T0 + 8 * DAY });
        expect(replay.replayed).toBe(true);
        // the key remembers its batch across the restart too
        await expectDmanError(commit('alice', [op({ path: 'f0', baseRev: 0, deleted: true })], { idempotencyKey: 'persist-key-1' }), 'BAD_REQUEST');
        const head = await store.headRev('alice');
        const next = await write('alice', 'new', 'after reopen');
        expect(next.rev).toBe(head + 1);
        expect(await readAll((await store.getBlob('alice', sha256('after reopen')))!.stream)).toEqual(Buffer.from('after reopen'));
        expect(await readAll((await store.getBlob('bob', orphan.hash))!.stream)).toEqual(Buffer.from('bob orphan'));
      });
    });

    describe('subscribe', () => {
      it('notifies (user, rev) after each commit, per user and for "*", until unsubscribed', async () => {
        const aliceSeen: Array<[string, number]> = [];
        const allSeen: Array<[string, number]> = [];
        const stopped: Array<[string, number]> = [];
        const offAlice = store.subscribe('alice', (u, r) => aliceSeen.push([u, r]));
        const offAll = store.subscribe('*', (u, r) => allSeen.push([u, r]));
        const offStopped = store.subscribe('alice', (u, r) => stopped.push([u, r]));
        await write('alice', 'a', 'a');
        await waitFor(() => aliceSeen.length >= 1 && stopped.length >= 1, 5000, 'alice notification');
        offStopped();
        await write('bob', 'b', 'b');
        await write('alice', 'a', 'a2');
        await waitFor(() => allSeen.length >= 3 && aliceSeen.length >= 2, 5000, 'all notifications');
        expect(aliceSeen).toEqual([['alice', 1], ['alice', 2]]);
        expect(allSeen).toContainEqual(['bob', 1]);
        expect(allSeen).toContainEqual(['alice', 2]);
        expect(stopped).toEqual([['alice', 1]]);
        // a conflict notifies nobody
        const before = aliceSeen.length;
        const c = await commit('alice', [op({ path: 'a', baseRev: 0, deleted: true })]);
        expect(c.ok).toBe(false);
        offAlice();
        offAll();
        await write('alice', 'a', 'a3');
        const marker: number[] = [];
        const offMarker = store.subscribe('alice', (_u, r) => marker.push(r));
        await write('alice', 'a', 'a4');
        await waitFor(() => marker.length >= 1, 5000, 'marker notification');
        offMarker();
        expect(aliceSeen.length).toBe(before);
        expect(allSeen.some(([u, r]) => u === 'alice' && r >= 3)).toBe(false);
      });
    });

    describe('tokens', () => {
      const tok = (id: string, over: Partial<TokenRecord> = {}): TokenRecord => ({
        id, user: 'alice', device: 'laptop', admin: false, createdAt: T0, lastUsedAt: null, revokedAt: null, hash: sha256(`token-${id}`), ...over,
      });

      it('puts, finds by hash, lists, touches and revokes tokens', async () => {
        await store.putToken(tok('t1'));
        await store.putToken(tok('t2', { user: null, admin: true, device: 'ops', createdAt: T0 + 1 }));
        expect(await store.getTokenByHash(sha256('token-t1'))).toEqual(tok('t1'));
        expect(await store.getTokenByHash(sha256('token-zz'))).toBeNull();
        const list = await store.listTokens();
        expect(list.map((t) => t.id).sort()).toEqual(['t1', 't2']);
        expect(list.find((t) => t.id === 't2')).toEqual(tok('t2', { user: null, admin: true, device: 'ops', createdAt: T0 + 1 }));
        await store.touchToken('t1', T0 + 100);
        expect((await store.getTokenByHash(sha256('token-t1')))?.lastUsedAt).toBe(T0 + 100);
        expect(await store.revokeToken('t1', T0 + 200)).toBe(true);
        expect(await store.revokeToken('nope', T0 + 200)).toBe(false);
        const revoked = await store.getTokenByHash(sha256('token-t1'));
        expect(revoked?.revokedAt).toBe(T0 + 200);
        expect(revoked?.lastUsedAt).toBe(T0 + 100);
        // Revoking again is harmless and keeps when it was first revoked (the audit trail's time).
        expect(await store.revokeToken('t1', T0 + 300)).toBe(true);
        expect((await store.getTokenByHash(sha256('token-t1')))?.revokedAt).toBe(T0 + 200);
        expect((await store.getTokenByHash(sha256('token-t2')))?.revokedAt).toBeNull();
        await store.touchToken('nope', T0); // unknown id: no error, nothing created
        expect((await store.listTokens()).length).toBe(2);
      });

      it('replaces a token record put again under the same id', async () => {
        await store.putToken(tok('t1'));
        await store.putToken(tok('t1', { device: 'renamed' }));
        expect((await store.listTokens()).map((t) => t.device)).toEqual(['renamed']);
        expect((await store.getTokenByHash(sha256('token-t1')))?.device).toBe('renamed');
      });
    });

    describe('audit', () => {
      const rec = (time: number, user: string | null, action: string): AuditRecord => ({
        time, action, outcome: 'ok', source: '127.0.0.1', user, tokenId: 't1', opId: `op-${time}`, details: { paths: 2 },
      });

      it('appends records and lists them newest first with since, user and limit filters', async () => {
        await store.appendAudit(rec(T0 + 1, 'alice', 'prune'));
        await store.appendAudit(rec(T0 + 2, 'bob', 'restore'));
        await store.appendAudit({ ...rec(T0 + 3, null, 'auth'), outcome: 'denied', tokenId: null, opId: null, details: undefined });
        await store.appendAudit(rec(T0 + 4, 'alice', 'token.revoke'));
        const all = await store.listAudit({});
        expect(all.map((r) => r.time)).toEqual([T0 + 4, T0 + 3, T0 + 2, T0 + 1]);
        expect(all[3]).toEqual(rec(T0 + 1, 'alice', 'prune'));
        expect(all[1]).toMatchObject({ outcome: 'denied', user: null, tokenId: null });
        expect((await store.listAudit({ user: 'alice' })).map((r) => r.action)).toEqual(['token.revoke', 'prune']);
        expect((await store.listAudit({ since: T0 + 2 })).map((r) => r.time)).toEqual([T0 + 4, T0 + 3, T0 + 2]);
        expect((await store.listAudit({ limit: 2 })).map((r) => r.time)).toEqual([T0 + 4, T0 + 3]);
        expect((await store.listAudit({ user: 'alice', since: T0 + 2, limit: 5 })).map((r) => r.action)).toEqual(['token.revoke']);
      });
    });
  });
}
