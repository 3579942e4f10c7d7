// The column-stored maps of the sync state behave as Maps (with TrackedMap's change tracking),
// whatever mix of sets, deletes, clears and path-table compactions comes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry, EntryKind } from '../../shared/protocol.js';
import { NO_ROW, OTHER_ROW, type BaseRecord } from '../plan/planSync.js';
import type { StatCacheEntry } from '../scan/scan.js';
import { DELETED, packedMaps, TOUCHED_MAX } from './PackedMap.js';

const base = (v: number): BaseRecord => (v % 3 === 0
  ? { rev: v, kind: 'symlink', hash: String(v % 5).repeat(64), size: v, mode: 0, deleted: false, target: `t${v}` }
  : { rev: v, kind: 'file', hash: v % 7 === 0 ? null : String(v % 5).repeat(64), size: v * 1.5, mode: 0o644, deleted: v % 7 === 0 });
const cache = (v: number): StatCacheEntry => ({ size: v, mtimeMs: v + 0.25, ctimeMs: 2 ** 45 + v, ino: v, mode: 0o100644, hash: String(v % 5).repeat(64), at: v, ...(v % 4 === 0 ? { target: `c${v}` } : {}) });
const remote = (p: string, v: number): Entry => ({ path: p, kind: v % 3 === 0 ? 'symlink' : 'file', hash: String(v % 5).repeat(64), size: v, mode: 0o600, mtime: v, rev: v + 1, deleted: v % 2 === 0, device: `d${v % 3}`, updatedAt: v * 2 });

type Op = { m: 0 | 1 | 2; op: 'set' | 'delete' | 'clear' | 'untouch'; key: number; v: number };
const op = fc.record({ m: fc.constantFrom<0 | 1 | 2>(0, 1, 2), op: fc.constantFrom<Op['op']>('set', 'set', 'set', 'delete', 'delete', 'clear', 'untouch'), key: fc.integer({ min: 0, max: 60 }), v: fc.integer({ min: 1, max: 1000 }) });

