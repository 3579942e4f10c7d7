// The server side of the client-install crash points: old versions of four paths, then new ones
// (content edits, a narrowed mode on a secret-ish file, a widened mode on a script, a delete).
import type { MemoryRemote } from '../../../engine/remote/MemoryRemote.js';
import { createHash } from 'node:crypto';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Path → [old content (null: absent), old mode, new content (null: deleted), new mode]. */
export const INSTALL_CASE: Record<string, [string | null, number, string | null, number]> = {
  '.bashrc': ['old bashrc\n', 0o644, 'new bashrc\nexport A=1\n', 0o644],
  '.ssh/config': ['Host old\n', 0o644, 'Host new\n  User me\n', 0o600],
  'bin/tool.sh': ['#!/bin/sh\necho old\n', 0o644, '#!/bin/sh\necho new\n', 0o755],
  '.vimrc': ['set old\n', 0o644, null, 0],
  // The batched install: two paths of one folder share one blob (fetched once, landed twice), one of them new here.
  '.config/app/a.conf': ['a = old\n', 0o644, 'shared = new\n', 0o644],
  '.config/app/b.conf': [null, 0, 'shared = new\n', 0o640],
  // A new path in folders that do not exist yet: made only in the rename pass, after the fetch.
  '.local/share/fresh/c.conf': [null, 0, 'c = new\n', 0o600],
};

/** Revisions of the old commit: a base above this comes from the new one. */
export const OLD_REVS = Object.values(INSTALL_CASE).filter(([old]) => old !== null).length;

/** Commits the old versions (and, for phase `new`, then the new ones) to `remote`. */
export async function installCase(remote: MemoryRemote, phase: 'old' | 'new'): Promise<void> {
  const put = async (text: string): Promise<string> => { const b = Buffer.from(text); const h = sha(b); await remote.putBlob('alice', h, b, b.length); return h; };
  const olds = [];
  const revs = new Map<string, number>();
  for (const [p, [text, mode]] of Object.entries(INSTALL_CASE)) {
    if (text === null) continue;
    olds.push({ path: p, baseRev: 0, kind: 'file' as const, hash: await put(text), size: Buffer.byteLength(text), mode, mtime: 1 });
    revs.set(p, olds.length);
  }
  await remote.commit('alice', olds, { idempotencyKey: 'old', device: 'server' });
  if (phase === 'old') return;
  const news = [];
  for (const [p, [, , text, mode]] of Object.entries(INSTALL_CASE)) {
    const rev = revs.get(p) ?? 0;
    news.push(text === null ? { path: p, baseRev: rev, deleted: true } : { path: p, baseRev: rev, kind: 'file' as const, hash: await put(text), size: Buffer.byteLength(text), mode, mtime: 2 });
  }
  await remote.commit('alice', news, { idempotencyKey: 'new', device: 'server' });
}
