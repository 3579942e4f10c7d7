// The hand check of a commit body gives what commitRequestSchema gives for every body it accepts,
// and leaves to the schema (null) every body the schema refuses.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commitRequestSchema, pathProblem } from '../../shared/protocol.js';
import { fastCommitRequest } from './fastCommit.js';
import { quickPathOk } from '../../shared/quickCheck.js';

const hash = 'a'.repeat(64);
const op = { path: '.config/nvim/init.lua', baseRev: 0, kind: 'file', hash, size: 12, mode: 0o644, mtime: 1_700_000_000_000 };

describe('fastCommitRequest', () => {
  it('returns what the schema returns: defaults filled in, unknown keys dropped, the schema key order', () => {
    const bodies: unknown[] = [
      { ops: [op], device: 'laptop', idempotencyKey: 'k'.repeat(36) },
      { ops: [{ path: 'gone', baseRev: 3, deleted: true }] },
      { ops: [{ path: 'l', baseRev: null, kind: 'symlink', hash, size: 1, mode: 0, mtime: 2, target: 'a', extra: 1 }], other: true },
      { ops: [op, { ...op, path: 'b', mtime: 1.5 }] },
    ];
    for (const b of bodies) {
      const fast = fastCommitRequest(b);
      expect(fast).not.toBeNull();
      const slow = commitRequestSchema().parse(b);
      expect(fast).toEqual(slow);
      expect(JSON.stringify(fast)).toBe(JSON.stringify(slow));
    }
  });

  it('leaves every body the schema refuses to the schema', () => {
    const bad: unknown[] = [
      null, [], {}, { ops: [] }, { ops: 'x' }, { ops: [op], device: '' }, { ops: [op], device: 'd'.repeat(129) }, { ops: [op], idempotencyKey: 'short' },
      { ops: [{ ...op, path: '/abs' }] }, { ops: [{ ...op, path: 'a/../b' }] }, { ops: [{ ...op, path: '' }] }, { ops: [{ ...op, path: 'a\\b' }] },
      { ops: [{ ...op, baseRev: -1 }] }, { ops: [{ ...op, baseRev: 1.5 }] }, { ops: [{ ...op, baseRev: undefined }] }, { ops: [{ ...op, hash: 'A'.repeat(64) }] },
      { ops: [{ ...op, kind: 'dir' }] }, { ops: [{ ...op, size: -1 }] }, { ops: [{ ...op, mode: 0o10000 }] }, { ops: [{ ...op, mtime: '1' }] },
      { ops: [{ ...op, deleted: 'yes' }] }, { ops: [{ ...op, target: 3 }] }, { ops: [{ ...op, hash: undefined, deleted: null }] },
    ];
    for (const b of bad) {
      expect(commitRequestSchema().safeParse(b).success, JSON.stringify(b)).toBe(false);
      expect(fastCommitRequest(b), JSON.stringify(b)).toBeNull();
    }
  });

  it('agrees with the schema on generated bodies', () => {
    const pathArb = fc.oneof(fc.constantFrom('a', '.zshrc', 'a/b', '/a', 'a//b', './a', 'a/..', 'C:x', '..a', 'a\\b', '', 'a\u0000'), fc.string({ maxLength: 12 }));
    const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
    const opArb = fc.record({
      path: pathArb,
      baseRev: fc.oneof(fc.constant(null), fc.integer({ min: -2, max: 5 }), fc.double({ noNaN: true, min: -2, max: 5 })),
      deleted: maybe(fc.oneof(fc.boolean(), fc.constant(null))),
      kind: maybe(fc.constantFrom('file', 'symlink', 'dir')),
      hash: maybe(fc.oneof(fc.constant(null), fc.constant(hash), fc.constant('A'.repeat(64)), fc.string({ maxLength: 3 }))),
      size: maybe(fc.oneof(fc.integer({ min: -1, max: 10 }), fc.double({ noNaN: true }))),
      mode: maybe(fc.integer({ min: -1, max: 0o10000 })),
      mtime: maybe(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string({ maxLength: 2 }))),
      target: maybe(fc.oneof(fc.string({ maxLength: 3 }), fc.integer())),
    }, { requiredKeys: ['path', 'baseRev'] });
    const bodyArb = fc.record({ ops: fc.array(opArb, { maxLength: 3 }), device: maybe(fc.string({ maxLength: 3 })), idempotencyKey: maybe(fc.string({ minLength: 6, maxLength: 10 })) });
    fc.assert(fc.property(bodyArb, (raw) => {
      // What JSON would carry: no keys holding undefined.
      const body = JSON.parse(JSON.stringify(raw)) as unknown;
      const slow = commitRequestSchema().safeParse(body);
      const fast = fastCommitRequest(body);
      if (fast) {
        expect(slow.success).toBe(true);
        expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data));
      }
      // Refused only where the path test is stricter than the schema.
      if (!fast && slow.success) expect(slow.data.ops.some((o) => !quickPathOk(o.path))).toBe(true);
    }), { numRuns: 2000 });
  });

  it('agrees with the schema on bodies parsed from JSON text: long paths, odd numbers, duplicates, unknown and prototype keys', () => {
    // JSON text, so "__proto__" arrives as an own key (as JSON.parse gives it to the route).
    const longPath = fc.integer({ min: 1300, max: 4200 }).chain((n) => fc.constantFrom('a'.repeat(n), `${'é'.repeat(Math.ceil(n / 2))}`, `${'\u{1F600}'.repeat(Math.ceil(n / 4))}`, `${'a/'.repeat(n >> 1)}b`));
    const num = fc.oneof(fc.integer({ min: -2, max: 0o10000 }), fc.constantFrom('1e400', '-1e400', '9007199254740993', '1.0', '-0', '0.5', '1e3', '4095', '4096', 'null', 'true', '"1"', '[]', '{}'));
    const numText = num.map((n) => (typeof n === 'number' ? String(n) : n));
    const key = fc.constantFrom('path', 'baseRev', 'deleted', 'kind', 'hash', 'size', 'mode', 'mtime', 'target', '__proto__', 'constructor', 'toString', 'extra');
    const value = fc.oneof(numText, fc.constantFrom('"a"', '"file"', '"symlink"', `"${hash}"`, 'false', 'true', 'null', '{"path":"x","baseRev":0}', '{}'));
    const opText = fc.tuple(
      fc.oneof(fc.constantFrom('a', 'b/c', '.zshrc'), longPath),
      fc.oneof(numText, fc.constant('0')),
      fc.array(fc.tuple(key, value), { maxLength: 4 }),
    ).map(([path, baseRev, extra]) => `{${[`"path":${JSON.stringify(path)}`, `"baseRev":${baseRev}`, ...extra.map(([k, v]) => `${JSON.stringify(k)}:${v}`)].join(',')}}`);
    const bodyText = fc.tuple(fc.array(opText, { maxLength: 3 }), fc.array(fc.tuple(fc.constantFrom('__proto__', 'device', 'idempotencyKey', 'ops', 'constructor'), fc.oneof(value, fc.constant('"abcdefgh"'))), { maxLength: 2 }))
      .map(([ops, top]) => `{${[`"ops":[${ops.join(',')}]`, ...top.map(([k, v]) => `${JSON.stringify(k)}:${v}`)].join(',')}}`);
    fc.assert(fc.property(bodyText, (text) => {
      const body = JSON.parse(text) as unknown;
      const slow = commitRequestSchema().safeParse(body);
      const fast = fastCommitRequest(body);
      if (fast) {
        expect(slow.success, text).toBe(true);
        expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data));
        expect(Object.getPrototypeOf(fast)).toBe(Object.prototype);
        for (const o of fast.ops) expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
      }
      if (!fast && slow.success) expect(slow.data.ops.some((o) => !quickPathOk(o.path)), text).toBe(true);
    }), { numRuns: 3000 });
  });

  it('quickPathOk accepts only paths pathProblem accepts', () => {
    fc.assert(fc.property(fc.string({ maxLength: 10, unit: fc.constantFrom('a', '/', '.', '\\', ':', 'C', '\u0000', 'é') }), (p) => {
      if (quickPathOk(p)) expect(pathProblem(p)).toBeNull();
    }), { numRuns: 3000 });
  });
});
