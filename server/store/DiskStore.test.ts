import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { isTempName } from '../../engine/fs/atomic.js';
import { isDmanError, type DmanError } from '../../shared/errors.js';
import type { CommitOp } from '../../shared/protocol.js';
import { describeStoreContract } from './contract.js';
import { DiskStore, type DiskStoreOptions } from './DiskStore.js';
import { encodeRecord } from './disk/journal.js';
import type { PackFiles, PackLoc } from './disk/packs.js';

describeStoreContract('DiskStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dman-disk-'));
  const store = new DiskStore({ dataDir: dir });
  await store.open();
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
    reopen: async () => {
      const again = new DiskStore({ dataDir: dir });
      await again.open();
      return again;
    },
  };
}, { persistent: true });

// ---- disk-specific behaviour: persistence, crash safety, the lock, damaged files

const FIXTURE = fileURLToPath(new URL('./disk/crashWriter.fixture.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const T0 = Date.UTC(2026, 0, 1);

function sha(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dman-disk-x-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function opened(dir: string, opts: Partial<DiskStoreOptions> = {}): Promise<DiskStore> {
  const s = new DiskStore({ dataDir: dir, ...opts });
  await s.open();
  return s;
}

async function put(s: DiskStore, user: string, content: string): Promise<string> {
  const h = sha(content);
  await s.putBlob(user, h, Readable.from([Buffer.from(content)]), 1 << 20);
  return h;
}

/** Drops a store the way kill -9 would: files closed as they are, no snapshot, the lock left behind (then removed, as the dead pid would be). */
async function crash(s: DiskStore, dir: string): Promise<void> {
  const inner = s as unknown as { journal: { close(): Promise<void> }; auditLog: { close(): Promise<void> }; packs: PackFiles };
  await inner.journal.close();
  await inner.auditLog.close();
  await inner.packs.close();
  await rm(join(dir, 'lock'));
}

/** The store's private view of packed blobs. */
function packedOf(s: DiskStore): Map<string, PackLoc> {
  return (s as unknown as { packed: Map<string, PackLoc> }).packed;
}

async function putMany(s: DiskStore, user: string, contents: Buffer[]): Promise<string[]> {
  const uploads = contents.map((b) => ({ hash: sha(b), data: Readable.from([b]) }));
  await s.putBlobs(user, (async function* () { yield* uploads; })(), 1 << 20);
  return uploads.map((u) => u.hash);
}

async function readBlob(s: DiskStore, user: string, hash: string): Promise<Buffer | null> {
  const got = await s.getBlob(user, hash);
  if (!got) return null;
  const parts: Buffer[] = [];
  for await (const c of got.stream) parts.push(c as Buffer);
  const buf = Buffer.concat(parts);
  expect(buf.length).toBe(got.size);
  return buf;
}

async function packFiles(dir: string): Promise<Array<{ name: string; size: number }>> {
  const names = (await readdir(join(dir, 'packs'))).sort((a, b) => parseInt(a) - parseInt(b));
  return Promise.all(names.map(async (name) => ({ name, size: (await stat(join(dir, 'packs', name))).size })));
}

async function blobFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(dir, 'blobs'))) for (const n of await readdir(join(dir, 'blobs', d))) out.push(d + n);
  return out.sort();
}

