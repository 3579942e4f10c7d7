// Throttles failed authentication per source address: after `maxFailures` in `windowMs` the
// source waits (429 + Retry-After) while every other client keeps working.

export interface FailureThrottleOptions {
  maxFailures?: number;
  windowMs?: number;
  /** How long a source that hit the limit is refused. */
  blockMs?: number;
  /** Cap on tracked sources, so a flood of addresses cannot exhaust memory. */
  maxSources?: number;
  now?: () => number;
}

export interface FailureThrottle {
  /** Seconds the source must wait, or 0 when it may try. */
  retryAfter(source: string): number;
  /** Records a failed attempt. */
  fail(source: string): void;
  /** Forgets a source after a successful attempt. */
  succeed(source: string): void;
}

/** Creates a per-source failed-auth throttle. */
export function createFailureThrottle(opts: FailureThrottleOptions = {}): FailureThrottle {
  const maxFailures = opts.maxFailures ?? 10;
  const windowMs = opts.windowMs ?? 60_000;
  const blockMs = opts.blockMs ?? 60_000;
  const maxSources = opts.maxSources ?? 10_000;
  const now = opts.now ?? Date.now;
  const state = new Map<string, { count: number; first: number; blockedUntil: number }>();

  return {
    retryAfter(source) {
      const s = state.get(source);
      if (!s) return 0;
      const t = now();
      if (s.blockedUntil > t) return Math.max(1, Math.ceil((s.blockedUntil - t) / 1000));
      if (s.blockedUntil && s.blockedUntil <= t) state.delete(source);
      return 0;
    },
    fail(source) {
      const t = now();
      let s = state.get(source);
      if (!s || t - s.first > windowMs) {
        if (!s && state.size >= maxSources) {
          // Evict the oldest entry (Map keeps insertion order).
          const oldest = state.keys().next().value;
          if (oldest !== undefined) state.delete(oldest);
        }
        s = { count: 0, first: t, blockedUntil: 0 };
        state.set(source, s);
      }
      s.count += 1;
      if (s.count >= maxFailures) s.blockedUntil = t + blockMs;
    },
    succeed(source) {
      state.delete(source);
    },
  };
}
