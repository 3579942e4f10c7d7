// The file state store's journal: a save appends only the records that changed; a crash while
// appending (a journal cut at any byte) still loads a state some save produced; compaction folds
// the journal into the snapshot and a compaction cut short never replays stale lines.
import { copyFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import { createFileStateStore, serverDirName, type StateStore, type UserState } from './StateStore.js';

const URL = 'http://127.0.0.1:3626';
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'dman-journal-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** A plain, comparable picture of a state. */
function picture(s: UserState): unknown {
  const sorted = <V>(m: Map<string, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  return { cursor: s.cursor, lastSyncAt: s.lastSyncAt, base: sorted(s.base), cache: sorted(s.statCache), remote: sorted(s.remote), conflicts: sorted(s.conflicts) };
}

function put(s: UserState, path: string, v: number): void {
  const hash = (v % 16).toString(16).repeat(64);
  s.base.set(path, { rev: v, kind: 'file', hash, size: v, mode: 0o644, deleted: false });
  s.statCache.set(path, { size: v, mtimeMs: 1000 + v, ctimeMs: 1000 + v, ino: v, mode: 0o100644, hash, at: 5000 + v });
  const e: Entry = { path, kind: 'file', hash, size: v, mode: 0o644, mtime: 1, rev: v, deleted: false, device: 'd', updatedAt: 2 };
  s.remote.set(path, e);
  s.cursor = Math.max(s.cursor, v);
}

/** Makes a snapshot of 200 paths, then `saves` journal saves that edit, add and delete a few each; returns each save's picture. */
async function history(store: StateStore, user: string, saves: number): Promise<unknown[]> {
  const s = await store.load(URL, user);
  for (let i = 0; i < 200; i++) put(s, `d${i % 10}/f${i}`, i + 1);
  await store.save(URL, user, s);
  const pictures = [picture(s)];
  for (let k = 0; k < saves; k++) {
    put(s, `d${k % 10}/f${k}`, 1000 + k); // edit
    put(s, `new/${k}`, 2000 + k); // add
    s.base.delete(`d${(k + 5) % 10}/f${k + 5}`); // delete
    s.statCache.delete(`d${(k + 5) % 10}/f${k + 5}`);
    s.remote.delete(`d${(k + 5) % 10}/f${k + 5}`);
    if (k % 3 === 0) s.conflicts.set(`new/${k}`, { user, path: `new/${k}`, since: k, reason: 'both changed', local: null, remote: null, baseRev: k });
    if (k % 3 === 2) s.conflicts.delete(`new/${k - 2}`);
    s.lastSyncAt = 10_000 + k;
    await store.save(URL, user, s);
    pictures.push(picture(s));
  }
  return pictures;
}

describe('state journal', () => {
  it('appends the changed records only, and loads back the same state', async () => {
    const store = createFileStateStore({ stateDir: dir });
    const pictures = await history(store, 'append', 12);
    const file = join(dir, serverDirName(URL), 'append.json');
    const snapshot = await stat(file);
    const journal = await stat(file.replace(/\.json$/, '.journal'));
    expect(journal.size).toBeGreaterThan(0);
    // Twelve saves of a few records each: far less than one snapshot each.
    expect(journal.size).toBeLessThan(snapshot.size);
    const loaded = await createFileStateStore({ stateDir: dir }).load(URL, 'append');
    expect(picture(loaded)).toEqual(pictures.at(-1));
  });

  it('a journal cut at any byte (a crash mid-append) loads the state of the last whole save', async () => {
    const store = createFileStateStore({ stateDir: dir });
    const pictures = await history(store, 'torn', 8);
    const file = join(dir, serverDirName(URL), 'torn.json');
    const jfile = file.replace(/\.json$/, '.journal');
    const journal = await readFile(jfile);
    const ends: number[] = [];
    for (let i = journal.indexOf(0x0a); i !== -1; i = journal.indexOf(0x0a, i + 1)) ends.push(i + 1);
    expect(ends).toHaveLength(8);
    const pristine = `${jfile}.pristine`;
    await copyFile(jfile, pristine);
    const warnings: string[] = [];
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: journal.length }), async (cut) => {
      await copyFile(pristine, jfile);
      await truncate(jfile, cut);
      const loaded = await createFileStateStore({ stateDir: dir, onWarning: (m) => warnings.push(m) }).load(URL, 'torn');
      const whole = ends.filter((e) => e <= cut).length;
      expect(picture(loaded)).toEqual(pictures[whole]);
    }), { numRuns: 60, seed: 4 });
    // Always the cuts at a line boundary too (the property's integers may miss them).
    for (const cut of [0, ...ends]) {
      await copyFile(pristine, jfile);
      await truncate(jfile, cut);
      const loaded = await createFileStateStore({ stateDir: dir }).load(URL, 'torn');
      expect(picture(loaded)).toEqual(pictures[ends.filter((e) => e <= cut).length]);
    }
    expect(warnings.some((w) => /incomplete record/.test(w))).toBe(true);
  });

  it('a garbled line ends the replay there, and the next save writes a fresh snapshot', async () => {
    const store = createFileStateStore({ stateDir: dir });
    const pictures = await history(store, 'garbled', 4);
    const jfile = join(dir, serverDirName(URL), 'garbled.journal');
    const text = await readFile(jfile, 'utf8');
    const lines = text.split('\n');
    lines[2] = lines[2]!.replace(/"l":\d+/, '"l":1'); // the checksum no longer matches
    await import('node:fs/promises').then((f) => f.writeFile(jfile, lines.join('\n')));
    const again = createFileStateStore({ stateDir: dir, onWarning: () => {} });
    const s = await again.load(URL, 'garbled');
    expect(picture(s)).toEqual(pictures[2]);
    put(s, 'after', 77);
    await again.save(URL, 'garbled', s);
    expect((await stat(jfile)).size).toBe(0);
    expect(picture(await createFileStateStore({ stateDir: dir }).load(URL, 'garbled'))).toEqual(picture(s));
  });

  it('a line whose checksum holds but whose record is malformed ends the replay there too', async () => {
    const store = createFileStateStore({ stateDir: dir });
    const pictures = await history(store, 'shape', 3);
    const jfile = join(dir, serverDirName(URL), 'shape.journal');
    const good = await readFile(jfile, 'utf8');
    const sum = (body: string): string => createHash('sha256').update(body).digest('hex').slice(0, 16);
    const breakages: Array<(r: Record<string, unknown>) => unknown> = [
      (r) => ({ ...r, b: 'rows' }),
      (r) => ({ ...r, k: [...(r.k as unknown[]), 'not a row'] }),
      (r) => ({ ...r, r: undefined }),
      (r) => ({ ...r, c: -1 }),
      (r) => ({ ...r, g: (r.g as number) + 0.5 }),
      (r) => ({ ...r, l: 'yesterday' }),
      (r) => ({ ...r, l: Infinity }),
      (r) => ({ ...r, x: {} }),
      (r) => [r],
      () => null,
    ];
    for (const brk of breakages) {
      const lines = good.split('\n');
      const broken = brk(JSON.parse(lines[1]!.slice(17)) as Record<string, unknown>);
      // An infinite lastSyncAt can only come from the text 1e999 (JSON.parse reads it as Infinity).
      const body = JSON.stringify(broken, (k, v: unknown) => (k === 'l' && v === Infinity ? '__INF__' : v)).replace('"__INF__"', '1e999');
      lines[1] = `${sum(body)} ${body}`;
      await writeFile(jfile, lines.join('\n'));
      const warnings: string[] = [];
      const s = await createFileStateStore({ stateDir: dir, onWarning: (m) => warnings.push(m) }).load(URL, 'shape');
      expect(picture(s), body.slice(0, 60)).toEqual(pictures[1]);
      expect(warnings.join('\n')).toMatch(/incomplete record/);
    }
    // The same line as written loads all three saves.
    await writeFile(jfile, good);
    expect(picture(await createFileStateStore({ stateDir: dir }).load(URL, 'shape'))).toEqual(pictures[3]);
  });

  it('compacts past the threshold and at close; lines of an older snapshot are never replayed', async () => {
    const store = createFileStateStore({ stateDir: dir, compactMinBytes: 4096, compactShare: 0 });
    const file = join(dir, serverDirName(URL), 'compact.json');
    const jfile = file.replace(/\.json$/, '.journal');
    const s = await store.load(URL, 'compact');
    for (let i = 0; i < 50; i++) put(s, `p${i}`, i + 1);
    await store.save(URL, 'compact', s);
    let compactions = 0;
    let last = 0;
    for (let k = 0; k < 40; k++) {
      put(s, `p${k % 50}`, 500 + k);
      await store.save(URL, 'compact', s);
      const size = (await stat(jfile)).size;
      if (size < last) compactions++;
      last = size;
      expect(size).toBeLessThanOrEqual(4096 + 2048);
    }
    expect(compactions).toBeGreaterThan(0);
    expect(picture(await createFileStateStore({ stateDir: dir }).load(URL, 'compact'))).toEqual(picture(s));

    // A compaction that stopped after the snapshot and before truncating the journal: the old
    // lines are still there, and must not be applied over the newer snapshot.
    put(s, 'p1', 9000);
    await store.save(URL, 'compact', s);
    const stale = `${jfile}.stale`;
    await copyFile(jfile, stale);
    put(s, 'p1', 9001);
    await store.compact!(URL, 'compact', s); // touched, unsaved: compact leaves it alone
    expect((await stat(jfile)).size).toBeGreaterThan(0);
    await store.save(URL, 'compact', s);
    const fresh = createFileStateStore({ stateDir: dir, compactMinBytes: 1 << 30 });
    const loaded = await fresh.load(URL, 'compact');
    await fresh.compact!(URL, 'compact', loaded); // small journal: kept
    expect((await stat(jfile)).size).toBeGreaterThan(0);
    const forced = createFileStateStore({ stateDir: dir, compactMinBytes: 1, compactShare: 0 });
    const s2 = await forced.load(URL, 'compact');
    put(s2, 'p2', 9100);
    await forced.save(URL, 'compact', s2); // over the threshold: a new snapshot
    expect((await stat(jfile)).size).toBe(0);
    await copyFile(stale, jfile); // as if the truncation never happened
    expect(picture(await createFileStateStore({ stateDir: dir, onWarning: () => {} }).load(URL, 'compact'))).toEqual(picture(s2));
  });

  it('a journal that could not be emptied keeps its old lines, and the saves after them still load', async () => {
    const store = createFileStateStore({ stateDir: dir, compactMinBytes: 1 << 30 });
    const file = join(dir, serverDirName(URL), 'stuck.json');
    const jfile = file.replace(/\.json$/, '.journal');
    const s = await store.load(URL, 'stuck');
    for (let i = 0; i < 20; i++) put(s, `p${i}`, i + 1);
    await store.save(URL, 'stuck', s);
    put(s, 'p1', 700);
    await store.save(URL, 'stuck', s); // one journal line of this snapshot
    const oldLines = await readFile(jfile, 'utf8');
    // A new snapshot whose journal truncation did not happen: its old lines stay, and the saves
    // after it append behind them.
    const other = createFileStateStore({ stateDir: dir, compactMinBytes: 1, compactShare: 0 });
    const s2 = await other.load(URL, 'stuck');
    put(s2, 'p2', 800);
    await other.save(URL, 'stuck', s2); // the journal is past its 1-byte threshold: a full snapshot, journal emptied
    expect((await stat(jfile)).size).toBe(0);
    await writeFile(jfile, oldLines); // as if emptying it had failed unnoticed
    const s3 = s2;
    put(s3, 'p3', 900);
    await other.save(URL, 'stuck', s3); // appended after the old lines
    expect((await readFile(jfile, 'utf8')).startsWith(oldLines)).toBe(true);
    expect((await readFile(jfile, 'utf8')).length).toBeGreaterThan(oldLines.length);
    const warnings: string[] = [];
    const loaded = await createFileStateStore({ stateDir: dir, onWarning: (w) => warnings.push(w) }).load(URL, 'stuck');
    expect(picture(loaded)).toEqual(picture(s3));
    expect(loaded.base.get('p3')?.rev).toBe(900);
    expect(warnings).toEqual([]);
  });

  it('says when compact would write (close takes the lock only then)', async () => {
    const store = createFileStateStore({ stateDir: dir, compactMinBytes: 1 << 30 });
    const s = await store.load(URL, 'due');
    expect(store.compactDue!(URL, 'due', s)).toBe(false); // nothing stored yet
    put(s, 'a', 1);
    await store.save(URL, 'due', s);
    put(s, 'a', 2);
    expect(store.compactDue!(URL, 'due', s)).toBe(false); // unsaved changes stay unsaved
    await store.save(URL, 'due', s);
    expect(store.compactDue!(URL, 'due', s)).toBe(false); // a small journal waits for the next load
    for (let i = 0; i < 400; i++) put(s, `big/${i}/${'x'.repeat(100)}`, i + 10);
    await store.save(URL, 'due', s);
    expect(store.compactDue!(URL, 'due', s)).toBe(false); // ~64 KiB (a sync of a hundred changes) waits for the next load too
    for (let i = 0; i < 1600; i++) put(s, `bigger/${i}/${'x'.repeat(100)}`, i + 10);
    await store.save(URL, 'due', s);
    expect(store.compactDue!(URL, 'due', s)).toBe(true); // past 256 KiB
    await store.compact!(URL, 'due', s);
    expect(store.compactDue!(URL, 'due', s)).toBe(false);
  });
});
