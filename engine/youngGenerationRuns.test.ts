// Which runs cap V8's young generation (util/youngGeneration.ts): a run over a home the state
// knows nothing of yet (its first publish or install, of any size) and a run over a large state;
// not a run over a small known home, which keeps V8's own sizing.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEngine } from './createEngine.js';
import { silentLogger } from './log.js';
import { createMemoryRemote } from './remote/MemoryRemote.js';
import { createMemoryStateStore } from './state/StateStore.js';
import { testConfig, tempDirs } from './testing/engineFixture.js';
import type * as youngGeneration from './util/youngGeneration.js';
import { capYoungGeneration } from './util/youngGeneration.js';

vi.mock('./util/youngGeneration.js', async (importOriginal) => ({
  ...(await importOriginal<typeof youngGeneration>()),
  // Counted, not applied: the flag would stay set for the rest of this test process.
  capYoungGeneration: vi.fn(),
}));

const dirs = tempDirs();
beforeEach(() => vi.mocked(capYoungGeneration).mockClear());
afterEach(() => dirs.cleanup());

describe('the young generation cap', () => {
  it.each([false, true])('applies to the first run over a home and not to the next ones over a small home (blocking walk: %s)', async (blockingWalk) => {
    const home = await dirs.make('dman-yg-home-');
    for (let i = 0; i < 20; i++) await writeFile(join(home, `.f${i}`), `file ${i}\n`);
    const engine = createEngine({ config: testConfig(home), remote: createMemoryRemote(), log: silentLogger(), stateDir: await dirs.make('dman-yg-state-'), stateStore: createMemoryStateStore(), blockingWalk });
    try {
      expect((await engine.sync({ direction: 'both' })).users[0]!.counts.published).toBe(20);
      expect(capYoungGeneration).toHaveBeenCalledTimes(1);
      await writeFile(join(home, '.f0'), 'changed\n');
      expect((await engine.sync({ direction: 'both' })).users[0]!.counts.published).toBe(1);
      expect(capYoungGeneration).toHaveBeenCalledTimes(1);
    } finally {
      await engine.close();
    }
  });
});
