// The snapshot file, format 3: binary and by column, so that loading it is a few copies of whole
// columns plus one string per path and per hash (format 2, JSON, took a 40 MB JSON.parse and
// ~180 MB of garbage at 100,000 files; an object per row took more time than the parse).
//
//   "DMANST3\n"             magic (format-2 files start with "{")
//   u32 n, n bytes          header, JSON: { format: 3, serverUrl, user, cursor, lastSyncAt, gen, rows, devices, conflicts, strings, paths?,
//                           pathBytes?, hexes? } (the last two are layout counts that let a load skip a pass: files written
//                           before them load too, a little slower, and are rewritten at the next save or close; a reader
//                           that predates them ignores them)
//   then sections, each starting at a multiple of 8 bytes (zero padding):
//   paths                   every path once, UTF-8, each followed by a NUL byte (rows of them; a path holds no NUL),
//                           `pathBytes` bytes in all; a path with an unpaired surrogate (which UTF-8 cannot hold) is exact
//                           in the header's `paths` instead, as [row, path]
//   for base, stat cache and server mirror in turn:
//     flags                 u8 per row: PackedMap's bits (1 present, 2 symlink, 4 deleted, 8 target) plus how the hash is
//                           kept: 16 null, 32 the base row's hash, 64 in `hashes` (64 ASCII characters: in practice 64
//                           lowercase hex digits), none of these: the next of `strings` in the header
//     numbers               f64 per row and field, rows × k (base: rev, size, mode; stat cache: size, mtimeMs, ctimeMs,
//                           ino, mode, at; server mirror: rev, size, mode, mtime, updatedAt, device as an index into
//                           `devices`); zero for an absent row
//     hashes                64 bytes (Latin-1) per hash flagged 64, in row order, `hexes[map]` of them: read as one
//                           string, each row's hash a slice of it (a Latin-1 copy is several times cheaper than
//                           hex-encoding 32 binary bytes, and one copy than one per row)
//   32 bytes                SHA-256 of everything before it: a damaged file is set aside, never trusted
// Symlink targets are the next of `strings` too (after the row's hash, if that is a string).
// Numbers are little-endian.
// The engine's maps are written straight from their columns (fromColumns), rows in the path
// table's order; other Maps a record per row (fromRecords). A save writes the file in pieces
// (snapshotPieces), never as one more buffer of its size.
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import type { Entry } from '../../shared/protocol.js';
import type { ConflictRecord } from '../Engine.js';
import type { BaseRecord } from '../plan/planSync.js';
import type { StatCacheEntry } from '../scan/scan.js';
import { DELETED, PackedMap, packedMaps, PRESENT, ROW_BITS, SYMLINK, TARGET } from './PackedMap.js';
import type { UserState } from './StateStore.js';
import { TrackedMap } from './TrackedMap.js';

export const MAGIC = Buffer.from('DMANST3\n', 'latin1');
export const FORMAT = 3;
const H_NULL = 16, H_BASE = 32, H_HEX = 64;
const LE = endianness() === 'LE';

/** What the snapshot says besides the columns. */
export interface Header {
  format: typeof FORMAT;
  serverUrl: string;
  user: string;
  cursor: number;
  lastSyncAt: number | null;
  gen: number;
  rows: number;
  devices: string[];
  conflicts: unknown[];
  /** Hashes not in the hex columns, and symlink targets, in the order the rows need them. */
  strings: string[];
  /** [row, path] for the paths UTF-8 cannot hold (an unpaired surrogate): the path list has them as U+FFFD. */
  paths?: Array<[number, string]>;
  /** The bytes of the path list, its last NUL included (absent in files written before it existed: then the reader counts NULs). */
  pathBytes?: number;
  /** How many rows of each map (base, stat cache, mirror) keep their hash in its hex column (absent in files written before it existed: then the reader counts). */
  hexes?: [number, number, number];
}