describe('PackedMap', () => {
  it('acts as a Map and tracks touched keys like TrackedMap, over random operations', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const packed = packedMaps();
      const maps = [packed.base, packed.statCache, packed.remote] as Array<Map<string, unknown> & { touched: Set<string>; cleared: boolean; untouch(): void }>;
      const models = [new Map<string, unknown>(), new Map<string, unknown>(), new Map<string, unknown>()];
      const touched = [new Set<string>(), new Set<string>(), new Set<string>()];
      const cleared = [false, false, false];
      for (const o of ops) {
        const k = `p/${o.key}`, m = maps[o.m]!, model = models[o.m]!;
        if (o.op === 'set') {
          const v = o.m === 0 ? base(o.v) : o.m === 1 ? cache(o.v) : remote(k, o.v);
          m.set(k, v); model.set(k, v); touched[o.m]!.add(k);
        } else if (o.op === 'delete') {
          const had = model.delete(k);
          expect(m.delete(k)).toBe(had);
          if (had) touched[o.m]!.add(k);
        } else if (o.op === 'clear') {
          m.clear(); model.clear(); touched[o.m]!.clear(); cleared[o.m] = true;
        } else {
          for (let i = 0; i < 3; i++) { maps[i]!.untouch(); touched[i]!.clear(); cleared[i] = false; }
        }
        for (let i = 0; i < 3; i++) {
          expect(maps[i]!.size).toBe(models[i]!.size);
          expect(maps[i]!.cleared).toBe(cleared[i]);
        }
        // maxOf(0) is remembered between changes: asked after each one, it must follow them.
        expect(packed.remote.maxOf(0)).toBe(Math.max(-Infinity, ...[...models[2]!.values()].map((e) => (e as Entry).rev)));
      }
      for (let i = 0; i < 3; i++) {
        const sorted = <V>(x: Iterable<[string, V]>): Array<[string, V]> => [...x].sort(([a], [b]) => (a < b ? -1 : 1));
        expect(sorted(maps[i]!)).toEqual(sorted(models[i]!));
        for (const k of models[i]!.keys()) expect(maps[i]!.get(k)).toEqual(models[i]!.get(k));
        expect(maps[i]!.get('p/none')).toBeUndefined();
        expect(maps[i]!.has('p/none')).toBe(false);
        expect([...maps[i]!.touched].sort()).toEqual([...touched[i]!].sort());
      }
      expect(packed.remote.countWithout(DELETED)).toBe([...models[2]!.values()].filter((e) => !(e as Entry).deleted).length);
      expect(packed.remote.maxOf(0)).toBe(Math.max(-Infinity, ...[...models[2]!.values()].map((e) => (e as Entry).rev)));
    }), { numRuns: 300 });
  });

  it('stops listing changed keys once more than a quarter of its rows (and TOUCHED_MAX) changed, and asks for a full save instead', () => {
    const { base: b, statCache: c } = packedMaps();
    const n = TOUCHED_MAX * 8;
    for (let i = 0; i < n; i++) b.set(`f${i}`, base(i + 1));
    // A first publish: every row is new. The set of changed keys stopped at TOUCHED_MAX + 1.
    expect(b.cleared).toBe(true);
    expect(b.touched.size).toBe(0);
    expect(b.size).toBe(n);
    expect(b.get(`f${n - 1}`)).toEqual(base(n));
    b.untouch();
    expect(b.cleared).toBe(false);
    // A few changes in a large map are listed one by one (a journal line), deletes included.
    for (let i = 0; i < TOUCHED_MAX; i++) b.set(`f${i}`, base(i + 2));
    b.delete('f1');
    expect(b.cleared).toBe(false);
    expect(b.touched.size).toBe(TOUCHED_MAX);
    expect(b.touched.has('f1')).toBe(true);
    // Past a quarter of the rows: a full save, whatever was listed so far.
    for (let i = TOUCHED_MAX; i < n / 4 + 2; i++) b.delete(`f${i}`);
    expect(b.cleared).toBe(true);
    expect(b.touched.size).toBe(0);
    // Each map counts its own rows: the stat cache's few changes are still listed.
    c.set('f0', cache(1));
    expect(c.cleared).toBe(false);
    expect([...c.touched]).toEqual(['f0']);
  });

  it('keeps insertion order, lets a loop delete what it visits, and reclaims the ids of paths no map holds', () => {
    const { base: b, statCache: c } = packedMaps();
    for (let i = 0; i < 10_000; i++) { b.set(`f${i}`, base(i + 1)); c.set(`f${i}`, cache(i + 1)); }
    expect([...b.keys()].slice(0, 3)).toEqual(['f0', 'f1', 'f2']);
    for (const k of c.keys()) if (k !== 'f9999') c.delete(k);
    for (const k of b.keys()) if (k !== 'f9999' && k !== 'f5') b.delete(k);
    expect([...c.keys()]).toEqual(['f9999']);
    b.set('new', base(4));
    b.untouch(); // compacts the path table: 9,997 of 10,001 ids are dead
    expect([...b]).toEqual([['f5', base(6)], ['f9999', base(10_000)], ['new', base(4)]]);
    expect([...c]).toEqual([['f9999', cache(10_000)]]);
    b.set('f0', base(9));
    expect([...b.keys()]).toEqual(['f5', 'f9999', 'new', 'f0']);
    expect(b.size).toBe(4);
    const seen: string[] = [];
    b.forEach((v, k, map) => { seen.push(k); expect(map.get(k)).toEqual(v); });
    expect(seen).toEqual(['f5', 'f9999', 'new', 'f0']);
    expect([...b.values()][3]).toEqual(base(9));
  });

  it('answers RowKeys: one row id per path across the maps of a state, and each unmarked key once', () => {
    const { base, remote, statCache } = packedMaps();
    const rec = (rev: number, deleted = false): BaseRecord => ({ rev, kind: 'file', hash: deleted ? null : 'h'.repeat(64), size: 1, mode: 0o644, deleted });
    base.set('a', rec(1));
    base.set('gone', rec(2, true));
    remote.set('a', { path: 'a', ...rec(1), mtime: 1, device: 'd', updatedAt: 1 } as Entry);
    remote.set('gone', { path: 'gone', ...rec(2, true), mtime: 1, device: 'd', updatedAt: 1 } as Entry);
    remote.set('theirs', { path: 'theirs', ...rec(3), mtime: 1, device: 'd', updatedAt: 1 } as Entry);
    expect(base.rowTable).toBe(remote.rowTable);
    expect(base.rowTable).toBe(statCache.rowTable);
    expect(base.rowIdOf('theirs')).toBe(remote.rowIdOf('theirs'));
    expect(base.rowIdOf('never')).toBe(-1);
    const marked = new Uint8Array(base.rowIds());
    marked[base.rowIdOf('a')] = 1;
    const out: string[] = [];
    base.keysUnmarked(marked, out);
    remote.keysUnmarked(marked, out);
    expect(out).toEqual(['gone', 'theirs']);
    base.delete('gone');
    const again: string[] = [];
    base.keysUnmarked(new Uint8Array(base.rowIds()), again);
    expect(again).toEqual(['a']);
  });

  it('answers RowProbe (revIfHolds) as the records it holds say, without building one, in the base and the mirror; the stat cache never vouches', () => {
    const query = fc.record({ key: fc.integer({ min: 0, max: 12 }), v: fc.integer({ min: 1, max: 60 }), own: fc.boolean(), kind: fc.constantFrom<EntryKind>('file', 'symlink'), mode: fc.constantFrom(0, 0o600, 0o644), hash: fc.constantFrom('0', '1', '2', '3', '4').map((c) => c.repeat(64)) });
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 60 }), fc.boolean())), fc.array(query, { maxLength: 40 }), (ops, queries) => {
      const m = packedMaps();
      for (const [key, v, del] of ops) {
        if (del) { m.base.delete(`p${key}`); m.remote.delete(`p${key}`); continue; }
        m.base.set(`p${key}`, base(v));
        m.remote.set(`p${key}`, remote(`p${key}`, v + 1));
        m.statCache.set(`p${key}`, cache(v));
      }
      const model = (r: BaseRecord | Entry | undefined, kind: EntryKind, hash: string, mode: number): number => {
        if (!r) return NO_ROW;
        return !r.deleted && r.hash !== null && r.kind === kind && r.hash === hash && (kind === 'symlink' || r.mode === mode) ? r.rev : OTHER_ROW;
      };
      for (const q of queries) {
        const p = `p${q.key}`;
        for (const map of [m.base, m.remote] as Array<Map<string, BaseRecord | Entry> & { revIfHolds: typeof m.base.revIfHolds }>) {
          const r = map.get(p);
          // Mostly ask about the row's own content (the usual question), else anything.
          const [kind, hash, mode] = q.own && r && r.hash !== null ? [r.kind, r.hash, r.mode] : [q.kind, q.hash, q.mode];
          expect(map.revIfHolds(p, kind, hash, mode)).toBe(model(r, kind, hash, mode));
        }
        expect(m.statCache.revIfHolds(p, q.kind, q.hash, q.mode)).toBe(m.statCache.has(p) ? OTHER_ROW : NO_ROW);
      }
    }), { numRuns: 300 });
  });

  it('answers StatProbe (hashIfVouched) as the stat-cache entry it holds says, without building one; symlink rows and the other maps never vouch', () => {
    const RACY = 10;
    let hits = 0;
    const stat = fc.record({ key: fc.integer({ min: 0, max: 12 }), own: fc.boolean(), size: fc.integer({ min: 1, max: 60 }), mtimeMs: fc.constantFrom(1.25, 26.25, 45.25), ctimeMs: fc.constantFrom(2 ** 45 + 1, 2 ** 45 + 30), ino: fc.integer({ min: 1, max: 60 }), mode: fc.constantFrom(0o100644, 0o100600, 0o120777), tweak: fc.integer({ min: 0, max: 9 }) });
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 60 }), fc.boolean()), { maxLength: 40 }), fc.array(stat, { maxLength: 40 }), (ops, queries) => {
      const m = packedMaps();
      for (const [key, v, del] of ops) {
        if (del) { m.statCache.delete(`p${key}`); continue; }
        m.base.set(`p${key}`, base(v));
        // Read long after its mtime (a hit), or within the racy window of it (never one).
        m.statCache.set(`p${key}`, { ...cache(v), at: v % 3 === 0 ? v + 5 : v + 1000 });
      }
      const held = [...m.statCache.keys()];
      for (const q of queries) {
        // Mostly a path the cache holds, asked about with its own stat (a hit unless racy) or one field off (a miss); else anything.
        const p = q.own && held.length > 0 ? held[q.key % held.length]! : `p${q.key}`, e = m.statCache.get(p);
        let [size, mtimeMs, ctimeMs, ino, mode] = q.own && e ? [e.size, e.mtimeMs, e.ctimeMs, e.ino, e.mode] : [q.size, q.mtimeMs, q.ctimeMs, q.ino, q.mode];
        if (q.own && e) {
          if (q.tweak === 1) size++;
          else if (q.tweak === 2) mtimeMs += 1;
          else if (q.tweak === 3) ctimeMs += 1;
          else if (q.tweak === 4) ino++;
          else if (q.tweak === 5) mode ^= 0o22;
        }
        const model = e !== undefined && e.target === undefined && e.size === size && e.mtimeMs === mtimeMs && e.ctimeMs === ctimeMs && e.ino === ino
          && e.mode === mode && mtimeMs < e.at - RACY ? e.hash : undefined;
        expect(m.statCache.hashIfVouched(p, size, mtimeMs, ctimeMs, ino, mode, RACY)).toBe(model);
        if (model !== undefined) hits++;
        expect(m.base.hashIfVouched(p, size, mtimeMs, ctimeMs, ino, mode, RACY)).toBeUndefined();
        expect(m.remote.hashIfVouched(p, size, mtimeMs, ctimeMs, ino, mode, RACY)).toBeUndefined();
      }
    }), { numRuns: 300 });
    // It met hits, not only misses.
    expect(hits).toBeGreaterThan(50);
  });
});
