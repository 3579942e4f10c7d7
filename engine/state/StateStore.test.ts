import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import { createFileStateStore, createMemoryStateStore, emptyUserState, serverDirName, type UserState } from './StateStore.js';

const URL = 'http://127.0.0.1:3626';
let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dman-state-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

function sample(n: number): UserState {
  const s = emptyUserState();
  s.cursor = n;
  s.lastSyncAt = 123;
  for (let i = 0; i < n; i++) {
    const path = `dir${i % 100}/file${i}`;
    const hash = (i % 16).toString(16).repeat(64);
    s.base.set(path, { rev: i + 1, kind: 'file', hash, size: i, mode: 0o644, deleted: false });
    s.statCache.set(path, { size: i, mtimeMs: 1000 + i, ctimeMs: 1000 + i, ino: i, mode: 0o100644, hash, at: 5000 });
    const e: Entry = { path, kind: 'file', hash, size: i, mode: 0o644, mtime: 1, rev: i + 1, deleted: false, device: 'd', updatedAt: 2 };
    s.remote.set(path, e);
  }
  s.base.set('link', { rev: n + 1, kind: 'symlink', hash: 'a'.repeat(64), size: 3, mode: 0, deleted: false, target: 'abc' });
  s.conflicts.set('c', { user: 'alice', path: 'c', since: 1, reason: 'both changed', local: { kind: 'file', hash: 'b'.repeat(64), size: 1, mode: 0o644 }, remote: null, baseRev: 3 });
  return s;
}

describe('file state store', () => {
  it('round-trips a state outside the tracked tree, per server and user', async () => {
    const store = createFileStateStore({ stateDir: dir });
    expect(await store.load(URL, 'alice')).toEqual(emptyUserState());
    const s = sample(50);
    await store.save(URL, 'alice', s);
    expect(await store.load(URL, 'alice')).toEqual(s);
    expect(await store.load(URL, 'bob')).toEqual(emptyUserState());
    expect(await store.load('http://other:1', 'alice')).toEqual(emptyUserState());
    expect(await readdir(join(dir, serverDirName(URL)))).toEqual(['alice.json']);
  });

  it('round-trips 100,000 entries', async () => {
    // How fast a large state loads is the bench's question (the peers bench's 100,000-file no-op), not a test's.
    const store = createFileStateStore({ stateDir: dir, noSync: true });
    const s = sample(100_000);
    await store.save(URL, 'alice', s);
    const back = await store.load(URL, 'alice');
    expect(back.base.size).toBe(100_001);
    expect(back).toEqual(s);
  });

  it('round-trips a state large enough that its buffers are let go of after the write and the decode', async () => {
    // Over 4 MB of snapshot (LARGE_STATE_BYTES): the store frees the encoded and the read bytes
    // itself (util/releaseBuffer.ts), so nothing may read them after.
    const store = createFileStateStore({ stateDir: dir, noSync: true });
    const s = sample(30_000);
    await store.save(URL, 'alice', s);
    const file = join(dir, serverDirName(URL), 'alice.json');
    expect((await readFile(file)).length).toBeGreaterThan(4 << 20);
    const back = await store.load(URL, 'alice');
    expect(picture(back)).toEqual(picture(s));
    // A second store reads what the first wrote after its load (the size it noted, the same rows).
    back.lastSyncAt = 456;
    await store.save(URL, 'alice', back);
    expect(picture(await createFileStateStore({ stateDir: dir, noSync: true }).load(URL, 'alice'))).toEqual(picture(back));
  });

  it('sets a damaged state aside and starts fresh, with a warning', async () => {
    const warnings: string[] = [];
    const store = createFileStateStore({ stateDir: dir, onWarning: (m) => warnings.push(m) });
    await mkdir(join(dir, serverDirName(URL)), { recursive: true });
    await writeFile(join(dir, serverDirName(URL), 'alice.json'), '{"format":1, "cursor": tru');
    expect(await store.load(URL, 'alice')).toEqual(emptyUserState());
    expect(warnings[0]).toMatch(/unreadable.*moved it to/);
    const names = await readdir(join(dir, serverDirName(URL)));
    expect(names.some((n) => n.startsWith('alice.json.corrupt-'))).toBe(true);
  });

  it('sets aside a snapshot whose header or row lists are malformed, naming what is wrong', async () => {
    const good = { format: 2, serverUrl: URL, user: 'alice', cursor: 1, lastSyncAt: null, gen: 0, base: [], cache: [], remote: [], conflicts: [] };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...good, base: [1] }, /"base" row 0 is not a list/],
      [{ ...good, cache: {} }, /"cache" is not a list/],
      [{ ...good, cursor: -1 }, /unreadable/],
      [{ ...good, format: 1 }, /unreadable/],
      [{ ...good, remote: [['x']] }, /server-mirror row is malformed/],
    ];
    for (const [doc, why] of cases) {
      const warnings: string[] = [];
      const store = createFileStateStore({ stateDir: dir, onWarning: (m) => warnings.push(m) });
      await mkdir(join(dir, serverDirName(URL)), { recursive: true });
      await writeFile(join(dir, serverDirName(URL), 'alice.json'), JSON.stringify(doc));
      expect(await store.load(URL, 'alice')).toEqual(emptyUserState());
      expect(warnings[0]).toMatch(why);
    }
  });

  it('the memory store round-trips too', async () => {
    const store = createMemoryStateStore();
    const s = sample(3);
    await store.save(URL, 'alice', s);
    expect(await store.load(URL, 'alice')).toEqual(s);
  });
});

