// The seeded simulation of the REAL engine in `npm test` (issue 9): three createEngine processes
// on in-memory homes (the FileSystem port on memfs), a MemoryRemote behind the seeded network,
// crashes, disk errors and clock skew; the regression seeds; replay determinism; and the
// port-level canaries (proof the checks bite on the real engine).
// Longer runs: npm run soak -- --engine --seeds 20000; replay one: npm run soak -- --engine --seeds 1 --from N --trace
import { describe, expect, it } from 'vitest';
import { ENGINE_REGRESSION_SEEDS } from './regressions.js';
import { ENGINE_CANARIES, explainEngineSeed, runEngineCanaries, runEngineRange } from './runSeeds.js';
import { runEngineSeed } from './simulate.js';

const SEEDS = Number(process.env.DMAN_ENGINE_SIM_SEEDS ?? 1000);

describe('seeded simulation of the real engine through its ports (issue 9)', () => {
  it(`heals without a violation over ${SEEDS} seeds`, async () => {
    const r = await runEngineRange(1, SEEDS);
    expect(r.seeds).toBe(SEEDS);
    expect(r.failed.slice(0, 2).map((f) => explainEngineSeed(f, 120)).join('\n\n'), `${r.failed.length} seeds failed: ${r.failed.map((f) => f.seed).join(', ')}`).toBe('');
    // The seeds must really exercise the faults, or a green run proves nothing.
    expect(r.stats.commits).toBeGreaterThan(SEEDS);
    expect(r.stats.crashes).toBeGreaterThan(SEEDS / 2);
    expect(r.stats.fsCrashes).toBeGreaterThan(SEEDS / 100);
    expect(r.stats.diskErrors).toBeGreaterThan(SEEDS / 100);
    expect(r.stats.conflictsResolved).toBeGreaterThan(SEEDS / 10);
    expect(r.maxHealRounds).toBeLessThanOrEqual(8);
  }, 240_000);

  it('keeps the regression seeds green', async () => {
    for (const [seed, why] of ENGINE_REGRESSION_SEEDS) {
      const r = await runEngineSeed(seed);
      expect(r.violations, `${why}\n${explainEngineSeed(r)}`).toEqual([]);
    }
  });

  it('replays a seed to the same trace hash, and different seeds differ', async () => {
    const a = await runEngineSeed(4242);
    const b = await runEngineSeed(4242);
    const c = await runEngineSeed(4243);
    expect(a.trace.length).toBeGreaterThan(10);
    expect(b.traceHash).toBe(a.traceHash);
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  it('catches every port-level canary within 200 seeds', async () => {
    expect(ENGINE_CANARIES.length).toBeGreaterThanOrEqual(3);
    const found = await runEngineCanaries(200);
    const escaped = found.filter((f) => f.caughtBy === null).map((f) => `${f.name} (${f.bug})`);
    expect(escaped, 'canaries that escaped the simulation').toEqual([]);
  }, 120_000);
});
