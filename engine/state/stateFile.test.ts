// The snapshot file's fast ways (written straight from the engine's columns, loaded with the
// header's layout counts) give exactly what the general ways give, older format-3 files still
// load, and a damaged or inconsistent file is still refused, naming what is wrong.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import type { ConflictRecord } from '../Engine.js';
import { createFileStateStore, emptyUserState, serverDirName, type UserState } from './StateStore.js';
import { decodeSnapshot, encodeSnapshot, snapshotPieces } from './stateFile.js';
import { TrackedMap } from './TrackedMap.js';

const URL = 'http://127.0.0.1:3626';
const h = (c: string): string => c.repeat(64);
let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dman-statefile-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });
const file = (): string => join(dir, serverDirName(URL), 'alice.json');
const parseConflict = (c: unknown): ConflictRecord => c as ConflictRecord;

/** A state with every kind of row: shared and own hashes, null hashes, symlinks, tombstones, rows in one map only, several devices. */
function sample(n: number): UserState {
  const s = emptyUserState();
  s.cursor = n + 5;
  s.lastSyncAt = 77;
  for (let i = 0; i < n; i++) {
    const p = `d${i % 7}/f${i}${i % 11 === 0 ? ' ✓' : ''}`;
    const hash = createHash('sha256').update(String(i)).digest('hex');
    const link = i % 13 === 0;
    const deleted = i % 17 === 0;
    s.base.set(p, { rev: i + 1, kind: link ? 'symlink' : 'file', hash: deleted ? null : hash, size: i, mode: 0o644, deleted, ...(link ? { target: `t${i}` } : {}) });
    if (!deleted) s.statCache.set(p, { size: i, mtimeMs: 1000.5 + i, ctimeMs: 2000 + i, ino: i, mode: 0o100644, hash: i % 5 === 0 ? h('c') : hash, at: 3000, ...(link ? { target: `t${i}` } : {}) });
    const e: Entry = { path: p, kind: link ? 'symlink' : 'file', hash: deleted ? null : i % 3 === 0 ? h('d') : hash, size: i, mode: 0o644, mtime: i, rev: i + 1, deleted, device: `dev${i % 3}`, updatedAt: 9, ...(link ? { target: `t${i}` } : {}) };
    s.remote.set(p, e);
  }
  s.statCache.set('only-cache', { size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1, mode: 0o100600, hash: 'not-hex', at: 1 });
  s.remote.set('only-remote', { path: 'only-remote', kind: 'file', hash: h('E'), size: 0, mode: 0, mtime: 0, rev: 2, deleted: false, device: 'other', updatedAt: 0 });
  s.conflicts.set('c', { user: 'alice', path: 'c', since: 1, reason: 'both changed', local: null, remote: null, baseRev: 3 });
  return s;
}

/** The same state in plain Maps (the general writer's way). */
function plain(s: UserState): UserState {
  return { cursor: s.cursor, lastSyncAt: s.lastSyncAt, base: new Map(s.base), statCache: new Map(s.statCache), remote: new Map(s.remote), conflicts: new TrackedMap(s.conflicts) };
}

