// Rate-limits noisy log lines (per-file debug events, a watcher error repeating every few ms)
// per message, and remembers how many it dropped so the next line that passes can say so.

/** Options of createLogSampler. */
export interface LogSamplerOptions {
  /** Lines let through per message and window (default 20). */
  perWindow?: number;
  /** Window length in ms (default 10 s). */
  windowMs?: number;
  now?: () => number;
}

/** What the sampler decided for one line. */
export interface SampleDecision {
  /** Write the line. */
  pass: boolean;
  /** Lines of this message dropped since the last one that passed (only set when pass is true). */
  dropped: number;
}

/** A per-message rate limiter for log lines. */
export interface LogSampler {
  /** Decides whether one line with this key may be written. */
  admit(key: string): SampleDecision;
  /** Lines dropped so far and not yet reported, per key (for a summary at shutdown). */
  pending(): Record<string, number>;
  /** Total lines dropped since creation. */
  droppedTotal(): number;
}

/** Creates a sampler that lets `perWindow` lines per key through each window and counts the rest. */
export function createLogSampler(opts: LogSamplerOptions = {}): LogSampler {
  const perWindow = opts.perWindow ?? 20;
  const windowMs = opts.windowMs ?? 10_000;
  const now = opts.now ?? Date.now;
  const slots = new Map<string, { start: number; passed: number; dropped: number }>();
  let total = 0;
  return {
    admit(key) {
      const t = now();
      let s = slots.get(key);
      if (!s) slots.set(key, (s = { start: t, passed: 0, dropped: 0 }));
      if (t - s.start >= windowMs) { s.start = t; s.passed = 0; }
      if (s.passed < perWindow) {
        s.passed++;
        const dropped = s.dropped;
        s.dropped = 0;
        return { pass: true, dropped };
      }
      s.dropped++;
      total++;
      return { pass: false, dropped: 0 };
    },
    pending() {
      const out: Record<string, number> = {};
      for (const [k, s] of slots) if (s.dropped > 0) out[k] = s.dropped;
      return out;
    },
    droppedTotal: () => total,
  };
}
