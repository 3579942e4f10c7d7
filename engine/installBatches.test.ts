// The batched install of engine/createEngine.ts (installBatches → installFiles) with an in-process
// remote: many files land through a few getBlobs calls, a failing fetch stops the run (server gone)
// or fails each file of the batch (a reply the client does not understand), and never leaves a
// state that claims a file the disk does not hold.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DmanError } from '../shared/errors.js';
import { createEngine } from './createEngine.js';
import type { Engine } from './Engine.js';
import { silentLogger } from './log.js';
import { createMemoryRemote, type MemoryRemote } from './remote/MemoryRemote.js';
import { createMemoryStateStore } from './state/StateStore.js';
import { testConfig, tempDirs } from './testing/engineFixture.js';

const dirs = tempDirs();
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await dirs.cleanup();
});

async function machine(remote: MemoryRemote, device: string) {
  const home = await dirs.make(`dman-home-${device}-`);
  const stateStore = createMemoryStateStore();
  const engine = createEngine({ config: testConfig(home, { device }), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), stateStore });
  engines.push(engine);
  return { home, engine, stateStore };
}

/** Publishes `n` files (two share each content) from a fresh machine. */
async function published(remote: MemoryRemote, n: number): Promise<void> {
  const a = await machine(remote, 'a');
  const { mkdir, writeFile } = await import('node:fs/promises');
  for (let i = 0; i < n; i++) {
    await mkdir(join(a.home, `d${i % 7}`), { recursive: true });
    await writeFile(join(a.home, `d${i % 7}`, `f${i}`), `content ${Math.floor(i / 2)}\n`);
  }
  const r = await a.engine.sync({ direction: 'both', yes: true });
  expect(r.users[0]!.counts.published).toBe(n);
}

describe('batched install', () => {
  it('lands 2,500 files through a few bulk fetches, a shared content once per batch', async () => {
    const remote = createMemoryRemote();
    await published(remote, 2500);
    const calls: number[] = [];
    const orig = remote.getBlobs!.bind(remote);
    remote.getBlobs = (user, hashes) => {
      expect(new Set(hashes).size, 'a batch asks for each hash once').toBe(hashes.length);
      calls.push(hashes.length);
      return orig(user, hashes);
    };
    const b = await machine(remote, 'b');
    const r = await b.engine.sync({ direction: 'both', yes: true });
    expect(r.users[0]!.errors).toEqual([]);
    expect(r.users[0]!.counts.installed).toBe(2500);
    expect(calls.length).toBe(3); // 1,000 files per batch
    // Two paths per content: a content whose paths fall in one batch is fetched once.
    const asked = calls.reduce((x, y) => x + y, 0);
    expect(asked).toBeGreaterThanOrEqual(1250);
    expect(asked).toBeLessThan(2500);
    expect(await readFile(join(b.home, 'd3', 'f10'), 'utf8')).toBe('content 5\n');
    const again = await b.engine.sync({ direction: 'both', yes: true });
    expect(again.users[0]!.counts.unchanged).toBe(2500);
  });

  it('stops the run when the server goes away mid-fetch, records only what landed, and catches up', async () => {
    const remote = createMemoryRemote();
    await published(remote, 1500);
    const orig = remote.getBlobs!.bind(remote);
    let fetches = 0;
    remote.getBlobs = (user, hashes) => {
      // The second batch breaks off after a few blobs.
      if (++fetches !== 2) return orig(user, hashes);
      return (async function* () {
        let k = 0;
        for await (const b of orig(user, hashes)) {
          if (++k > 3) throw new DmanError('SERVER_UNREACHABLE', 'cut off');
          yield b;
        }
      })();
    };
    const b = await machine(remote, 'b');
    const off = await b.engine.sync({ direction: 'both', yes: true }).catch((e: { partialReport?: unknown }) => e);
    const partial = (off as { partialReport?: { errors: Array<{ code: string }> } }).partialReport ?? (off as { users: Array<{ errors: Array<{ code: string }> }> }).users?.[0];
    expect(partial!.errors.map((e) => e.code)).toContain('SERVER_UNREACHABLE');
    // The saved state never claims a file that is not on disk.
    const state = await b.stateStore.load(remote.url, 'alice');
    for (const [p, base] of state.base) {
      if (base.deleted) continue;
      expect(await readFile(join(b.home, p), 'utf8').then(() => true, () => false), p).toBe(true);
    }
    // No temp file is left behind.
    for (const d of await readdir(b.home)) expect((await readdir(join(b.home, d))).filter((n) => n.includes('.dman-tmp-'))).toEqual([]);
    remote.getBlobs = orig;
    const on = await b.engine.sync({ direction: 'both', yes: true });
    expect(on.users[0]!.errors).toEqual([]);
    expect(on.users[0]!.counts.installed + on.users[0]!.counts.converged).toBe(1500 - state.base.size);
  });

  it('fails each file of a batch whose reply it does not understand, and finishes the run', async () => {
    const remote = createMemoryRemote();
    await published(remote, 10);
    remote.getBlobs = () => (async function* () { yield* []; throw new DmanError('PROTOCOL', 'a reply this client does not understand'); })();
    const b = await machine(remote, 'b');
    const r = await b.engine.sync({ direction: 'both', yes: true });
    expect(r.users[0]!.counts.installed).toBe(0);
    expect(r.users[0]!.errors).toHaveLength(10);
    expect(new Set(r.users[0]!.errors.map((e) => e.code))).toEqual(new Set(['PROTOCOL']));
  });

  // Found by another helper's engine simulation: the check ran only before the download, so a save
  // during it was overwritten by the rename. Now the target is looked at again right before the rename.
  for (const batched of [true, false]) {
    it(`keeps an edit saved during the download of the same file (${batched ? 'batched' : 'one by one'})`, async () => {
      const remote = createMemoryRemote();
      const a = await machine(remote, 'a');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(a.home, 'f.txt'), 'v1\n');
      await a.engine.sync({ direction: 'both', yes: true });
      const b = await machine(remote, 'b');
      await b.engine.sync({ direction: 'both', yes: true });
      await writeFile(join(a.home, 'f.txt'), 'v2 from a\n');
      await a.engine.sync({ direction: 'both', yes: true });
      const save = (): Promise<void> => writeFile(join(b.home, 'f.txt'), 'mine, saved during the download\n');
      const origMany = remote.getBlobs!.bind(remote);
      const origOne = remote.getBlob.bind(remote);
      if (batched) {
        remote.getBlobs = (user, hashes) => (async function* () { const got = []; for await (const x of origMany(user, hashes)) got.push(x); await save(); yield* got; })();
      } else {
        remote.getBlobs = undefined;
        remote.getBlob = async (user, hash) => { const r = await origOne(user, hash); await save(); return r; };
      }
      const r = await b.engine.sync({ direction: 'both', yes: true });
      expect(await readFile(join(b.home, 'f.txt'), 'utf8')).toBe('mine, saved during the download\n');
      expect(r.users[0]!.skipped.map((x) => x.path)).toContain('f.txt');
      expect(await readdir(b.home)).toEqual(['f.txt']);
      remote.getBlobs = origMany;
      remote.getBlob = origOne;
      const next = await b.engine.sync({ direction: 'both', yes: true });
      expect(next.users[0]!.conflicts.map((c) => c.path)).toEqual(['f.txt']);
      expect(await readFile(join(b.home, 'f.txt'), 'utf8')).toBe('mine, saved during the download\n');
    });
  }
});
