// Prometheus metrics of one sync client (the agent, the tray app): last sync, pending changes,
// open conflicts, sync runs and their outcome. Fed by engine events and refreshed from
// engine.status() when scraped, in a registry of its own (no process-global state).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine, EngineEvent } from '../Engine.js';

/** The client's metrics and how to read them. */
export interface ClientMetrics {
  registry: Registry;
  /** Prometheus text of the current values, after refreshing the gauges from engine.status(). */
  metrics(): Promise<string>;
  /** Content-Type of metrics(). */
  contentType: string;
  /** Feeds an engine event (createClientMetrics subscribes to the engine itself when given one). */
  observe(e: EngineEvent): void;
  /** Unsubscribes from the engine. */
  close(): void;
}

/** Creates the client metrics; with `engine` they follow its events and status. */
export function createClientMetrics(opts: { engine?: Pick<Engine, 'on' | 'status'> } = {}): ClientMetrics {
  const registry = new Registry();
  const registers = [registry];
  const lastSync = new Gauge({ name: 'dman_client_last_sync_timestamp_seconds', help: 'When the last sync of a user finished (from the engine state)', labelNames: ['user'], registers });
  const pending = new Gauge({ name: 'dman_client_pending_changes', help: 'Local changes not yet published', labelNames: ['user'], registers });
  const conflicts = new Gauge({ name: 'dman_client_conflicts', help: 'Open conflicts waiting for review', labelNames: ['user'], registers });
  const tracked = new Gauge({ name: 'dman_client_tracked_files', help: 'Tracked files', labelNames: ['user'], registers });
  const online = new Gauge({ name: 'dman_client_server_online', help: '1 when the server answered the last status check', registers });
  const runs = new Counter({ name: 'dman_client_sync_runs_total', help: 'Sync runs per user and outcome', labelNames: ['user', 'outcome'], registers });
  const actions = new Counter({ name: 'dman_client_sync_actions_total', help: 'Files published, installed, deleted or conflicted by sync runs', labelNames: ['user', 'action'], registers });
  const duration = new Histogram({ name: 'dman_client_sync_duration_seconds', help: 'Duration of one user\'s sync run', labelNames: ['user'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
  const errors = new Counter({ name: 'dman_client_errors_total', help: 'Errors reported by the engine, by code', labelNames: ['code'], registers });

  function observe(e: EngineEvent): void {
    if (e.type === 'synced') {
      const r = e.report;
      runs.inc({ user: e.user, outcome: r.errors.length ? 'error' : r.conflicts.length ? 'conflicts' : 'ok' });
      duration.observe({ user: e.user }, r.timings.totalMs / 1000);
      for (const k of ['published', 'installed', 'deleted', 'conflicts'] as const) if (r.counts[k] > 0) actions.inc({ user: e.user, action: k }, r.counts[k]);
      if (!r.errors.length) lastSync.set({ user: e.user }, Date.now() / 1000);
    } else if (e.type === 'error') {
      errors.inc({ code: e.error.code });
    }
  }
  const off = opts.engine?.on(observe);

  return {
    registry,
    contentType: registry.contentType,
    observe,
    close: () => off?.(),
    async metrics() {
      if (opts.engine) {
        try {
          const s = await opts.engine.status();
          online.set(s.online ? 1 : 0);
          for (const u of s.users) {
            pending.set({ user: u.user }, u.pending);
            conflicts.set({ user: u.user }, u.conflicts);
            tracked.set({ user: u.user }, u.tracked);
            if (u.lastSyncAt !== null) lastSync.set({ user: u.user }, u.lastSyncAt / 1000);
          }
        } catch {
          online.set(0);
        }
      }
      return registry.metrics();
    },
  };
}