/** `n` distinct small contents of about `size` bytes. */
function smalls(tag: string, n: number, size = 1000): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i} `.padEnd(size + (i % 7), String.fromCharCode(97 + (i % 26)))));
}

function fileOp(path: string, baseRev: number | null, hash: string, size: number): CommitOp {
  return { path, baseRev, deleted: false, kind: 'file', hash, size, mode: 0o644, mtime: 1 };
}

/** Everything a store answers, for comparing a store before and after a reopen. */
async function dump(s: DiskStore): Promise<unknown> {
  const users = await s.listUsers();
  const per: Record<string, unknown> = {};
  for (const u of users) {
    const entries = await s.listEntries(u);
    per[u] = {
      stats: await s.stats(u),
      entries,
      changes: await s.changes(u, 0, 100_000),
      history: await Promise.all(entries.map((e) => s.history(u, e.path))),
    };
  }
  return { users, per, tokens: (await s.listTokens()).sort((a, b) => a.id.localeCompare(b.id)), audit: await s.listAudit({}) };
}

function spawnFixture(args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  child.on('exit', (code, signal) => {
    if (signal !== 'SIGKILL' && code !== 0) lines.push(`EXIT ${code} ${err.slice(-2000)}`);
  });
  return { child, lines, exited };
}

async function waitForLine(lines: string[], re: RegExp, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!lines.some((l) => re.test(l))) {
    const bad = lines.find((l) => l.startsWith('EXIT'));
    if (bad) throw new Error(`fixture died: ${bad}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${re}; got ${lines.slice(-3).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('DiskStore on disk', () => {
  it('answers the commit that grows the journal past compactBytes before compacting; the next write waits for the snapshot', async () => {
    await withDir(async (dir) => {
      const s = await opened(dir, { compactBytes: 1 });
      const h = await put(s, 'alice', 'one');
      const out = await s.commit({ user: 'alice', device: 'd', ops: [fileOp('f', 0, h, 3)], now: T0 });
      expect(out.ok).toBe(true);
      // Answered with the record durable in the journal, the snapshot not taken yet.
      expect(statSync(join(dir, 'journal.log')).size).toBeGreaterThan(0);
      const h2 = await put(s, 'alice', 'two');
      // That write waited for the snapshot, which emptied the journal before it.
      expect(readFileSync(join(dir, 'snapshot.jsonl'), 'utf8')).toContain('"f"');
      expect(await s.hasBlob('alice', h2)).toBe(true);
      await s.close();
      const again = await opened(dir);
      expect((await again.getEntry('alice', 'f'))?.hash).toBe(h);
      await again.close();
    });
  });

  it('lets the journal grow as large as the last snapshot before the next one (a growing store does not rewrite itself every compactBytes)', async () => {
    await withDir(async (dir) => {
      const snap = join(dir, 'snapshot.jsonl'), journal = join(dir, 'journal.log');
      let s = await opened(dir, { fsync: false, compactBytes: 4096 });
      const h = await put(s, 'alice', 'content');
      // one big commit: its journal record passes compactBytes, and the snapshot taken after it is larger still
      const big = await s.commit({ user: 'alice', device: 'd', ops: Array.from({ length: 200 }, (_, i) => fileOp(`dir/file-${i}`, 0, h, 7)), now: T0 });
      expect(big.ok).toBe(true);
      await put(s, 'alice', 'waits for the snapshot');
      const first = statSync(snap).size;
      expect(first).toBeGreaterThan(4096 * 4);
      expect(statSync(journal).size).toBeLessThan(4096);
      // small commits past compactBytes but short of the snapshot's size: no new snapshot
      let i = 0;
      const small = async (): Promise<void> => {
        const cur = await s.getEntry('alice', 'log');
        expect((await s.commit({ user: 'alice', device: 'd', ops: [fileOp('log', cur?.rev ?? 0, h, 7)], now: T0 + ++i })).ok).toBe(true);
        await put(s, 'alice', `after ${i}`);
      };
      while (statSync(journal).size < 4096 * 2 && i < 2000) await small();
      expect(statSync(snap).size).toBe(first);
      // the snapshot comes once the journal has grown to the snapshot's size, and empties it
      let before = 0;
      while (statSync(snap).size === first && i < 5000) { before = statSync(journal).size; await small(); }
      expect(before).toBeGreaterThan(first - 2048);
      expect(before).toBeLessThan(first);
      expect(statSync(journal).size).toBeLessThan(4096);
      expect(statSync(snap).size).toBeGreaterThan(first);
      // after a reopen the loaded snapshot's size counts the same way
      await s.close();
      s = await opened(dir, { fsync: false, compactBytes: 4096 });
      const loaded = statSync(snap).size;
      while (statSync(journal).size < 4096 * 2 && i < 2000) await small();
      expect(statSync(snap).size).toBe(loaded);
      expect((await s.getEntry('alice', 'dir/file-199'))?.hash).toBe(h);
      await s.close();
    });
  });

  it('persists entries, history, blobs, ownership, tokens, audit and idempotency keys across reopen (journal and snapshot)', async () => {
    await withDir(async (dir) => {
      // a tiny compaction threshold makes some of this state come from snapshots, the rest from the journal
      let s = await opened(dir, { compactBytes: 2048 });
      const tok = { id: 't1', user: 'alice', device: 'laptop', admin: false, createdAt: T0, lastUsedAt: null, revokedAt: null, hash: sha('tok') };
      await s.putToken(tok);
      await s.putToken({ ...tok, id: 't2', hash: sha('tok2') });
      for (let i = 0; i < 30; i++) {
        const h = await put(s, 'alice', `v${i}`);
        const cur = await s.getEntry('alice', `f${i % 4}`);
        const out = await s.commit({ user: 'alice', device: 'd', ops: [fileOp(`f${i % 4}`, cur?.rev ?? 0, h, 2)], now: T0 + i, idempotencyKey: `key-${i}-xyz` });
        expect(out.ok).toBe(true);
      }
      const bobBlob = await put(s, 'bob', 'bob file');
      await s.commit({ user: 'bob', device: 'd', ops: [fileOp('b', 0, bobBlob, 8)], now: T0 });
      const orphan = await put(s, 'bob', 'never committed');
      await s.applyRetention('alice', { versions: 2, days: 0 }, T0 + 100 * 86_400_000);
      await s.revokeToken('t2', T0 + 5);
      await s.touchToken('t1', T0 + 7);
      await s.appendAudit({ time: T0, action: 'prune', outcome: 'ok', source: '::1', user: 'alice', tokenId: 't1', opId: 'o1' });
      const before = await dump(s);
      await s.close();

      s = await opened(dir);
      expect(await dump(s)).toEqual(before);
      expect((await s.getTokenByHash(sha('tok')))?.lastUsedAt).toBe(T0 + 7);
      expect(await s.hasBlob('bob', orphan)).toBe(true);
      expect(await s.hasBlob('alice', bobBlob)).toBe(false);
      // the key remembers its batch across the reopen: a different batch under it is refused, not replayed
      await expect(s.commit({ user: 'alice', device: 'd', ops: [fileOp('zzz', 0, bobBlob, 8)], now: T0, idempotencyKey: 'key-29-xyz' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      expect(await s.headRev('alice')).toBe(30);
      expect((await s.gcBlobs({ graceMs: 0 })).blobsRemoved).toBeGreaterThanOrEqual(1);
      expect(await s.hasBlob('bob', orphan)).toBe(false);
      await s.close();

      // after a crash (no close: journal not compacted), the journal alone restores the same state
      s = await opened(dir, { compactBytes: 1 << 30 });
      const h = await put(s, 'alice', 'after crash');
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('crash', 0, h, 11)], now: T0 });
      const mid = await dump(s);
      await crash(s, dir);
      s = await opened(dir);
      expect(await dump(s)).toEqual(mid);
      await s.close();
    });
  });

  it('keeps the data dir, journal and blobs private to the server user', async () => {
    await withDir(async (parent) => {
      const dir = join(parent, 'data');
      const s = await opened(dir);
      const h = await put(s, 'alice', 'Host secret\n  IdentityFile ~/.ssh/id');
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('.ssh/config', 0, h, 38)], now: T0 });
      const big = Buffer.alloc(1100 * 1024, 7); // large blobs stay one file each
      await s.putBlob('alice', sha(big), Readable.from([big]), 4 << 20);
      expect((await stat(dir)).mode & 0o077).toBe(0);
      expect((await stat(join(dir, 'journal.log'))).mode & 0o077).toBe(0);
      expect((await stat(join(dir, 'packs'))).mode & 0o077).toBe(0);
      const packs = await packFiles(dir);
      expect(packs).toHaveLength(1);
      expect((await stat(join(dir, 'packs', packs[0]!.name))).mode & 0o077).toBe(0);
      expect((await stat(join(dir, 'blobs', sha(big).slice(0, 2), sha(big).slice(2)))).mode & 0o077).toBe(0);
      await s.close();
      expect((await stat(join(dir, 'snapshot.jsonl'))).mode & 0o077).toBe(0);
    });
  });

  it('keeps commits O(batch): a one-op commit appends a small journal record to a 10,000-entry manifest', async () => {
    await withDir(async (dir) => {
      const s = await opened(dir, { fsync: false, compactBytes: 1 << 30 });
      const h = await put(s, 'alice', 'x');
      const ops = Array.from({ length: 10_000 }, (_, i) => fileOp(`.dir${i % 50}/file${i}`, 0, h, 1));
      expect((await s.commit({ user: 'alice', device: 'd', ops, now: T0 })).ok).toBe(true);
      const size0 = (await stat(join(dir, 'journal.log'))).size;
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('.zshrc', 0, h, 1)], now: T0 });
      const grew = (await stat(join(dir, 'journal.log'))).size - size0;
      expect(grew).toBeLessThan(1024);
      expect((await s.changes('alice', 10_000, 10)).entries.map((e) => e.path)).toEqual(['.zshrc']);
      await s.close();
    });
  });

  it('refuses a second opener of the same data dir, in this process and in another, and takes over a dead one\'s lock', async () => {
    await withDir(async (dir) => {
      const a = await opened(dir);
      const err = await new DiskStore({ dataDir: dir }).open().then(() => null, (e: unknown) => e);
      expect(isDmanError(err, 'STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toContain(`already in use by process ${process.pid}`);
      expect((err as Error).message).toContain(dir);
      await a.close();

      const { child, lines, exited } = spawnFixture(['hold', dir]);
      try {
        await waitForLine(lines, /^opened$/);
        const err2 = await new DiskStore({ dataDir: dir }).open().then(() => null, (e: unknown) => e);
        expect(isDmanError(err2, 'STORE_UNAVAILABLE')).toBe(true);
        expect((err2 as Error).message).toContain(`process ${child.pid}`);
        expect((err2 as DmanError).hint).toMatch(/one server per data dir/);
      } finally {
        child.kill('SIGKILL');
        await exited;
      }
      const b = await opened(dir); // the holder died: its lock is stale
      const h = await b.health();
      expect(h.ok).toBe(true);
      expect(h.details).toMatchObject({ dataDir: dir, blobs: 0 });
      expect(h.details?.freeBytes).toBeGreaterThan(0);
      await b.close();
    });
  });

  it('survives kill -9 at random moments mid-batch: whole batches only, blobs intact, no temp files', async () => {
    await withDir(async (dir) => {
      const P = 150;
      let lastAcked = -1;
      let sawPacked = false;
      for (let round = 0; round < 5; round++) {
        const { child, lines, exited } = spawnFixture(['write', dir, String(P)]);
        const firstBatch = lastAcked + 1;
        await waitForLine(lines, new RegExp(`^ok ${firstBatch} `));
        await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 400))); // a random moment, on purpose
        child.kill('SIGKILL');
        await exited;
        for (const l of lines) {
          const m = /^ok (\d+) (\d+)$/.exec(l);
          if (m) lastAcked = Math.max(lastAcked, Number(m[1]));
        }

        expect(await readdir(join(dir, 'tmp')).catch(() => [])).toBeDefined();
        const s = await opened(dir);
        try {
          const entries = await s.listEntries('alice');
          expect(entries).toHaveLength(P);
          const hashes = new Set(entries.map((e) => e.hash));
          expect(hashes.size).toBe(1); // one batch's version everywhere, never a mix
          const blob = await s.getBlob('alice', [...hashes][0]!);
          const parts: Buffer[] = [];
          for await (const c of blob!.stream) parts.push(c as Buffer);
          const content = Buffer.concat(parts);
          expect(sha(content)).toBe([...hashes][0]);
          const batch = Number(/^batch (\d+)\n/.exec(content.subarray(0, 32).toString('latin1'))![1]);
          expect([lastAcked, lastAcked + 1]).toContain(batch); // acknowledged work is never lost
          lastAcked = batch;
          expect(await s.headRev('alice')).toBe(P * (batch + 1));
          expect(entries.every((e) => e.mtime === batch)).toBe(true);
          expect(await s.history('alice', entries[0]!.path)).toHaveLength(batch + 1);
          // a retried batch (same idempotency key) applies once
          // (the same ops as crashWriter.fixture sent: every path, based on its rev before the batch)
          const ops = [...entries].sort((a, b) => a.rev - b.rev).map((e) => ({ path: e.path, baseRev: batch === 0 ? 0 : e.rev - P, deleted: false, kind: 'file' as const, hash: e.hash, size: e.size, mode: e.mode, mtime: batch }));
          const again = await s.commit({ user: 'alice', device: 'crash', ops, now: T0, idempotencyKey: `batch-${batch}` });
          expect(again).toMatchObject({ ok: true, replayed: true, rev: P * (batch + 1) });
          // every stored blob matches its name, and no temp file survived the open
          for (const d of await readdir(join(dir, 'blobs'))) {
            for (const name of await readdir(join(dir, 'blobs', d))) {
              expect(sha(await readFile(join(dir, 'blobs', d, name)))).toBe(d + name);
            }
          }
          // every packed blob (the small siblings of bulk batches) reads back whole (getBlob checks its hash),
          // and no pack keeps bytes past its last recorded blob (a torn append was cut)
          const packed = packedOf(s);
          sawPacked ||= packed.size > 0;
          const ends = new Map<number, number>();
          for (const [h, loc] of packed) {
            expect(sha((await readBlob(s, 'alice', h))!)).toBe(h);
            ends.set(loc.pack, Math.max(ends.get(loc.pack) ?? 0, loc.off + loc.len));
          }
          const files = await packFiles(dir);
          expect(files.map((f) => f.name).sort()).toEqual([...ends.keys()].map((id) => `${id}.pack`).sort());
          if (ends.size > 0) {
            const newest = Math.max(...ends.keys());
            expect(files.find((f) => f.name === `${newest}.pack`)!.size).toBe(ends.get(newest));
          }
          expect(await readdir(join(dir, 'tmp'))).toEqual([]);
          expect((await readdir(dir)).filter((n) => isTempName(n) || n.startsWith('.lock.'))).toEqual([]);
        } finally {
          await s.close();
        }
      }
      expect(lastAcked).toBeGreaterThanOrEqual(4);
      expect(sawPacked).toBe(true);
    });
  }, 120_000);

  it('cuts a torn journal tail (an unacknowledged write) and keeps everything before it', async () => {
    await withDir(async (dir) => {
      let s = await opened(dir, { compactBytes: 1 << 30 });
      const h = await put(s, 'alice', 'one');
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('a', 0, h, 3)], now: T0 });
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('b', 0, h, 3)], now: T0 });
      await crash(s, dir);
      const j = join(dir, 'journal.log');
      const full = await readFile(j);
      await writeFile(j, full.subarray(0, full.length - 17)); // the last record loses its end
      s = await opened(dir);
      expect((await s.listEntries('alice')).map((e) => e.path)).toEqual(['a']);
      expect(await s.headRev('alice')).toBe(1);
      // writing continues cleanly after the cut
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('c', 0, h, 3)], now: T0 });
      await s.close();
      s = await opened(dir);
      expect((await s.listEntries('alice')).map((e) => [e.path, e.rev])).toEqual([['a', 1], ['c', 2]]);
      await s.close();
    });
  });

  it('refuses a journal damaged in the middle with STORE_CORRUPT naming the file and offset, and releases the lock', async () => {
    await withDir(async (dir) => {
      const s = await opened(dir, { compactBytes: 1 << 30 });
      const h = await put(s, 'alice', 'one');
      for (const p of ['a', 'b', 'c']) await s.commit({ user: 'alice', device: 'd', ops: [fileOp(p, 0, h, 3)], now: T0 });
      await crash(s, dir);
      const j = join(dir, 'journal.log');
      const buf = await readFile(j);
      const second = buf.indexOf(0x0a) + 1;
      buf[second + 30] = buf[second + 30]! ^ 0x20; // flip a bit inside the second record
      await writeFile(j, buf);
      const err = await new DiskStore({ dataDir: dir }).open().then(() => null, (e: unknown) => e);
      expect(isDmanError(err, 'STORE_CORRUPT')).toBe(true);
      expect((err as Error).message).toContain(j);
      expect((err as Error).message).toContain(`byte ${second}`);
      expect(await stat(join(dir, 'lock')).then(() => true, () => false)).toBe(false);
      expect(await readFile(j)).toEqual(buf); // evidence left untouched
    });
  });

  it('refuses a damaged snapshot and a data dir written by a newer dman', async () => {
    await withDir(async (dir) => {
      const s = await opened(dir);
      const h = await put(s, 'alice', 'one');
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('a', 0, h, 3)], now: T0 });
      await s.close();
      const snap = join(dir, 'snapshot.jsonl');
      const buf = await readFile(snap);
      await writeFile(snap, buf.subarray(0, buf.length - 5));
      const err = await new DiskStore({ dataDir: dir }).open().then(() => null, (e: unknown) => e);
      expect(isDmanError(err, 'STORE_CORRUPT')).toBe(true);
      expect((err as Error).message).toContain(snap);
      await writeFile(snap, buf);
      await writeFile(join(dir, 'format.json'), JSON.stringify({ format: 99 }));
      const err2 = await new DiskStore({ dataDir: dir }).open().then(() => null, (e: unknown) => e);
      expect(isDmanError(err2, 'SCHEMA_TOO_NEW')).toBe(true);
    });
  });

  it('removes temp files and half-uploaded blobs left by a crash, and finishes an interrupted gc', async () => {
    await withDir(async (dir) => {
      let s = await opened(dir, { compactBytes: 1 << 30 });
      const keep = await put(s, 'alice', 'kept');
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('k', 0, keep, 4)], now: T0 });
      const orphan = await put(s, 'alice', 'orphan');
      await s.gcBlobs({ graceMs: 0 }); // journal records the gc, then unlinks
      await crash(s, dir);
      // put the orphan back as if the crash came before the unlink, plus crash debris
      await writeFile(join(dir, 'blobs', orphan.slice(0, 2), orphan.slice(2)), 'orphan');
      await writeFile(join(dir, 'tmp', 'abc-123'), 'half an upload');
      await writeFile(join(dir, '.snapshot.jsonl.dman-tmp-123-0badf00d'), 'torn snapshot');
      await writeFile(join(dir, 'blobs', 'ab', 'not-a-hash'), 'junk');
      s = await opened(dir);
      expect(await readdir(join(dir, 'tmp'))).toEqual([]);
      expect((await readdir(dir)).some(isTempName)).toBe(false);
      expect(await readdir(join(dir, 'blobs', 'ab'))).not.toContain('not-a-hash');
      expect(await stat(join(dir, 'blobs', orphan.slice(0, 2), orphan.slice(2))).then(() => true, () => false)).toBe(false);
      expect(await s.hasBlob('alice', orphan)).toBe(false);
      expect(await s.hasBlob('alice', keep)).toBe(true);
      await s.close();
    });
  });

  it('stores small blobs in packs (large ones stay files) that survive a crash, a snapshot and a reopen', async () => {
    await withDir(async (dir) => {
      let s = await opened(dir, { compactBytes: 1 << 30 });
      const bulk = smalls('bulk', 50);
      const bulkHashes = await putMany(s, 'alice', bulk);
      const single = await put(s, 'alice', 'one small blob');
      const big = Buffer.alloc(1100 * 1024, 3);
      await s.putBlob('alice', sha(big), Readable.from([big]), 4 << 20);
      const empty = await put(s, 'bob', '');
      expect(await blobFiles(dir)).toEqual([sha(big)]);
      expect((await packFiles(dir)).map((f) => f.name)).toEqual(['1.pack']);
      expect((await s.health()).details).toMatchObject({ blobs: 53, packedBlobs: 52, packs: 1, packBytes: bulk.reduce((n, b) => n + b.length, 0) + 14 });
      const check = async (st: DiskStore, blobs = 53): Promise<void> => {
        for (const [i, h] of bulkHashes.entries()) expect(await readBlob(st, 'alice', h)).toEqual(bulk[i]);
        expect((await readBlob(st, 'alice', single))!.toString()).toBe('one small blob');
        expect(await readBlob(st, 'alice', sha(big))).toEqual(big);
        expect(await readBlob(st, 'bob', empty)).toEqual(Buffer.alloc(0));
        expect(await st.getBlob('bob', single)).toBeNull(); // ownership still counts
        expect((await st.health()).details).toMatchObject({ blobs, packedBlobs: blobs - 1 });
      };
      await check(s);
      await crash(s, dir); // from the journal
      s = await opened(dir, { compactBytes: 1 << 30 });
      await check(s);
      // more uploads go on appending to the same pack, and are found after a snapshot
      const later = await putMany(s, 'alice', smalls('later', 5));
      await s.close();
      expect((await stat(join(dir, 'journal.log'))).size).toBe(0);
      s = await opened(dir);
      await check(s, 58);
      for (const h of later) expect(sha((await readBlob(s, 'alice', h))!)).toBe(h);
      expect((await packFiles(dir)).map((f) => f.name)).toEqual(['1.pack']);
      // uploading a stored blob again keeps the first copy and reports it as not created
      const again = await s.putBlob('alice', single, Readable.from([Buffer.from('one small blob')]), 1 << 20);
      expect(again).toEqual({ size: 14, created: false });
      await s.close();
    });
  });

  it('ignores a torn pack append (bytes no journal record names) and appends cleanly after it', async () => {
    await withDir(async (dir) => {
      let s = await opened(dir, { compactBytes: 1 << 30 });
      const first = smalls('first', 20);
      const firstHashes = await putMany(s, 'alice', first);
      const recorded = (await packFiles(dir))[0]!.size;
      await crash(s, dir);
      // A crash mid-append: half a group of blobs in the pack, and its journal record torn.
      await appendFile(join(dir, 'packs', '1.pack'), Buffer.alloc(5000, 0x5a));
      await appendFile(join(dir, 'journal.log'), encodeRecord({ t: 'pack', s: 999, pack: 1, blobs: [[sha('x'), recorded, 5000]] }).subarray(0, 40));
      s = await opened(dir, { compactBytes: 1 << 30 });
      expect((await packFiles(dir))[0]!.size).toBe(recorded); // cut back to the last recorded byte
      for (const [i, h] of firstHashes.entries()) expect(await readBlob(s, 'alice', h)).toEqual(first[i]);
      const second = smalls('second', 20);
      const secondHashes = await putMany(s, 'alice', second);
      const one = await put(s, 'alice', 'after the tear');
      await crash(s, dir);
      s = await opened(dir);
      for (const [i, h] of firstHashes.entries()) expect(await readBlob(s, 'alice', h)).toEqual(first[i]);
      for (const [i, h] of secondHashes.entries()) expect(await readBlob(s, 'alice', h)).toEqual(second[i]);
      expect((await readBlob(s, 'alice', one))!.toString()).toBe('after the tear');
      expect(await s.hasBlob('alice', sha('x'))).toBe(false);
      // a pack that no record points into (its whole first append torn) is removed at open
      await crash(s, dir);
      await writeFile(join(dir, 'packs', '7.pack'), Buffer.alloc(100, 1));
      s = await opened(dir);
      expect((await packFiles(dir)).map((f) => f.name)).toEqual(['1.pack']);
      // and new packs never reuse a number that was on disk
      await s.close();
      await writeFile(join(dir, 'packs', '9.pack'), Buffer.alloc(10, 1));
      s = await opened(dir);
      (s as unknown as { packs: PackFiles }).packs.roll();
      const fresh = await put(s, 'alice', 'in a new pack');
      expect(packedOf(s).get(fresh)!.pack).toBe(10);
      await s.close();
    });
  });

  it('refuses a data dir whose pack is missing or shorter than recorded (STORE_CORRUPT), and a packed blob whose bytes changed', async () => {
    await withDir(async (dir) => {
      let s = await opened(dir);
      const hashes = await putMany(s, 'alice', smalls('x', 4));
      await s.close();
      const pack = join(dir, 'packs', '1.pack');
      const buf = await readFile(pack);
      await writeFile(pack, buf.subarray(0, buf.length - 10));
      const err = await new DiskStore({ dataDir: dir }).open().then(() => null, (e: unknown) => e);
      expect(isDmanError(err, 'STORE_CORRUPT')).toBe(true);
      expect((err as Error).message).toContain(pack);
      const flipped = Buffer.from(buf);
      flipped[5] = flipped[5]! ^ 1;
      await writeFile(pack, flipped);
      s = await opened(dir);
      await expect(s.getBlob('alice', hashes[0]!)).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
      expect(sha((await readBlob(s, 'alice', hashes[1]!))!)).toBe(hashes[1]);
      await s.close();
    });
  });

  it('gc drops collected packed blobs and compacts a pack more than half dead; live blobs stay readable across restarts', async () => {
    await withDir(async (dir) => {
      let s = await opened(dir, { compactBytes: 1 << 30 });
      const contents = smalls('gc', 40, 2000);
      const hashes = await putMany(s, 'alice', contents);
      const keep = hashes.slice(0, 10);
      await s.commit({ user: 'alice', device: 'd', ops: keep.map((h, i) => fileOp(`k${i}`, 0, h, contents[i]!.length)), now: T0 });
      // still mostly live: nothing is rewritten
      expect(await s.gcBlobs({ graceMs: 0 })).toEqual({ blobsRemoved: 30, bytesFreed: contents.slice(10).reduce((n, b) => n + b.length, 0) });
      const liveBytes = contents.slice(0, 10).reduce((n, b) => n + b.length, 0);
      expect(await packFiles(dir)).toEqual([{ name: '2.pack', size: liveBytes }]);
      for (const h of hashes.slice(10)) expect(await s.hasBlob('alice', h)).toBe(false);
      for (const [i, h] of keep.entries()) expect(await readBlob(s, 'alice', h)).toEqual(contents[i]);
      expect((await s.health()).details).toMatchObject({ blobs: 10, packedBlobs: 10, packs: 1, packBytes: liveBytes });
      // new uploads go to a fresh pack after the compaction, and everything survives a crash and a reopen
      const more = await putMany(s, 'alice', smalls('more', 5));
      await crash(s, dir);
      s = await opened(dir, { compactBytes: 1 << 30 });
      for (const [i, h] of keep.entries()) expect(await readBlob(s, 'alice', h)).toEqual(contents[i]);
      for (const h of more) expect(sha((await readBlob(s, 'alice', h))!)).toBe(h);
      await s.close();
      s = await opened(dir);
      for (const [i, h] of keep.entries()) expect(await readBlob(s, 'alice', h)).toEqual(contents[i]);
      // everything unreferenced goes: the packs holding only dead blobs are deleted
      await s.commit({ user: 'alice', device: 'd', ops: keep.map((h, i) => ({ ...fileOp(`k${i}`, i + 1, null as unknown as string, 0), deleted: true, hash: null, size: 0 })), now: T0 });
      await s.applyRetention('alice', { versions: 0, days: 0 }, T0 + 86_400_000 * 365);
      expect((await s.gcBlobs({ graceMs: 0 })).blobsRemoved).toBe(15);
      expect(await packFiles(dir)).toEqual([]);
      expect((await s.health()).details).toMatchObject({ blobs: 0, packedBlobs: 0, packs: 0, packBytes: 0 });
      await s.close();
      s = await opened(dir);
      expect((await s.health()).details).toMatchObject({ blobs: 0, packs: 0 });
      await s.close();
    });
  });

  it('loses nothing when a compaction crashes between its steps (before the journal record, before the delete)', async () => {
    await withDir(async (dir) => {
      let s = await opened(dir, { compactBytes: 1 << 30 });
      const contents = smalls('cc', 30, 3000);
      const hashes = await putMany(s, 'alice', contents);
      // the live blobs are the last ones, so that cutting the pack's tail at open frees nothing
      await s.commit({ user: 'alice', device: 'd', ops: hashes.slice(25).map((h, i) => fileOp(`k${i}`, 0, h, contents[25 + i]!.length)), now: T0 });
      const live = async (st: DiskStore): Promise<void> => {
        for (let i = 25; i < 30; i++) expect(await readBlob(st, 'alice', hashes[i]!)).toEqual(contents[i]);
      };
      // 1. copies written, then the journal record fails (as a crash there would leave it): the old places stay
      const inner = s as unknown as { writeMany: (recs: Array<{ t: string }>) => Promise<void> };
      const writeMany = inner.writeMany.bind(s);
      inner.writeMany = async (recs) => {
        if (recs.some((r) => r.t === 'pack')) throw new Error('crash before the journal record');
        return writeMany(recs);
      };
      expect((await s.gcBlobs({ graceMs: 0 })).blobsRemoved).toBe(25);
      expect(packedOf(s).get(hashes[25]!)!.pack).toBe(1);
      await live(s);
      await crash(s, dir);
      expect((await packFiles(dir)).map((f) => f.name)).toEqual(['1.pack', '2.pack']); // the unrecorded copy
      s = await opened(dir, { compactBytes: 1 << 30 });
      expect((await packFiles(dir)).map((f) => f.name)).toEqual(['1.pack']);
      await live(s);
      // 2. the move journaled, then a crash before the old pack is deleted: the next open deletes it
      const packs = (s as unknown as { packs: PackFiles }).packs;
      packs.retire = async () => { throw new Error('crash before the delete'); };
      await expect(s.gcBlobs({ graceMs: 0 })).rejects.toThrow('crash before the delete');
      expect(packedOf(s).get(hashes[25]!)!.pack).not.toBe(1);
      await live(s);
      await crash(s, dir);
      expect((await packFiles(dir)).length).toBe(2);
      s = await opened(dir, { compactBytes: 1 << 30 });
      const files = await packFiles(dir);
      expect(files).toHaveLength(1);
      expect(files[0]!.size).toBe(contents.slice(25).reduce((n, b) => n + b.length, 0));
      await live(s);
      expect(await s.hasBlob('alice', hashes[6]!)).toBe(false);
      // later uploads and gcs carry on normally
      const h = await put(s, 'alice', 'after the crashes');
      expect((await readBlob(s, 'alice', h))!.toString()).toBe('after the crashes');
      await s.close();
      s = await opened(dir);
      await live(s);
      await s.close();
    });
  });

  it('reads a data dir written before packs (format 1, every blob a file) as it is, and packs new small blobs', async () => {
    await withDir(async (dir) => {
      const old = Buffer.from('written by an older dman');
      const orphan = Buffer.from('an old unreferenced blob');
      await mkdir(join(dir, 'blobs'), { recursive: true });
      for (const b of [old, orphan]) {
        await mkdir(join(dir, 'blobs', sha(b).slice(0, 2)), { recursive: true });
        await writeFile(join(dir, 'blobs', sha(b).slice(0, 2), sha(b).slice(2)), b);
      }
      await writeFile(join(dir, 'format.json'), JSON.stringify({ format: 1, app: 'dman' }) + '\n');
      const entry = { path: '.old', rev: 1, deleted: false, kind: 'file', hash: sha(old), size: old.length, mode: 0o644, mtime: 1, device: 'd', committedAt: T0 };
      await writeFile(join(dir, 'journal.log'), Buffer.concat([
        encodeRecord({ t: 'own', s: 1, user: 'alice', hash: sha(old), size: old.length }),
        encodeRecord({ t: 'own', s: 2, user: 'alice', hash: sha(orphan), size: orphan.length }),
        encodeRecord({ t: 'commit', s: 3, user: 'alice', now: T0, entries: [entry] }),
      ]));
      let s = await opened(dir);
      expect(JSON.parse(await readFile(join(dir, 'format.json'), 'utf8')).format).toBe(2); // an older dman now refuses it
      expect(await readBlob(s, 'alice', sha(old))).toEqual(old);
      expect(await readBlob(s, 'alice', sha(orphan))).toEqual(orphan);
      expect(await s.getEntry('alice', '.old')).toMatchObject({ hash: sha(old), rev: 1 });
      // the same bytes uploaded again stay where they are; new ones go to a pack
      expect(await s.putBlob('alice', sha(old), Readable.from([old]), 1 << 20)).toEqual({ size: old.length, created: false });
      const fresh = await put(s, 'alice', 'new and small');
      expect(packedOf(s).has(sha(old))).toBe(false);
      expect(packedOf(s).has(fresh)).toBe(true);
      expect((await s.health()).details).toMatchObject({ blobs: 3, packedBlobs: 1 });
      // gc removes an old blob file as before
      await s.commit({ user: 'alice', device: 'd', ops: [fileOp('.new', 0, fresh, 13)], now: T0 });
      expect(await s.gcBlobs({ graceMs: 0, now: Date.now() + 1000 })).toEqual({ blobsRemoved: 1, bytesFreed: orphan.length });
      expect(await blobFiles(dir)).toEqual([sha(old)]);
      await s.close();
      s = await opened(dir);
      expect(await readBlob(s, 'alice', sha(old))).toEqual(old);
      expect((await readBlob(s, 'alice', fresh))!.toString()).toBe('new and small');
      expect(await s.hasBlob('alice', sha(orphan))).toBe(false);
      await s.close();
    });
  });
  it('reopens after a pack write failed (DISK_FULL) and an empty blob was stored after it', async () => {
    await withDir(async (dir) => {
      let s = await opened(dir);
      const before = await put(s, 'alice', 'stored before the disk filled up');
      // The next pack write fails as on a full disk: its bytes never reach the file.
      const probe = await open(dir, 'r');
      const proto = Object.getPrototypeOf(probe) as { writev(...args: unknown[]): Promise<unknown> };
      await probe.close();
      const spy = vi.spyOn(proto, 'writev').mockRejectedValueOnce(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
      const lost = Buffer.alloc(5000, 0x61);
      try {
        await expect(s.putBlob('alice', sha(lost), Readable.from([lost]), 1 << 20)).rejects.toMatchObject({ code: 'DISK_FULL' });
      } finally {
        spy.mockRestore();
      }
      expect(await s.hasBlob('alice', sha(lost))).toBe(false);
      // An empty file's blob (common: an empty dotfile) is stored next; it needs no bytes at all.
      const empty = await put(s, 'alice', '');
      await s.close();
      s = await opened(dir);
      expect(await readBlob(s, 'alice', empty)).toEqual(Buffer.alloc(0));
      expect((await readBlob(s, 'alice', before))!.toString()).toBe('stored before the disk filled up');
      const after = await put(s, 'alice', 'stored after space was freed');
      expect((await readBlob(s, 'alice', after))!.toString()).toBe('stored after space was freed');
      expect(await s.hasBlob('alice', sha(lost))).toBe(false);
      await crash(s, dir);
      s = await opened(dir);
      expect(await readBlob(s, 'alice', empty)).toEqual(Buffer.alloc(0));
      await s.close();
    });
  });
});

