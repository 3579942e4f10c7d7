// Review: the compaction queued after a commit's answer (compactSoon) never loses the commit:
// close() right after the answer, a snapshot that fails, and a crash between the answer and the
// snapshot all leave a store that reopens with every answered commit.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CommitOp } from '../../shared/protocol.js';
import { DiskStore, type DiskStoreOptions } from './DiskStore.js';
import type { PackFiles } from './disk/packs.js';

const T0 = Date.UTC(2026, 0, 1);
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const fileOp = (path: string, baseRev: number | null, hash: string, size: number): CommitOp => ({ path, baseRev, deleted: false, kind: 'file', hash, size, mode: 0o644, mtime: 1 });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dman-review2-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}
async function opened(dir: string, opts: Partial<DiskStoreOptions> = {}): Promise<DiskStore> {
  const s = new DiskStore({ dataDir: dir, fsync: false, ...opts });
  await s.open();
  return s;
}
async function put(s: DiskStore, user: string, content: string): Promise<string> {
  const h = sha(content);
  await s.putBlob(user, h, Readable.from([Buffer.from(content)]), 1 << 20);
  return h;
}
/** As kill -9 would leave it: files closed as they are, no snapshot, the dead pid's lock removed. */
async function crash(s: DiskStore, dir: string): Promise<void> {
  const inner = s as unknown as { journal: { close(): Promise<void> }; auditLog: { close(): Promise<void> }; packs: PackFiles };
  await inner.journal.close();
  await inner.auditLog.close();
  await inner.packs.close();
  await rm(join(dir, 'lock'));
}

describe('review: DiskStore compactSoon', () => {
  it('close() right after the answer (compaction still queued) keeps the commit', async () => {
    await withDir(async (dir) => {
      const s = await opened(dir, { compactBytes: 1 });
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
      const s = await opened(dir, { compactBytes: 1 });
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
      const s = await opened(dir, { compactBytes: 1 });
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
