// The one DmanApi the UI talks to, and the live app state (pushed by the host, refreshed on demand).
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import type { Activity, AppState, Conflict, DmanApi } from '../shared/api.js';

interface ApiContextValue {
  api: DmanApi;
  state: AppState | null;
  conflicts: Conflict[];
  /** Live activity lines pushed since the page loaded (newest first). */
  live: Activity[];
  progress: { done: number; total: number; phase: string } | null;
  /** False while the host connection is down (agent transport only). */
  connected: boolean;
  refresh(): Promise<void>;
  setState(s: AppState): void;
}

const Ctx = createContext<ApiContextValue | null>(null);

/** Provides the API and the live state to the tree. */
export function ApiProvider({ api, connected = true, children }: { api: DmanApi; connected?: boolean; children: ReactNode }) {
  const [state, setState] = useState<AppState | null>(null);
  const [conflicts, setConflicts] = useState<Conflict[]>([]);
  const [live, setLive] = useState<Activity[]>([]);
  const [progress, setProgress] = useState<ApiContextValue['progress']>(null);

  const refresh = useCallback(async () => {
    const [s, c] = await Promise.all([api.getState(), api.listConflicts()]);
    if (s.ok) setState(s.value);
    if (c.ok) setConflicts(c.value);
  }, [api]);

  useEffect(() => {
    void refresh();
    return api.onEvent((e) => {
      if (e.type === 'state') {
        setState(e.state);
        // Progress events stop when a run ends; the state change is what says it ended.
        if (e.state.state !== 'syncing') setProgress(null);
      }
      else if (e.type === 'conflicts') setConflicts(e.conflicts);
      else if (e.type === 'activity') setLive((l) => [e.activity, ...l].slice(0, 200));
      else if (e.type === 'progress') setProgress(e.done >= e.total ? null : { done: e.done, total: e.total, phase: e.phase });
    });
  }, [api, refresh]);

  return <Ctx.Provider value={{ api, state, conflicts, live, progress, connected, refresh, setState }}>{children}</Ctx.Provider>;
}

/** Returns the API context; throws outside ApiProvider. */
export function useDman(): ApiContextValue {
  const v = useContext(Ctx);
  if (!v) throw new Error('useDman outside ApiProvider');
  return v;
}