// From review: close() right after the answer, a crash before the queued snapshot, and a snapshot
// that fails all leave a store that reopens with every answered commit.
describe('DiskStore compaction after the answer (compactSoon): every answered commit survives', () => {
  it('close() right after the answer (compaction still queued) keeps the commit', async () => {
    await withDir(async (dir) => {
      const s = await opened(dir, { fsync: false, compactBytes: 1 });
      const h = await put(s, 'alice', 'one');
      const out = await s.commit({ user: 'alice', device: 'd', ops: [fileOp('f', 0, h, 3)], now: T0 });
      expect(out.ok).toBe(true);
      await s.close();
      const again = await opened(dir);
      expect((await again.getEntry('alice', 'f'))?.hash).toBe(h);
      await again.close();
    });
  });

  it('a crash after the answer, before the queued snapshot ran, keeps the commit (the journal holds it)', async () => {
    await withDir(async (dir) => {
      const s = await opened(dir, { fsync: false, compactBytes: 1 });
      const h = await put(s, 'alice', 'one');
      const out = await s.commit({ user: 'alice', device: 'd', ops: [fileOp('f', 0, h, 3)], now: T0 });
      expect(out.ok).toBe(true);
      // No turn of the event loop between the answer and the crash: the snapshot has not run.
      await crash(s, dir);
      const again = await opened(dir);
      expect((await again.getEntry('alice', 'f'))?.hash).toBe(h);
      await again.close();
    });
  });

  it('a snapshot that fails leaves later writes working and every commit durable', async () => {
    await withDir(async (dir) => {
      const s = await opened(dir, { fsync: false, compactBytes: 1 });
      // snapshot.jsonl as a non-empty folder: the atomic rename over it fails.
      await mkdir(join(dir, 'snapshot.jsonl', 'x'), { recursive: true });
      await writeFile(join(dir, 'snapshot.jsonl', 'x', 'y'), 'z');
      const h1 = await put(s, 'alice', 'one');
      expect((await s.commit({ user: 'alice', device: 'd', ops: [fileOp('f', 0, h1, 3)], now: T0 })).ok).toBe(true);
      const h2 = await put(s, 'alice', 'two');
      const out = await s.commit({ user: 'alice', device: 'd', ops: [fileOp('g', 0, h2, 3)], now: T0 + 1 });
      expect(out.ok).toBe(true);
      await crash(s, dir);
      await rm(join(dir, 'snapshot.jsonl'), { recursive: true });
      const again = await opened(dir);
      expect((await again.getEntry('alice', 'f'))?.hash).toBe(h1);
      expect((await again.getEntry('alice', 'g'))?.hash).toBe(h2);
      await again.close();
    });
  });
});
