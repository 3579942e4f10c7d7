// The first-run wizard: (1) host or connect, (2) storage for a hosted server, (3) pairing,
// (4) what to track with a live preview, (5) the first-sync plan to confirm. It writes
// dman.yaml and the app settings through applySetup, then runs the first sync.
import { useEffect, useState } from 'react';
import type { ApiResult, Setup } from '../../shared/api.js';
import { useDman } from '../ApiContext.js';
import { Logo } from '../App.js';
import { go, parseRoute } from '../route.js';
import { Button, ErrorNotice } from '../ui.js';
import { StepPairing } from './StepPairing.js';
import { StepPlan } from './StepPlan.js';
import { StepServer } from './StepServer.js';
import { StepStorage } from './StepStorage.js';
import { StepTrack } from './StepTrack.js';
import { initialDraft, type Draft, type Defaults } from './draft.js';

type Err = Extract<ApiResult<unknown>, { ok: false }>['error'];

const STEPS = ['Server', 'Storage', 'Pairing', 'Track', 'Review'] as const;

/** Renders the wizard; `rerun` when opened from settings (offers Cancel). */
export function Wizard({ rerun }: { rerun: boolean }) {
  const { api, refresh } = useDman();
  const [defaults, setDefaults] = useState<Defaults | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [step, setStep] = useState(0);
  const [error, setError] = useState<Err | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    void api.setupDefaults().then((r) => {
      if (r.ok) { setDefaults(r.value); setDraft(initialDraft(r.value)); } else setError(r.error);
    });
  }, [api]);

  useEffect(() => { document.getElementById('wizard-step-h')?.focus(); }, [step]);

  if (!draft || !defaults) return <div className="wizard card"><ErrorNotice error={error} />{!error && <p className="muted"><span className="spinner" aria-hidden="true" /> Loading…</p>}</div>;
  const update = (patch: Partial<Draft>) => setDraft((d) => (d ? { ...d, ...patch } : d));
  const skipStorage = draft.mode === 'connect';

  const canNext = (): string | null => {
    if (step === 0 && draft.mode === 'connect' && !/^https?:\/\/.+/.test(draft.serverUrl)) return 'Enter the server URL (http://host:port).';
    if (step === 2 && !/^[a-z_][a-z0-9_.-]{0,63}$/i.test(draft.user)) return 'Enter a user name (letters, digits, "_", "." or "-").';
    if (step === 2 && !draft.token) return draft.mode === 'host' ? 'Create a device token first.' : 'Paste the device token you were given.';
    if (step === 2 && !draft.home.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(draft.home)) return 'The home folder must be an absolute path.';
    if (step === 3 && trackOf(draft).length === 0) return 'Choose at least one group or pattern to track.';
    return null;
  };

  const next = async () => {
    setError(null);
    if (step === 1) {
      // Entering pairing: the hosted server must run so a token can be created on it.
      setBusy(true);
      const r = await api.startHostedServer(draft.storage);
      setBusy(false);
      if (!r.ok) return setError(r.error);
      update({ serverUrl: r.value.url });
    }
    setStep((s) => (s === 0 && skipStorage ? 2 : s + 1));
  };
  const back = () => { setError(null); setStep((s) => (s === 2 && skipStorage ? 0 : s - 1)); };

  const finish = async () => {
    setBusy(true); setError(null);
    const setup = toSetup(draft);
    const r = await api.applySetup(setup);
    if (!r.ok) { setBusy(false); return setError(r.error); }
    const s = await api.syncNow();
    setBusy(false);
    await refresh();
    if (!s.ok) return setError({ ...s.error, message: `Setup is saved (${r.value.configFile}), but the first sync failed: ${s.error.message}` });
    // Once the setup is saved the app shows its main views; leave the wizard only if the user is
    // still on it, never yanking them back from a page they opened while the first sync ran.
    if (parseRoute(window.location.hash).view === 'setup' || window.location.hash === '') go('status');
  };

  const problem = canNext();
  return (
    <div className="wizard card" aria-labelledby="wizard-h">
      <header className="wizard-head">
        <div className="brand"><Logo /> <span id="wizard-h">{rerun ? 'Set up dman again' : 'Welcome to dman'}</span></div>
        <ol className="stepper" aria-label="Setup steps">
          {STEPS.map((label, i) => (
            <li key={label} className={i === step ? 'current' : i < step ? 'done' : ''} aria-current={i === step ? 'step' : undefined}>
              <span className="num" aria-hidden="true">{i === 1 && skipStorage ? '–' : i < step ? '✓' : i + 1}</span>
              <span className={i === 1 && skipStorage ? 'muted' : ''}>{label}{i === 1 && skipStorage && <span className="sr-only"> (not needed when connecting)</span>}</span>
            </li>
          ))}
        </ol>
      </header>
      <div className="wizard-body">
        <h2 id="wizard-step-h" tabIndex={-1}>{['Where is your sync server?', 'Where should the server keep its data?', 'Pair this machine', 'What should dman sync?', 'Review the first sync'][step]}</h2>
        {step === 0 && <StepServer draft={draft} update={update} />}
        {step === 1 && <StepStorage draft={draft} update={update} />}
        {step === 2 && <StepPairing draft={draft} update={update} />}
        {step === 3 && <StepTrack draft={draft} update={update} defaults={defaults} />}
        {step === 4 && <StepPlan draft={draft} update={update} setup={toSetup(draft)} />}
        <ErrorNotice error={error} />
      </div>
      <footer className="wizard-foot">
        <div>{rerun && <Button variant="ghost" onClick={() => go('settings')}>Cancel</Button>}</div>
        <div className="actions">
          {problem && <span className="muted small" role="status">{problem}</span>}
          {step > 0 && <Button onClick={back} disabled={busy}>Back</Button>}
          {step < 4 && <Button variant="primary" onClick={() => void next()} disabled={problem !== null} busy={busy}>{step === 1 ? 'Start server and continue' : 'Continue'}</Button>}
          {step === 4 && <Button variant="primary" onClick={() => void finish()} busy={busy}>Start syncing</Button>}
        </div>
      </footer>
    </div>
  );
}

/** The track list the draft stands for: the checked groups' patterns, then the extra lines. */
export function trackOf(d: Draft): string[] {
  return d.trackText.split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
}

function toSetup(d: Draft): Setup {
  return {
    mode: d.mode,
    serverUrl: d.serverUrl || undefined,
    storage: d.mode === 'host' ? d.storage : undefined,
    user: d.user,
    home: d.home,
    token: d.token || undefined,
    track: trackOf(d),
    // Only the chosen groups go into dman.yaml: each one then shows as a switch in the tray and the app.
    groups: Object.fromEntries(Object.entries(d.groups).filter(([g]) => d.checked[g])),
    conflictPolicy: d.conflictPolicy,
  };
}
