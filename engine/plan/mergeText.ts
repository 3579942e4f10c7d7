// The `merge` conflict policy: a 3-way line merge of text against the base (node-diff3).
import { diff3Merge } from 'node-diff3';

export type MergeOutcome = { ok: true; text: string } | { ok: false; reason: string };

/** Returns true when the bytes look binary (a NUL byte or invalid UTF-8), so they never merge. */
export function isBinary(data: Uint8Array): boolean {
  if (data.includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(data);
    return false;
  } catch {
    return true;
  }
}

/** Merges local and remote edits of base line by line; fails when hunks overlap or any side is binary. */
export function mergeText(base: Uint8Array, local: Uint8Array, remote: Uint8Array): MergeOutcome {
  if (isBinary(base) || isBinary(local) || isBinary(remote)) return { ok: false, reason: 'binary files are never merged' };
  const dec = new TextDecoder();
  // Split keeping the line endings so the merged text is byte-for-byte what the sides wrote.
  const lines = (b: Uint8Array): string[] => dec.decode(b).split(/(?<=\n)/);
  const regions = diff3Merge(lines(local), lines(base), lines(remote), { excludeFalseConflicts: true });
  const out: string[] = [];
  for (const r of regions) {
    if (r.conflict) return { ok: false, reason: `both sides changed the same lines (near line ${r.conflict.oIndex + 1})` };
    if (r.ok) out.push(...r.ok);
  }
  return { ok: true, text: out.join('') };
}
