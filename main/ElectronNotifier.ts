// Shows the notification batcher's decisions as desktop notifications; a click opens the view
// the notification points at (the review window at the first conflict, the settings, …).
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
