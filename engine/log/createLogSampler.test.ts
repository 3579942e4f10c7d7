import { describe, expect, it } from 'vitest';
import { createLogSampler } from './createLogSampler.js';

describe('createLogSampler', () => {
  it('lets perWindow lines of a key through, drops the rest, and reports the count on the next line that passes', () => {
    let t = 0;
    const s = createLogSampler({ perWindow: 3, windowMs: 1000, now: () => t });
    const passed = Array.from({ length: 10 }, () => s.admit('file changed').pass);
    expect(passed).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(s.pending()).toEqual({ 'file changed': 7 });
    expect(s.admit('other').pass).toBe(true);
    t = 1000;
    expect(s.admit('file changed')).toEqual({ pass: true, dropped: 7 });
    expect(s.admit('file changed')).toEqual({ pass: true, dropped: 0 });
    expect(s.pending()).toEqual({});
    expect(s.droppedTotal()).toBe(7);
  });
});
