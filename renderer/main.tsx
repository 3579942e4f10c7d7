// Boots the UI on the host's DmanApi: window.dman inside Electron, the agent's WebSocket otherwise.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { DmanApi } from '../shared/api.js';
import { ApiProvider } from './ApiContext.js';
import { App } from './App.js';
import { agentSocketUrl, createWsApi } from './transport/createWsApi.js';
import './styles.css';

declare global {
  interface Window { dman?: DmanApi }
}

function Root() {
  const [connected, setConnected] = useState(true);
  const [api] = useState<DmanApi>(() => window.dman ?? createWsApi(agentSocketUrl(window.location), { onConnection: (up) => setConnected(up) }));
  useEffect(() => { document.documentElement.dataset.host = window.dman ? 'electron' : 'agent'; }, []);
  return <ApiProvider api={api} connected={connected}><App /></ApiProvider>;
}

createRoot(document.getElementById('root')!).render(<StrictMode><Root /></StrictMode>);