/** False for a string with an unpaired surrogate (ES2024's String.prototype.isWellFormed; Node 20 has it). */
const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** One map's rows in the file's shape: flag bytes (with the hash bits), n × k numbers, its hex hashes in row order (64 ASCII characters each). */
interface Part { flag: Uint8Array; num: Float64Array; hex: string[] }

/** What a snapshot holds, ready to be laid out. */
interface Rows { paths: string[]; devices: string[]; strings: string[]; parts: Part[] }

/** The general way puts only 64-digit lowercase hex hashes in the hex columns (any other string goes to `strings`). */
const HEX64 = /^[0-9a-f]{64}$/;

/** Rows written per piece of the path list or of a hex column: pieces of ~0.5 MB. */
const PIECE_ROWS = 8192;

/** A snapshot laid out as pieces to write in turn: `size` bytes in all, the checksum last. */
export interface SnapshotPieces {
  size: number;
  pieces: Iterable<Uint8Array>;
}

/**
 * The snapshot as pieces of at most ~0.5 MB besides the flag and number columns (views of the
 * columns, no copy), so that a save never holds the whole file in one more buffer: at 100,000
 * files that buffer was 23 MB on top of the columns, and a watcher's or a sync's peak RSS rose by
 * it whenever a save rewrote the snapshot. The pieces must be taken in order, and only once.
 */
export function snapshotPieces(s: UserState, serverUrl: string, user: string, gen: number): SnapshotPieces {
  const rows = fromColumns(s) ?? fromRecords(s);
  const { paths, devices, strings, parts } = rows;
  const n = paths.length;
  // The protocol and the file system allow no NUL in a path; one here would shift every later row.
  // UTF-8 has no bytes for an unpaired surrogate (the protocol allows one in a path): such a path is
  // also written exactly in the header, whose JSON escapes it.
  const odd: Array<[number, string]> = [];
  // The path list's pieces, joined once here (they are written as they are): ~5 MB at 100,000 files.
  const pathText: string[] = [];
  let pathBytes = 0;
  for (let i = 0; i < n; i += PIECE_ROWS) {
    const last = Math.min(n, i + PIECE_ROWS);
    const text = `${paths.slice(i, last).join('\0')}\0`;
    pathText.push(text);
    pathBytes += Buffer.byteLength(text, 'utf8');
    if (!wellFormed(text)) for (let j = i; j < last; j++) if (!wellFormed(paths[j]!)) odd.push([j, paths[j]!]);
  }
  const header = JSON.stringify({ format: FORMAT, serverUrl, user, cursor: s.cursor, lastSyncAt: s.lastSyncAt, gen, rows: n, devices, conflicts: [...s.conflicts.values()], strings, ...(odd.length > 0 ? { paths: odd } : {}), pathBytes, hexes: parts.map((p) => p.hex.length) });
  const up = (x: number): number => (x + 7) & ~7;
  const hlen = Buffer.byteLength(header, 'utf8');
  let size = up(up(MAGIC.length + 4 + hlen) + pathBytes);
  for (const p of parts) size = up(up(size + n) + p.num.byteLength + p.hex.length * 64);
  return { size: size + 32, pieces: pieces() };

  function* pieces(): Generator<Uint8Array> {
    const sum = createHash('sha256');
    let at = 0;
    /** Hands on `bytes` (adding them to the checksum), then the zero bytes up to the next multiple of 8 if `pad`. */
    function* put(bytes: Uint8Array, pad: boolean): Generator<Uint8Array> {
      sum.update(bytes);
      at += bytes.length;
      yield bytes;
      if (pad && up(at) !== at) {
        const zeros = new Uint8Array(up(at) - at);
        at += zeros.length;
        sum.update(zeros);
        yield zeros;
      }
    }
    const head = Buffer.alloc(MAGIC.length + 4 + hlen);
    head.writeUInt32LE(hlen, MAGIC.copy(head, 0));
    head.write(header, MAGIC.length + 4, 'utf8');
    yield* put(head, true);
    for (let i = 0; i < pathText.length; i++) yield* put(Buffer.from(pathText[i]!, 'utf8'), i === pathText.length - 1);
    for (const p of parts) {
      yield* put(p.flag, true);
      let num: Uint8Array;
      if (LE) num = new Uint8Array(p.num.buffer, p.num.byteOffset, p.num.byteLength);
      else { const b = Buffer.alloc(p.num.byteLength); for (let i = 0; i < p.num.length; i++) b.writeDoubleLE(p.num[i]!, i * 8); num = b; }
      yield* put(num, p.hex.length === 0);
      for (let i = 0; i < p.hex.length; i += PIECE_ROWS) {
        const last = Math.min(p.hex.length, i + PIECE_ROWS);
        yield* put(Buffer.from(p.hex.slice(i, last).join(''), 'latin1'), last === p.hex.length);
      }
    }
    if (at !== size) throw new Error(`the state snapshot's layout is off (${at} bytes written, ${size} planned)`);
    yield sum.digest();
  }
}

