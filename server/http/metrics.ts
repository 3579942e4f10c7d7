// Prometheus metrics of one server instance, in its own registry (no process-global state).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The metrics one server records. */
export interface ServerMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  latency: Histogram<'method' | 'route'>;
  storeLatency: Histogram<'driver' | 'op' | 'outcome'>;
  bytesIn: Counter;
  bytesOut: Counter;
  sseSubscribers: Gauge;
  authFailures: Counter<'reason'>;
  /** Ops per commit (publish batch size). */
  commitOps: Histogram<'driver'>;
  /** Commits being applied right now (queue depth). */
  commitsInFlight: Gauge<'driver'>;
  /** Blob uploads streaming into the store right now. */
  blobUploadsInFlight: Gauge<'driver'>;
  /** 1 while the storage driver answers, 0 after it failed. */
  storeUp: Gauge<'driver'>;
  /** 1, labelled with the build (version, commit). */
  buildInfo: Gauge<'version' | 'commit'>;
  /** Process start time, for uptime. */
  startTime: Gauge;
}

/** Creates the metrics of one server. */
export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    requests: new Counter({ name: 'dman_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers }),
    latency: new Histogram({ name: 'dman_http_request_duration_seconds', help: 'HTTP request latency by route', labelNames: ['method', 'route'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers }),
    storeLatency: new Histogram({ name: 'dman_store_op_duration_seconds', help: 'Store operation latency by driver and operation', labelNames: ['driver', 'op', 'outcome'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
    bytesIn: new Counter({ name: 'dman_http_bytes_in_total', help: 'Request body bytes received', registers }),
    bytesOut: new Counter({ name: 'dman_http_bytes_out_total', help: 'Response body bytes sent', registers }),
    sseSubscribers: new Gauge({ name: 'dman_sse_subscribers', help: 'Open push-stream (SSE) connections', registers }),
    authFailures: new Counter({ name: 'dman_auth_failures_total', help: 'Failed authentications', labelNames: ['reason'], registers }),
    commitOps: new Histogram({ name: 'dman_commit_ops', help: 'Operations per commit (batch size)', labelNames: ['driver'], buckets: [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000], registers }),
    commitsInFlight: new Gauge({ name: 'dman_commits_in_flight', help: 'Commits being applied now (pending commits)', labelNames: ['driver'], registers }),
    blobUploadsInFlight: new Gauge({ name: 'dman_blob_uploads_in_flight', help: 'Blob uploads streaming into the store now', labelNames: ['driver'], registers }),
    storeUp: new Gauge({ name: 'dman_store_up', help: '1 while the storage driver answers, 0 after a failure', labelNames: ['driver'], registers }),
    buildInfo: new Gauge({ name: 'dman_build_info', help: 'Build of this server (always 1)', labelNames: ['version', 'commit'], registers }),
    startTime: new Gauge({ name: 'dman_start_time_seconds', help: 'Start time of this server, seconds since the epoch', registers }),
  };
}
