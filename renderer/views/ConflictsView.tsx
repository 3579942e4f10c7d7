// Conflict review: the list, and for the chosen conflict a side-by-side diff of mine and the
// server's (and each against the base), with Keep mine / Keep server's / Keep both / Merge.
import { useEffect, useMemo, useState } from 'react';
import ReactDiffViewer, { DiffMethod } from 'react-diff-viewer-continued';
import type { ApiResult, Conflict, ConflictDetail, Resolution } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { go, routeHref } from '../route.js';
import { ago, Button, ErrorNotice, OkNotice, PageHeader, Segmented } from '../ui.js';
import { useDarkMode } from '../useDarkMode.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];
type Compare = 'mine-server' | 'base-mine' | 'base-server';

// Fit the viewer into the card (its default is a 1000 px minimum) and into our palette.
const DIFF_STYLES = {
  variables: {
    light: { diffViewerBackground: 'var(--surface)', diffViewerTitleBackground: 'var(--surface-2)', diffViewerTitleColor: 'var(--text)', diffViewerTitleBorderColor: 'var(--border)' },
    dark: { diffViewerBackground: 'var(--surface)', diffViewerTitleBackground: 'var(--surface-2)', diffViewerTitleColor: 'var(--text)', diffViewerTitleBorderColor: 'var(--border)' },
  },
  diffContainer: { minWidth: 'unset' },
  titleBlock: { padding: '8px 12px', fontWeight: 600 },
};

const MARKER_RE = /^(<<<<<<<|=======|>>>>>>>)( |$)/m;

/** Renders the conflict review page. */
export function ConflictsView({ params }: { params: URLSearchParams }) {
  const { conflicts, refresh } = useDman();
  const [resolved, setResolved] = useState<string | null>(null);
  const user = params.get('user');
  const path = params.get('path');
  const selected = conflicts.find((c) => c.user === user && c.path === path) ?? conflicts[0] ?? null;

  useEffect(() => { void refresh(); }, [refresh]);

  return (
    <>
      <PageHeader title="Conflicts" subtitle={conflicts.length === 0 ? 'Nothing to review.' : `${conflicts.length} file${conflicts.length === 1 ? '' : 's'} changed here and on another machine since the last sync.`} />
      {resolved && <OkNotice>{resolved}</OkNotice>}
      {conflicts.length === 0 ? (
        <div className="empty card"><p>All clear: every file agrees with the server.</p><a href={routeHref('status')}>Back to status</a></div>
      ) : (
        <div className="review">
          <ul className="conflict-list" aria-label="Conflicts">
            {conflicts.map((c) => {
              const current = selected !== null && c.user === selected.user && c.path === selected.path;
              return (
                <li key={`${c.user}:${c.path}`}>
                  <a href={routeHref('conflicts', { user: c.user, path: c.path })} aria-current={current ? 'true' : undefined}>
                    <span className="mono">{c.path}</span>
                    <span className="muted small">{c.user} · {c.remoteDevice ? `vs ${c.remoteDevice}` : 'deleted on the server'} · {ago(c.detectedAt)}{c.binary ? ' · binary' : ''}</span>
                  </a>
                </li>
              );
            })}
          </ul>
          {selected && <ConflictDetailPanel key={`${selected.user}:${selected.path}`} conflict={selected} onResolved={(msg) => {
            setResolved(msg);
            void refresh();
            go('conflicts');
          }} />}
        </div>
      )}
    </>
  );
}

