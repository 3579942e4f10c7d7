// The snapshot file, format 3: binary and by column, so that loading it is a few copies of whole
// columns plus one string per path and per hash (format 2, JSON, took a 40 MB JSON.parse and
// ~180 MB of garbage at 100,000 files; an object per row took more time than the parse).
//
//   "DMANST3\n"             magic (format-2 files start with "{")
//   u32 n, n bytes          header, JSON: { format: 3, serverUrl, user, cursor, lastSyncAt, gen, rows, devices, conflicts, strings, paths? }
//   then sections, each starting at a multiple of 8 bytes (zero padding):
//   paths                   every path once, UTF-8, each followed by a NUL byte (rows of them; a path holds no NUL);
//                           a path with an unpaired surrogate (which UTF-8 cannot hold) is exact in the header's
//                           `paths` instead, as [row, path]
//   for base, stat cache and server mirror in turn:
//     flags                 u8 per row: PackedMap's bits (1 present, 2 symlink, 4 deleted, 8 target) plus how the hash is
//                           kept: 16 null, 32 the base row's hash, 64 in `hashes` (64 lowercase hex digits), none
//                           of these: the next of `strings` in the header
//     numbers               f64 per row and field, rows × k (base: rev, size, mode; stat cache: size, mtimeMs, ctimeMs,
//                           ino, mode, at; server mirror: rev, size, mode, mtime, updatedAt, device as an index into
//                           `devices`); zero for an absent row
//     hashes                64 bytes (ASCII hex) per hash flagged 64, in row order: a Latin-1 copy per hash is several
//                           times cheaper than hex-encoding 32 binary bytes
//   32 bytes                SHA-256 of everything before it: a damaged file is set aside, never trusted
// Symlink targets are the next of `strings` too (after the row's hash, if that is a string).
// Numbers are little-endian.
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { z } from 'zod';
import type { Entry } from '../../shared/protocol.js';
import type { ConflictRecord } from '../Engine.js';
import type { BaseRecord } from '../plan/planSync.js';
import type { StatCacheEntry } from '../scan/scan.js';
import { DELETED, packedMaps, PRESENT, SYMLINK, TARGET, type PackedMap } from './PackedMap.js';
import type { UserState } from './StateStore.js';
import { TrackedMap } from './TrackedMap.js';

export const MAGIC = Buffer.from('DMANST3\n', 'latin1');
export const FORMAT = 3;
const H_NULL = 16, H_BASE = 32, H_HEX = 64;
const HEX64 = /^[0-9a-f]{64}$/;
const LE = endianness() === 'LE';

/** What the snapshot says besides the columns. */
export const headerSchema = z.object({
  format: z.literal(FORMAT),
  serverUrl: z.string(),
  user: z.string(),
  cursor: z.number().int().nonnegative(),
  lastSyncAt: z.number().nullable(),
  gen: z.number().int().nonnegative(),
  rows: z.number().int().nonnegative(),
  devices: z.array(z.string()),
  conflicts: z.array(z.unknown()),
  /** Hashes that are not 64 lowercase hex digits, and symlink targets, in the order the rows need them. */
  strings: z.array(z.string()),
  /** [row, path] for the paths UTF-8 cannot hold (an unpaired surrogate): the path list has them as U+FFFD. */
  paths: z.array(z.tuple([z.number().int().nonnegative(), z.string()])).optional(),
});

/** False for a string with an unpaired surrogate (ES2024's String.prototype.isWellFormed; Node 20 has it). */
const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** One map's rows in the file's shape. */
interface Part { flag: Uint8Array; num: Float64Array; hex: string[] }

/** The bytes of a Float64Array, little-endian. */
function f64Bytes(a: Float64Array): Buffer {
  if (LE) return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const out = Buffer.alloc(a.byteLength);
  for (let i = 0; i < a.length; i++) out.writeDoubleLE(a[i]!, i * 8);
  return out;
}

export function encodeSnapshot(s: UserState, serverUrl: string, user: string, gen: number): Buffer {
  // Row order: the base's paths, then the stat cache's and the mirror's others.
  const paths: string[] = [...s.base.keys()];
  for (const p of s.statCache.keys()) if (!s.base.has(p)) paths.push(p);
  for (const p of s.remote.keys()) if (!s.base.has(p) && !s.statCache.has(p)) paths.push(p);
  const n = paths.length;
  // The protocol and the file system allow no NUL in a path; one here would shift every later row.
  // UTF-8 has no bytes for an unpaired surrogate (the protocol allows one in a path): such a path is
  // also written exactly in the header, whose JSON escapes it.
  const odd: Array<[number, string]> = [];
  for (let i = 0; i < n; i++) {
    const p = paths[i]!;
    if (p.includes('\0')) throw new Error(`cannot store the path ${JSON.stringify(p)} in the sync state: it contains a NUL byte`);
    if (!wellFormed(p)) odd.push([i, p]);
  }
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
  const header = Buffer.from(JSON.stringify({ format: FORMAT, serverUrl, user, cursor: s.cursor, lastSyncAt: s.lastSyncAt, gen, rows: n, devices, conflicts: [...s.conflicts.values()], strings, ...(odd.length > 0 ? { paths: odd } : {}) }));
  const chunks: Buffer[] = [];
  let size = 0;
  const add = (b: Buffer): void => { chunks.push(b); size += b.length; };
  const align = (): void => { if (size % 8) add(Buffer.alloc(8 - (size % 8))); };
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  add(MAGIC); add(len); add(header); align();
  add(Buffer.from(paths.length > 0 ? `${paths.join('\0')}\0` : '', 'utf8')); align();
  for (const p of parts) {
    add(Buffer.from(p.flag.buffer, p.flag.byteOffset, p.flag.byteLength)); align();
    add(f64Bytes(p.num));
    if (p.hex.length > 0) add(Buffer.from(p.hex.join(''), 'latin1'));
    align();
  }
  // One copy of the whole file (about 220 bytes a path), the checksum taken chunk by chunk.
  const sum = createHash('sha256');
  for (const c of chunks) sum.update(c);
  chunks.push(sum.digest());
  return Buffer.concat(chunks, size + 32);
}