describe('snapshot formats', () => {
  const file = (): string => join(dir, serverDirName(URL), 'alice.json');
  const h = (c: string): string => c.repeat(64);

  it('loads a format-2 (JSON) snapshot and its journal as written before format 3, and saves format 3 after', async () => {
    const doc = {
      format: 2, serverUrl: URL, user: 'alice', cursor: 7, lastSyncAt: 99, gen: 5,
      base: [['a', 3, 'file', h('a'), 10, 0o644, false, null], ['l', 4, 'symlink', h('b'), 3, 0, false, 'abc'], ['gone', 5, 'file', null, 0, 0, true, null]],
      cache: [['a', 10, 1000.5, 1001.25, 77, 0o100644, '=', 2000, null], ['l', 3, 1, 2, 78, 0o120777, '=', 2000, 'abc']],
      remote: [['a', 'file', '=', 10, 0o644, 1000, 3, false, 'dev1', 3000, null], ['gone', 'file', null, 0, 0, 0, 5, true, 'dev2', 3001, null], ['r', 'file', h('c'), 1, 0o600, 5, 6, false, 'dev1', 3002, null]],
      conflicts: [{ user: 'alice', path: 'a', since: 1, reason: 'both changed', local: null, remote: null, baseRev: 3 }],
    };
    await mkdir(join(dir, serverDirName(URL)), { recursive: true });
    await writeFile(file(), JSON.stringify(doc));
    // One journal line of that generation (the format the journal still has): edits a, deletes r from the mirror.
    const body = JSON.stringify({ g: 5, c: 8, l: 100, b: [['a', 9, 'file', h('d'), 11, 0o644, false, null]], k: [], r: [['r']] });
    await writeFile(file().replace(/\.json$/, '.journal'), `${createHash('sha256').update(body).digest('hex').slice(0, 16)} ${body}\n`);
    const store = createFileStateStore({ stateDir: dir });
    const s = await store.load(URL, 'alice');
    expect(s.cursor).toBe(8);
    expect(s.lastSyncAt).toBe(100);
    expect(s.base.get('a')).toEqual({ rev: 9, kind: 'file', hash: h('d'), size: 11, mode: 0o644, deleted: false });
    expect(s.base.get('l')).toEqual({ rev: 4, kind: 'symlink', hash: h('b'), size: 3, mode: 0, deleted: false, target: 'abc' });
    expect(s.base.get('gone')).toEqual({ rev: 5, kind: 'file', hash: null, size: 0, mode: 0, deleted: true });
    expect(s.statCache.get('a')).toEqual({ size: 10, mtimeMs: 1000.5, ctimeMs: 1001.25, ino: 77, mode: 0o100644, hash: h('a'), at: 2000 });
    expect(s.statCache.get('l')).toEqual({ size: 3, mtimeMs: 1, ctimeMs: 2, ino: 78, mode: 0o120777, hash: h('b'), at: 2000, target: 'abc' });
    expect(s.remote.get('a')).toEqual({ path: 'a', kind: 'file', hash: h('a'), size: 10, mode: 0o644, mtime: 1000, rev: 3, deleted: false, device: 'dev1', updatedAt: 3000 });
    expect(s.remote.get('gone')).toEqual({ path: 'gone', kind: 'file', hash: null, size: 0, mode: 0, mtime: 0, rev: 5, deleted: true, device: 'dev2', updatedAt: 3001 });
    expect(s.remote.has('r')).toBe(false);
    expect([...s.conflicts.keys()]).toEqual(['a']);
    // The next save (or close) rewrites it as format 3, which loads back the same.
    expect(store.compactDue?.(URL, 'alice', s)).toBe(true);
    await store.save(URL, 'alice', Object.assign(s, { cursor: 9 }));
    await expect(readFile(file().replace(/\.json$/, '.journal'))).resolves.toHaveLength(0);
    expect((await readFile(file())).subarray(0, 8).toString('latin1')).toBe('DMANST3\n');
    expect(picture(await createFileStateStore({ stateDir: dir }).load(URL, 'alice'))).toEqual(picture(s));
  });

  it('sets aside a format-3 snapshot with a damaged byte or cut short (its checksum), with a warning', async () => {
    const store = createFileStateStore({ stateDir: dir, noSync: true });
    await store.save(URL, 'alice', sample(20));
    const good = await readFile(file());
    for (const bad of [Buffer.concat([good.subarray(0, 100), Buffer.from([good[100]! ^ 1]), good.subarray(101)]), good.subarray(0, good.length - 5), good.subarray(0, 6)]) {
      const warnings: string[] = [];
      await writeFile(file(), bad);
      expect(await createFileStateStore({ stateDir: dir, onWarning: (m) => warnings.push(m) }).load(URL, 'alice')).toEqual(emptyUserState());
      expect(warnings[0]).toMatch(/unreadable \((its checksum does not match|it is not a dman state file).*moved it to/);
    }
  });

  it('says a snapshot of a newer format was written by a newer dman, and sets it aside rather than misreading it', async () => {
    const store = createFileStateStore({ stateDir: dir, noSync: true });
    await store.save(URL, 'alice', sample(3));
    const good = await readFile(file());
    const seal = (b: Buffer): Buffer => { const body = b.subarray(0, b.length - 32); return Buffer.concat([body, createHash('sha256').update(body).digest()]); };
    const magic4 = Buffer.from(good); magic4[6] = 0x34; // "DMANST4\n"
    const header4 = Buffer.from(good.toString('latin1').replace('"format":3', '"format":4'), 'latin1');
    for (const bad of [seal(magic4), magic4, seal(header4), header4]) {
      const warnings: string[] = [];
      await writeFile(file(), bad);
      expect(await createFileStateStore({ stateDir: dir, onWarning: (m) => warnings.push(m) }).load(URL, 'alice')).toEqual(emptyUserState());
      expect(warnings[0]).toMatch(/unreadable \(it was written by a newer dman \(state format 4; this one reads formats 2 and 3\)\).*moved it to/);
    }
  });

  it('refuses to store a path with a NUL byte (which no valid path has), naming it, and keeps the snapshot it had', async () => {
    const store = createFileStateStore({ stateDir: dir, noSync: true });
    await store.save(URL, 'alice', sample(3));
    const s = sample(3);
    s.base.set('a\0b', { rev: 1, kind: 'file', hash: h('a'), size: 1, mode: 0o644, deleted: false });
    s.base.clear(); // a full snapshot, not a journal line
    s.base.set('a\0b', { rev: 1, kind: 'file', hash: h('a'), size: 1, mode: 0o644, deleted: false });
    await expect(store.save(URL, 'alice', s)).rejects.toThrow(/"a\\u0000b".*NUL byte/);
    expect(picture(await createFileStateStore({ stateDir: dir }).load(URL, 'alice'))).toEqual(picture(sample(3)));
  });

  it('keeps odd values exactly: non-hex hashes, paths with newlines and non-ASCII, fractional times, symlink targets everywhere', async () => {
    const s = emptyUserState();
    const p = 'dir/ünïcode\nline ✓';
    s.base.set(p, { rev: 1, kind: 'symlink', hash: 'not-hex', size: 2, mode: 0, deleted: false, target: 'tä' });
    s.statCache.set(p, { size: 2, mtimeMs: 1.000001, ctimeMs: 2 ** 53, ino: 2 ** 40 + 3, mode: 0o120777, hash: 'not-hex', at: 3.5, target: 'tä' });
    s.remote.set(p, { path: p, kind: 'symlink', hash: 'other', size: 2, mode: 0, mtime: -1, rev: 1, deleted: false, device: 'dév', updatedAt: 4, target: 'tä' });
    s.statCache.set('only-cache', { size: 0, mtimeMs: 0, ctimeMs: 0, ino: 0, mode: 0, hash: h('e'), at: 0 });
    s.remote.set('only-remote', { path: 'only-remote', kind: 'file', hash: h('E'), size: 0, mode: 0, mtime: 0, rev: 2, deleted: false, device: 'x', updatedAt: 0 });
    const store = createFileStateStore({ stateDir: dir, noSync: true });
    await store.save(URL, 'alice', s);
    expect(picture(await createFileStateStore({ stateDir: dir }).load(URL, 'alice'))).toEqual(picture(s));
  });

  it('keeps paths with unpaired surrogates exactly (the protocol allows them; UTF-8 would turn each into U+FFFD, two of them into one path)', async () => {
    const s = emptyUserState();
    const paths = ['a\ud800', 'a\udc00', 'a\ufffd', 'emoji/😀𝄞', 'b\udbff\udfff\ud83d'];
    for (const [i, p] of paths.entries()) {
      s.base.set(p, { rev: i + 1, kind: 'file', hash: h(String(i)), size: i, mode: 0o644, deleted: false });
      s.remote.set(p, { path: p, kind: 'file', hash: h(String(i)), size: i, mode: 0o644, mtime: 0, rev: i + 1, deleted: false, device: 'x', updatedAt: 0 });
    }
    s.statCache.set('c\udfff', { size: 0, mtimeMs: 0, ctimeMs: 0, ino: 0, mode: 0, hash: h('e'), at: 0 });
    const store = createFileStateStore({ stateDir: dir, noSync: true, onWarning: (m) => { throw new Error(m); } });
    await store.save(URL, 'alice', s);
    const back = await createFileStateStore({ stateDir: dir, onWarning: (m) => { throw new Error(m); } }).load(URL, 'alice');
    expect(picture(back)).toEqual(picture(s));
    expect(back.remote.get('a\ud800')?.path).toBe('a\ud800');
  });
});

/** A plain, comparable picture of a state. */
function picture(s: UserState): unknown {
  const sorted = <V>(m: Map<string, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  return { cursor: s.cursor, lastSyncAt: s.lastSyncAt, base: sorted(s.base), cache: sorted(s.statCache), remote: sorted(s.remote), conflicts: sorted(s.conflicts) };
}
