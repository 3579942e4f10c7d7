// Desktop notifications, decided here and shown by an injected `show` (Electron's Notification
// in main.ts, a fake in tests): one notification per batch of conflicts rather than one per
// file, and notifications for errors only the user can fix (server unreachable for long, token
// revoked), each once until the condition clears.
import type { AppState, Conflict } from '../shared/api.js';

/** A notification to show; `target` says what a click opens. */
export interface NotificationModel {
  kind: 'conflicts' | 'offline' | 'auth' | 'error' | 'info';
  title: string;
  body: string;
  /** Where a click goes: the review window at a conflict, or the settings. */
  target: { view: 'review'; user: string; path: string } | { view: 'settings' } | { view: 'status' };
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export interface NotificationBatcherOptions {
  show: (n: NotificationModel) => void;
  timers: Timers;
  /** Conflicts arriving within this window after the first one share a notification. */
  batchMs?: number;
  /** How long the server must stay unreachable before the user is told. */
  offlineAfterMs?: number;
}

export interface NotificationBatcher {
  /** Feeds conflicts as the engine reports them (new ones are batched; known ones are ignored). */
  conflicts(list: Conflict[]): void;
  /** Feeds every state change; decides the error notifications. */
  state(s: AppState): void;
  /** Drops pending timers. */
  dispose(): void;
}

const keyOf = (c: { user: string; path: string }) => `${c.user}\u0000${c.path}`;

/** Builds the text of one notification for a batch of conflicts. */
export function conflictNotification(batch: Conflict[]): NotificationModel {
  const first = batch[0];
  const names = batch.slice(0, 3).map((c) => c.path).join(', ');
  const more = batch.length > 3 ? ` and ${batch.length - 3} more` : '';
  return {
    kind: 'conflicts',
    title: batch.length === 1 ? 'A file changed on two machines' : `${batch.length} files changed on two machines`,
    body: `${names}${more}. Click to review and choose which version to keep.`,
    target: { view: 'review', user: first.user, path: first.path },
  };
}

/** Creates the batcher that turns engine events into few, useful notifications. */
export function createNotificationBatcher(opts: NotificationBatcherOptions): NotificationBatcher {
  const batchMs = opts.batchMs ?? 1500;
  const offlineAfterMs = opts.offlineAfterMs ?? 5 * 60_000;
  const { timers, show } = opts;
  const notified = new Set<string>();
  let pending: Conflict[] = [];
  let batchTimer: unknown = null;
  let offlineSince: number | null = null;
  let offlineTimer: unknown = null;
  let offlineShown = false;
  let authShown = false;
  let lastServer: string | null = null;

  const flush = () => {
    batchTimer = null;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    show(conflictNotification(batch));
  };

  const showOffline = () => {
    offlineTimer = null;
    if (offlineShown || offlineSince === null) return;
    offlineShown = true;
    const minutes = Math.max(1, Math.round((timers.now() - offlineSince) / 60_000));
    show({
      kind: 'offline',
      title: 'dman cannot reach the sync server',
      body: `${lastServer ?? 'The server'} has been unreachable for ${minutes} min. Changes are kept and will sync when it is back.`,
      target: { view: 'status' },
    });
  };

  return {
    conflicts(list) {
      const current = new Set(list.map(keyOf));
      // A resolved conflict may come back later; it deserves a new notification then.
      for (const k of [...notified]) if (!current.has(k)) notified.delete(k);
      for (const c of list) {
        const k = keyOf(c);
        if (notified.has(k)) continue;
        notified.add(k);
        pending.push(c);
      }
      if (pending.length > 0 && batchTimer === null) batchTimer = timers.setTimeout(flush, batchMs);
    },
    state(s) {
      lastServer = s.serverUrl;
      if (s.state === 'offline') {
        if (offlineSince === null) {
          offlineSince = timers.now();
          offlineTimer = timers.setTimeout(showOffline, offlineAfterMs);
        }
      } else {
        offlineSince = null;
        offlineShown = false;
        if (offlineTimer !== null) { timers.clearTimeout(offlineTimer); offlineTimer = null; }
      }
      const authBroken = s.lastError !== null && (s.lastError.code === 'AUTH_INVALID' || s.lastError.code === 'AUTH_REQUIRED');
      if (authBroken && !authShown) {
        authShown = true;
        show({
          kind: 'auth',
          title: 'dman was signed out',
          body: `The server ${s.serverUrl ?? ''} refused this device's token (revoked or expired). Open Settings and paste a new token.`.replace('  ', ' '),
          target: { view: 'settings' },
        });
      } else if (!authBroken) {
        authShown = false;
      }
    },
    dispose() {
      if (batchTimer !== null) timers.clearTimeout(batchTimer);
      if (offlineTimer !== null) timers.clearTimeout(offlineTimer);
      batchTimer = offlineTimer = null;
    },
  };
}
