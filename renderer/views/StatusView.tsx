// Status: per user, last sync and counts; the groups (paused or not); the activity log; Sync now
// and Pause/Resume.
import { useEffect, useState } from 'react';
import type { Activity, ApiResult } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { routeHref } from '../route.js';
import { ago, Button, ErrorNotice, OkNotice, PageHeader, StatePill, when } from '../ui.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];

/** Renders the status page. */
export function StatusView() {
  const { api, state, live, progress, setState, refresh } = useDman();
  const [log, setLog] = useState<Activity[]>([]);
  const [busy, setBusy] = useState<'sync' | 'pause' | null>(null);
  const [error, setError] = useState<Err | null>(null);
  const [done, setDone] = useState<string | null>(null);

  useEffect(() => { void api.activity(100).then((r) => { if (r.ok) setLog(r.value); }); }, [api]);
  if (!state) return null;

  const lines = mergeActivity(live, log);
  const syncNow = async () => {
    setBusy('sync'); setError(null); setDone(null);
    const r = await api.syncNow();
    setBusy(null);
    if (!r.ok) setError(r.error);
    else setDone(`Synced in ${Math.round(r.value.durationMs)} ms: ${r.value.published} uploaded, ${r.value.installed} downloaded, ${r.value.deleted} deleted, ${r.value.conflicts} conflicts.`);
    void refresh();
    void api.activity(100).then((a) => { if (a.ok) setLog(a.value); });
  };
  const togglePause = async () => {
    setBusy('pause'); setError(null);
    const r = await api.setPaused(!state.paused);
    setBusy(null);
    if (r.ok) setState(r.value); else setError(r.error);
  };
  const toggleGroup = async (name: string, enabled: boolean) => {
    // Show the new position at once; the reply confirms it (or puts it back with the reason).
    setState({ ...state, groups: state.groups.map((g) => (g.name === name ? { ...g, enabled } : g)) });
    const r = await api.setGroupEnabled(name, enabled);
    if (r.ok) setState(r.value); else { setState(state); setError(r.error); }
  };

  return (
    <>
      <PageHeader
        title="Status"
        subtitle={<><StatePill state={state.state} /> <span className="muted">Last sync {ago(state.lastSyncAt)} · server {state.serverUrl ?? 'none'}</span></>}
        actions={<>
          <Button onClick={togglePause} busy={busy === 'pause'}>{state.paused ? 'Resume syncing' : 'Pause syncing'}</Button>
          <Button variant="primary" onClick={syncNow} busy={busy === 'sync'} disabled={state.paused}>Sync now</Button>
        </>}
      />
      {progress && <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={progress.total} aria-valuenow={progress.done} aria-label={progress.phase}>
        <div style={{ width: `${(100 * progress.done) / Math.max(1, progress.total)}%` }} />
      </div>}
      <ErrorNotice error={error} title="Sync failed" />
      <ErrorNotice error={state.lastError} title="The last sync reported a problem" />
      {done && <OkNotice>{done}</OkNotice>}
      {state.conflictCount > 0 && (
        <div className="notice notice-warn">
          <strong>{state.conflictCount} file{state.conflictCount === 1 ? '' : 's'} changed on two machines.</strong>{' '}
          <a href={routeHref('conflicts')}>Review conflicts</a>
        </div>
      )}

      <section aria-labelledby="users-h">
        <h2 id="users-h">Users</h2>
        <div className="cards">
          {state.users.map((u) => (
            <article className="card user-card" key={u.name} aria-label={`user ${u.name}`}>
              <header><h3>{u.name}</h3><span className="muted mono small">{u.home}</span></header>
              <dl className="stats">
                <div><dt>Files</dt><dd>{u.files}</dd></div>
                <div><dt>Pending</dt><dd>{u.pending}</dd></div>
                <div><dt>Conflicts</dt><dd className={u.conflicts ? 'warn' : ''}>{u.conflicts}</dd></div>
                <div><dt>Last sync</dt><dd className="text" title={u.lastSyncAt ? when(u.lastSyncAt) : undefined}>{ago(u.lastSyncAt)}</dd></div>
              </dl>
            </article>
          ))}
        </div>
      </section>

      {state.groups.length > 0 && (
        <section aria-labelledby="groups-h">
          <h2 id="groups-h">Groups</h2>
          <ul className="group-list card">
            {state.groups.map((g) => (
              <li key={g.name}>
                <label className="switch">
                  <input type="checkbox" role="switch" checked={g.enabled} onChange={(e) => void toggleGroup(g.name, e.target.checked)} />
                  <span className="slider" aria-hidden="true" />
                  <span className="group-name">{g.name}</span>
                </label>
                <span className="muted mono small">{g.patterns.join('  ')}</span>
                {!g.enabled && <span className="tag">paused</span>}
              </li>
            ))}
          </ul>
        </section>
      )}

      <section aria-labelledby="activity-h">
        <h2 id="activity-h">Activity</h2>
        {lines.length === 0 ? <p className="muted">Nothing yet.</p> : (
          <ol className="activity card">
            {lines.slice(0, 100).map((a, i) => (
              <li key={`${a.time}-${i}`} className={`lvl-${a.level}`}>
                <time dateTime={new Date(a.time).toISOString()}>{new Date(a.time).toLocaleTimeString()}</time>
                <span className="msg">{a.message}</span>
                {a.path && <span className="mono small muted">{a.user ? `${a.user}:` : ''}{a.path}</span>}
              </li>
            ))}
          </ol>
        )}
      </section>
    </>
  );
}

function mergeActivity(live: Activity[], fetched: Activity[]): Activity[] {
  const seen = new Set<string>();
  const out: Activity[] = [];
  for (const a of [...live, ...fetched].sort((x, y) => y.time - x.time)) {
    const k = `${a.time}|${a.message}|${a.path}`;
    if (!seen.has(k)) { seen.add(k); out.push(a); }
  }
  return out;
}
