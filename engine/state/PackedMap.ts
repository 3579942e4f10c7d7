// The three big maps of a user's state (base, stat cache, server mirror) kept as columns instead
// of an object per row (issue 10: an engine tracking 100,000 files in ≤ 150 MB). An object per row
// and per map, a Map key per map and a heap number per timestamp cost 230 to 255 bytes a row; here
// the three maps share one interned string per path (a path table), numbers sit in one
// Float64Array per map and a hash equal to another map's hash of the same path is the same string.
// `get` builds the record on each call (young-generation garbage, cheap); a record set is copied,
// so changing it afterwards does not change the map (the engine never did that).
// Iteration follows the path table's order: the order paths were first stored in any of the three
// maps (a path deleted from all three and stored again comes last), close to a Map's own.
import type { Entry, EntryKind } from '../../shared/protocol.js';
import { NO_ROW, OTHER_ROW, type BaseRecord, type RowKeys, type RowProbe } from '../plan/planSync.js';
import type { StatCacheEntry, StatProbe } from '../scan/scan.js';

/** The bits of a row's flag byte (the snapshot file's flag columns use the same). */
export const PRESENT = 1, SYMLINK = 2, DELETED = 4, TARGET = 8;
/** The flag bits a map keeps. */
export const ROW_BITS = PRESENT | SYMLINK | DELETED | TARGET;

/** From how many changed rows a map stops listing them and has the next save write everything (see PackedMap.cleared). */
export const TOUCHED_MAX = 4096;

/** One id per path, shared by the maps of one state; ids of paths no map holds are reclaimed at `untouch`. */
export class PathTable {
  readonly ids = new Map<string, number>();
  paths: Array<string | undefined> = [];
  readonly maps: Array<PackedMap<unknown>> = [];
  readonly devices: string[] = [];
  readonly deviceIds = new Map<string, number>();
  dead = 0;

  /**
   * Whether a path with a NUL byte may be held (one was interned since the last check): the
   * snapshot writer then looks at each path, else at none. Paths a snapshot gave hold none.
   */
  maybeNul = false;

  /** Takes the paths of a snapshot as ids 0..n-1 (a fresh table only). */
  adopt(paths: string[]): void {
    if (this.paths.length > 0) throw new Error('the path table is not empty');
    const ids = this.ids;
    for (let i = 0; i < paths.length; i++) ids.set(paths[i]!, i);
    // A path held twice took the later id: found (and named) only then, one lookup per path.
    if (ids.size !== paths.length) {
      for (let i = 0; i < paths.length; i++) if (ids.get(paths[i]!) !== i) { ids.clear(); throw new Error(`it holds ${paths[i]} twice`); }
    }
    this.paths = paths;
  }

  intern(p: string): number {
    let id = this.ids.get(p);
    if (id === undefined) {
      id = this.paths.length;
      this.paths.push(p);
      this.ids.set(p, id);
      if (p.includes('\0')) this.maybeNul = true;
    }
    return id;
  }

  device(d: string): number {
    let i = this.deviceIds.get(d);
    if (i === undefined) { i = this.devices.length; this.devices.push(d); this.deviceIds.set(d, i); }
    return i;
  }

  /** The string already held for this hash of path `id` by another map, else `h` itself. */
  share(id: number, h: string, self: PackedMap<unknown>): string {
    for (const m of this.maps) {
      if (m === self) continue;
      const o = m.hashAt(id);
      if (o === h) return o;
    }
    return h;
  }

  /** Called when a map dropped path `id`: forgets the path once no map holds it. */
  release(id: number): void {
    for (const m of this.maps) if (m.hasId(id)) return;
    const p = this.paths[id];
    if (p === undefined) return;
    this.ids.delete(p);
    this.paths[id] = undefined;
    this.dead++;
  }

  /** Renumbers the live paths densely (in order) once many ids are dead; never during an iteration (only from `untouch`). */
  compact(): void {
    if (this.dead < 4096 || this.dead * 2 < this.paths.length) return;
    const keep: number[] = [];
    for (let id = 0; id < this.paths.length; id++) if (this.paths[id] !== undefined) keep.push(id);
    const order = Int32Array.from(keep);
    for (const m of this.maps) m.remap(order);
    const paths = keep.map((id) => this.paths[id]!);
    this.ids.clear();
    for (let i = 0; i < paths.length; i++) this.ids.set(paths[i]!, i);
    this.paths = paths;
    this.dead = 0;
  }
}

