import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isTempName } from '../../engine/fs/atomic.js';
import { isDmanError, type DmanError } from '../../shared/errors.js';
import type { CommitOp } from '../../shared/protocol.js';
import { describeStoreContract } from './contract.js';
import { DiskStore, type DiskStoreOptions } from './DiskStore.js';

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
  const inner = s as unknown as { journal: { close(): Promise<void> }; auditLog: { close(): Promise<void> } };
  await inner.journal.close();
  await inner.auditLog.close();
  await rm(join(dir, 'lock'));
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
      expect((await stat(dir)).mode & 0o077).toBe(0);
      expect((await stat(join(dir, 'journal.log'))).mode & 0o077).toBe(0);
      expect((await stat(join(dir, 'blobs', h.slice(0, 2), h.slice(2)))).mode & 0o077).toBe(0);
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
          expect(await readdir(join(dir, 'tmp'))).toEqual([]);
          expect((await readdir(dir)).filter((n) => isTempName(n) || n.startsWith('.lock.'))).toEqual([]);
        } finally {
          await s.close();
        }
      }
      expect(lastAcked).toBeGreaterThanOrEqual(4);
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
});
