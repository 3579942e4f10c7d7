// capYoungGeneration really stops V8's young generation at its cap, in a process that keeps
// allocating survivors while its event loop turns (as a walk does between slices).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

/** The young generation's size in a child that allocates 2,000,000 objects (keeping a tenth), in slices, after capYoungGeneration(capMb) unless capMb is null. */
function youngAfterAllocating(nodeArgs: string[], capMb: number | null): number {
  const code = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { setImmediate as turn } from 'node:timers/promises';
    ${capMb !== null ? `const { capYoungGeneration } = await import('./engine/util/youngGeneration.ts'); capYoungGeneration(${capMb} << 20);` : ''}
    const keep = [];
    for (let slice = 0; slice < 200; slice++) {
      for (let i = 0; i < 10_000; i++) { const o = { a: i, b: String(slice * 10_000 + i) }; if (i % 10 === 0) keep.push(o); }
      await new Promise((r) => setTimeout(r, 1));
      await turn();
    }
    console.log(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);`;
  const out = execFileSync(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return Number(out.trim());
}

describe('capYoungGeneration', () => {
  it('lets the young generation grow to its cap and no further, unless node was given a semi-space flag', () => {
    expect(youngAfterAllocating([], null)).toBeGreaterThan(8 << 20); // V8 grows it by itself
    const capped = youngAfterAllocating([], 4);
    expect(capped).toBeGreaterThanOrEqual(4 << 20); // it grew from its starting 2 MB
    expect(capped).toBeLessThanOrEqual(4 << 20);
    expect(youngAfterAllocating(['--max-semi-space-size=16'], 4)).toBeGreaterThan(8 << 20); // the given flag wins
  });
});
