// The commit digest stored with an idempotency key: the fast canonical writer of a commit's ops
// gives the very text the generic one gives (a digest recorded before it must still match).
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchDigest, canonicalJson, canonicalList } from './commitRules.js';

const value = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined));
const keys = fc.constantFrom('path', 'kind', 'hash', 'size', 'mode', 'mtime', 'baseRev', 'target', 'deleted', 'z', 'a', 'é', '"q"');
const flat = fc.dictionary(keys, value);
const nested = fc.dictionary(keys, fc.oneof(value, fc.array(value, { maxLength: 3 }), fc.dictionary(keys, value)));
const item = fc.oneof({ weight: 6, arbitrary: flat }, { weight: 2, arbitrary: nested }, { weight: 1, arbitrary: value }, { weight: 1, arbitrary: fc.array(value, { maxLength: 3 }) });

describe('canonicalList', () => {
  it('writes exactly what canonicalJson writes for any list (objects with keys in any order, nested values, non-objects)', () => {
    fc.assert(fc.property(fc.array(item, { maxLength: 30 }), (list) => {
      expect(canonicalList(list)).toBe(canonicalJson(list));
    }), { numRuns: 2000 });
  });

  it('writes what canonicalJson writes for runs of ops that list the same keys (in one order, another, or with one left undefined)', () => {
    // Real commits: most ops list the very keys of the op before them; a few differ in order or in what they hold.
    const orders = [['path', 'baseRev', 'kind', 'hash', 'size', 'mode', 'mtime'], ['baseRev', 'path', 'kind', 'hash', 'size', 'mode', 'mtime'], ['path', 'baseRev', 'deleted'], ['path', 'baseRev', 'kind', 'hash', 'size', 'mode', 'mtime', 'target']];
    const op = fc.tuple(fc.nat(orders.length - 1), fc.array(value, { minLength: 8, maxLength: 8 })).map(([o, vs]) => Object.fromEntries(orders[o]!.map((k, i) => [k, vs[i]])));
    fc.assert(fc.property(fc.array(fc.oneof({ weight: 1, arbitrary: op }, { weight: 1, arbitrary: fc.constant(null) }).chain((x) => fc.array(fc.constant(x), { minLength: 1, maxLength: 4 })), { maxLength: 12 }).map((runs) => runs.flat()), (list) => {
      expect(canonicalList(list)).toBe(canonicalJson(list));
    }), { numRuns: 1000 });
  });

  it('sorts keys per object, even when objects of one key set come in other orders', () => {
    expect(canonicalList([{ b: 1, a: 2 }, { a: 3, b: 4 }, { b: undefined, a: 5 }])).toBe('[{"a":2,"b":1},{"a":3,"b":4},{"a":5}]');
  });
});

describe('batchDigest', () => {
  const generic = (device: unknown, ops: unknown[]): string => createHash('sha256').update(canonicalJson({ device, ops })).digest('hex');
  it('is the SHA-256 of the canonical JSON of device and ops, as recorded by earlier versions', () => {
    fc.assert(fc.property(fc.option(fc.string(), { nil: undefined }), fc.array(flat, { maxLength: 20 }), (device, ops) => {
      expect(batchDigest({ device, ops } as never)).toBe(generic(device, ops));
    }), { numRuns: 1000 });
  });
});
