// The app frame: the wizard before setup, otherwise a sidebar with status, conflicts, history
// and settings.
import { useEffect, useRef } from 'react';
import { useDman } from './ApiContext.js';
import { routeHref, useRoute, type View } from './route.js';
import { StatePill } from './ui.js';
import { ConflictsView } from './views/ConflictsView.js';
import { HistoryView } from './views/HistoryView.js';
import { SettingsView } from './views/SettingsView.js';
import { StatusView } from './views/StatusView.js';
import { Wizard } from './wizard/Wizard.js';

const NAV: Array<{ view: View; label: string }> = [
  { view: 'status', label: 'Status' },
  { view: 'conflicts', label: 'Conflicts' },
  { view: 'history', label: 'History' },
  { view: 'settings', label: 'Settings' },
];

/** Renders the whole app. */
export function App() {
  const { state, conflicts, connected } = useDman();
  const route = useRoute();
  const main = useRef<HTMLElement>(null);

  // Move focus to the new page so keyboard and screen-reader users land on its content.
  useEffect(() => { main.current?.focus(); }, [route.view]);

  if (!state) {
    return <div className="splash" role="status"><span className="spinner" aria-hidden="true" /> Connecting to dman…</div>;
  }
  if (!state.configured || route.view === 'setup') {
    return (
      <div className="wizard-shell">
        {!connected && <Offline />}
        <Wizard rerun={state.configured} />
      </div>
    );
  }
  return (
    <div className="app">
      <a className="skip" href="#main">Skip to content</a>
      <nav className="sidebar" aria-label="Main">
        <div className="brand"><Logo /> <span>dman</span></div>
        <ul>
          {NAV.map((n) => (
            <li key={n.view}>
              <a href={routeHref(n.view)} aria-current={route.view === n.view ? 'page' : undefined}>
                {n.label}
                {n.view === 'conflicts' && conflicts.length > 0 && <span className="badge" aria-label={`${conflicts.length} conflicts`}>{conflicts.length}</span>}
              </a>
            </li>
          ))}
        </ul>
        <div className="sidebar-foot">
          <StatePill state={state.state} />
          <div className="muted small">{state.device}{state.hostsServer ? ' · hosts the server' : ''}</div>
        </div>
      </nav>
      <main id="main" ref={main} tabIndex={-1}>
        {!connected && <Offline />}
        {route.view === 'status' && <StatusView />}
        {route.view === 'conflicts' && <ConflictsView params={route.params} />}
        {route.view === 'history' && <HistoryView params={route.params} />}
        {route.view === 'settings' && <SettingsView />}
      </main>
    </div>
  );
}


function Offline() {
  return <div className="banner" role="alert">Lost the connection to dman. Retrying…</div>;
}

/** The dman mark: two arrows round a dot. */
export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 32 32" width="24" height="24" aria-hidden="true">
      <rect width="32" height="32" rx="8" fill="var(--accent)" />
      <path d="M9 13a7 7 0 0 1 12.5-3.5M23 19a7 7 0 0 1-12.5 3.5" stroke="#fff" strokeWidth="2.4" fill="none" strokeLinecap="round" />
      <path d="M22.5 5.5v4.5H18M9.5 26.5V22H14" stroke="#fff" strokeWidth="2.4" fill="none" strokeLinecap="round" strokeLinejoin="round" />
      <circle cx="16" cy="16" r="2.2" fill="#fff" />
    </svg>
  );
}
