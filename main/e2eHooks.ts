// Test seams for tests/e2e/electron.spec.ts, off unless DMAN_E2E=1. They live on the MAIN
// process's globalThis (which Playwright's electronApp.evaluate reaches); nothing here is
// exposed to the renderer, so they never widen what the window can do.
import { routeFor } from './ElectronNotifier.js';
import type { NotificationModel } from './notifications.js';
import type { TrayIconChoice } from './trayMenu.js';

/** What the e2e spec can read and do in the main process. */
export interface E2EHooks {
  /** Every notification the app decided to show, in order (also where the OS shows none). */
  notifications(): NotificationModel[];
  /** Does what clicking notification `i` does: opens the window at its target. False: no such notification. */
  click(i: number): boolean;
  /** The Electron Menu last set as the tray's context menu (its items' click() run the real actions). */
  trayMenu(): unknown;
  /** The tray icon last chosen (name, badge, tooltip). */
  trayIcon(): TrayIconChoice | null;
}

export interface E2EHookDeps {
  notifications: () => readonly NotificationModel[];
  open: (route: string) => void;
  trayMenu: () => unknown;
  trayIcon: () => TrayIconChoice | null;
}

/** True when the e2e seams are on (DMAN_E2E=1). */
export const e2eEnabled = (env: Readonly<Record<string, string | undefined>>): boolean => env.DMAN_E2E === '1';

/**
 * The Chromium profile folder (userData) an e2e run asks for: DMAN_E2E_USER_DATA, only with
 * DMAN_E2E=1 and only an absolute path; null otherwise (the app keeps Electron's default).
 */
export function e2eUserDataDir(env: Readonly<Record<string, string | undefined>>): string | null {
  const dir = env.DMAN_E2E_USER_DATA;
  if (!e2eEnabled(env) || !dir) return null;
  if (!dir.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(dir)) throw new Error(`DMAN_E2E_USER_DATA must be an absolute path (got ${JSON.stringify(dir)}); set it to a temp folder`);
  return dir;
}

/** Sets `target.dmanE2E` when DMAN_E2E=1 and returns the hooks; returns null (and sets nothing) otherwise. */
export function installE2EHooks(env: Readonly<Record<string, string | undefined>>, target: Record<string, unknown>, deps: E2EHookDeps): E2EHooks | null {
  if (!e2eEnabled(env)) return null;
  const hooks: E2EHooks = {
    notifications: () => [...deps.notifications()],
    click: (i) => {
      const n = deps.notifications()[i];
      if (!n) return false;
      deps.open(routeFor(n.target));
      return true;
    },
    trayMenu: () => deps.trayMenu(),
    trayIcon: () => deps.trayIcon(),
  };
  target.dmanE2E = hooks;
  return hooks;
}
