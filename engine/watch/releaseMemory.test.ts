// releaseMemory really collects: garbage a run left behind is gone from the heap right after.
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { growthCollector, releaseMemory, releaseMemoryIfGrown } from './releaseMemory.js';

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

describe('releaseMemoryIfGrown, default threshold', () => {
  it('collects after a run that grew the heap by more than 8 MB, not after a small one', () => {
    releaseMemory();
    const keep: unknown[] = [];
    // A small scoped run's worth: well under 8 MB, kept alive so the heap really grew by it.
    keep.push(Array.from({ length: 10_000 }, (_, i) => ({ p: `path/${i}` })));
    expect(releaseMemoryIfGrown()).toBe(false);
    expect(litter(300_000)).toBeGreaterThan(10 << 20);
    expect(releaseMemoryIfGrown()).toBe(true);
    expect(keep).toHaveLength(1);
  });
});

describe('growthCollector', () => {
  it('collects once the heap grew by more than its threshold since it was made or last collected, whatever the heap held before', () => {
    const keep: unknown[] = [];
    // Held before the collector is made: growth before it does not count (releaseMemoryIfGrown's would).
    keep.push(Array.from({ length: 400_000 }, (_, i) => ({ p: `held/${i}`, n: i * 1.5 })));
    const collect = growthCollector(16 << 20);
    expect(collect()).toBe(false);
    keep.push(Array.from({ length: 20_000 }, (_, i) => ({ p: `small/${i}` })));
    expect(collect()).toBe(false);
    expect(litter(1_000_000)).toBeGreaterThan(16 << 20);
    expect(collect()).toBe(true);
    expect(collect()).toBe(false);
    expect(keep).toHaveLength(2);
  });
});