/** Reads a format-3 snapshot (the journal is replayed after); throws on any damage, and says so for a newer dman's snapshot. */
export function decodeSnapshot(buf: Buffer, parseConflict: (c: unknown) => ConflictRecord): { state: UserState; header: z.infer<typeof headerSchema> } {
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

function decodeFormat3(buf: Buffer, parseConflict: (c: unknown) => ConflictRecord): { state: UserState; header: z.infer<typeof headerSchema> } {
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
  const header = headerSchema.parse(JSON.parse(buf.toString('utf8', take(hlen), at)));
  const n = header.rows;
  align();
  const { base, statCache, remote, table } = packedMaps();
  // Paths: up to the n-th NUL.
  const pathsFrom = at;
  let nul = at - 1;
  for (let i = 0; i < n; i++) {
    nul = buf.indexOf(0, nul + 1);
    if (nul === -1 || nul >= end) throw new Error('it ends early');
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
  const devices = header.devices.map((d) => table.device(d));
  let str = 0;
  const nextString = (): string => {
    const v = header.strings[str++];
    if (v === undefined) throw new Error('it has fewer strings than its rows need');
    return v;
  };
  let baseHash: Array<string | null> = [];
  const load = <V>(m: PackedMap<V>, isBase: boolean): void => {
    const k = m.stride;
    const flag = new Uint8Array(room);
    flag.set(buf.subarray(take(n), at));
    align();
    const num = new Float64Array(room * k);
    const from = take(n * k * 8);
    if (LE) new Uint8Array(num.buffer, 0, n * k * 8).set(buf.subarray(from, at));
    else for (let i = 0; i < n * k; i++) num[i] = buf.readDoubleLE(from + i * 8);
    const hash = new Array<string | null>(room).fill(null);
    const target = new Map<number, string>();
    for (let i = 0; i < n; i++) {
      const f = flag[i]!;
      if (!(f & PRESENT)) continue;
      if (f & H_NULL) hash[i] = null;
      else if (f & H_BASE) {
        const h = isBase ? null : baseHash[i];
        if (h === null || h === undefined) throw new Error(`a row of ${paths[i]} refers to the hash of a missing base`);
        hash[i] = h;
      } else if (f & H_HEX) hash[i] = buf.toString('latin1', take(64), at);
      else hash[i] = nextString();
      if (f & TARGET) target.set(i, nextString());
      if (!isBase && !(f & (H_NULL | H_BASE)) && hash[i] === baseHash[i]) hash[i] = baseHash[i]!;
    }
    align();
    if (m === (remote as PackedMap<unknown>)) {
      for (let i = 0; i < n; i++) {
        if (!(flag[i]! & PRESENT)) continue;
        const d = devices[num[i * k + 5]!];
        if (d === undefined) throw new Error(`the server-mirror row of ${paths[i]} names an unknown device`);
        num[i * k + 5] = d;
      }
    }
    if (m === (statCache as PackedMap<unknown>)) for (let i = 0; i < n; i++) if (flag[i]! & PRESENT && hash[i] === null) throw new Error(`the stat-cache row of ${paths[i]} has no hash`);
    if (isBase) baseHash = hash;
    m.adopt(flag, num, hash, target);
  };
  load(base, true);
  load(statCache, false);
  load(remote, false);
  if (at !== end) throw new Error('it has bytes after its last column');
  if (str !== header.strings.length) throw new Error('it has more strings than its rows need');
  for (let i = 0; i < n; i++) if (!base.hasId(i) && !statCache.hasId(i) && !remote.hasId(i)) throw new Error(`its path ${paths[i]} is in no map`);
  const conflicts = new TrackedMap<string, ConflictRecord>();
  for (const c of header.conflicts) {
    const rec = parseConflict(c);
    conflicts.load(rec.path, rec);
  }
  return { state: { cursor: header.cursor, lastSyncAt: header.lastSyncAt, base, statCache, remote, conflicts }, header };
}