/** How one map's records become columns and back. */
interface Codec<V> {
  /** Numbers per row in the Float64Array. */
  readonly k: number;
  /** Where a row's rev and mode sit among its numbers (RowProbe); -1: this map's rows have no rev. */
  readonly revAt: number;
  readonly modeAt: number;
  /** Stores v's numbers at num[at..at+k); returns its flag bits (SYMLINK, DELETED). */
  put(v: V, num: Float64Array, at: number, t: PathTable): number;
  hash(v: V): string | null;
  target(v: V): string | undefined;
  make(path: string, num: Float64Array, at: number, flags: number, hash: string | null, target: string | undefined, t: PathTable): V;
  /** StatProbe (the stat cache only): whether the row at num[at..] vouches for a file with this lstat (see StatProbe). */
  vouches?(num: Float64Array, at: number, size: number, mtimeMs: number, ctimeMs: number, ino: number, mode: number, racyMs: number): boolean;
}

const kindBits = (kind: string, deleted: boolean): number => (kind === 'symlink' ? SYMLINK : 0) | (deleted ? DELETED : 0);

const baseCodec: Codec<BaseRecord> = {
  k: 3,
  revAt: 0,
  modeAt: 2,
  put(v, num, at) { num[at] = v.rev; num[at + 1] = v.size; num[at + 2] = v.mode; return kindBits(v.kind, v.deleted); },
  hash: (v) => v.hash,
  target: (v) => v.target,
  make(_p, num, at, f, hash, target) {
    const kind = f & SYMLINK ? 'symlink' : 'file', deleted = (f & DELETED) !== 0;
    return target !== undefined
      ? { rev: num[at]!, kind, hash, size: num[at + 1]!, mode: num[at + 2]!, deleted, target }
      : { rev: num[at]!, kind, hash, size: num[at + 1]!, mode: num[at + 2]!, deleted };
  },
};

const cacheCodec: Codec<StatCacheEntry> = {
  k: 6,
  revAt: -1,
  modeAt: 4,
  put(v, num, at) { num[at] = v.size; num[at + 1] = v.mtimeMs; num[at + 2] = v.ctimeMs; num[at + 3] = v.ino; num[at + 4] = v.mode; num[at + 5] = v.at; return 0; },
  hash: (v) => v.hash,
  target: (v) => v.target,
  make(_p, num, at, _f, hash, target) {
    return target !== undefined
      ? { size: num[at]!, mtimeMs: num[at + 1]!, ctimeMs: num[at + 2]!, ino: num[at + 3]!, mode: num[at + 4]!, hash: hash!, at: num[at + 5]!, target }
      : { size: num[at]!, mtimeMs: num[at + 1]!, ctimeMs: num[at + 2]!, ino: num[at + 3]!, mode: num[at + 4]!, hash: hash!, at: num[at + 5]! };
  },
  vouches(num, at, size, mtimeMs, ctimeMs, ino, mode, racyMs) {
    return num[at] === size && num[at + 1] === mtimeMs && num[at + 2] === ctimeMs && num[at + 3] === ino && num[at + 4] === mode && mtimeMs < num[at + 5]! - racyMs;
  },
};

const remoteCodec: Codec<Entry> = {
  k: 6,
  revAt: 0,
  modeAt: 2,
  put(v, num, at, t) {
    num[at] = v.rev; num[at + 1] = v.size; num[at + 2] = v.mode; num[at + 3] = v.mtime; num[at + 4] = v.updatedAt; num[at + 5] = t.device(v.device);
    return kindBits(v.kind, v.deleted);
  },
  hash: (v) => v.hash,
  target: (v) => v.target,
  make(path, num, at, f, hash, target, t) {
    const kind = f & SYMLINK ? 'symlink' : 'file', deleted = (f & DELETED) !== 0, device = t.devices[num[at + 5]!]!;
    return target !== undefined
      ? { path, kind, hash, size: num[at + 1]!, mode: num[at + 2]!, mtime: num[at + 3]!, rev: num[at]!, deleted, device, updatedAt: num[at + 4]!, target }
      : { path, kind, hash, size: num[at + 1]!, mode: num[at + 2]!, mtime: num[at + 3]!, rev: num[at]!, deleted, device, updatedAt: num[at + 4]! };
  },
};

