// A watcher that ran out of system watches (status().unwatched > 0) keeps the engine's periodic
// full rescan on, even when it was turned off (rescanMs 0): the rescan is then the only thing
// that sees the unwatched folders. A complete watcher leaves a turned-off rescan off.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEngine } from '../createEngine.js';
import type { Engine } from '../Engine.js';
import { createLogger } from '../log.js';
import { createMemoryRemote } from '../remote/MemoryRemote.js';
import { createMemoryStateStore } from '../state/StateStore.js';
import { testConfig, tempDirs } from '../testing/engineFixture.js';
import { createMemoryWatcher, type Watcher } from './Watcher.js';

const dirs = tempDirs();
const engines: Engine[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.allSettled(engines.splice(0).map((e) => e.close()));
  await dirs.cleanup();
});

async function run(unwatchedAtEnd: number, opts: { fromStart: boolean } = { fromStart: true }): Promise<{ lines: string[]; runsAfterAMinute: number }> {
  let unwatched = opts.fromStart ? unwatchedAtEnd : 0;
  const home = await dirs.make('dman-degraded-');
  await writeFile(join(home, '.zshrc'), 'z\n');
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', stream: new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString()); cb(); } }) });
  const memory = createMemoryWatcher();
  const watcher: Watcher = { ...memory, status: () => ({ folders: 3, unwatched, ...(unwatched ? { limit: 'ENOSPC' } : {}) }) };
  const e = createEngine({ config: testConfig(home), remote: createMemoryRemote(), log, stateDir: home, stateStore: createMemoryStateStore(), watcher, rescanMs: 0 });
  engines.push(e);
  let runs = 0;
  e.on((ev) => { if (ev.type === 'synced') runs++; });
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  await e.watch();
  // The start run (and the push its publish causes) first; then a quiet moment.
  for (let t0 = Date.now(), seen = -1; seen !== runs || Date.now() - t0 < 300;) {
    if (seen !== runs) { seen = runs; t0 = Date.now(); }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!opts.fromStart) {
    // Folders made later hit the limit: the next watch run finds the watcher incomplete.
    unwatched = unwatchedAtEnd;
    const seenRuns = runs;
    memory.emit('alice', ['.zshrc']);
    for (const t0 = Date.now(); Date.now() - t0 < 5000 && runs === seenRuns;) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
  }
  const before = runs;
  expect(before).toBeGreaterThan(0);
  vi.advanceTimersByTime(60_000);
  // A rescan, when scheduled, has been triggered now; give it time to finish.
  for (const t0 = Date.now(); Date.now() - t0 < 500 && runs === before;) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  runs -= before;
  return { lines, runsAfterAMinute: runs };
}

describe('an incomplete watcher keeps the periodic rescan on', () => {
  it('rescans every 60 s with rescanMs 0 when folders are unwatched, and says why', async () => {
    const r = await run(7);
    expect(r.runsAfterAMinute).toBe(1);
    expect(r.lines.join('')).toMatch(/some folders are not watched \(system limit\), so the periodic rescan runs every 60 s/);
    expect(r.lines.join('')).toContain('"unwatched":7');
  });

  it('turns the rescan on when folders go unwatched after the start (folders made later)', async () => {
    const r = await run(2, { fromStart: false });
    expect(r.runsAfterAMinute).toBe(1);
    expect(r.lines.join('')).toContain('"unwatched":2');
  });

  it('leaves a turned-off rescan off when every folder is watched', async () => {
    const r = await run(0);
    expect(r.runsAfterAMinute).toBe(0);
    expect(r.lines.join('')).not.toMatch(/not watched/);
  });
});
