// The fast reply checks must accept only what the protocol schemas accept, and return the same value.
import { describe, expect, it } from 'vitest';
import { bulkBlobsReplySchema, changesReplySchema, commitOkSchema, pathProblem } from '../../shared/protocol.js';
import { fastBulkBlobs, fastChanges, fastCommitOk } from './fastReplies.js';
import { quickPathOk } from '../../shared/quickCheck.js';

const H = 'ab'.repeat(32);
const good = { path: '.config/nvim/init.lua', kind: 'file', hash: H, size: 12, mode: 0o644, mtime: 1700000000000.5, rev: 3, deleted: false, device: 'laptop', updatedAt: 1700000000001 };

/** Small deterministic generator of values near the edges of each field. */
function* variants(): Generator<unknown> {
  const fields: Record<string, unknown[]> = {
    path: ['a', 'a/b', '.x', 'a/.b', '', '/a', 'a/', 'a//b', '.', '..', './a', 'a/..', 'a/./b', 'a/../b', '..a', 'a..', 'C:x', '1:x', 'a\\b', 'a\0b', 'é/ü', 'x'.repeat(1365), 'x'.repeat(1366), 'é'.repeat(2049), 5, null],
    kind: ['file', 'symlink', 'dir', undefined, 1],
    hash: [H, null, H.toUpperCase(), H.slice(1), `${H}0`, undefined, 7],
    size: [0, 1, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, '1', undefined],
    mode: [0, 0o644, 0o7777, 0o10000, -1, 1.5, undefined],
    mtime: [0, -5, 1.25, undefined, '1', null],
    target: [undefined, 'x', '', 5, null],
    rev: [1, 0, -1, 2.5, 2 ** 40, undefined],
    deleted: [true, false, 0, undefined],
    device: ['d', '', 1, undefined],
    updatedAt: [0, 1.5, undefined, null],
    extra: [undefined, 'dropped'],
  };
  yield good;
  for (const [k, values] of Object.entries(fields)) {
    for (const v of values) {
      const e: Record<string, unknown> = { ...good };
      if (v === undefined) delete e[k]; else e[k] = v;
      yield e;
    }
  }
  yield null;
  yield [good];
  yield 'entry';
}

describe('fast reply checks', () => {
  it('accept exactly what the schemas accept, with the same output (keys and their order included)', () => {
    let accepted = 0;
    for (const e of variants()) {
      for (const [fast, schema, wrap] of [
        [fastCommitOk, commitOkSchema(), (x: unknown) => ({ rev: 5, entries: [good, x], replayed: false })],
        [fastChanges, changesReplySchema(), (x: unknown) => ({ entries: [x], headRev: 9, more: true, other: 1 })],
      ] as const) {
        const raw = wrap(e);
        const quick = fast(raw);
        const slow = schema.safeParse(raw);
        if (quick) {
          accepted++;
          expect(slow.success, JSON.stringify(e)).toBe(true);
          expect(JSON.stringify(quick)).toBe(JSON.stringify(slow.data));
        }
        // The fast check may decline what the schema accepts (the caller then uses the schema), but not for plain entries.
        if (slow.success && typeof e === 'object' && e !== null && !Array.isArray(e) && typeof (e as { path?: unknown }).path === 'string' && (e as { path: string }).path.length < 1000) {
          expect(quick, JSON.stringify(e)).not.toBeNull();
        }
      }
    }
    expect(accepted).toBeGreaterThan(20);
  });

  it('checks the top-level fields and bulk upload replies', () => {
    expect(fastCommitOk({ rev: -1, entries: [], replayed: false })).toBeNull();
    expect(fastCommitOk({ rev: 1, entries: [], replayed: 'no' })).toBeNull();
    expect(fastCommitOk({ rev: 1, entries: {}, replayed: false })).toBeNull();
    expect(fastChanges({ entries: [], headRev: 1.5, more: false })).toBeNull();
    expect(fastChanges({ entries: [], headRev: 1 })).toBeNull();
    const blobs = { blobs: [{ hash: H, size: 3, created: true, x: 1 }, { hash: H, size: 0, created: false }] };
    expect(JSON.stringify(fastBulkBlobs(blobs))).toBe(JSON.stringify(bulkBlobsReplySchema().parse(blobs)));
    for (const bad of [{}, { blobs: {} }, { blobs: [{ hash: 'x', size: 1, created: true }] }, { blobs: [{ hash: H, size: -1, created: true }] }, { blobs: [{ hash: H, size: 1 }] }, null]) {
      expect(fastBulkBlobs(bad)).toBeNull();
      expect(bulkBlobsReplySchema().safeParse(bad).success).toBe(false);
    }
  });

  it('accepts a path only when pathProblem does', () => {
    const paths = ['a', 'a/b/c', '.', '..', '...', '.a/..b', 'a/', '/a', 'a//b', 'x:/a', 'Z:', 'a\\b', 'a\0', './', '../x', 'x/.', 'x/..', 'x/./y', 'x/../y', 'a'.repeat(4096), 'é'.repeat(1400)];
    for (const p of paths) if (quickPathOk(p)) expect(pathProblem(p), p).toBeNull();
    expect(paths.filter((p) => quickPathOk(p))).toEqual(['a', 'a/b/c', '...', '.a/..b']);
  });
});
