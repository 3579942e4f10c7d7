// settle: waits for a quiet machine (two quiet windows in a row), and keeps waiting, up to its
// limit, while the CPU is busy. The CPU counters are faked: the real machine's load is not the test's.
import { describe, expect, it } from 'vitest';
import { cpuTimes, flushWrites, median, percentile, settle, unwrittenMb } from './stats.js';

/** A fake /proc/stat reader whose busy share in each window is the next of `shares` (then the last one forever). */
function counters(shares: number[]): () => { busy: number; total: number } {
  let busy = 0, total = 0, i = -1;
  return () => {
    if (i >= 0) { busy += 100 * shares[Math.min(i, shares.length - 1)]!; total += 100; }
    i++;
    return { busy, total };
  };
}

describe('settle', () => {
  it('returns after two quiet windows in a row, and says how busy the last one was', async () => {
    const s = await settle({ maxBusy: 0.1, windowMs: 5, timeoutMs: 5_000, read: counters([0.9, 0.05, 0.5, 0.02, 0.03, 0.9]) });
    // busy, quiet, busy (starts over), quiet, quiet: done after the fifth window.
    expect(s.busy).toBeCloseTo(0.03);
    expect(s.waitedMs).toBeLessThan(5_000);
  });

  it('waits to its limit while the machine stays busy', async () => {
    const s = await settle({ maxBusy: 0.1, windowMs: 10, timeoutMs: 200, read: counters([0.6]) });
    expect(s.waitedMs).toBeGreaterThanOrEqual(200);
    expect(s.busy).toBeCloseTo(0.6);
  });

  it('returns at once where there are no counters', async () => {
    expect(await settle({ read: () => null })).toEqual({ waitedMs: 0, busy: NaN });
  });

  it.runIf(process.platform === 'linux')('reads the real counters as busy ≤ total', () => {
    const t = cpuTimes()!;
    expect(t.total).toBeGreaterThan(0);
    expect(t.busy).toBeLessThanOrEqual(t.total);
  });
});

describe('flushWrites', () => {
  it('counts dirty and under-writeback pages of /proc/meminfo in MB', () => {
    expect(unwrittenMb('MemTotal:       25165824 kB\nDirty:             20480 kB\nWriteback:          1024 kB\nWritebackTmp:       4096 kB\n')).toBe(21);
    expect(unwrittenMb('MemTotal: 1 kB\n')).toBeNull();
  });

  it('says how much was waiting, or null without /proc/meminfo', () => {
    expect(flushWrites(() => 'Dirty: 2048 kB\nWriteback: 0 kB\n').unwrittenMb).toBe(2);
    expect(flushWrites(() => null)).toMatchObject({ unwrittenMb: null });
  });

  it.runIf(process.platform === 'linux')('reads the real /proc/meminfo and runs sync', () => {
    const f = flushWrites();
    expect(f.unwrittenMb).not.toBeNull();
    expect(f.ms).toBeGreaterThanOrEqual(0);
  });
});

describe('median and percentile', () => {
  it('take the middle and the nearest rank', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
  });
});
