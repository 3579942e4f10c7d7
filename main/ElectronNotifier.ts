// Shows the notification batcher's decisions as desktop notifications; a click opens the view
// the notification points at (the review window at the first conflict, the settings, …).
import type { Notice, Notifier } from '../engine/ports/Notifier.js';
import type { NotificationModel } from './notifications.js';

/** The part of Electron's Notification class we use. */
export interface NotificationCtor {
  new (opts: { title: string; body: string; silent?: boolean }): { on(event: 'click', fn: () => void): unknown; show(): void };
  isSupported(): boolean;
}

/** Builds the hash route a notification's click opens. */
export function routeFor(target: NotificationModel['target']): string {
  if (target.view === 'review') return `#/conflicts?${new URLSearchParams({ user: target.user, path: target.path }).toString()}`;
  return `#/${target.view}`;
}

/** Creates the `show` function the batcher calls. */
export function createElectronNotifier(opts: { Notification: NotificationCtor; open: (route: string) => void; onShown?: (n: NotificationModel) => void }): (n: NotificationModel) => void {
  return (n) => {
    opts.onShown?.(n);
    if (!opts.Notification.isSupported()) return;
    const note = new opts.Notification({ title: n.title, body: n.body });
    note.on('click', () => opts.open(routeFor(n.target)));
    note.show();
  };
}

/**
 * Adapts the engine's Notifier port for the tray app. The engine speaks per file; conflicts
 * reach the user through the batcher (one notification per batch), so its conflict notices are
 * dropped here, and other notices (a secret kept back, sync stopped) show once per `quietMs`.
 */
export function createElectronEngineNotifier(opts: { show: (n: NotificationModel) => void; now: () => number; quietMs?: number }): Notifier {
  const quietMs = opts.quietMs ?? 10 * 60_000;
  const lastShown = new Map<string, number>();
  return {
    notify(n: Notice) {
      if (n.kind === 'conflict') return;
      const key = `${n.title}\u0000${n.body}`;
      const t = lastShown.get(key);
      if (t !== undefined && opts.now() - t < quietMs) return;
      lastShown.set(key, opts.now());
      opts.show({ kind: n.kind, title: n.title, body: n.body, target: { view: 'status' } });
    },
  };
}
