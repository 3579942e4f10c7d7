// Server-rendered dashboard page: every number is in the HTML, so it reads without JavaScript;
// dashboard.js then refreshes it and draws the charts with uPlot.
import type { DashboardData } from './buildDashboardData.js';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes text for HTML. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c]!);
}

/** Formats bytes as B, KiB, MiB, GiB. */
export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Formats a duration in seconds as "3d 4h", "5h 2m", "7m 3s". */
export function fmtUptime(s: number): string {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

const time = (ms: number | null) => (ms === null ? '–' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));

/** Requests per second over the newest full minute of the series. */
export function recentRate(d: DashboardData): number {
  const pts = d.series.slice(-7, -1);
  const n = pts.reduce((a, p) => a + p.count, 0);
  return pts.length ? n / (pts.length * d.bucketS) : 0;
}

/** True for routes clients sync through (not the dashboard, metrics or push streams). */
export function isSyncRoute(route: string): boolean {
  return !/\/dashboard|\/metrics|\/events$/.test(route);
}

function kpis(d: DashboardData): string {
  const all = d.routes.reduce((a, r) => ({ count: a.count + r.count, errors: a.errors + r.errors }), { count: 0, errors: 0 });
  // The dashboard's own page loads and the long-lived push streams would drown the sync routes.
  const p95 = Math.max(0, ...d.routes.filter((r) => isSyncRoute(r.route)).map((r) => r.p95));
  const cards: Array<[string, string, string, string]> = [
    ['rate', 'Requests / s', recentRate(d).toFixed(2), `${all.count} in ${d.windowS / 60} min`],
    ['p95', 'Latency p95', `${p95.toFixed(1)} ms`, 'slowest sync route'],
    ['errors', 'Server errors', String(all.errors), `${d.totals.errors} since start`],
    ['auth', 'Auth failures', String(d.totals.authFailures), 'since start'],
    ['subs', 'Push streams', String(d.totals.subscribers), 'open now'],
    ['users', 'Users', String(d.users.length), fmtBytes(d.users.reduce((a, u) => a + u.bytes, 0))],
  ];
  return cards.map(([id, label, value, sub]) => `<div class="card" id="kpi-${id}"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div><div class="sub">${esc(sub)}</div></div>`).join('');
}