/** The snapshot in one buffer (the memory store, tests); a save writes snapshotPieces instead. */
export function encodeSnapshot(s: UserState, serverUrl: string, user: string, gen: number): Buffer {
  const { size, pieces } = snapshotPieces(s, serverUrl, user, gen);
  return Buffer.concat([...pieces], size);
}

const nulError = (p: string): Error => new Error(`cannot store the path ${JSON.stringify(p)} in the sync state: it contains a NUL byte`);

/**
 * The rows straight from the columns of three PackedMaps sharing one path table (what the engine
 * holds): no record built per row, the numbers copied a column at a time. Null for other maps
 * (tests, the memory store's callers) or a hash of 64 characters that are not lowercase hex digits.
 * Row order is the table's (the order in which the paths first came), which a load keeps.
 */
function fromColumns(s: UserState): Rows | null {
  if (!(s.base instanceof PackedMap && s.statCache instanceof PackedMap && s.remote instanceof PackedMap)) return null;
  const b = s.base.columns(), c = s.statCache.columns(), r = s.remote.columns();
  const table = b.table;
  if (c.table !== table || r.table !== table) return null;
  const all = table.paths;
  const len = all.length;
  const bF = b.flag, cF = c.flag, rF = r.flag, bH = b.hash;
  // The live ids, in order (a path no map holds any more leaves a dead id until the table compacts).
  const live = new Int32Array(len);
  let n = 0;
  for (let id = 0; id < len; id++) if ((bF[id]! | cF[id]! | rF[id]!) & PRESENT) live[n++] = id;
  const ids = live.subarray(0, n);
  let paths: string[];
  if (n === len) paths = (all as string[]).slice();
  else { paths = new Array<string>(n); for (let j = 0; j < n; j++) paths[j] = all[ids[j]!]!; }
  if (table.maybeNul) for (const p of paths) if (p.includes('\0')) throw nulError(p);
  // Per map, one pass: the flag byte with how the hash is kept. Mostly the base's hashes are hex
  // and the other maps' rows have the base's hash (the very string: one pointer comparison).
  const cols = [b, c, r];
  const flags: Uint8Array[] = [], hexText: string[][] = [], strs: string[][] = [], absent: number[][] = [];
  for (let m = 0; m < 3; m++) {
    const { flag, hash, target } = cols[m]!;
    const out = new Uint8Array(n), hex: string[] = [], str: string[] = [], none: number[] = [];
    for (let j = 0; j < n; j++) {
      const id = ids[j]!;
      const f = flag[id]!;
      if (!(f & PRESENT)) { none.push(j); continue; }
      const h = hash[id]!;
      if (m !== 0 && h === bH[id] && h !== null && bF[id]! & PRESENT) { out[j] = (f & ROW_BITS) | H_BASE; if (f & TARGET) str.push(target.get(id)!); continue; }
      let o = f & ROW_BITS;
      if (h === null) o |= H_NULL;
      else if (h.length === 64) { o |= H_HEX; hex.push(h); } // checked below, all at once: ASCII
      else str.push(h);
      if (f & TARGET) str.push(target.get(id)!);
      out[j] = o;
    }
    flags.push(out); strs.push(str); absent.push(none);
    // Latin-1 keeps an ASCII text exactly; a hash with other characters goes the general way.
    // (Not a regular expression: V8 interprets one on its first runs, 2+ ms over 10,000 hashes.)
    for (let i = 0; i < hex.length; i += PIECE_ROWS) {
      const text = hex.slice(i, i + PIECE_ROWS).join('');
      if (Buffer.byteLength(text, 'utf8') !== text.length) return null;
    }
    hexText.push(hex);
  }
  // The numbers: a copy of each column, a run of consecutive live ids at a time (one run when no id
  // is dead); an absent row's zeroed.
  const runs: number[] = []; // [first row, first id, rows] per run
  for (let j = 0; j < n;) {
    const from = ids[j]!;
    let to = j + 1;
    while (to < n && ids[to] === from + (to - j)) to++;
    runs.push(j, from, to - j);
    j = to;
  }
  const nums = cols.map(({ num }, m) => {
    const k = m === 0 ? 3 : 6;
    const out = new Float64Array(n * k);
    for (let x = 0; x < runs.length; x += 3) out.set(num.subarray(runs[x + 1]! * k, (runs[x + 1]! + runs[x + 2]!) * k), runs[x]! * k);
    for (const j of absent[m]!) out.fill(0, j * k, j * k + k);
    return out;
  });
  // The mirror's device column holds the table's device numbers: the file lists the devices rows
  // use, renumbered when some are no longer used.
  const rnum = nums[2]!, rflag = flags[2]!;
  const used = new Int32Array(table.devices.length).fill(-1);
  let nd = 0;
  for (let j = 0; j < n; j++) if (rflag[j]! & PRESENT) { const d = rnum[j * 6 + 5]!; if (used[d] === -1) used[d] = nd++; }
  let devices = table.devices.slice();
  if (nd !== devices.length) {
    devices = [];
    for (let d = 0; d < used.length; d++) if (used[d] !== -1) devices[used[d]!] = table.devices[d]!;
    for (let j = 0; j < n; j++) if (rflag[j]! & PRESENT) rnum[j * 6 + 5] = used[rnum[j * 6 + 5]!]!;
  }
  return {
    paths, devices, strings: [...strs[0]!, ...strs[1]!, ...strs[2]!],
    parts: [0, 1, 2].map((m) => ({ flag: flags[m]!, num: nums[m]!, hex: hexText[m]! })),
  };
}

