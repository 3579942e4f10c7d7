// What the ops routes and the dashboard read about this server process beyond Prometheus.
import type { LatencyWindow } from './createLatencyWindow.js';
import type { DriverState } from './instrumentStore.js';

/** Live facts of one server process: latency windows, driver state, start time and build. */
export interface Observability {
  /** Requests by "METHOD /route" (errors are 5xx replies). */
  routes: LatencyWindow;
  /** Store operations by name. */
  store: LatencyWindow;
  driver: DriverState;
  startedAt: number;
  commit: string;
}
