import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
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

  it('loads 100,000 entries quickly', async () => {
    const store = createFileStateStore({ stateDir: dir, noSync: true });
    await store.save(URL, 'alice', sample(100_000));
    const t0 = performance.now();
    const back = await store.load(URL, 'alice');
    const ms = performance.now() - t0;
    expect(back.base.size).toBe(100_001);
    expect(ms).toBeLessThan(6000); // about 1 s on a quiet machine; generous for a shared one
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
