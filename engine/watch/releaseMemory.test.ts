// releaseMemory really collects: garbage a run left behind is gone from the heap right after.
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { releaseMemory, releaseMemoryIfGrown } from './releaseMemory.js';

describe('releaseMemory', () => {
  it('runs a full GC that frees what nothing references any more', () => {
    releaseMemory();
    const base = getHeapStatistics().used_heap_size;
    let junk: Array<{ p: string; n: number }> | null = Array.from({ length: 300_000 }, (_, i) => ({ p: `path/${i}`, n: i * 1.5 }));
    expect(getHeapStatistics().used_heap_size - base).toBeGreaterThan(10 << 20);
    junk.length = 0;
    junk = null;
    expect(releaseMemory()).toBe(true);
    expect(getHeapStatistics().used_heap_size - base).toBeLessThan(4 << 20);
  });
});

describe('releaseMemoryIfGrown', () => {
  it('collects only when the heap grew by more than the threshold since the last collection', () => {
    releaseMemory();
    expect(releaseMemoryIfGrown(64 << 20)).toBe(false);
    let junk: Array<{ p: string; n: number }> | null = Array.from({ length: 1_500_000 }, (_, i) => ({ p: `path/${i}`, n: i * 1.5 }));
    expect(junk.length).toBe(1_500_000);
    junk = null;
    expect(releaseMemoryIfGrown(64 << 20)).toBe(true);
    expect(releaseMemoryIfGrown(64 << 20)).toBe(false);
  });
});
