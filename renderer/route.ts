// Hash routing (#/view?key=value): works the same from file:// in Electron and from the agent.
import { useEffect, useState } from 'react';

export type View = 'status' | 'conflicts' | 'history' | 'settings' | 'setup';
export interface Route { view: View; params: URLSearchParams }

const views: View[] = ['status', 'conflicts', 'history', 'settings', 'setup'];

/** Parses a location hash into a route. */
export function parseRoute(hash: string): Route {
  const [path, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const view = (views as string[]).includes(path) ? (path as View) : 'status';
  return { view, params: new URLSearchParams(query) };
}

/** Builds the hash of a route. */
export function routeHref(view: View, params: Record<string, string> = {}): string {
  const q = new URLSearchParams(params).toString();
  return `#/${view}${q ? `?${q}` : ''}`;
}

/** Navigates to a route. */
export function go(view: View, params: Record<string, string> = {}): void {
  window.location.hash = routeHref(view, params);
}

/** Returns the current route and re-renders on change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
