// Review: batchDigest (canonicalList) equals the generic canonical JSON's digest for every commit
// the request schema accepts, including optional and defaulted fields, odd numbers and unicode.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { commitRequestSchema } from '../../shared/protocol.js';
import { batchDigest, canonicalJson } from './commitRules.js';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}
const NUMS = [0, -0, 1, 0.5, 1e21, 1.7976931348623157e308, 5e-324, 2 ** 53 + 2, 123456789.125];
const STRS = ['a', 'é', '\u{1F600}', 'x\ny', 'q"uote', '\\', '\u2028', 'long/'.repeat(20)];

describe('review: batchDigest equals the generic canonical JSON digest', () => {
  for (let seed = 1; seed <= 60; seed++) {
    it(`seed ${seed}`, () => {
      const r = rng(seed);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
      const ops: Array<Record<string, unknown>> = [];
      const count = 1 + Math.floor(r() * 6);
      for (let i = 0; i < count; i++) {
        const op: Record<string, unknown> = { path: `${pick(STRS).replace(/\n|\\|"|\u2028|\//g, '')}${i}` };
        // Fields in random order and random presence (the schema fills defaults).
        const fields: Array<[string, () => unknown]> = [
          ['baseRev', () => (r() < 0.3 ? null : Math.floor(r() * 9))],
          ['deleted', () => r() < 0.5],
          ['kind', () => pick(['file', 'symlink'])],
          ['hash', () => (r() < 0.3 ? null : 'ab'.repeat(32))],
          ['size', () => Math.floor(r() * 100)],
          ['mode', () => pick([0, 0o644, 0o7777])],
          ['mtime', () => pick(NUMS) * (r() < 0.5 ? -1 : 1)],
          ['target', () => pick(STRS)],
        ];
        for (const [k, v] of fields.sort(() => r() - 0.5)) if (k === 'baseRev' || r() < 0.6) op[k] = v();
        ops.push(op);
      }
      const raw = { ops, ...(r() < 0.5 ? { device: pick(STRS) } : {}) };
      const parsed = commitRequestSchema().parse(JSON.parse(JSON.stringify(raw)));
      // The route fills the device from the token when the request names none.
      const input = { device: parsed.device ?? 'token-device', ops: parsed.ops };
      const generic = createHash('sha256').update(canonicalJson(input)).digest('hex');
      expect(batchDigest(input)).toBe(generic);
    });
  }
});
