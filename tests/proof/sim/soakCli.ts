// `npm run soak`: long runs of the deterministic simulation, the canaries, and the kill -9 soak.
//   npm run soak -- --seeds N [--from S]     N seeds; ends with the line `N seeds, V violations`
//   npm run soak -- --canary [--limit 200]   the first seed that caught each canary (exit 1 if one escapes)
//   npm run soak -- --seeds 1 --from S --trace [--variant NAME]   replay one seed with its trace
//   npm run soak -- --kill9 50               50 SIGKILLs of dman serve per driver, and every crash/fault step (vitest)
//   npm run soak -- --engine --seeds N [--from S] [--trace]   the same with the REAL engine through its ports (tests/proof/engineSim)
//   npm run soak -- --engine --canary [--limit 200]           the real-engine simulation's port-level canaries
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { explainSeed, runProofSeed } from './simulate.js';
import { runCanaries, runRange } from './runSeeds.js';
import { CANARIES, REAL_VARIANT } from './variants.js';
import { explainEngineSeed, runEngineCanaries, runEngineRange } from '../engineSim/runSeeds.js';
import { runEngineSeed } from '../engineSim/simulate.js';

/** Runs the soak command line; returns the exit code. */
export async function soakMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' }, from: { type: 'string', default: '1' }, canary: { type: 'boolean', default: false },
      limit: { type: 'string', default: '200' }, kill9: { type: 'string' }, variant: { type: 'string', default: 'real' }, trace: { type: 'boolean', default: false },
      engine: { type: 'boolean', default: false },
    },
  });
  if (values.engine) return engineSoak(values);
  if (values.kill9 !== undefined) {
    // These need the throwaway Redis and MariaDB of the vitest global setup, so they run under vitest.
    const repo = new URL('../../..', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'tests/proof/kill9.test.ts', 'tests/proof/installCrash.test.ts', 'tests/proof/crashPoints.test.ts'], {
      cwd: repo, stdio: 'inherit', env: { ...process.env, DMAN_KILL9: values.kill9, DMAN_PROOF_FULL: '1' },
    });
    return r.status ?? 1;
  }
  if (values.canary) {
    const found = await runCanaries(Number(values.limit));
    for (const f of found) console.log(`${f.name.padEnd(28)} ${f.caughtBy === null ? 'ESCAPED' : `caught by seed ${f.caughtBy}`}  (${f.bug})${f.violation ? `\n${' '.repeat(29)}${f.violation.slice(0, 160)}` : ''}`);
    const escaped = found.filter((f) => f.caughtBy === null).length;
    console.log(`${found.length} canaries, ${escaped} escaped`);
    return escaped ? 1 : 0;
  }
  const n = Number(values.seeds ?? 1000);
  const from = Number(values.from);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(from)) { console.error('usage: npm run soak -- --seeds N [--from S] | --canary'); return 2; }
  const variant = values.variant === 'real' ? REAL_VARIANT : CANARIES.find((c) => c.name === values.variant);
  if (!variant) { console.error(`no variant "${values.variant}"; known: real, ${CANARIES.map((c) => c.name).join(', ')}`); return 2; }
  if (values.trace && n === 1) {
    const r = await runProofSeed(from, variant);
    console.log(r.violations.length ? explainSeed(r, 10_000) : r.trace.join('\n'));
    console.log(`trace hash ${r.traceHash}`);
    console.log(`1 seeds, ${r.violations.length} violations`);
    return r.violations.length ? 1 : 0;
  }
  let shown = 0;
  const r = await runRange(from, n, variant, (one) => {
    if (one.violations.length && shown++ < 3) console.log(explainSeed(one, 60));
    if (one.seed % 10_000 === 0) console.log(`… seed ${one.seed}`);
  });
  console.log(`seeds ${from}..${from + n - 1} (${variant.name}): ${Math.round(r.ms)} ms, ${r.stats.runs} sync runs, ${r.stats.commits} commits, ${r.stats.crashes} client crashes, max ${r.maxHealRounds} heal rounds`);
  if (r.failed.length) console.log(`failing seeds: ${r.failed.map((f) => f.seed).join(' ')}`);
  console.log(`${r.seeds} seeds, ${r.violations} violations`);
  return r.violations ? 1 : 0;
}

/** `--engine`: the seeded simulation of the real engine (three createEngine processes on memfs homes). */
async function engineSoak(values: { seeds?: string; from: string; canary: boolean; limit: string; trace: boolean }): Promise<number> {
  if (values.canary) {
    const found = await runEngineCanaries(Number(values.limit));
    for (const f of found) console.log(`${f.name.padEnd(28)} ${f.caughtBy === null ? 'ESCAPED' : `caught by seed ${f.caughtBy}`}  (${f.bug})${f.violation ? `\n${' '.repeat(29)}${f.violation.slice(0, 160)}` : ''}`);
    const escaped = found.filter((f) => f.caughtBy === null).length;
    console.log(`${found.length} canaries, ${escaped} escaped`);
    return escaped ? 1 : 0;
  }
  const n = Number(values.seeds ?? 1000);
  const from = Number(values.from);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(from)) { console.error('usage: npm run soak -- --engine --seeds N [--from S] [--trace] | --engine --canary'); return 2; }
  if (values.trace && n === 1) {
    const r = await runEngineSeed(from);
    console.log(r.violations.length ? explainEngineSeed(r, 10_000) : r.trace.join('\n'));
    console.log(`trace hash ${r.traceHash}`);
    console.log(`1 seeds, ${r.violations.length} violations`);
    return r.violations.length ? 1 : 0;
  }
  let shown = 0;
  const r = await runEngineRange(from, n, (one) => {
    if (one.violations.length && shown++ < 3) console.log(explainEngineSeed(one, 60));
    if (one.seed % 10_000 === 0) console.log(`… seed ${one.seed}`);
  });
  const s = r.stats;
  console.log(`engine seeds ${from}..${from + n - 1}: ${Math.round(r.ms)} ms, ${s.runs} engine runs, ${s.commits} commits, ${s.crashes} process crashes (${s.fsCrashes} at a file-system write), ${s.diskErrors} ENOSPC/EIO, ${s.conflictsResolved} conflicts resolved, max ${r.maxHealRounds} heal rounds`);
  if (r.failed.length) {
    console.log(`failing seeds: ${r.failed.map((f) => f.seed).join(' ')}`);
    console.log(`replay one: npm run soak -- --engine --seeds 1 --from ${r.failed[0]!.seed} --trace`);
  }
  console.log(`${r.seeds} seeds, ${r.violations} violations`);
  return r.violations ? 1 : 0;
}
