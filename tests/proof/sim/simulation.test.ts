// The deterministic simulation in `npm test`: 1,000 seeds of three clients and a server with
// faults, the regression seeds, replay determinism, and the canaries (proof the checks bite).
// Longer runs: npm run soak -- --seeds 100000; replay one: npm run soak -- --seeds 1 --from N --trace
import { describe, expect, it } from 'vitest';
import { REGRESSION_SEEDS } from './regressions.js';
import { runCanaries, runRange } from './runSeeds.js';
import { explainSeed, runProofSeed } from './simulate.js';
import { CANARIES } from './variants.js';

const SEEDS = Number(process.env.DMAN_PROOF_SEEDS ?? 1000);

describe('deterministic simulation (issue 9)', () => {
  it(`heals without a violation over ${SEEDS} seeds`, async () => {
    const r = await runRange(1, SEEDS);
    expect(r.seeds).toBe(SEEDS);
    // The seeds must actually exercise the faults, or a green run proves nothing.
    expect(r.stats.crashes).toBeGreaterThan(SEEDS / 4);
    expect(r.stats.commits).toBeGreaterThan(SEEDS);
    expect(r.failed.slice(0, 2).map((f) => explainSeed(f, 120)).join('\n\n'), `${r.failed.length} seeds failed: ${r.failed.map((f) => f.seed).join(', ')}`).toBe('');
    expect(r.maxHealRounds).toBeLessThanOrEqual(8);
  }, 180_000);

  it('keeps the regression seeds green', async () => {
    for (const [seed, why] of REGRESSION_SEEDS) {
      const r = await runProofSeed(seed);
      expect(r.violations, `${why}\n${explainSeed(r)}`).toEqual([]);
    }
  });

  it('replays a seed to the same trace hash, and different seeds differ', async () => {
    const a = await runProofSeed(4242);
    const b = await runProofSeed(4242);
    const c = await runProofSeed(4243);
    expect(a.trace.length).toBeGreaterThan(10);
    expect(b.traceHash).toBe(a.traceHash);
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  it('catches every canary within 200 seeds', async () => {
    expect(CANARIES.length).toBeGreaterThanOrEqual(5);
    const found = await runCanaries(200);
    const escaped = found.filter((f) => f.caughtBy === null).map((f) => `${f.name} (${f.bug})`);
    expect(escaped, 'canaries that escaped the simulation').toEqual([]);
  }, 120_000);
});
