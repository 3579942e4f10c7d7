// releaseMemory really collects: garbage a run left behind is gone from the heap right after.
import { execFileSync } from 'node:child_process';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { releaseMemory, releaseMemoryIfGrown } from './releaseMemory.js';

/** Allocates `n` small objects and drops them (garbage, as a run leaves behind); returns the heap growth it caused. */
function litter(n: number): number {
  const before = getHeapStatistics().used_heap_size;
  const junk = Array.from({ length: n }, (_, i) => ({ p: `path/${i}`, n: i * 1.5 }));
  return getHeapStatistics().used_heap_size - before + junk.length * 0;
}

describe('releaseMemory', () => {
  it('runs a full GC that frees what nothing references any more', () => {
    releaseMemory();
    const base = getHeapStatistics().used_heap_size;
    expect(litter(300_000)).toBeGreaterThan(10 << 20);
    expect(getHeapStatistics().used_heap_size - base).toBeGreaterThan(10 << 20);
    expect(releaseMemory()).toBe(true);
    expect(getHeapStatistics().used_heap_size - base).toBeLessThan(4 << 20);
  });
});

describe('releaseMemoryIfGrown', () => {
  it('collects only when the heap grew by more than the threshold since the last collection', () => {
    releaseMemory();
    expect(releaseMemoryIfGrown(64 << 20)).toBe(false);
    expect(litter(1_500_000)).toBeGreaterThan(64 << 20);
    expect(releaseMemoryIfGrown(64 << 20)).toBe(true);
    expect(releaseMemoryIfGrown(64 << 20)).toBe(false);
  });
});

describe('keepYoungGenerationSmall', () => {
  // In a child: the flag it sets stays for the whole process (the test runner's own heap is left alone).
  const youngAfterGarbage = (nodeArgs: string[], call: boolean): number => {
    const code = `
      import { getHeapSpaceStatistics } from 'node:v8';
      ${call ? "const { keepYoungGenerationSmall } = await import('./engine/watch/releaseMemory.ts'); keepYoungGenerationSmall();" : ''}
      const keep = [];
      for (let i = 0; i < 2e6; i++) { const o = { a: i, b: String(i) }; if (i % 10 === 0) keep.push(o); }
      console.log(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);`;
    const out = execFileSync(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', code], { cwd: new URL('../..', import.meta.url).pathname, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    return Number(out.trim());
  };

  it('keeps the young generation at its starting size however much a process allocates, unless node was given a semi-space flag', () => {
    expect(youngAfterGarbage([], false)).toBeGreaterThan(8 << 20); // V8 grows it by itself
    expect(youngAfterGarbage([], true)).toBeLessThanOrEqual(4 << 20);
    expect(youngAfterGarbage(['--max-semi-space-size=16'], true)).toBeGreaterThan(8 << 20); // the given flag wins
  });
});
