import { describe, expect, it } from 'vitest';
import type { DashboardData } from './buildDashboardData.js';
import { fmtBytes, fmtUptime, recentRate, renderDashboard, renderPanels } from './renderDashboard.js';

const evil = '<img src=x onerror=alert(1)>';
const data: DashboardData = {
  now: 1_700_000_000_000, version: '1.2.3', commit: 'abcdef1234567890', uptimeS: 3725, driver: 'disk',
  storage: { ok: false, latencyMs: 1.5, error: `disk ${evil}`, warnings: ['low space'], details: { dataDir: '/srv/dman', freeBytes: 5 * 1024 ** 3 }, lastError: null },
  windowS: 300, bucketS: 10,
  series: Array.from({ length: 30 }, (_, i) => ({ t: i * 10_000, count: i < 29 ? 20 : 0, errors: 0, p50: 1, p95: 2 })),
  routes: [{ route: 'GET /v1/whoami', count: 5, errors: 1, p50: 1, p95: 2, p99: 3 }, { route: 'GET /dashboard', count: 1, errors: 0, p50: 90, p95: 90, p99: 90 }],
  storeOps: [], totals: { requests: 6, errors: 1, authFailures: 2, subscribers: 0 },
  users: [{ user: evil, files: 3, bytes: 2048, headRev: 4, lastCommitAt: null }],
  audit: [{ time: 1, action: 'auth', outcome: 'denied', source: '10.0.0.1', user: null, tokenId: null, opId: null, details: { reason: `</script>${evil}` } }],
};

describe('renderDashboard', () => {
  it('escapes every value that reaches the HTML, including the embedded JSON', () => {
    const html = renderDashboard(data, { hasCharts: true });
    expect(html).not.toContain(evil);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    // The initial JSON sits in a script tag: a "</script>" inside it must not end the tag.
    const json = html.split('<script type="application/json" id="initial">')[1]!.split('</script>')[0]!;
    expect(JSON.parse(json).users[0].user).toBe(evil);
    expect(html).toContain('<script src="/dashboard/assets/uPlot.iife.min.js"></script>');
    expect(renderDashboard(data, { hasCharts: false })).not.toContain('uPlot');
  });

  it('shows the store down with its error, sizes and the sync-route p95', () => {
    const p = renderPanels(data);
    expect(p.storage).toContain('class="pill down"');
    expect(p.storage).toContain('5.0 GiB');
    expect(p.kpis).toContain('2.0 ms'); // the dashboard's own 90 ms route is left out
    expect(p.meta).toContain('up 1h 2m');
    expect(fmtBytes(2048)).toBe('2.0 KiB');
    expect(fmtUptime(59)).toBe('0m 59s');
    expect(recentRate(data)).toBe(2);
  });
});
