// Latency and error counts over the last few minutes, per key (a route, a store operation), in
// fixed time buckets: /status reports p50/p95/p99 from it and the dashboard draws its series.
// Prometheus histograms answer the same over any range, but only to whoever scrapes them.

/** Options of createLatencyWindow. */
export interface LatencyWindowOptions {
  /** Length of the window in ms (default 5 minutes). */
  windowMs?: number;
  /** Bucket length in ms (default 10 s). */
  bucketMs?: number;
  /** Samples kept per key and bucket; beyond it a reservoir sample (default 512). */
  maxSamples?: number;
  now?: () => number;
  random?: () => number;
}

/** Percentiles and counts of one key over the window. */
export interface LatencySummary { count: number; errors: number; p50: number; p95: number; p99: number; maxMs: number }

/** One time bucket of all keys together (oldest first in series()). */
export interface LatencyPoint { t: number; count: number; errors: number; p50: number; p95: number }

/** A sliding window of latencies. */
export interface LatencyWindow {
  /** Records one observation of `key` taking `ms`. */
  record(key: string, ms: number, isError?: boolean): void;
  /** Summaries per key over the window. */
  summaries(): Record<string, LatencySummary>;
  /** One point per bucket over the window, all keys merged. */
  series(): LatencyPoint[];
  readonly windowMs: number;
  readonly bucketMs: number;
}

interface Cell { seen: number; errors: number; max: number; samples: number[] }

/** Returns the q-quantile (0..1) of sorted values, nearest rank; 0 for none. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Creates an empty window. */
export function createLatencyWindow(opts: LatencyWindowOptions = {}): LatencyWindow {
  const windowMs = opts.windowMs ?? 5 * 60_000;
  const bucketMs = opts.bucketMs ?? 10_000;
  const maxSamples = opts.maxSamples ?? 512;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const buckets = new Map<number, Map<string, Cell>>();

  const slot = (t: number) => Math.floor(t / bucketMs) * bucketMs;
  function live(): Array<[number, Map<string, Cell>]> {
    const oldest = slot(now()) - windowMs + bucketMs;
    for (const t of buckets.keys()) if (t < oldest) buckets.delete(t);
    return [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  }
  function summarize(cells: Cell[]): LatencySummary & { sorted: number[] } {
    const sorted = cells.flatMap((c) => c.samples).sort((a, b) => a - b);
    return {
      count: cells.reduce((n, c) => n + c.seen, 0), errors: cells.reduce((n, c) => n + c.errors, 0),
      p50: round(quantile(sorted, 0.5)), p95: round(quantile(sorted, 0.95)), p99: round(quantile(sorted, 0.99)),
      maxMs: round(cells.reduce((m, c) => Math.max(m, c.max), 0)), sorted,
    };
  }

  return {
    windowMs, bucketMs,
    record(key, ms, isError = false) {
      const t = slot(now());
      let b = buckets.get(t);
      if (!b) { buckets.set(t, (b = new Map())); live(); }
      let c = b.get(key);
      if (!c) b.set(key, (c = { seen: 0, errors: 0, max: 0, samples: [] }));
      c.seen++;
      if (isError) c.errors++;
      c.max = Math.max(c.max, ms);
      if (c.samples.length < maxSamples) c.samples.push(ms);
      else {
        const i = Math.floor(random() * c.seen);
        if (i < maxSamples) c.samples[i] = ms;
      }
    },
    summaries() {
      const byKey = new Map<string, Cell[]>();
      for (const [, b] of live()) for (const [k, c] of b) (byKey.get(k) ?? byKey.set(k, []).get(k)!).push(c);
      const out: Record<string, LatencySummary> = {};
      for (const k of [...byKey.keys()].sort()) {
        const { sorted: _s, ...s } = summarize(byKey.get(k)!);
        out[k] = s;
      }
      return out;
    },
    series() {
      const have = new Map(live());
      const points: LatencyPoint[] = [];
      const end = slot(now());
      for (let t = end - windowMs + bucketMs; t <= end; t += bucketMs) {
        const s = summarize([...(have.get(t)?.values() ?? [])]);
        points.push({ t, count: s.count, errors: s.errors, p50: s.p50, p95: s.p95 });
      }
      return points;
    },
  };
}
