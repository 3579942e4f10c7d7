// Review: a snapshot written from the engine's columns (fromColumns) or from plain Maps (fromRecords)
// reads back exactly as held, for odd but storable values: paths with unpaired surrogates, hashes of
// 64 characters that are not hex (ASCII with NUL, Latin-1, astral), -0 and NaN numbers, tombstones
// sharing a hash, dead path ids, devices no longer used.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import type { ConflictRecord } from '../Engine.js';
import { createFileStateStore, emptyUserState, type UserState } from './StateStore.js';
import { decodeSnapshot, encodeSnapshot } from './stateFile.js';

const parseConflict = (c: unknown): ConflictRecord => c as ConflictRecord;

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

const HASHES = [
  'a'.repeat(64), 'A'.repeat(64), `${'0'.repeat(63)}\0`, 'é'.repeat(64), '\u{1F600}'.repeat(32), 'x'.repeat(63), 'short', '',
  `${'f'.repeat(63)}\uD800`,
];
const PATHS = ['a', 'b/c', 'lone\uD800', 'lone\uDC00x', 'emoji\u{1F600}', 'sp ace', 'ü/ö', 'z'];

function randomState(seed: number): UserState {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const s = emptyUserState();
  s.cursor = 3;
  s.lastSyncAt = r() < 0.5 ? null : -0;
  const paths = PATHS.map((p, i) => `${p}${i}-${seed}`);
  for (let round = 0; round < 3; round++) {
    for (const p of paths) {
      const hash = r() < 0.2 ? null : pick(HASHES);
      const link = r() < 0.2;
      const deleted = r() < 0.2;
      if (r() < 0.7) s.base.set(p, { rev: Math.floor(r() * 5), kind: link ? 'symlink' : 'file', hash, size: r() < 0.1 ? -0 : 3, mode: 0o644, deleted, ...(link ? { target: pick(PATHS) } : {}) });
      else s.base.delete(p);
      if (r() < 0.7) s.statCache.set(p, { size: 1, mtimeMs: r() < 0.1 ? NaN : 1.5, ctimeMs: -0, ino: 2 ** 53 - 1, mode: 0o100644, hash: r() < 0.5 && hash !== null ? hash : pick(HASHES), at: 5, ...(link ? { target: pick(PATHS) } : {}) });
      else s.statCache.delete(p);
      if (r() < 0.7) {
        const e: Entry = { path: p, kind: link ? 'symlink' : 'file', hash: r() < 0.5 ? hash : pick(HASHES), size: 0, mode: 0, mtime: 1e21, rev: 7, deleted, device: pick(['d1', 'd2', 'd\u00e9', '']), updatedAt: 0, ...(link ? { target: pick(PATHS) } : {}) };
        s.remote.set(p, e);
      } else s.remote.delete(p);
    }
  }
  return s;
}

const num = (_k: string, x: unknown): unknown => (typeof x === 'number' && (Object.is(x, -0) || Number.isNaN(x)) ? `num:${Object.is(x, -0) ? '-0' : 'NaN'}` : x);
const plain = (m: Map<string, unknown>): Array<[string, unknown]> =>
  [...m.entries()].map(([k, v]): [string, unknown] => [k, JSON.parse(JSON.stringify(v, num)) as unknown]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
const view = (s: UserState): unknown => ({ cursor: s.cursor, lastSyncAt: Object.is(s.lastSyncAt, -0) ? '-0' : s.lastSyncAt, base: plain(s.base as Map<string, unknown>), statCache: plain(s.statCache as Map<string, unknown>), remote: plain(s.remote as Map<string, unknown>) });

function asPlainMaps(s: UserState): UserState {
  return { ...s, base: new Map(s.base), statCache: new Map(s.statCache), remote: new Map(s.remote) } as UserState;
}

describe('review: snapshot round trip of odd values', () => {
  for (let seed = 1; seed <= 40; seed++) {
    it(`seed ${seed}: columns and records both read back what was held`, () => {
      const s = randomState(seed);
      const want = view(s);
      const fromCols = decodeSnapshot(encodeSnapshot(s, 'http://x', 'u', 1), parseConflict).state;
      expect(view(fromCols)).toEqual(want);
      const fromRecs = decodeSnapshot(encodeSnapshot(asPlainMaps(s), 'http://x', 'u', 1), parseConflict).state;
      expect(view(fromRecs)).toEqual(want);
      // And once more from what was read (a second generation through the columns).
      expect(view(decodeSnapshot(encodeSnapshot(fromCols, 'http://x', 'u', 2), parseConflict).state)).toEqual(want);
    });
  }
});

describe('review: the stamp a load gives describes what that load read', () => {
  it('a save by another process between the load and the first stamp changes the next stamp (the engine reloads)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dman-review2-stamp-'));
    try {
      const url = 'http://127.0.0.1:1';
      const first = createFileStateStore({ stateDir: dir, noSync: true });
      const s0 = emptyUserState();
      s0.base.set('a', { rev: 1, kind: 'file', hash: 'a'.repeat(64), size: 1, mode: 0o644, deleted: false });
      await first.save(url, 'u', s0);
      const a = createFileStateStore({ stateDir: dir, noSync: true });
      const b = createFileStateStore({ stateDir: dir, noSync: true });
      const sa = await a.load(url, 'u');
      expect(sa.base.get('a')?.rev).toBe(1);
      // Another process saves after a's read, before a asked for its stamp.
      const sb = await b.load(url, 'u');
      sb.base.set('b', { rev: 2, kind: 'file', hash: 'b'.repeat(64), size: 1, mode: 0o644, deleted: false });
      await b.save(url, 'u', sb);
      const atLoad = await a.stamp!(url, 'u');
      const onDisk = await a.stamp!(url, 'u');
      expect(onDisk).not.toBe(atLoad);
      expect(onDisk).toBe(await b.stamp!(url, 'u'));
      // The reload sees b's save.
      expect((await a.load(url, 'u')).base.get('b')?.rev).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
