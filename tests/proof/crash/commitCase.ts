// The commit the crash-point and I/O-fault proofs interrupt: an old version of four paths, then
// a single commit (one path) or a batch (three edits and a delete) with new blobs.
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { CommitOp } from '../../../shared/protocol.js';
import type { Store } from '../../../server/store/Store.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** The paths of the case. */
export const CASE_PATHS = ['.bashrc', '.config/git/config', '.ssh/config', '.vimrc'];
const blob = (label: string): { hash: string; data: Buffer } => {
  const data = Buffer.from(`${label}\n${'x'.repeat(5000)}\n`);
  return { hash: sha(data), data };
};
/** The old content of each path. */
export const oldBlob = (path: string): { hash: string; data: Buffer } => blob(`old ${path}`);
/** The new content of each path. */
export const newBlob = (path: string): { hash: string; data: Buffer } => blob(`new ${path}`);
/** The paths a mode changes, and the one it deletes. */
export function changeOf(mode: 'single' | 'batch'): { edits: string[]; deletes: string[] } {
  return mode === 'single' ? { edits: [CASE_PATHS[0]!], deletes: [] } : { edits: CASE_PATHS.slice(0, 3), deletes: [CASE_PATHS[3]!] };
}
/** The blobs a mode uploads. */
export function newBlobs(mode: 'single' | 'batch'): Array<{ hash: string; data: Buffer }> {
  return changeOf(mode).edits.map(newBlob);
}
/** The commit ops of a mode, based on the store's current revs. */
export async function newOps(store: Store, mode: 'single' | 'batch'): Promise<CommitOp[]> {
  const { edits, deletes } = changeOf(mode);
  const ops: CommitOp[] = [];
  for (const p of edits) { const b = newBlob(p); ops.push({ path: p, baseRev: (await store.getEntry('alice', p))?.rev ?? 0, deleted: false, kind: 'file', hash: b.hash, size: b.data.length, mode: 0o600, mtime: 2 }); }
  for (const p of deletes) ops.push({ path: p, baseRev: (await store.getEntry('alice', p))?.rev ?? 0, deleted: true, kind: 'file', hash: null, size: 0, mode: 0, mtime: 2 });
  return ops;
}
/** Writes the old version of every path. */
export async function seedOld(store: Store): Promise<void> {
  for (const p of CASE_PATHS) { const b = oldBlob(p); await store.putBlob('alice', b.hash, Readable.from([b.data]), 1 << 20); }
  const ops: CommitOp[] = CASE_PATHS.map((p) => ({ path: p, baseRev: 0, deleted: false, kind: 'file', hash: oldBlob(p).hash, size: oldBlob(p).data.length, mode: 0o644, mtime: 1 }));
  const out = await store.commit({ user: 'alice', device: 'seed', ops, now: 1 });
  if (!out.ok) throw new Error('seed conflict');
}
