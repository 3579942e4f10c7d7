// Step 3: the user name, the home folder and this device's token (created on a hosted server,
// pasted for a remote one).
import { useState } from 'react';
import type { ApiResult } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { Button, ErrorNotice, Field, OkNotice } from '../ui.js';
import type { Draft } from './draft.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];

/** Renders step 3. */
export function StepPairing({ draft, update }: { draft: Draft; update: (p: Partial<Draft>) => void }) {
  const { api } = useDman();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: true; text: string } | { ok: false; error: Err } | null>(null);

  const create = async () => {
    setBusy(true); setResult(null);
    const r = await api.createDeviceToken(draft.user, draft.device);
    setBusy(false);
    if (r.ok) { update({ token: r.value.token }); setResult({ ok: true, text: `Created a token for ${draft.user} on ${draft.device}. It will be stored with the settings.` }); } else setResult({ ok: false, error: r.error });
  };
  const test = async () => {
    setBusy(true); setResult(null);
    const r = await api.testServer(draft.serverUrl, draft.token);
    setBusy(false);
    if (!r.ok) return setResult({ ok: false, error: r.error });
    if (r.value.user && r.value.user !== draft.user) return setResult({ ok: false, error: { code: 'FORBIDDEN', message: `This token belongs to user "${r.value.user}", not "${draft.user}".`, hint: `Change the user name to ${r.value.user}, or ask for a token for ${draft.user}.` } });
    setResult({ ok: true, text: `The server accepts this token${r.value.device ? ` (device ${r.value.device})` : ''}.` });
  };

  return (
    <div className="step">
      <div className="grid2">
        <Field label="User name" value={draft.user} onChange={(v) => { update({ user: v.trim(), token: draft.mode === 'host' ? '' : draft.token }); setResult(null); }} help="Your name on the server; the same on every machine you sync." />
        <Field label="Home folder" value={draft.home} onChange={(v) => update({ home: v })} help="Tracked paths are relative to this folder." />
      </div>
      {draft.mode === 'host' ? (
        <div className="token-box">
          <p>This machine's server at <span className="mono">{draft.serverUrl}</span> needs a device token for <strong>{draft.user || '…'}</strong>.</p>
          <Button variant={draft.token ? 'secondary' : 'primary'} onClick={() => void create()} busy={busy} disabled={!draft.user}>{draft.token ? 'Create a new token' : 'Create device token'}</Button>
        </div>
      ) : (
        <div className="inline-form">
          <Field label="Device token" type="password" value={draft.token} onChange={(v) => { update({ token: v.trim() }); setResult(null); }}
            help={<>On the server run <span className="mono">dman token create --user {draft.user || 'NAME'} --device {draft.device}</span> and paste the token here.</>} />
          <Button onClick={() => void test()} busy={busy} disabled={!draft.token}>Test token</Button>
        </div>
      )}
      {result?.ok === true && <OkNotice>{result.text}</OkNotice>}
      {result?.ok === false && <ErrorNotice error={result.error} title="Pairing failed" />}
    </div>
  );
}