/** The rows from any three Maps, a record per row (the general way). */
function fromRecords(s: UserState): Rows {
  // Row order: the base's paths, then the stat cache's and the mirror's others.
  const paths: string[] = [...s.base.keys()];
  for (const p of s.statCache.keys()) if (!s.base.has(p)) paths.push(p);
  for (const p of s.remote.keys()) if (!s.base.has(p) && !s.statCache.has(p)) paths.push(p);
  const n = paths.length;
  for (const p of paths) if (p.includes('\0')) throw nulError(p);
  const strings: string[] = [];
  const devices: string[] = [];
  const deviceIds = new Map<string, number>();
  const baseHashes: Array<string | null | undefined> = new Array<string | null | undefined>(n);
  const part = <V>(m: Map<string, V>, k: number, row: (v: V, num: Float64Array, at: number) => number, hashOf: (v: V) => string | null, targetOf: (v: V) => string | undefined, isBase: boolean): Part => {
    const flag = new Uint8Array(n), num = new Float64Array(n * k), hex: string[] = [];
    for (let i = 0; i < n; i++) {
      const v = m.get(paths[i]!);
      if (v === undefined) continue;
      let f = PRESENT | row(v, num, i * k);
      const h = hashOf(v), target = targetOf(v);
      if (isBase) baseHashes[i] = h;
      if (h === null) f |= H_NULL;
      else if (!isBase && h === baseHashes[i]) f |= H_BASE;
      else if (HEX64.test(h)) { f |= H_HEX; hex.push(h); }
      else strings.push(h);
      if (target !== undefined) { f |= TARGET; strings.push(target); }
      flag[i] = f;
    }
    return { flag, num, hex };
  };
  const kind = (k: string, deleted: boolean): number => (k === 'symlink' ? SYMLINK : 0) | (deleted ? DELETED : 0);
  const parts = [
    part<BaseRecord>(s.base, 3, (v, num, at) => { num[at] = v.rev; num[at + 1] = v.size; num[at + 2] = v.mode; return kind(v.kind, v.deleted); }, (v) => v.hash, (v) => v.target, true),
    part<StatCacheEntry>(s.statCache, 6, (v, num, at) => {
      num[at] = v.size; num[at + 1] = v.mtimeMs; num[at + 2] = v.ctimeMs; num[at + 3] = v.ino; num[at + 4] = v.mode; num[at + 5] = v.at;
      return 0;
    }, (v) => v.hash, (v) => v.target, false),
    part<Entry>(s.remote, 6, (v, num, at) => {
      let d = deviceIds.get(v.device);
      if (d === undefined) { d = devices.length; devices.push(v.device); deviceIds.set(v.device, d); }
      num[at] = v.rev; num[at + 1] = v.size; num[at + 2] = v.mode; num[at + 3] = v.mtime; num[at + 4] = v.updatedAt; num[at + 5] = d;
      return kind(v.kind, v.deleted);
    }, (v) => v.hash, (v) => v.target, false),
  ];
  return { paths, devices, strings, parts };
}

