// Runs ranges of simulation seeds and the canaries; shared by the vitest suite and `npm run soak`.
import { runProofSeed, type ProofResult } from './simulate.js';
import { CANARIES, REAL_VARIANT, type Variant } from './variants.js';

/** Totals of a range of seeds. */
export interface RangeReport { seeds: number; violations: number; failed: ProofResult[]; maxHealRounds: number; ms: number; stats: ProofResult['stats'] }

/** Runs seeds `from` .. `from + count - 1` with `variant`; `onSeed` sees each result. */
export async function runRange(from: number, count: number, variant: Variant = REAL_VARIANT, onSeed?: (r: ProofResult) => void): Promise<RangeReport> {
  const t0 = performance.now();
  const out: RangeReport = { seeds: 0, violations: 0, failed: [], maxHealRounds: 0, ms: 0, stats: { events: 0, runs: 0, crashes: 0, commits: 0, faults: 0 } };
  for (let s = from; s < from + count; s++) {
    const r = await runProofSeed(s, variant);
    out.seeds++;
    out.violations += r.violations.length;
    if (r.violations.length) out.failed.push(r);
    out.maxHealRounds = Math.max(out.maxHealRounds, r.healRounds);
    for (const k of Object.keys(out.stats) as Array<keyof ProofResult['stats']>) out.stats[k] += r.stats[k];
    onSeed?.(r);
  }
  out.ms = performance.now() - t0;
  return out;
}

/** For each canary, the first seed (from 1, at most `limit`) that caught it; null when it escaped. */
export async function runCanaries(limit = 200): Promise<Array<{ name: string; bug: string; caughtBy: number | null; violation: string | null }>> {
  const out: Array<{ name: string; bug: string; caughtBy: number | null; violation: string | null }> = [];
  for (const v of CANARIES) {
    let caughtBy: number | null = null;
    let violation: string | null = null;
    for (let s = 1; s <= limit && caughtBy === null; s++) {
      const r = await runProofSeed(s, v);
      if (r.violations.length) { caughtBy = s; violation = r.violations[0]!.split('\n')[0]!; }
    }
    out.push({ name: v.name, bug: v.bug, caughtBy, violation });
  }
  return out;
}
