// Step 1: this machine hosts the server, or connect to one (with Test connection).
import { useState } from 'react';
import type { ApiResult } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { Button, ErrorNotice, Field, OkNotice } from '../ui.js';
import type { Draft } from './draft.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];

/** Renders step 1. */
export function StepServer({ draft, update }: { draft: Draft; update: (p: Partial<Draft>) => void }) {
  const { api } = useDman();
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<{ ok: true; text: string } | { ok: false; error: Err } | null>(null);

  const test = async () => {
    setTesting(true); setResult(null);
    const r = await api.testServer(draft.serverUrl);
    setTesting(false);
    setResult(r.ok ? { ok: true, text: `Connected: dman server ${r.value.version}.` } : { ok: false, error: r.error });
  };

  return (
    <div className="step">
      <div className="choices" role="radiogroup" aria-label="Server">
        <label className={`choice ${draft.mode === 'host' ? 'on' : ''}`}>
          <input type="radio" name="mode" checked={draft.mode === 'host'} onChange={() => update({ mode: 'host', serverUrl: '' })} />
          <span className="choice-title">This machine hosts the server</span>
          <span className="choice-text">dman runs its own sync server here and keeps your files in a folder (or Redis / MariaDB). Other machines connect to it.</span>
        </label>
        <label className={`choice ${draft.mode === 'connect' ? 'on' : ''}`}>
          <input type="radio" name="mode" checked={draft.mode === 'connect'} onChange={() => update({ mode: 'connect' })} />
          <span className="choice-title">Connect to a server</span>
          <span className="choice-text">A dman server already runs on another machine, a LAN box or a container.</span>
        </label>
      </div>
      {draft.mode === 'connect' && (
        <div className="inline-form">
          <Field label="Server URL" value={draft.serverUrl} onChange={(v) => { update({ serverUrl: v.trim() }); setResult(null); }} placeholder="http://nas.local:3626"
            help="The address of the machine running `dman serve`, with its port." />
          <Button onClick={() => void test()} busy={testing} disabled={!/^https?:\/\/.+/.test(draft.serverUrl)}>Test connection</Button>
        </div>
      )}
      {result?.ok === true && <OkNotice>{result.text}</OkNotice>}
      {result?.ok === false && <ErrorNotice error={result.error} title="Could not connect" />}
    </div>
  );
}
