// Runs ranges of seeds of the real-engine simulation, and its canaries; shared by the vitest
// suite and `npm run soak -- --engine`.
import { runEngineSeed, type EngineSimCanary, type EngineSimResult, type EngineSimStats } from './simulate.js';

/** Totals of a range of seeds. */
export interface EngineRangeReport { seeds: number; violations: number; failed: EngineSimResult[]; maxHealRounds: number; ms: number; stats: EngineSimStats }

/** Runs seeds `from` .. `from + count - 1`; `onSeed` sees each result. */
export async function runEngineRange(from: number, count: number, onSeed?: (r: EngineSimResult) => void, canary: EngineSimCanary = 'none'): Promise<EngineRangeReport> {
  const t0 = performance.now();
  const out: EngineRangeReport = { seeds: 0, violations: 0, failed: [], maxHealRounds: 0, ms: 0, stats: { events: 0, runs: 0, crashes: 0, fsCrashes: 0, diskErrors: 0, commits: 0, faults: 0, conflictsResolved: 0, leftoverTemps: 0 } };
  for (let s = from; s < from + count; s++) {
    const r = await runEngineSeed(s, { canary });
    out.seeds++;
    out.violations += r.violations.length;
    if (r.violations.length) out.failed.push(r);
    out.maxHealRounds = Math.max(out.maxHealRounds, r.healRounds);
    for (const k of Object.keys(out.stats) as Array<keyof EngineSimStats>) out.stats[k] += r.stats[k];
    onSeed?.(r);
  }
  out.ms = performance.now() - t0;
  return out;
}

/** The port-level canaries: each a deliberate bug the simulation must catch. */
export const ENGINE_CANARIES: Array<{ name: Exclude<EngineSimCanary, 'none'>; bug: string }> = [
  { name: 'rename-truncates', bug: 'the file system lands half of each renamed file (a torn install)' },
  { name: 'commit-acked-not-stored', bug: 'the server acknowledges commits and stores nothing' },
  { name: 'mtime-frozen', bug: 'lstat reports frozen times, so an edit that keeps the size goes unseen' },
];

/** For each canary, the first seed (from 1, at most `limit`) that caught it; null when it escaped. */
export async function runEngineCanaries(limit = 200): Promise<Array<{ name: string; bug: string; caughtBy: number | null; violation: string | null }>> {
  const out: Array<{ name: string; bug: string; caughtBy: number | null; violation: string | null }> = [];
  for (const c of ENGINE_CANARIES) {
    let caughtBy: number | null = null;
    let violation: string | null = null;
    for (let s = 1; s <= limit && caughtBy === null; s++) {
      const r = await runEngineSeed(s, { canary: c.name });
      if (r.violations.length) { caughtBy = s; violation = r.violations[0]!.split('\n')[0]!; }
    }
    out.push({ name: c.name, bug: c.bug, caughtBy, violation });
  }
  return out;
}

/** Explains a failing seed with a replay command and its trace. */
export function explainEngineSeed(r: EngineSimResult, maxTrace = 200): string {
  return [
    `engine seed ${r.seed} (policy ${r.policy}) found ${r.violations.length} violation(s); replay: npm run soak -- --engine --seeds 1 --from ${r.seed} --trace`,
    ...r.violations.map((v) => `  - ${v}`),
    '  trace:',
    ...r.trace.slice(-maxTrace).map((t) => `    ${t}`),
  ].join('\n');
}
