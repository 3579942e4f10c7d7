// A child process for the client-install crash points: a real engine syncs HOME against an
// in-process MemoryRemote rebuilt the same way each time (phase `old`: the old versions; phase
// `new`: then the new ones). DMAN_CRASH_AT=k SIGKILLs it just before its k-th write step under
// DIR (home and state); DMAN_FAULT=ENOSPC|EIO fails that step instead. Prints the steps and the
// report as JSON when it finishes.
import { installFsFaults } from './fsFaults.js';

const faults = await installFsFaults();
const { createEngine } = await import('../../../engine/createEngine.js');
const { silentLogger } = await import('../../../engine/log.js');
const { createMemoryRemote } = await import('../../../engine/remote/MemoryRemote.js');
const { testConfig } = await import('../../../engine/testing/engineFixture.js');
const { installCase } = await import('./installCase.js');

const [dir, phase] = process.argv.slice(2) as [string, 'old' | 'new'];
const remote = createMemoryRemote({ now: () => 1_700_000_000_000 });
await installCase(remote, phase);
const engine = createEngine({ config: testConfig(`${dir}/home`, { device: 'client', policy: 'keep-both' }), log: silentLogger(), stateDir: `${dir}/state`, remote, rescanMs: 0 });
const at = Number(process.env.DMAN_CRASH_AT ?? 0);
faults.arm({ root: dir, at, kind: (process.env.DMAN_FAULT as 'ENOSPC' | 'EIO' | undefined) ?? 'crash' });
const report = await engine.sync({ direction: 'both', yes: true });
faults.disarm();
await engine.close();
const u = report.users[0]!;
process.stdout.write(`${JSON.stringify({ steps: faults.steps, errors: u.errors, conflicts: u.conflicts.length, actions: u.actions })}\n`);