/** Reads a format-3 snapshot (the journal is replayed after); throws on any damage, and says so for a newer dman's snapshot. */
export function decodeSnapshot(buf: Buffer, parseConflict: (c: unknown) => ConflictRecord): { state: UserState; header: Header } {
  try {
    return decodeFormat3(buf, parseConflict);
  } catch (err) {
    const newer = newerFormat(buf);
    if (newer !== null) throw new Error(`it was written by a newer dman (state format ${newer}; this one reads formats 2 and ${FORMAT})`, { cause: err });
    throw err;
  }
}

/**
 * The format of a snapshot a newer dman wrote ("DMANST<n>\n", or this magic with a higher format
 * in its header), else null. Asked only once a read failed: no second header parse per load.
 */
function newerFormat(buf: Buffer): number | null {
  const nl = buf.subarray(0, 16).indexOf(0x0a);
  const m = nl === -1 ? null : /^DMANST(\d+)$/.exec(buf.toString('latin1', 0, nl));
  if (!m) return null;
  if (Number(m[1]) !== FORMAT) return Number(m[1]) > FORMAT ? Number(m[1]) : null;
  if (buf.length < MAGIC.length + 4) return null;
  const hlen = buf.readUInt32LE(MAGIC.length);
  if (MAGIC.length + 4 + hlen > buf.length) return null;
  try {
    const { format } = JSON.parse(buf.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + hlen)) as { format?: unknown };
    return typeof format === 'number' && format > FORMAT ? format : null;
  } catch {
    return null;
  }
}

