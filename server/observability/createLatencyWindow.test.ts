import { describe, expect, it } from 'vitest';
import { createLatencyWindow, quantile } from './createLatencyWindow.js';

describe('createLatencyWindow', () => {
  it('reports p50/p95/p99 and errors per key, and forgets buckets older than the window', () => {
    let t = 1_000_000;
    const w = createLatencyWindow({ windowMs: 60_000, bucketMs: 10_000, now: () => t });
    for (let i = 1; i <= 100; i++) w.record('GET /v1/whoami', i, i > 98);
    w.record('commit', 5);
    expect(w.summaries()['GET /v1/whoami']).toEqual({ count: 100, errors: 2, p50: 50, p95: 95, p99: 99, maxMs: 100 });
    expect(w.summaries().commit!.count).toBe(1);
    t += 30_000;
    w.record('commit', 7);
    const series = w.series();
    expect(series).toHaveLength(6);
    expect(series.reduce((n, p) => n + p.count, 0)).toBe(102);
    expect(series.at(-1)).toMatchObject({ count: 1, p50: 7 });
    t += 60_000;
    expect(w.summaries()).toEqual({});
    expect(w.series().every((p) => p.count === 0)).toBe(true);
  });

  it('keeps a bounded sample per bucket without losing the count', () => {
    const w = createLatencyWindow({ maxSamples: 10, now: () => 0 });
    for (let i = 0; i < 1000; i++) w.record('k', i % 10);
    const s = w.summaries().k!;
    expect(s.count).toBe(1000);
    expect(s.maxMs).toBe(9);
    expect(quantile([], 0.5)).toBe(0);
  });
});
