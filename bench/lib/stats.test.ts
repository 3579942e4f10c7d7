// settle: waits for a quiet machine, and keeps waiting (up to its limit) while the CPU is busy.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { median, percentile, settle } from './stats.js';

let burners: ChildProcess[] = [];
afterEach(() => { for (const b of burners) b.kill('SIGKILL'); burners = []; });

describe('settle', () => {
  it.runIf(process.platform === 'linux')('waits to its limit while every core is busy, and says how busy', async () => {
    burners = cpus().map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 200)); // let them start spinning
    const s = await settle({ maxBusy: 0.1, windowMs: 100, timeoutMs: 800 });
    expect(s.waitedMs).toBeGreaterThanOrEqual(800);
    expect(s.busy).toBeGreaterThan(0.5);
    expect(s.busy).toBeLessThanOrEqual(1);
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