/** Checks the header's fields by hand (a zod schema compiled on every cold start cost 1.5 to 5 ms of a one-shot run). */
function checkHeader(raw: unknown): Header {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('its header is not a JSON object');
  const h = raw as Record<string, unknown>;
  const bad = (field: string): never => { throw new Error(`its header field "${field}" is malformed`); };
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const strs = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (h.format !== FORMAT) bad('format');
  if (typeof h.serverUrl !== 'string') bad('serverUrl');
  if (typeof h.user !== 'string') bad('user');
  if (!count(h.cursor)) bad('cursor');
  if (h.lastSyncAt !== null && typeof h.lastSyncAt !== 'number') bad('lastSyncAt');
  if (!count(h.gen)) bad('gen');
  if (!count(h.rows)) bad('rows');
  if (!strs(h.devices)) bad('devices');
  if (!Array.isArray(h.conflicts)) bad('conflicts');
  if (!strs(h.strings)) bad('strings');
  if (h.paths !== undefined && !(Array.isArray(h.paths) && h.paths.every((x) => Array.isArray(x) && x.length === 2 && count(x[0]) && typeof x[1] === 'string'))) bad('paths');
  if (h.pathBytes !== undefined && !count(h.pathBytes)) bad('pathBytes');
  if (h.hexes !== undefined && !(Array.isArray(h.hexes) && h.hexes.length === 3 && h.hexes.every(count))) bad('hexes');
  return h as unknown as Header;
}

/** How many rows of a flag column keep their hash in the hex column (files written before the header said so). */
function countHex(flag: Uint8Array, n: number): number {
  let hexes = 0;
  for (let i = 0; i < n; i++) if ((flag[i]! & (PRESENT | H_NULL | H_BASE | H_HEX)) === (PRESENT | H_HEX)) hexes++;
  return hexes;
}

