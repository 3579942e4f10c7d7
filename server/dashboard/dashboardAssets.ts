// The dashboard's own script and stylesheet, kept as strings so every build of the server (tsx,
// the esbuild bundle, the SEA binary) carries them without a file lookup.

/** The page script: polls the JSON endpoint, swaps the server-rendered panels, draws two uPlot charts. */
export const DASHBOARD_JS = String.raw`(function () {
  'use strict';
  var REFRESH_MS = 5000;
  var charts = {};
  var last = JSON.parse(document.getElementById('initial').textContent);
  var palette = { req: '#4f8cff', err: '#ff5d5d', p50: '#3ecf8e', p95: '#f5a623' };

  function size(el) { return { width: Math.max(280, el.clientWidth - 4), height: 200 }; }

  function chart(id, series, data) {
    var el = document.getElementById(id);
    if (!el || !window.uPlot) return;
    if (charts[id]) { charts[id].setData(data); return; }
    el.textContent = '';
    var s = size(el);
    charts[id] = new window.uPlot({
      width: s.width, height: s.height, legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: '#8a94a6', grid: { stroke: '#232a36' }, ticks: { stroke: '#232a36' } },
        { stroke: '#8a94a6', grid: { stroke: '#232a36' }, ticks: { stroke: '#232a36' }, size: 50 }
      ],
      series: [{}].concat(series)
    }, data, el);
  }

  function draw(d) {
    var xs = d.series.map(function (p) { return p.t / 1000; });
    var per = d.bucketS;
    chart('chart-rate', [
      { label: 'requests/s', stroke: palette.req, width: 2, fill: 'rgba(79,140,255,0.15)' },
      { label: '5xx/s', stroke: palette.err, width: 2 }
    ], [xs, d.series.map(function (p) { return p.count / per; }), d.series.map(function (p) { return p.errors / per; })]);
    chart('chart-latency', [
      { label: 'p50 ms', stroke: palette.p50, width: 2 },
      { label: 'p95 ms', stroke: palette.p95, width: 2 }
    ], [xs, d.series.map(function (p) { return p.count ? p.p50 : null; }), d.series.map(function (p) { return p.count ? p.p95 : null; })]);
  }

  function swap(panels) {
    Object.keys(panels).forEach(function (k) {
      var el = document.getElementById(k);
      // The server escapes every value in these fragments (renderPanels).
      if (el) el.innerHTML = panels[k];
    });
  }

  function refresh() {
    fetch('/v1/admin/dashboard.json?html=1', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { document.body.classList.add('stale'); throw new Error('signed out'); }
        return r.json();
      })
      .then(function (d) {
        last = d;
        document.body.classList.remove('stale');
        swap(d.panels);
        draw(d);
      })
      .catch(function () { document.body.classList.add('stale'); });
  }

  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (id) { charts[id].setSize(size(document.getElementById(id))); });
  });
  draw(last);
  setInterval(refresh, REFRESH_MS);
})();
`;

/** The page stylesheet. */
export const DASHBOARD_CSS = String.raw`:root { color-scheme: dark; --bg: #0f131a; --panel: #171c25; --line: #262d3a; --text: #e6e9ef; --dim: #8a94a6; --ok: #3ecf8e; --bad: #ff5d5d; --warn: #f5a623; --accent: #4f8cff; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body.stale main { opacity: .55; }
header { display: flex; align-items: baseline; justify-content: space-between; gap: 16px; padding: 14px 24px; border-bottom: 1px solid var(--line); background: #121721; }
h1 { font-size: 18px; margin: 0; font-weight: 600; }
h1 small { color: var(--dim); font-weight: 400; margin-left: 6px; }
.logo { color: var(--accent); }
.meta { color: var(--dim); font-size: 12px; }
main { padding: 18px 24px 32px; display: grid; gap: 16px; max-width: 1400px; margin: 0 auto; }
.kpis { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.card .label { color: var(--dim); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 26px; font-weight: 600; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--dim); font-size: 12px; }
#kpi-errors .value, #kpi-auth .value { color: var(--text); }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.grid3 { display: grid; grid-template-columns: 1fr 2fr; gap: 16px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; min-width: 0; }
.panel h2 { font-size: 14px; margin: 0 0 10px; font-weight: 600; }
.panel h2 small { color: var(--dim); font-weight: 400; margin-left: 6px; }
.chart { min-height: 230px; color: var(--dim); }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { white-space: nowrap; text-align: left; color: var(--dim); font-weight: 500; border-bottom: 1px solid var(--line); padding: 6px 8px; }
td { border-bottom: 1px solid #1e2430; padding: 6px 8px; vertical-align: top; }
td.empty { color: var(--dim); text-align: center; padding: 14px; }
.num { font-variant-numeric: tabular-nums; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; color: #c7d2fe; }
.bad { color: var(--bad); }
.warn { color: var(--warn); margin: 8px 0 0; }
.pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; text-transform: uppercase; }
.pill.ok { background: rgba(62,207,142,.15); color: var(--ok); }
.pill.down { background: rgba(255,93,93,.15); color: var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 10px 0 0; font-size: 13px; }
dt { color: var(--dim); }
dd { margin: 0; overflow-wrap: anywhere; }
meter { width: 140px; height: 10px; vertical-align: middle; }
.tag { padding: 1px 8px; border-radius: 6px; font-size: 12px; }
.tag.ok { background: rgba(62,207,142,.12); color: var(--ok); }
.tag.denied { background: rgba(255,93,93,.12); color: var(--bad); }
.tag.failed { background: rgba(245,166,35,.12); color: var(--warn); }
.audit .details { color: var(--dim); font: 12px ui-monospace, monospace; overflow-wrap: anywhere; }
.uplot { font-family: inherit; }
.u-legend { color: var(--dim); font-size: 12px; }
@media (max-width: 900px) { .kpis { grid-template-columns: repeat(2, 1fr); } .grid2, .grid3 { grid-template-columns: 1fr; } }
`;