function ConflictDetailPanel({ conflict, onResolved }: { conflict: Conflict; onResolved: (msg: string) => void }) {
  const { api } = useDman();
  const dark = useDarkMode();
  const [detail, setDetail] = useState<ConflictDetail | null>(null);
  const [error, setError] = useState<Err | null>(null);
  const [compare, setCompare] = useState<Compare>('mine-server');
  const [merging, setMerging] = useState(false);
  const [mergeText, setMergeText] = useState('');
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    void api.getConflict(conflict.user, conflict.path).then((r) => {
      if (!live) return;
      if (r.ok) { setDetail(r.value); setMergeText(r.value.merged ?? r.value.local ?? ''); } else setError(r.error);
    });
    return () => { live = false; };
  }, [api, conflict.user, conflict.path]);

  const sides = useMemo(() => {
    const base = detail?.base ?? '', mine = detail?.local ?? '', server = detail?.remote ?? '';
    if (compare === 'base-mine') return { old: base, neu: mine, left: 'Base (last agreed)', right: 'Mine (this machine)' };
    if (compare === 'base-server') return { old: base, neu: server, left: 'Base (last agreed)', right: `Server's${conflict.remoteDevice ? ` (from ${conflict.remoteDevice})` : ''}` };
    return { old: mine, neu: server, left: 'Mine (this machine)', right: `Server's${conflict.remoteDevice ? ` (from ${conflict.remoteDevice})` : ''}` };
  }, [detail, compare, conflict.remoteDevice]);

  const resolve = async (how: Resolution, label: string) => {
    setBusy(how.keep); setError(null);
    const r = await api.resolveConflict(conflict.user, conflict.path, how);
    setBusy(null);
    if (r.ok) onResolved(`${conflict.path}: ${label}.`); else setError(r.error);
  };

  const binary = conflict.binary || detail?.binary === true;
  const markersLeft = merging && MARKER_RE.test(mergeText);

  return (
    <section className="conflict-detail card" aria-labelledby="conflict-h">
      <header className="conflict-head">
        <div>
          <h2 id="conflict-h" className="mono">{conflict.path}</h2>
          <p className="muted small">
            user {conflict.user} · changed here and {conflict.remoteDevice ? `on ${conflict.remoteDevice}` : 'deleted on the server'} · detected {ago(conflict.detectedAt)}
          </p>
        </div>
      </header>
      <ErrorNotice error={error} />
      {!detail && !error && <p className="muted"><span className="spinner" aria-hidden="true" /> Loading both versions…</p>}
      {detail && binary && (
        <div className="notice">This is a binary file, so it cannot be shown or merged. Choose which version to keep, or keep both (the server's version is saved beside yours).</div>
      )}
      {detail && !binary && !merging && (
        <>
          <Segmented label="Compare" value={compare} onChange={setCompare}
            options={[['mine-server', 'Mine ↔ server\'s'], ['base-mine', 'Base → mine'], ['base-server', 'Base → server\'s']]} />
          {detail.base === null && compare !== 'mine-server' && <p className="muted small">No common base: the file was created on both machines independently.</p>}
          <div className="diff" data-testid="diff">
            <ReactDiffViewer oldValue={sides.old} newValue={sides.neu} splitView leftTitle={sides.left} rightTitle={sides.right}
              useDarkTheme={dark} compareMethod={DiffMethod.LINES} disableWorker hideSummary
              styles={DIFF_STYLES} />
          </div>
        </>
      )}
      {detail && merging && (
        <div className="merge">
          <label htmlFor="merge-text"><strong>Merged result</strong> <span className="muted small">— prefilled with a 3-way merge against the base{detail.hasOverlap ? '; overlapping changes are marked <<<<<<< mine / ======= / >>>>>>> server' : '; no overlapping changes'}</span></label>
          <textarea id="merge-text" className="mono" value={mergeText} onChange={(e) => setMergeText(e.target.value)} rows={Math.min(30, Math.max(10, mergeText.split('\n').length + 1))} spellCheck={false} />
          {markersLeft && <p className="warn small" role="status">The text still contains conflict markers. Edit them out before saving, unless you want them in the file.</p>}
          <div className="actions">
            <Button onClick={() => setMerging(false)}>Cancel</Button>
            <Button variant="primary" busy={busy === 'merged'} onClick={() => void resolve({ keep: 'merged', text: mergeText }, 'saved the merged text')}>Save merged file</Button>
          </div>
        </div>
      )}
      {detail && !merging && (
        <div className="actions resolve-actions">
          <Button variant="primary" busy={busy === 'local'} onClick={() => void resolve({ keep: 'local' }, 'kept your version')}>Keep mine</Button>
          <Button variant="primary" busy={busy === 'server'} onClick={() => void resolve({ keep: 'server' }, 'kept the server\'s version')}>Keep server's</Button>
          <Button busy={busy === 'both'} onClick={() => void resolve({ keep: 'both' }, 'kept both (the other version sits beside the file)')}>Keep both</Button>
          {!binary && <Button onClick={() => setMerging(true)}>Merge…</Button>}
        </div>
      )}
    </section>
  );
}