function decodeFormat3(buf: Buffer, parseConflict: (c: unknown) => ConflictRecord): { state: UserState; header: Header } {
  if (buf.length < MAGIC.length + 4 + 32 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('it is not a dman state file');
  const end = buf.length - 32;
  if (!createHash('sha256').update(buf.subarray(0, end)).digest().equals(buf.subarray(end))) throw new Error('its checksum does not match (the file is damaged)');
  let at = MAGIC.length;
  const take = (len: number): number => {
    if (len < 0 || at + len > end) throw new Error('it ends early');
    const from = at;
    at += len;
    return from;
  };
  const align = (): void => { at = Math.min(end, (at + 7) & ~7); };
  const hlen = buf.readUInt32LE(take(4));
  const header = checkHeader(JSON.parse(buf.toString('utf8', take(hlen), at)));
  const n = header.rows;
  align();
  const { base, statCache, remote, table } = packedMaps();
  // Paths: one decode and split when the header says how many bytes they take (written since
  // pathBytes exists); else up to the n-th NUL, found one indexOf at a time.
  const pathsFrom = at;
  let nul = at - 1;
  if (header.pathBytes !== undefined) {
    if (n === 0 ? header.pathBytes !== 0 : header.pathBytes === 0) throw new Error('its path list is malformed');
    take(header.pathBytes);
    nul = at - 1;
    if (n > 0 && buf[nul] !== 0) throw new Error('its path list is malformed');
  } else {
    for (let i = 0; i < n; i++) {
      nul = buf.indexOf(0, nul + 1);
      if (nul === -1 || nul >= end) throw new Error('it ends early');
    }
  }
  const paths = n > 0 ? buf.toString('utf8', pathsFrom, nul).split('\0') : [];
  if (paths.length !== n) throw new Error('its path list is malformed');
  for (const [i, p] of header.paths ?? []) {
    if (i >= n || paths[i] !== Buffer.from(p, 'utf8').toString('utf8')) throw new Error('its list of paths with unpaired surrogates is malformed');
    paths[i] = p;
  }
  at = nul + 1;
  align();
  table.adopt(paths);
  const room = n + (n >> 4) + 64;
  // The mirror's device column indexes `devices`; a fresh table numbers them the same way.
  for (let j = 0; j < header.devices.length; j++) if (table.device(header.devices[j]!) !== j) throw new Error('its device list is malformed');
  const nDevices = header.devices.length;
  const strings = header.strings;
  let str = 0;
  const nextString = (): string => {
    const v = strings[str++];
    if (v === undefined) throw new Error('it has fewer strings than its rows need');
    return v;
  };
  let baseFlag = new Uint8Array(0);
  let baseHash: Array<string | null> = [];
  let cacheFlag = new Uint8Array(0);
  // One pass over each map's rows does every check and builds the hash column; the numbers are
  // one copy. A map's hex hashes are one Latin-1 string, each row's a slice of it (a slice is a
  // view, not a copy: several times cheaper than a Buffer decode per row).
  const load = <V>(m: PackedMap<V>, which: 0 | 1 | 2): void => {
    const k = m.stride;
    const flag = new Uint8Array(room);
    flag.set(buf.subarray(take(n), at));
    align();
    const num = new Float64Array(room * k);
    const from = take(n * k * 8);
    if (LE) new Uint8Array(num.buffer, 0, n * k * 8).set(buf.subarray(from, at));
    else for (let i = 0; i < n * k; i++) num[i] = buf.readDoubleLE(from + i * 8);
    const hexes = header.hexes?.[which] ?? countHex(flag, n);
    const hexText = hexes > 0 ? buf.toString('latin1', take(hexes * 64), at) : '';
    let hx = 0;
    const hash = new Array<string | null>(room).fill(null);
    const target = new Map<number, string>();
    let size = 0, max0 = -Infinity;
    // The usual rows first, on one comparison each (this loop runs mostly before it is optimized).
    for (let i = 0; i < n; i++) {
      const f = flag[i]!;
      if (which === 2 && !((baseFlag[i]! | cacheFlag[i]! | f) & PRESENT)) throw new Error(`its path ${paths[i]} is in no map`);
      if (f === (PRESENT | H_HEX)) {
        hash[i] = hexText.slice(hx, (hx += 64));
      } else if (f === (PRESENT | H_BASE) && which !== 0) {
        const h = baseHash[i]!;
        if (h === null) throw new Error(`a row of ${paths[i]} refers to the hash of a missing base`);
        hash[i] = h;
      } else {
        if (!(f & PRESENT)) { flag[i] = 0; continue; }
        let h: string | null = null;
        if (f & H_NULL) {
          if (which === 1) throw new Error(`the stat-cache row of ${paths[i]} has no hash`);
        } else if (f & H_BASE) {
          h = which === 0 ? null : baseHash[i]!;
          if (h === null) throw new Error(`a row of ${paths[i]} refers to the hash of a missing base`);
        } else {
          h = f & H_HEX ? hexText.slice(hx, (hx += 64)) : nextString();
          if (which !== 0 && h === baseHash[i]) h = baseHash[i];
        }
        hash[i] = h;
        if (f & TARGET) target.set(i, nextString());
      }
      flag[i] = f & ROW_BITS;
      size++;
      if (which === 2) {
        const d = num[i * k + 5]!;
        if (!(d >= 0 && d < nDevices && Number.isInteger(d))) throw new Error(`the server-mirror row of ${paths[i]} names an unknown device`);
        if (num[i * k]! > max0) max0 = num[i * k]!;
      }
    }
    if (hx !== hexText.length) throw new Error('its hash column does not match its rows');
    align();
    if (which === 0) { baseFlag = flag; baseHash = hash; } else if (which === 1) cacheFlag = flag;
    // The mirror's largest rev (maxRemoteRev, asked once per run) found on the way, not by another pass.
    m.adopt(flag, num, hash, target, size, which === 2 ? max0 : undefined);
  };
  load(base, 0);
  load(statCache, 1);
  load(remote, 2);
  if (at !== end) throw new Error('it has bytes after its last column');
  if (str !== strings.length) throw new Error('it has more strings than its rows need');
  const conflicts = new TrackedMap<string, ConflictRecord>();
  for (const c of header.conflicts) {
    const rec = parseConflict(c);
    conflicts.load(rec.path, rec);
  }
  return { state: { cursor: header.cursor, lastSyncAt: header.lastSyncAt, base, statCache, remote, conflicts }, header };
}
