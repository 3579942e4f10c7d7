// History: pick a file, see its versions (device and time), view one, restore it.
import { useEffect, useMemo, useState, useId } from 'react';
import type { ApiResult } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { go, routeHref } from '../route.js';
import { bytes, Button, ErrorNotice, OkNotice, PageHeader, when } from '../ui.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];
type Version = { rev: number; device: string; updatedAt: number; size: number; deleted: boolean; kind: string; hash: string | null };
type FileRow = { path: string; size: number; rev: number | null };

/** Renders the history page. */
export function HistoryView({ params }: { params: URLSearchParams }) {
  const { api, state, refresh } = useDman();
  const users = state?.users.map((u) => u.name) ?? [];
  const user = params.get('user') ?? users[0] ?? '';
  const path = params.get('path');
  const [files, setFiles] = useState<FileRow[]>([]);
  const [filter, setFilter] = useState('');
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [viewing, setViewing] = useState<{ rev: number; text: string | null; binary: boolean; size: number } | null>(null);
  const [error, setError] = useState<Err | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState<number | null>(null);
  const filterId = useId();
  const userId = useId();

  useEffect(() => {
    if (!user) return;
    void api.listFiles(user).then((r) => { if (r.ok) setFiles(r.value); else setError(r.error); });
  }, [api, user, done]);

  useEffect(() => {
    setVersions(null); setViewing(null);
    if (!user || !path) return;
    void api.history(user, path).then((r) => { if (r.ok) setVersions([...r.value].sort((a, b) => b.rev - a.rev)); else setError(r.error); });
  }, [api, user, path, done]);

  const shown = useMemo(() => files.filter((f) => f.path.toLowerCase().includes(filter.toLowerCase())), [files, filter]);

  const view = async (rev: number) => {
    if (!path) return;
    const r = await api.readVersion(user, path, rev);
    if (r.ok) setViewing(r.value); else setError(r.error);
  };
  const restore = async (rev: number) => {
    if (!path) return;
    setBusy(rev); setError(null); setDone(null);
    const r = await api.restore(user, path, rev);
    setBusy(null);
    if (r.ok) { setDone(`Restored ${path} to version ${rev}. The file on disk and on the server now has that content.`); void refresh(); } else setError(r.error);
  };

  return (
    <>
      <PageHeader title="History" subtitle="Every synced file keeps its previous versions on the server." />
      <ErrorNotice error={error} />
      {done && <OkNotice>{done}</OkNotice>}
      <div className="history">
        <aside className="card file-picker" aria-label="Files">
          {users.length > 1 && (
            <div className="field">
              <label htmlFor={userId}>User</label>
              <select id={userId} value={user} onChange={(e) => go('history', { user: e.target.value })}>
                {users.map((u) => <option key={u}>{u}</option>)}
              </select>
            </div>
          )}
          <div className="field">
            <label htmlFor={filterId}>Find a file</label>
            <input id={filterId} type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder=".zshrc" spellCheck={false} />
          </div>
          <ul className="file-list">
            {shown.map((f) => (
              <li key={f.path}><a className="mono" href={routeHref('history', { user, path: f.path })} aria-current={f.path === path ? 'true' : undefined}>{f.path}</a></li>
            ))}
            {shown.length === 0 && <li className="muted small">No synced files{filter ? ' match' : ' yet'}.</li>}
          </ul>
        </aside>
        <section className="card versions" aria-labelledby="versions-h">
          {!path ? <p className="muted">Choose a file to see its versions.</p> : (
            <>
              <h2 id="versions-h" className="mono">{path}</h2>
              {versions === null ? <p className="muted"><span className="spinner" aria-hidden="true" /> Loading versions…</p> : (
                <table className="table">
                  <thead><tr><th scope="col">Version</th><th scope="col">When</th><th scope="col">Device</th><th scope="col">Size</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
                  <tbody>
                    {versions.map((v, i) => (
                      <tr key={v.rev} aria-label={`version ${v.rev}`}>
                        <td>#{v.rev}{i === 0 && <span className="tag">current</span>}{v.deleted && <span className="tag tag-warn">deleted</span>}</td>
                        <td>{when(v.updatedAt)}</td>
                        <td>{v.device}</td>
                        <td>{v.deleted ? '—' : bytes(v.size)}</td>
                        <td className="row-actions">
                          {!v.deleted && <Button variant="ghost" onClick={() => void view(v.rev)}>View</Button>}
                          {i > 0 && !v.deleted && <Button busy={busy === v.rev} onClick={() => void restore(v.rev)}>Restore</Button>}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {viewing && (
                <div className="viewer">
                  <div className="viewer-head"><strong>Version #{viewing.rev}</strong> <span className="muted small">{bytes(viewing.size)}</span> <Button variant="ghost" onClick={() => setViewing(null)}>Close</Button></div>
                  {viewing.binary || viewing.text === null ? <p className="muted">Binary file ({bytes(viewing.size)}); it cannot be shown.</p> : <pre className="mono" tabIndex={0} aria-label={`content of version ${viewing.rev}`}>{viewing.text}</pre>}
                </div>
              )}
            </>
          )}
        </section>
      </div>
    </>
  );
}
