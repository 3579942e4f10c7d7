// Review: planChanges is planSync minus 'nothing' (split into unchanged on disk / elsewhere) on
// adversarial trees: packed and plain maps, negative, zero and NaN revs (which collide with the
// probe's NO_ROW / OTHER_ROW answers), symlinks with odd modes, conflict copies, tombstones only
// in base or remote, installs that land files under or over local folders, every direction/prune.
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import { packedMaps } from '../state/PackedMap.js';
import { planChanges, planSync, type BaseRecord, type LocalFile, type PlanOptions } from './planSync.js';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}
const PATHS = ['a', 'a/b', 'a/b/c', 'a.dman-conflict-d-20260101T000000Z', 'b', 'b/x', 'c', 'd/e', 'd', 'é', 'Z'];
const HASHES = ['1'.repeat(64), '2'.repeat(64), '3'.repeat(64)];
const REVS = [-2, -1, 0, 1, 2, NaN];

describe('review: planChanges equals planSync without nothing', () => {
  for (let seed = 1; seed <= 300; seed++) {
    it(`seed ${seed}`, () => {
      const r = rng(seed);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
      const packed = r() < 0.7;
      const pm = packedMaps();
      const base: Map<string, BaseRecord> = packed ? pm.base : new Map();
      const remote: Map<string, Entry> = packed ? pm.remote : new Map();
      const local = new Map<string, LocalFile>();
      for (const p of PATHS) {
        const kind = r() < 0.2 ? 'symlink' : 'file';
        const hash = pick(HASHES);
        const mode = pick([0, 0o644, 0o755]);
        const rev = pick(REVS);
        if (r() < 0.6) local.set(p, { kind, hash, size: 1, mode, mtime: 0 });
        if (r() < 0.7) base.set(p, { rev, kind: r() < 0.8 ? kind : 'file', hash: r() < 0.8 ? hash : r() < 0.5 ? null : pick(HASHES), size: 1, mode: r() < 0.8 ? mode : 0o600, deleted: r() < 0.2 });
        if (r() < 0.7) remote.set(p, { path: p, kind: r() < 0.8 ? kind : 'symlink', hash: r() < 0.8 ? hash : r() < 0.5 ? null : pick(HASHES), size: 1, mode: r() < 0.8 ? mode : 0o600, mtime: 0, rev: r() < 0.7 ? rev : pick(REVS), deleted: r() < 0.2, device: 'x', updatedAt: 0 });
      }
      const opts: PlanOptions = { policy: pick(['ask', 'keep-both', 'merge', 'server-wins', 'local-wins'] as const), device: 'd', now: 0, direction: pick(['both', 'publish', 'install', undefined] as const), prune: r() < 0.5 };
      const input = { local, base, remote };
      const full = planSync(input, opts);
      const c = planChanges(input, opts);
      expect(c.actions).toEqual(full.filter((a) => a.type !== 'nothing'));
      expect(c.unchanged).toBe(full.filter((a) => a.type === 'nothing' && local.has(a.path)).length);
      expect([...c.unchangedElsewhere].sort()).toEqual(full.filter((a) => a.type === 'nothing' && !local.has(a.path)).map((a) => a.path).sort());
    });
  }
});
