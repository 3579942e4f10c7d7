import { describe, expect, it } from 'vitest';
import type { Engine, EngineEvent, StatusReport, UserSyncReport } from '../Engine.js';
import { createClientMetrics } from './createClientMetrics.js';

function fakeEngine(status: StatusReport) {
  const listeners = new Set<(e: EngineEvent) => void>();
  const engine: Pick<Engine, 'on' | 'status'> = {
    on(l) { listeners.add(l); return () => listeners.delete(l); },
    async status() { return status; },
  };
  return { engine, emit: (e: EngineEvent) => { for (const l of listeners) l(e); }, listeners };
}

const report = (over: Partial<UserSyncReport> = {}): UserSyncReport => ({
  user: 'alice', home: '/h', actions: [], conflicts: [], skipped: [], errors: [], unmatchedOnly: [], excludedOnly: [],
  counts: { published: 2, installed: 1, deleted: 0, converged: 0, conflicts: 0, skipped: 0, errors: 0, unchanged: 5 },
  timings: { scanMs: 1, fetchMs: 1, planMs: 1, applyMs: 1, totalMs: 120 }, ...over,
});

describe('createClientMetrics', () => {
  it('reports last sync, pending changes and conflicts from the engine, and counts runs from its events', async () => {
    const f = fakeEngine({ serverUrl: 'http://s', online: true, users: [{ user: 'alice', home: '/h', tracked: 9, pending: 3, conflicts: 1, lastSyncAt: 1_700_000_000_000, headRev: 4 }] });
    const m = createClientMetrics({ engine: f.engine });
    f.emit({ type: 'synced', user: 'alice', report: report() });
    f.emit({ type: 'error', user: 'alice', error: { code: 'SERVER_UNREACHABLE', message: 'down' } });
    const text = await m.metrics();
    expect(text).toMatch(/dman_client_pending_changes\{user="alice"\} 3/);
    expect(text).toMatch(/dman_client_conflicts\{user="alice"\} 1/);
    expect(text).toMatch(/dman_client_last_sync_timestamp_seconds\{user="alice"\} 1700000000/);
    expect(text).toMatch(/dman_client_sync_runs_total\{user="alice",outcome="ok"\} 1/);
    expect(text).toMatch(/dman_client_sync_actions_total\{user="alice",action="published"\} 2/);
    expect(text).toMatch(/dman_client_errors_total\{code="SERVER_UNREACHABLE"\} 1/);
    expect(text).toMatch(/dman_client_server_online 1/);
    m.close();
    expect(f.listeners.size).toBe(0);
  });
});
