// A Proxy around the Store: every operation's latency lands in Prometheus (by driver and op)
// and in the sliding window of /status; commits and uploads in flight are queue-depth gauges;
// the driver's up/down state follows health checks and STORE_UNAVAILABLE failures.
import { isDmanError } from '../../shared/errors.js';
import type { ServerMetrics } from '../http/metrics.js';
import type { CommitInput, Store } from '../store/Store.js';
import type { LatencyWindow } from './createLatencyWindow.js';

/** What the wrapper knows about the driver's health between health checks. */
export interface DriverState { up: boolean; lastError: { message: string; at: number; op: string } | null }

/** Options of instrumentStore. */
export interface InstrumentStoreOptions { metrics: ServerMetrics; window?: LatencyWindow; now?: () => number }

const TIMED = new Set(['health', 'putBlob', 'putBlobs', 'hasBlob', 'getBlob', 'getBlobs', 'headRev', 'getEntry', 'listEntries', 'changes', 'commit', 'history', 'applyRetention', 'gcBlobs', 'listUsers', 'stats', 'putToken', 'getTokenByHash', 'listTokens', 'revokeToken', 'touchToken', 'appendAudit', 'listAudit']);

/** Wraps a store so each async operation is timed and counted; returns the wrapper and the driver state. */
export function instrumentStore(inner: Store, opts: InstrumentStoreOptions): { store: Store; state: DriverState } {
  const { metrics } = opts;
  const now = opts.now ?? Date.now;
  const driver = inner.driver;
  const state: DriverState = { up: true, lastError: null };
  metrics.storeUp.set({ driver }, 1);
  const setUp = (up: boolean) => { state.up = up; metrics.storeUp.set({ driver }, up ? 1 : 0); };

  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || !TIMED.has(prop) || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        const t0 = performance.now();
        const end = metrics.storeLatency.startTimer({ driver, op: prop });
        const queue = prop === 'commit' ? metrics.commitsInFlight : prop === 'putBlob' || prop === 'putBlobs' ? metrics.blobUploadsInFlight : null;
        if (prop === 'commit') metrics.commitOps.observe({ driver }, (args[0] as CommitInput).ops?.length ?? 0);
        queue?.inc({ driver });
        try {
          const r = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          end({ outcome: 'ok' });
          opts.window?.record(prop, performance.now() - t0);
          if (prop === 'health') {
            const h = r as { ok: boolean; error?: string };
            setUp(h.ok);
            if (!h.ok) state.lastError = { message: h.error ?? 'health check failed', at: now(), op: prop };
          } else if (!state.up) setUp(true);
          return r;
        } catch (err) {
          end({ outcome: 'error' });
          opts.window?.record(prop, performance.now() - t0, true);
          if (prop === 'health' || isDmanError(err, 'STORE_UNAVAILABLE')) {
            setUp(false);
            state.lastError = { message: (err as Error).message, at: now(), op: prop };
          }
          throw err;
        } finally {
          queue?.dec({ driver });
        }
      };
    },
  });
  return { store, state };
}