/** A plain, comparable picture of a state. */
function picture(s: UserState): unknown {
  const sorted = <V>(m: Map<string, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  return { cursor: s.cursor, lastSyncAt: s.lastSyncAt, base: sorted(s.base), cache: sorted(s.statCache), remote: sorted(s.remote), conflicts: sorted(s.conflicts) };
}

const up = (x: number): number => (x + 7) & ~7;
interface Layout { header: Record<string, unknown>; hlen: number; paths: number; flags: number[]; hexes: number[] }
/** Where a snapshot's sections start. */
function layout(buf: Buffer): Layout {
  const hlen = buf.readUInt32LE(8);
  const header = JSON.parse(buf.toString('utf8', 12, 12 + hlen)) as Record<string, unknown>;
  const n = header.rows as number, counts = header.hexes as number[];
  const paths = up(12 + hlen);
  let at = up(paths + (header.pathBytes as number));
  const flags: number[] = [], hexes: number[] = [];
  for (const [m, k] of [3, 6, 6].entries()) {
    flags.push(at);
    at = up(at + n);
    hexes.push(at + n * k * 8);
    at = up(at + n * k * 8 + counts[m]! * 64);
  }
  return { header, hlen, paths, flags, hexes };
}
/** The snapshot with its header edited (padded with spaces, grown by whole 8 bytes so the sections stay aligned) and/or its bytes edited, checksum made good again. */
function reseal(buf: Buffer, edit: (hd: Record<string, unknown>) => void, bytes?: (b: Buffer, l: Layout) => void): Buffer {
  const l = layout(buf);
  edit(l.header);
  const text = JSON.stringify(l.header);
  const hlen = l.hlen + up(Math.max(0, Buffer.byteLength(text) - l.hlen));
  const head = Buffer.alloc(12 + hlen);
  buf.copy(head, 0, 0, 8);
  head.writeUInt32LE(hlen, 8);
  head.write(text.padEnd(hlen, ' '), 12, 'utf8');
  const out = Buffer.concat([head, buf.subarray(12 + l.hlen)]);
  bytes?.(out, l);
  createHash('sha256').update(out.subarray(0, out.length - 32)).digest().copy(out, out.length - 32);
  return out;
}

describe('state snapshot: fast ways', () => {
  it('writes the same rows from the engine\'s columns as from plain Maps, with the layout counts, and loads them back exactly', () => {
    const s = sample(300);
    const fast = encodeSnapshot(s, URL, 'alice', 4);
    const general = encodeSnapshot(plain(s), URL, 'alice', 4);
    for (const buf of [fast, general]) {
      const { state, header } = decodeSnapshot(buf, parseConflict);
      expect(picture(state)).toEqual(picture(s));
      expect(header.pathBytes).toBe(layout(buf).header.pathBytes);
      expect(header.hexes).toHaveLength(3);
    }
    // The hashes a load sliced from the hex column are the hashes written, row by row, in every map.
    const back = decodeSnapshot(fast, parseConflict).state;
    for (const [p, b] of s.base) expect(back.base.get(p)?.hash).toBe(b.hash);
    for (const [p, c] of s.statCache) expect(back.statCache.get(p)?.hash).toBe(c.hash);
    for (const [p, e] of s.remote) expect(back.remote.get(p)?.hash).toBe(e.hash);
  });

  it('lays a large state out in pieces (a save never holds the whole file in one buffer) that read back exactly, an unpaired surrogate in a later piece too', () => {
    const s = sample(20_000);
    s.base.set('odd\uD800path', { rev: 1, kind: 'file', hash: h('a'), size: 1, mode: 0o644, deleted: false }); // the last row, past the first piece
    const { size, pieces } = snapshotPieces(s, URL, 'alice', 4);
    const all = [...pieces];
    const buf = Buffer.concat(all);
    expect(buf.length).toBe(size);
    expect(all.length).toBeGreaterThan(10);
    // The largest pieces are the number columns (views, not copies); the path list and the hex columns go in pieces of 8,192 rows.
    expect(Math.max(...all.map((p) => p.length))).toBeLessThan(size / 4);
    const { state, header } = decodeSnapshot(buf, parseConflict);
    expect(picture(state)).toEqual(picture(s));
    // Written exactly in the header, at its row in the file (past the first piece of 8,192 paths).
    expect(header.paths).toHaveLength(1);
    expect(header.paths![0]![1]).toBe('odd\uD800path');
    expect(header.paths![0]![0]).toBeGreaterThan(8192);
  });

  it('knows the mirror\'s largest rev from the load, and again after the rows change', () => {
    const s = sample(300);
    s.remote.set('newest', { path: 'newest', kind: 'file', hash: h('a'), size: 1, mode: 0o644, mtime: 1, rev: 9000, deleted: true, device: 'dev1', updatedAt: 1 });
    const back = decodeSnapshot(encodeSnapshot(s, URL, 'alice', 4), parseConflict).state;
    const remote = back.remote as unknown as { maxOf(j: number): number };
    const maxRev = (): number => Math.max(-Infinity, ...[...back.remote.values()].map((e) => e.rev));
    expect(remote.maxOf(0)).toBe(9000);
    back.remote.delete('newest');
    expect(remote.maxOf(0)).toBe(maxRev());
    expect(remote.maxOf(0)).toBe(300);
    back.remote.set('later', { ...back.remote.get('d1/f1')!, path: 'later', rev: 12_345 });
    expect(remote.maxOf(0)).toBe(12_345);
    back.remote.clear();
    expect(remote.maxOf(0)).toBe(-Infinity);
  });

  it('writes dense rows after paths were dropped (dead ids), lists only the devices rows still use, and keeps odd hashes exactly', () => {
    const s = sample(200);
    for (const p of [...s.base.keys()].filter((_, i) => i % 4 === 1)) { s.base.delete(p); s.statCache.delete(p); s.remote.delete(p); }
    s.remote.delete('only-remote'); // the only row of device "other"
    s.base.set('upper', { rev: 1, kind: 'file', hash: h('F'), size: 1, mode: 0, deleted: false });
    s.base.set('wide', { rev: 1, kind: 'file', hash: '✓'.repeat(64), size: 1, mode: 0, deleted: false }); // 64 characters, not Latin-1: the general way
    const buf = encodeSnapshot(s, URL, 'alice', 1);
    const { state, header } = decodeSnapshot(buf, parseConflict);
    expect(picture(state)).toEqual(picture(s));
    expect(header.rows).toBe(new Set([...s.base.keys(), ...s.statCache.keys(), ...s.remote.keys()]).size);
    expect(header.devices).not.toContain('other');
    s.base.delete('wide');
    const fast = decodeSnapshot(encodeSnapshot(s, URL, 'alice', 1), parseConflict);
    expect(picture(fast.state)).toEqual(picture(s));
    expect(fast.header.devices).not.toContain('other');
  });

  it('loads a format-3 snapshot written before the layout counts, and rewrites it at the next close', async () => {
    const s = sample(50);
    const store = createFileStateStore({ stateDir: dir, noSync: true });
    await store.save(URL, 'alice', s);
    await writeFile(file(), reseal(await readFile(file()), (hd) => { delete hd.pathBytes; delete hd.hexes; }));
    const fresh = createFileStateStore({ stateDir: dir, noSync: true, onWarning: (m) => { throw new Error(m); } });
    const back = await fresh.load(URL, 'alice');
    expect(picture(back)).toEqual(picture(s));
    expect(fresh.compactDue?.(URL, 'alice', back)).toBe(true);
    await fresh.compact?.(URL, 'alice', back);
    expect(layout(await readFile(file())).header.pathBytes).toBeGreaterThan(0);
    const again = createFileStateStore({ stateDir: dir, noSync: true });
    const state = await again.load(URL, 'alice');
    expect(picture(state)).toEqual(picture(s));
    expect(again.compactDue?.(URL, 'alice', state)).toBe(false);
  });
});

describe('state snapshot: damage is still refused', () => {
  const good = (): Buffer => encodeSnapshot(sample(40), URL, 'alice', 1);
  const refuses = (buf: Buffer, why: RegExp): void => { expect(() => decodeSnapshot(buf, parseConflict)).toThrow(why); };

  it('a wrong path byte count, hash count or header field', () => {
    const pb = layout(good()).header.pathBytes as number;
    refuses(reseal(good(), (hd) => { hd.pathBytes = pb - 1; }), /path list is malformed/);
    refuses(reseal(good(), (hd) => { hd.pathBytes = pb - 8; }), /path list is malformed/);
    refuses(reseal(good(), (hd) => { hd.pathBytes = 0; }), /path list is malformed/);
    refuses(reseal(good(), (hd) => { hd.pathBytes = 99999999; }), /ends early/);
    refuses(reseal(good(), (hd) => { (hd.hexes as number[])[0]! -= 1; }), /hash column does not match|after its last column|ends early/);
    refuses(reseal(good(), (hd) => { hd.hexes = [1, 2]; }), /header field "hexes" is malformed/);
    refuses(reseal(good(), (hd) => { hd.cursor = -1; }), /header field "cursor" is malformed/);
    refuses(reseal(good(), (hd) => { hd.strings = [1]; }), /header field "strings" is malformed/);
    refuses(reseal(good(), (hd) => { hd.format = 2; }), /header field "format" is malformed/);
  });

  it('a row that refers to a missing base hash, a stat-cache row without a hash, an unknown or doubled device, a path twice, a path in no map', () => {
    const buf = good();
    const l = layout(buf);
    const n = l.header.rows as number;
    const paths = buf.toString('utf8', l.paths, l.paths + (l.header.pathBytes as number) - 1).split('\0');
    const row = (p: string): number => paths.indexOf(p);
    // d0/f7: a plain file in every map (its cache and mirror rows have the base's hash).
    const i = row('d0/f7'), gone = row('d3/f17'); // gone: deleted, no hash, no stat-cache row
    expect(i).toBeGreaterThanOrEqual(0);
    expect(gone).toBeGreaterThanOrEqual(0);
    refuses(reseal(buf, () => {}, (b) => { b[l.flags[2]! + gone] = 1 | 4 | 32; }), /row of d3\/f17 refers to the hash of a missing base/);
    refuses(reseal(buf, () => {}, (b) => { b[l.flags[1]! + i] = 1 | 16; }), /stat-cache row of d0\/f7 has no hash/);
    refuses(reseal(buf, () => {}, (b) => { b.writeDoubleLE(9, l.flags[2]! + up(n) + (i * 6 + 5) * 8); }), /row of d0\/f7 names an unknown device/);
    refuses(reseal(buf, () => {}, (b) => { b.writeDoubleLE(0.5, l.flags[2]! + up(n) + (i * 6 + 5) * 8); }), /names an unknown device/);
    refuses(reseal(buf, (hd) => { hd.devices = ['x', 'x']; }), /device list is malformed/);
    refuses(reseal(buf, () => {}, (b) => { b[l.flags[0]! + gone] = 0; b[l.flags[2]! + gone] = 0; }), /its path d3\/f17 is in no map/);
    // Two paths of the same length: the second becomes the first.
    const a = row('d0/f14'), c = row('d0/f21');
    let at = l.paths;
    for (let r = 0; r < c; r++) at = buf.indexOf(0, at) + 1;
    refuses(reseal(buf, () => {}, (b) => { b.write(paths[a]!, at, 'utf8'); }), /holds d0\/f14 twice/);
  });

  it('a damaged byte anywhere (the checksum), through the store: set aside, with a warning', async () => {
    await mkdir(join(dir, serverDirName(URL)), { recursive: true });
    const buf = good();
    for (const at of [20, layout(buf).paths + 3, layout(buf).hexes[0]! + 5, buf.length - 40]) {
      const bad = Buffer.from(buf);
      bad[at] ^= 0x20;
      await writeFile(file(), bad);
      const warnings: string[] = [];
      expect(await createFileStateStore({ stateDir: dir, onWarning: (m) => warnings.push(m) }).load(URL, 'alice')).toEqual(emptyUserState());
      expect(warnings[0]).toMatch(/checksum does not match.*moved it to/);
    }
  });
});

describe('state store stamp', () => {
  it('gives, right after a load, the token of the files that load read (a stat would give the same), then looks at the disk again', async () => {
    const writer = createFileStateStore({ stateDir: dir, noSync: true });
    const s = sample(10);
    await writer.save(URL, 'alice', s);
    await writer.save(URL, 'alice', Object.assign(s, { cursor: 99 })); // a journal line too
    const reader = createFileStateStore({ stateDir: dir, noSync: true });
    const state = await reader.load(URL, 'alice');
    const fromLoad = await reader.stamp!(URL, 'alice');
    expect(fromLoad).toBe(await createFileStateStore({ stateDir: dir }).stamp!(URL, 'alice'));
    const st = await stat(file());
    expect(fromLoad).toBeGreaterThanOrEqual(st.mtimeMs * 2);
    // Another process saves: the next call sees it (the load's token is given once only).
    await new Promise((r) => setTimeout(r, 20));
    await writer.save(URL, 'alice', Object.assign(state, { cursor: 100 }));
    expect(await reader.stamp!(URL, 'alice')).not.toBe(fromLoad);
    expect(await reader.stamp!(URL, 'alice')).toBe(await writer.stamp!(URL, 'alice'));
  });
});
