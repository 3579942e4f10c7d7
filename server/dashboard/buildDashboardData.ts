// The dashboard's data: one JSON document polled by the page and rendered server-side on first load.
import type { RouteContext } from '../http/context.js';
import type { Observability } from '../observability/Observability.js';
import type { AuditRecord } from '../store/Store.js';

/** Everything the dashboard shows. */
export interface DashboardData {
  now: number;
  version: string;
  commit: string;
  uptimeS: number;
  driver: string;
  storage: { ok: boolean; latencyMs: number; error?: string; warnings: string[]; details: Record<string, unknown>; lastError: Observability['driver']['lastError'] };
  windowS: number;
  bucketS: number;
  series: Array<{ t: number; count: number; errors: number; p50: number; p95: number }>;
  routes: Array<{ route: string; count: number; errors: number; p50: number; p95: number; p99: number }>;
  storeOps: Array<{ op: string; count: number; errors: number; p50: number; p95: number; p99: number }>;
  totals: { requests: number; errors: number; authFailures: number; subscribers: number };
  users: Array<{ user: string; files: number; bytes: number; headRev: number; lastCommitAt: number | null }>;
  audit: AuditRecord[];
}

async function metricSum(ctx: RouteContext, name: string, where?: (labels: Record<string, unknown>) => boolean): Promise<number> {
  const m = ctx.metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  const v = await m.get();
  return v.values.filter((x) => !where || where(x.labels)).reduce((n, x) => n + x.value, 0);
}

/** Collects the dashboard's data from the store, the metrics and the latency windows. */
export async function buildDashboardData(ctx: RouteContext, obs: Observability): Promise<DashboardData> {
  const { store } = ctx;
  const health = await store.health().catch((err: Error) => ({ ok: false, latencyMs: 0, error: err.message, warnings: [] as string[], details: {} }));
  const users: DashboardData['users'] = [];
  const audit = await store.listAudit({ limit: 50 }).catch(() => [] as AuditRecord[]);
  try {
    for (const user of await store.listUsers()) {
      const s = await store.stats(user);
      users.push({ user, files: s.files, bytes: s.bytes, headRev: s.headRev, lastCommitAt: s.lastCommitAt });
    }
  } catch {
    // A down store still gets a dashboard: its health panel says why.
  }
  const summaries = (w: Observability['routes']) => Object.entries(w.summaries()).map(([k, s]) => ({ key: k, count: s.count, errors: s.errors, p50: s.p50, p95: s.p95, p99: s.p99 }));
  return {
    now: ctx.now(), version: ctx.version, commit: obs.commit, uptimeS: Math.round((ctx.now() - obs.startedAt) / 1000), driver: store.driver,
    storage: { ok: health.ok, latencyMs: Math.round(health.latencyMs * 100) / 100, ...(health.error ? { error: health.error } : {}), warnings: health.warnings ?? [], details: health.details ?? {}, lastError: obs.driver.lastError },
    windowS: obs.routes.windowMs / 1000, bucketS: obs.routes.bucketMs / 1000,
    series: obs.routes.series(),
    routes: summaries(obs.routes).map(({ key, ...s }) => ({ route: key, ...s })).sort((a, b) => b.count - a.count),
    storeOps: summaries(obs.store).map(({ key, ...s }) => ({ op: key, ...s })).sort((a, b) => b.count - a.count),
    totals: {
      requests: await metricSum(ctx, 'dman_http_requests_total'),
      errors: await metricSum(ctx, 'dman_http_requests_total', (l) => Number(l.status) >= 500),
      authFailures: await metricSum(ctx, 'dman_auth_failures_total'),
      subscribers: await metricSum(ctx, 'dman_sse_subscribers'),
    },
    users, audit,
  };
}
