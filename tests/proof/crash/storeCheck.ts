// After a crash or a fault: what the disk store must still satisfy.
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommitOp } from '../../../shared/protocol.js';
import type { Store } from '../../../server/store/Store.js';
import { CASE_PATHS, changeOf, newBlob, newBlobs, newOps, oldBlob } from './commitCase.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Every file under blobs/ hashes to its name; returns the bad ones. */
export async function corruptBlobs(dataDir: string): Promise<string[]> {
  const bad: string[] = [];
  for (const d of await readdir(join(dataDir, 'blobs')).catch(() => [] as string[])) {
    for (const f of await readdir(join(dataDir, 'blobs', d))) {
      if (f.includes('.')) continue; // a temp name, never served
      if (sha(await readFile(join(dataDir, 'blobs', d, f))) !== d + f) bad.push(`${d}/${f}`);
    }
  }
  return bad;
}

/** Reads a blob through the store and checks it against its hash. */
export async function readsBack(store: Store, hash: string): Promise<boolean> {
  const b = await store.getBlob('alice', hash);
  if (!b) return false;
  const parts: Buffer[] = [];
  for await (const c of b.stream) parts.push(Buffer.from(c as Buffer));
  return sha(Buffer.concat(parts)) === hash;
}

/** Which version each path of the case shows: 'old', 'new', or a description of what is wrong. */
export async function versions(store: Store, mode: 'single' | 'batch'): Promise<string[]> {
  const { edits, deletes } = changeOf(mode);
  const out: string[] = [];
  for (const p of CASE_PATHS) {
    const e = await store.getEntry('alice', p);
    const isNew = edits.includes(p) ? e?.hash === newBlob(p).hash : deletes.includes(p) ? e?.deleted === true : false;
    const isOld = e?.hash === oldBlob(p).hash && !e.deleted;
    if (!isNew && !isOld) { out.push(`${p}: neither old nor new (${JSON.stringify(e)})`); continue; }
    const hash = isNew ? (e!.deleted ? null : newBlob(p).hash) : oldBlob(p).hash;
    if (hash && !(await readsBack(store, hash))) { out.push(`${p}: its ${isNew ? 'new' : 'old'} blob is missing or damaged`); continue; }
    out.push(isNew ? 'new' : 'old');
  }
  return out;
}

/** Retries the case's commit with the same idempotency key (uploading the blobs again as a client would). */
export async function retry(store: Store, mode: 'single' | 'batch', original?: CommitOp[]): Promise<{ ok: boolean; replayed: boolean; rev: number }> {
  for (const b of newBlobs(mode)) await store.putBlob('alice', b.hash, Readable.from([b.data]), 1 << 20);
  // A retry resends the very request it retries: `original`, or else the ops based on the seed's
  // revs (seedOld commits CASE_PATHS in one batch, rev i+1 for path i).
  const ops = original ?? (await newOps(store, mode)).map((o) => ({ ...o, baseRev: CASE_PATHS.indexOf(o.path) + 1 }));
  const out = await store.commit({ user: 'alice', device: 'crash', ops, now: 3, idempotencyKey: `case-${mode}` });
  return out.ok ? { ok: true, replayed: out.replayed, rev: out.rev } : { ok: false, replayed: false, rev: -1 };
}
