// Step 4: the default groups as checkboxes, an editor for patterns, and a live preview of which
// files in the home folder are tracked or excluded, and by which pattern.
import { useEffect, useId, useMemo, useState } from 'react';
import type { ApiResult } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { Check, ErrorNotice, Segmented } from '../ui.js';
import { toggleGroupText, type Defaults, type Draft } from './draft.js';
import { trackOf } from './Wizard.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];
type Item = { path: string; tracked: boolean; pattern: string | null };

/** Renders step 4. */
export function StepTrack({ draft, update }: { draft: Draft; update: (p: Partial<Draft>) => void; defaults: Defaults }) {
  const { api } = useDman();
  const [items, setItems] = useState<Item[] | null>(null);
  const [error, setError] = useState<Err | null>(null);
  const [show, setShow] = useState<'tracked' | 'excluded'>('tracked');
  const editorId = useId();
  const track = useMemo(() => trackOf(draft), [draft]);
  const key = track.join('\n');

  useEffect(() => {
    let live = true;
    // Debounced so typing a pattern does not walk the home folder on every key.
    const t = setTimeout(() => {
      if (track.length === 0) { setItems([]); return; }
      void api.previewTrack(draft.home, track).then((r) => {
        if (!live) return;
        if (r.ok) { setItems(r.value); setError(null); } else { setItems(null); setError(r.error); }
      });
    }, 250);
    return () => { live = false; clearTimeout(t); };
  }, [api, draft.home, key]);

  const toggle = (g: string, on: boolean) => {
    const checked = { ...draft.checked, [g]: on };
    update({ checked, trackText: toggleGroupText(draft.trackText, draft.groups, checked, g, on) });
  };
  const tracked = items?.filter((i) => i.tracked) ?? [];
  const excluded = items?.filter((i) => !i.tracked) ?? [];
  const list = show === 'tracked' ? tracked : excluded;

  return (
    <div className="step track-step">
      <div className="track-left">
        <fieldset>
          <legend>Groups</legend>
          {Object.entries(draft.groups).map(([g, patterns]) => (
            <Check key={g} label={<><strong>{g}</strong> <span className="mono small muted">{patterns.slice(0, 3).join(' ')}{patterns.length > 3 ? ' …' : ''}</span></>} checked={draft.checked[g] ?? false} onChange={(v) => toggle(g, v)} />
          ))}
        </fieldset>
        <div className="field">
          <label htmlFor={editorId}>Patterns <span className="muted small">— one per line; <span className="mono">dir/</span> is a whole folder, <span className="mono">!</span> excludes, later lines win</span></label>
          <textarea id={editorId} className="mono" rows={12} value={draft.trackText} spellCheck={false} onChange={(e) => update({ trackText: e.target.value })} />
        </div>
      </div>
      <div className="track-right">
        <div className="preview-head">
          <strong>Preview of <span className="mono">{draft.home}</span></strong>
          <Segmented label="Show" value={show} onChange={setShow} options={[['tracked', `Synced (${tracked.length})`], ['excluded', `Excluded (${excluded.length})`]]} />
        </div>
        <ErrorNotice error={error} title="Pattern problem" />
        {items === null && !error && <p className="muted"><span className="spinner" aria-hidden="true" /> Looking at your files…</p>}
        {items !== null && (
          <ul className="preview" aria-label={show === 'tracked' ? 'Files that will sync' : 'Files left out'}>
            {list.length === 0 && <li className="muted">{show === 'tracked' ? 'No file matches yet.' : 'Nothing excluded near the tracked files.'}</li>}
            {list.map((i) => (
              <li key={i.path} className={i.tracked ? 'in' : 'out'}>
                <span className="mono">{i.path}</span>
                <span className="why mono small">{i.pattern ?? 'no pattern'}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