/**
 * A Map of path → record stored as columns, that also records the keys set or deleted since
 * `untouch()` and whether it was cleared (like TrackedMap), for the state journal.
 * It extends Map only to be one to `instanceof` and to test matchers; Map's own storage stays empty.
 */
export class PackedMap<V> extends Map<string, V> implements RowProbe, RowKeys, StatProbe {
  /** Keys set or deleted since the last untouch() (none once `cleared`). */
  readonly touched = new Set<string>();
  /**
   * True after clear(), or once more than a quarter of the rows changed (at least TOUCHED_MAX):
   * the next save must write everything. A journal line of that many rows would be folded into a
   * snapshot by the save after anyway, and a run that sets every row (a first publish or install
   * of 100,000 files) need not hold a set of 100,000 paths per map meanwhile (~2.5 MB each).
   */
  cleared = false;
  /** Too many rows changed to list them (see cleared): none are listed until untouch(). */
  #overflowed = false;
  #t: PathTable;
  #c: Codec<V>;
  #num: Float64Array = new Float64Array(0);
  #flag: Uint8Array = new Uint8Array(0);
  #hash: Array<string | null> = [];
  #target = new Map<number, string>();
  #size = 0;
  /** maxOf(0) as last computed (or as a snapshot load found it); undefined once a row changed since. */
  #max0: number | undefined;

  constructor(table: PathTable, codec: Codec<V>) {
    super();
    this.#t = table;
    this.#c = codec;
    table.maps.push(this as PackedMap<unknown>);
  }

