// Step 5: what the first sync will do (uploads, downloads, conflicts) and the conflict policy.
import { useEffect, useId, useState } from 'react';
import type { ApiResult, Setup } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { ErrorNotice } from '../ui.js';
import type { Draft } from './draft.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];
type PlanItem = { user: string; path: string; action: 'publish' | 'install' | 'delete-local' | 'delete-remote' | 'conflict' | 'same' };

const LABEL: Record<PlanItem['action'], string> = { publish: 'Upload', install: 'Download', 'delete-local': 'Delete here', 'delete-remote': 'Delete on server', conflict: 'Conflict', same: 'Already the same' };

/** Renders step 5. */
export function StepPlan({ draft, update, setup }: { draft: Draft; update: (p: Partial<Draft>) => void; setup: Setup }) {
  const { api } = useDman();
  const [plan, setPlan] = useState<PlanItem[] | null>(null);
  const [error, setError] = useState<Err | null>(null);
  const policyId = useId();
  const key = JSON.stringify(setup);

  useEffect(() => {
    let live = true;
    void api.planFirstSync(setup).then((r) => { if (!live) return; if (r.ok) setPlan(r.value); else setError(r.error); });
    return () => { live = false; };
  }, [api, key]);

  const count = (a: PlanItem['action']) => plan?.filter((p) => p.action === a).length ?? 0;
  const changes = plan?.filter((p) => p.action !== 'same') ?? [];

  return (
    <div className="step">
      <p className="muted">Nothing has been written yet. Starting saves <span className="mono">dman.yaml</span> and runs this sync.</p>
      <ErrorNotice error={error} title="Could not plan the first sync" />
      {plan === null && !error && <p className="muted"><span className="spinner" aria-hidden="true" /> Comparing your files with the server…</p>}
      {plan !== null && (
        <>
          <dl className="stats plan-stats">
            <div><dt>Upload</dt><dd>{count('publish')}</dd></div>
            <div><dt>Download</dt><dd>{count('install')}</dd></div>
            <div><dt>Conflicts</dt><dd className={count('conflict') ? 'warn' : ''}>{count('conflict')}</dd></div>
            <div><dt>Unchanged</dt><dd>{count('same')}</dd></div>
          </dl>
          <ul className="plan" aria-label="Planned changes">
            {changes.slice(0, 200).map((p) => (
              <li key={`${p.user}:${p.path}`} className={`act-${p.action}`}><span className="tag">{LABEL[p.action]}</span> <span className="mono">{p.path}</span></li>
            ))}
            {changes.length === 0 && <li className="muted">Nothing to transfer.</li>}
            {changes.length > 200 && <li className="muted">…and {changes.length - 200} more.</li>}
          </ul>
        </>
      )}
      <div className="field narrow">
        <label htmlFor={policyId}>When a file later changes on two machines</label>
        <select id={policyId} value={draft.conflictPolicy} onChange={(e) => update({ conflictPolicy: e.target.value as Draft['conflictPolicy'] })}>
          <option value="ask">Ask me (notify and review)</option>
          <option value="merge">Merge text when possible, else ask</option>
          <option value="keep-both">Keep both</option>
          <option value="server-wins">The server wins</option>
          <option value="local-wins">This machine wins</option>
        </select>
      </div>
    </div>
  );
}