function table(head: string[], rows: string[][], empty: string, cls = ''): string {
  const body = rows.length ? rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('') : `<tr><td class="empty" colspan="${head.length}">${esc(empty)}</td></tr>`;
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Renders the HTML tables and panels (also used by the page's refresh, which fetches JSON and patches text). */
export function renderPanels(d: DashboardData): Record<string, string> {
  const maxBytes = Math.max(1, ...d.users.map((u) => u.bytes));
  const lat = (r: { p50: number; p95: number; p99: number }) => [r.p50, r.p95, r.p99].map((x) => `<span class="num">${x.toFixed(1)}</span>`);
  return {
    kpis: kpis(d),
    storage: `<div class="pill ${d.storage.ok ? 'ok' : 'down'}">${d.storage.ok ? 'up' : 'down'}</div>
      <dl><dt>driver</dt><dd>${esc(d.driver)}</dd><dt>ping</dt><dd>${esc(d.storage.latencyMs)} ms</dd>
      ${d.storage.error ? `<dt>error</dt><dd class="bad">${esc(d.storage.error)}</dd>` : ''}
      ${d.storage.lastError ? `<dt>last failure</dt><dd>${esc(time(d.storage.lastError.at))} in ${esc(d.storage.lastError.op)}: ${esc(d.storage.lastError.message)}</dd>` : ''}
      ${Object.entries(d.storage.details).filter(([, v]) => typeof v !== 'object' || v === null).slice(0, 8).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(/bytes/i.test(k) && typeof v === 'number' ? fmtBytes(v) : v)}</dd>`).join('')}
      </dl>${d.storage.warnings.map((w) => `<p class="warn">${esc(w)}</p>`).join('')}`,
    routes: table(['route', 'requests', '5xx', 'p50', 'p95', 'p99'], d.routes.slice(0, 12).map((r) => [`<code>${esc(r.route)}</code>`, `<span class="num">${r.count}</span>`, `<span class="num${r.errors ? ' bad' : ''}">${r.errors}</span>`, ...lat(r)]), 'no requests in the window'),
    store: table(['operation', 'calls', 'errors', 'p50', 'p95', 'p99'], d.storeOps.slice(0, 12).map((r) => [`<code>${esc(r.op)}</code>`, `<span class="num">${r.count}</span>`, `<span class="num${r.errors ? ' bad' : ''}">${r.errors}</span>`, ...lat(r)]), 'no store operations in the window'),
    users: table(['user', 'files', 'size', '', 'rev', 'last commit'], d.users.map((u) => [esc(u.user), `<span class="num">${u.files}</span>`, `<span class="num">${esc(fmtBytes(u.bytes))}</span>`, `<meter min="0" max="${maxBytes}" value="${u.bytes}"></meter>`, `<span class="num">${u.headRev}</span>`, esc(time(u.lastCommitAt))]), 'no user has synced yet'),
    audit: table(['time', 'action', 'outcome', 'user', 'source', 'details'], d.audit.slice(0, 25).map((a) => [esc(time(a.time)), `<code>${esc(a.action)}</code>`, `<span class="tag ${esc(a.outcome)}">${esc(a.outcome)}</span>`, esc(a.user ?? '–'), esc(a.source ?? '–'), `<span class="details">${esc(a.details ? Object.entries(a.details).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ') : '')}</span>`]), 'no audit records yet', 'audit'),
    meta: `v${esc(d.version)} · ${esc(d.commit.slice(0, 12))} · up ${esc(fmtUptime(d.uptimeS))} · updated ${esc(time(d.now))}`,
  };
}

/** Renders the whole page; `data` is embedded for the first chart draw (as JSON in a non-executed script tag). */
export function renderDashboard(d: DashboardData, opts: { hasCharts: boolean }): string {
  const p = renderPanels(d);
  const json = JSON.stringify(d).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,"><title>dman server dashboard</title>
${opts.hasCharts ? '<link rel="stylesheet" href="/dashboard/assets/uPlot.min.css">' : ''}
<link rel="stylesheet" href="/dashboard/assets/dashboard.css"></head>
<body><header><h1><span class="logo">●</span> dman <small>server dashboard</small></h1><div id="meta" class="meta">${p.meta}</div></header>
<main>
<section class="kpis" id="kpis">${p.kpis}</section>
<section class="grid2">
  <div class="panel"><h2>Requests and errors <small>per ${d.bucketS} s, last ${d.windowS / 60} min</small></h2><div class="chart" id="chart-rate"><noscript>Charts need JavaScript; the tables below have the numbers.</noscript></div></div>
  <div class="panel"><h2>Latency <small>p50 / p95 ms, all routes</small></h2><div class="chart" id="chart-latency"></div></div>
</section>
<section class="grid3">
  <div class="panel"><h2>Storage</h2><div id="storage">${p.storage}</div></div>
  <div class="panel span2"><h2>Users</h2><div id="users">${p.users}</div></div>
</section>
<section class="grid2">
  <div class="panel"><h2>Routes <small>last ${d.windowS / 60} min, latency in ms</small></h2><div id="routes">${p.routes}</div></div>
  <div class="panel"><h2>Store operations <small>${esc(d.driver)}, last ${d.windowS / 60} min, latency in ms</small></h2><div id="store">${p.store}</div></div>
</section>
<section class="panel"><h2>Audit trail <small>newest first</small></h2><div id="audit">${p.audit}</div></section>
</main>
<script type="application/json" id="initial">${json}</script>
${opts.hasCharts ? '<script src="/dashboard/assets/uPlot.iife.min.js"></script>' : ''}
<script src="/dashboard/assets/dashboard.js"></script>
</body></html>`;
}
