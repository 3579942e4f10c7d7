// Settings: server, token, conflict policy, start at login, groups, and re-running the wizard.
import { useEffect, useId, useState } from 'react';
import type { ApiResult } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { go } from '../route.js';
import { Button, Check, ErrorNotice, Field, OkNotice, PageHeader } from '../ui.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];
type Settings = Extract<Awaited<ReturnType<ReturnType<typeof useDman>['api']['getSettings']>>, { ok: true }>['value'];
type Policy = Settings['conflictPolicy'];

const POLICIES: Array<[Policy, string]> = [
  ['ask', 'Ask me (notify and review)'],
  ['merge', 'Merge text when changes do not overlap, else ask'],
  ['keep-both', 'Keep both (the loser is saved beside the file)'],
  ['server-wins', 'The server\'s version wins'],
  ['local-wins', 'This machine\'s version wins'],
];

/** Renders the settings page. */
export function SettingsView() {
  const { api, setState } = useDman();
  const [s, setS] = useState<Settings | null>(null);
  const [serverUrl, setServerUrl] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<Err | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const policyId = useId();

  useEffect(() => {
    void api.getSettings().then((r) => { if (r.ok) { setS(r.value); setServerUrl(r.value.serverUrl ?? ''); } else setError(r.error); });
  }, [api]);
  if (!s) return <><PageHeader title="Settings" /><ErrorNotice error={error} /></>;

  const save = async (patch: Parameters<typeof api.updateSettings>[0], what: string) => {
    setBusy(true); setError(null); setSaved(null);
    const r = await api.updateSettings(patch);
    setBusy(false);
    if (r.ok) { setS(r.value); setSaved(`Saved: ${what}.`); if (patch.token) setToken(''); } else setError(r.error);
  };
  const toggleGroup = async (name: string, enabled: boolean) => {
    // Show the new position at once; the reply confirms it (or puts it back with the reason).
    const before = s.groups;
    setS({ ...s, groups: before.map((g) => (g.name === name ? { ...g, enabled } : g)) });
    const r = await api.setGroupEnabled(name, enabled);
    if (r.ok) { setState(r.value); setS((cur) => (cur ? { ...cur, groups: r.value.groups } : cur)); } else { setS((cur) => (cur ? { ...cur, groups: before } : cur)); setError(r.error); }
  };

  return (
    <>
      <PageHeader title="Settings" subtitle={s.configFile ? <>Config file <span className="mono">{s.configFile}</span></> : 'No config file yet.'}
        actions={<Button onClick={() => go('setup')}>Re-run setup wizard</Button>} />
      <ErrorNotice error={error} title="Not saved" />
      {saved && <OkNotice>{saved}</OkNotice>}
      <div className="settings">
        <section className="card" aria-labelledby="server-h">
          <h2 id="server-h">Server</h2>
          <Field label="Server URL" value={serverUrl} onChange={setServerUrl} placeholder="http://127.0.0.1:3626" />
          <Button busy={busy} disabled={serverUrl === (s.serverUrl ?? '')} onClick={() => void save({ serverUrl }, 'server URL')}>Save server URL</Button>
          <Field label="Device token" type="password" value={token} onChange={setToken} placeholder={s.hasToken ? '•••••••• (set; paste a new one to replace it)' : 'paste the token for this device'}
            help="Kept in the OS keyring in the desktop app; never shown again once saved." />
          <Button busy={busy} disabled={token.length === 0} onClick={() => void save({ token }, 'token')}>Replace token</Button>
        </section>
        <section className="card" aria-labelledby="behaviour-h">
          <h2 id="behaviour-h">Behaviour</h2>
          <div className="field">
            <label htmlFor={policyId}>When a file changed on two machines</label>
            <select id={policyId} value={s.conflictPolicy} onChange={(e) => void save({ conflictPolicy: e.target.value as Policy }, 'conflict policy')}>
              {POLICIES.map(([v, label]) => <option key={v} value={v}>{label}</option>)}
            </select>
          </div>
          <Check label="Start dman at login" checked={s.startAtLogin} onChange={(v) => void save({ startAtLogin: v }, v ? 'start at login on' : 'start at login off')} />
          {s.supportsUpdates && (
            <Check label="Update dman automatically" checked={s.autoUpdate} onChange={(v) => void save({ autoUpdate: v }, v ? 'automatic updates on' : 'automatic updates off')} />
          )}
        </section>
        <section className="card" aria-labelledby="groups-h2">
          <h2 id="groups-h2">Groups</h2>
          <p className="muted small">A group is a named list of track patterns. Turning one off pauses syncing of its files on this machine.</p>
          {s.groups.length === 0 && <p className="muted">No groups in the config.</p>}
          {s.groups.map((g) => (
            <Check key={g.name} label={<><strong>{g.name}</strong> <span className="mono small muted">{g.patterns.join('  ')}</span></>} checked={g.enabled} onChange={(v) => void toggleGroup(g.name, v)} />
          ))}
        </section>
      </div>
    </>
  );
}