  /** Makes room for ids below `n` (a load reserves its row count at once). */
  reserve(n: number): void {
    if (n <= this.#flag.length) return;
    const k = this.#c.k;
    const num = new Float64Array(n * k);
    num.set(this.#num);
    const flag = new Uint8Array(n);
    flag.set(this.#flag);
    this.#num = num;
    this.#flag = flag;
    const h = this.#hash;
    while (h.length < n) h.push(null);
  }

  #put(key: string, value: V): number {
    const t = this.#t, c = this.#c;
    this.#max0 = undefined;
    const id = t.intern(key);
    if (id >= this.#flag.length) this.reserve(Math.max(64, Math.ceil(this.#flag.length * 1.5), id + 1));
    const was = this.#flag[id]! & PRESENT;
    const target = c.target(value);
    this.#flag[id] = PRESENT | c.put(value, this.#num, id * c.k, t) | (target !== undefined ? TARGET : 0);
    const h = c.hash(value);
    this.#hash[id] = h === null ? null : t.share(id, h, this as PackedMap<unknown>);
    if (target !== undefined) this.#target.set(id, target);
    else if (this.#target.size > 0) this.#target.delete(id);
    if (!was) this.#size++;
    return id;
  }

  override set(key: string, value: V): this {
    const id = this.#put(key, value);
    this.#touch(this.#t.paths[id]!);
    return this;
  }

  #touch(p: string): void {
    if (this.#overflowed) return;
    const touched = this.touched;
    touched.add(p);
    if (touched.size > TOUCHED_MAX && touched.size * 4 > this.#size) {
      touched.clear();
      this.cleared = true;
      this.#overflowed = true;
    }
  }

  /** Numbers per row in `columns().num`. */
  get stride(): number {
    return this.#c.k;
  }

  /** The columns as they are, row i being path id i of `table` (the snapshot writer reads them; do not change them). */
  columns(): { table: PathTable; flag: Uint8Array; num: Float64Array; hash: ReadonlyArray<string | null>; target: ReadonlyMap<number, string> } {
    return { table: this.#t, flag: this.#flag, num: this.#num, hash: this.#hash, target: this.#target };
  }

  /**
   * Takes over columns read from a snapshot, row i being path id i of the (fresh) path table;
   * nothing is recorded as changed. `flag` may hold other bits: they are dropped here, unless
   * the caller passes `size` (its count of present rows): then it vouches that `flag` holds
   * ROW_BITS only and `hash` is as long as `flag`, and no pass over the rows is made.
   */
  adopt(flag: Uint8Array, num: Float64Array, hash: Array<string | null>, target: Map<number, string>, size?: number, max0?: number): void {
    // The largest number 0 of the present rows, if the caller found it while reading them (it vouches for it).
    this.#max0 = size !== undefined ? max0 : undefined;
    if (size === undefined) {
      size = 0;
      for (let i = 0; i < flag.length; i++) if ((flag[i]! &= ROW_BITS) & PRESENT) size++;
      while (hash.length < flag.length) hash.push(null);
    }
    this.#flag = flag; this.#num = num; this.#hash = hash; this.#target = target; this.#size = size;
  }

  /** Sets without recording the key as changed (loading what is already stored). */
  load(key: string, value: V): this {
    this.#put(key, value);
    return this;
  }

  #id(key: string): number {
    const id = this.#t.ids.get(key);
    return id !== undefined && (this.#flag[id]! & PRESENT) !== 0 ? id : -1;
  }

  #make(id: number): V {
    const f = this.#flag[id]!;
    return this.#c.make(this.#t.paths[id]!, this.#num, id * this.#c.k, f, this.#hash[id]!, f & TARGET ? this.#target.get(id) : undefined, this.#t);
  }

  override get(key: string): V | undefined {
    const t = this.#t;
    const id = t.ids.get(key);
    if (id === undefined) return undefined;
    const f = this.#flag[id]!;
    if (!(f & PRESENT)) return undefined;
    return this.#c.make(t.paths[id]!, this.#num, id * this.#c.k, f, this.#hash[id]!, f & TARGET ? this.#target.get(id) : undefined, t);
  }

  /**
   * RowProbe (planSync): the rev of `key`'s row when it holds live content (not deleted, a hash)
   * of this kind and hash, and of this mode unless a symlink; OTHER_ROW for any other row (and
   * for every row of the stat cache, which has no rev); NO_ROW without one. No record is built.
   */
  revIfHolds(key: string, kind: EntryKind, hash: string, mode: number): number {
    const id = this.#t.ids.get(key);
    if (id === undefined) return NO_ROW;
    const f = this.#flag[id]!;
    if (!(f & PRESENT)) return NO_ROW;
    const c = this.#c;
    if (c.revAt < 0 || f & DELETED || (f & SYMLINK ? kind !== 'symlink' : kind === 'symlink') || this.#hash[id] !== hash) return OTHER_ROW;
    const at = id * c.k;
    if (kind !== 'symlink' && this.#num[at + c.modeAt] !== mode) return OTHER_ROW;
    return this.#num[at + c.revAt]!;
  }

  /**
   * StatProbe (scan): the hash of `key`'s stat-cache row when it vouches for a regular file with
   * this lstat; undefined otherwise, and for every row of a map that is not a stat cache or that
   * holds a symlink (the scan reads its target from the record). No record is built.
   */
  hashIfVouched(key: string, size: number, mtimeMs: number, ctimeMs: number, ino: number, mode: number, racyMs: number): string | undefined {
    const vouches = this.#c.vouches;
    if (vouches === undefined) return undefined;
    const id = this.#t.ids.get(key);
    if (id === undefined) return undefined;
    const f = this.#flag[id]!;
    if ((f & (PRESENT | SYMLINK | TARGET)) !== PRESENT || !vouches(this.#num, id * this.#c.k, size, mtimeMs, ctimeMs, ino, mode, racyMs)) return undefined;
    return this.#hash[id] ?? undefined;
  }

  /** RowKeys (planChanges): the maps of one state share this path table, and so their row ids. */
  get rowTable(): object {
    return this.#t;
  }

  rowIds(): number {
    return this.#t.paths.length;
  }

  rowIdOf(key: string): number {
    return this.#t.ids.get(key) ?? -1;
  }

  keysUnmarked(marked: Uint8Array, out: string[]): void {
    const flag = this.#flag, paths = this.#t.paths;
    for (let id = 0; id < flag.length; id++) {
      if (!(flag[id]! & PRESENT) || (id < marked.length && marked[id] === 1)) continue;
      if (id < marked.length) marked[id] = 1;
      out.push(paths[id]!);
    }
  }

  override has(key: string): boolean {
    const id = this.#t.ids.get(key);
    return id !== undefined && (this.#flag[id]! & PRESENT) !== 0;
  }

  #drop(id: number): void {
    this.#max0 = undefined;
    if (this.#flag[id]! & TARGET) this.#target.delete(id);
    this.#flag[id] = 0;
    this.#hash[id] = null;
    this.#size--;
  }

  override delete(key: string): boolean {
    const id = this.#id(key);
    if (id < 0) return false;
    const p = this.#t.paths[id]!;
    this.#drop(id);
    this.#touch(p);
    this.#t.release(id);
    return true;
  }

  override clear(): void {
    for (let id = 0; id < this.#flag.length; id++) {
      if (this.#flag[id]! & PRESENT) { this.#drop(id); this.#t.release(id); }
    }
    this.touched.clear();
    this.cleared = true;
  }

  /** Forgets what changed (called once the changes are stored). */
  untouch(): void {
    this.touched.clear();
    this.cleared = false;
    this.#overflowed = false;
    this.#t.compact();
  }

  override get size(): number {
    return this.#size;
  }

  /** The largest of the rows' number `j` (-Infinity when there are none): one column scan, no records built. */
  maxOf(j: number): number {
    if (j === 0 && this.#max0 !== undefined) return this.#max0;
    const flag = this.#flag, num = this.#num, k = this.#c.k;
    let max = -Infinity;
    for (let id = 0; id < flag.length; id++) if (flag[id]! & PRESENT && num[id * k + j]! > max) max = num[id * k + j]!;
    if (j === 0) this.#max0 = max;
    return max;
  }

  /** How many rows have all the flag bits of `bits` clear (e.g. DELETED: the live ones): one column scan. */
  countWithout(bits: number): number {
    const flag = this.#flag;
    let n = 0;
    for (let id = 0; id < flag.length; id++) if ((flag[id]! & (PRESENT | bits)) === PRESENT) n++;
    return n;
  }

  /** Whether the row of path id `id` is present (for the path table). */
  hasId(id: number): boolean {
    return id < this.#flag.length && (this.#flag[id]! & PRESENT) !== 0;
  }

  /** The hash string of path id `id`, if present (lets the maps share one string per hash). */
  hashAt(id: number): string | null | undefined {
    return id < this.#flag.length && (this.#flag[id]! & PRESENT) !== 0 ? this.#hash[id] : undefined;
  }

  /** Moves the rows to ids 0..order.length-1, row i from id order[i] (the path table's compaction). */
  remap(order: Int32Array): void {
    this.#max0 = undefined;
    const k = this.#c.k, n = order.length;
    const num = new Float64Array(Math.max(n, 64) * k), flag = new Uint8Array(Math.max(n, 64));
    const hash: Array<string | null> = new Array<string | null>(flag.length).fill(null);
    const target = new Map<number, string>();
    for (let i = 0; i < n; i++) {
      const old = order[i]!;
      if (!this.hasId(old)) continue;
      flag[i] = this.#flag[old]!;
      num.set(this.#num.subarray(old * k, old * k + k), i * k);
      hash[i] = this.#hash[old]!;
      const tg = this.#target.get(old);
      if (tg !== undefined) target.set(i, tg);
    }
    this.#num = num; this.#flag = flag; this.#hash = hash; this.#target = target;
  }

  /** The keys as of now (an array's iterator: much cheaper than a generator in a one-shot run's cold code). */
  override keys(): MapIterator<string> {
    const out: string[] = [];
    const flag = this.#flag, paths = this.#t.paths;
    for (let id = 0; id < flag.length; id++) if (flag[id]! & PRESENT) out.push(paths[id]!);
    return out.values();
  }

  override *values(): MapIterator<V> {
    for (let id = 0; id < this.#flag.length; id++) if (this.#flag[id]! & PRESENT) yield this.#make(id);
  }

  override *entries(): MapIterator<[string, V]> {
    for (let id = 0; id < this.#flag.length; id++) if (this.#flag[id]! & PRESENT) yield [this.#t.paths[id]!, this.#make(id)];
  }

  override [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  override forEach(fn: (value: V, key: string, map: Map<string, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
  }
}

/** The base, stat-cache and server-mirror maps of one state, sharing one path table. */
export function packedMaps(): { base: PackedMap<BaseRecord>; statCache: PackedMap<StatCacheEntry>; remote: PackedMap<Entry>; table: PathTable } {
  const t = new PathTable();
  return { base: new PackedMap(t, baseCodec), statCache: new PackedMap(t, cacheCodec), remote: new PackedMap(t, remoteCodec), table: t };
}
