// Prometheus metrics of one server instance, in its own registry (no process-global state).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../store/Store.js';

/** The metrics one server records. */
export interface ServerMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  latency: Histogram<'method' | 'route'>;
  storeLatency: Histogram<'op' | 'outcome'>;
  bytesIn: Counter;
  bytesOut: Counter;
  sseSubscribers: Gauge;
  authFailures: Counter<'reason'>;
}

/** Creates the metrics of one server. */
export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    requests: new Counter({ name: 'dman_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers }),
    latency: new Histogram({ name: 'dman_http_request_duration_seconds', help: 'HTTP request latency by route', labelNames: ['method', 'route'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers }),
    storeLatency: new Histogram({ name: 'dman_store_op_duration_seconds', help: 'Store operation latency', labelNames: ['op', 'outcome'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
    bytesIn: new Counter({ name: 'dman_http_bytes_in_total', help: 'Request body bytes received', registers }),
    bytesOut: new Counter({ name: 'dman_http_bytes_out_total', help: 'Response body bytes sent', registers }),
    sseSubscribers: new Gauge({ name: 'dman_sse_subscribers', help: 'Open push-stream (SSE) connections', registers }),
    authFailures: new Counter({ name: 'dman_auth_failures_total', help: 'Failed authentications', labelNames: ['reason'], registers }),
  };
}

const TIMED = new Set(['health', 'putBlob', 'hasBlob', 'getBlob', 'headRev', 'getEntry', 'listEntries', 'changes', 'commit', 'history', 'applyRetention', 'gcBlobs', 'listUsers', 'stats', 'putToken', 'getTokenByHash', 'listTokens', 'revokeToken', 'touchToken', 'appendAudit', 'listAudit']);

/** Wraps a store so every async operation's latency lands in `storeLatency`. */
export function instrumentStore(store: Store, metrics: ServerMetrics): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || !TIMED.has(prop) || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        const end = metrics.storeLatency.startTimer({ op: prop });
        try {
          const r = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          end({ outcome: 'ok' });
          return r;
        } catch (err) {
          end({ outcome: 'error' });
          throw err;
        }
      };
    },
  });
}
