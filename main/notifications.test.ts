import { afterEach, describe, expect, it } from 'vitest';
import type { AppState, Conflict } from '../shared/api.js';
import { createNotificationBatcher, type NotificationBatcher, type NotificationModel, type Timers } from './notifications.js';

/** A hand-driven clock: timers fire only when the test advances time. */
function manualTimers(): Timers & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let seq = 0;
  const queue = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) { const id = ++seq; queue.set(id, { at: now + ms, fn }); return id; },
    clearTimeout(h) { queue.delete(h as number); },
    advance(ms) {
      now += ms;
      for (const [id, t] of [...queue].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now) { queue.delete(id); t.fn(); }
      }
    },
    pending: () => queue.size,
  };
}

const conflict = (path: string, user = 'alice'): Conflict => ({ user, path, binary: false, detectedAt: 0, localHash: null, remoteHash: null, remoteDevice: 'desk' });
const state = (over: Partial<AppState> = {}): AppState => ({
  state: 'idle', configured: true, paused: false, serverUrl: 'http://srv:3626', device: 'laptop', hostsServer: false,
  lastSyncAt: null, lastError: null, conflictCount: 0, users: [], groups: [], ...over,
});

describe('notification batcher', () => {
  let batcher: NotificationBatcher | undefined;
  afterEach(() => batcher?.dispose());

  function setup() {
    const timers = manualTimers();
    const shown: NotificationModel[] = [];
    batcher = createNotificationBatcher({ show: (n) => shown.push(n), timers, batchMs: 1000, offlineAfterMs: 60_000 });
    return { timers, shown, b: batcher };
  }

  it('shows one notification for conflicts that arrive together, opening the first one', () => {
    const { timers, shown, b } = setup();
    b.conflicts([conflict('.zshrc')]);
    timers.advance(300);
    b.conflicts([conflict('.zshrc'), conflict('.gitconfig')]);
    b.conflicts([conflict('.zshrc'), conflict('.gitconfig'), conflict('.vimrc'), conflict('.tmux.conf')]);
    expect(shown).toHaveLength(0);
    timers.advance(1000);
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({ kind: 'conflicts', title: '4 files changed on two machines', target: { view: 'review', user: 'alice', path: '.zshrc' } });
    expect(shown[0].body).toContain('.zshrc, .gitconfig, .vimrc and 1 more');
  });

  it('does not notify again for conflicts already announced, but does once one is resolved and returns', () => {
    const { timers, shown, b } = setup();
    b.conflicts([conflict('.zshrc')]);
    timers.advance(1000);
    b.conflicts([conflict('.zshrc')]);
    timers.advance(5000);
    expect(shown).toHaveLength(1);
    expect(shown[0].title).toBe('A file changed on two machines');
    b.conflicts([]);
    b.conflicts([conflict('.zshrc')]);
    timers.advance(1000);
    expect(shown).toHaveLength(2);
  });

  it('tells the user once when the server stays unreachable, not for a short blip', () => {
    const { timers, shown, b } = setup();
    b.state(state({ state: 'offline' }));
    timers.advance(30_000);
    b.state(state({ state: 'idle' }));
    timers.advance(60_000);
    expect(shown).toHaveLength(0);
    b.state(state({ state: 'offline' }));
    b.state(state({ state: 'offline' }));
    timers.advance(61_000);
    expect(shown).toEqual([expect.objectContaining({ kind: 'offline', target: { view: 'status' } })]);
    expect(shown[0].body).toContain('http://srv:3626');
    timers.advance(600_000);
    expect(shown).toHaveLength(1);
  });

  it('tells the user once when the token is refused', () => {
    const { shown, b } = setup();
    const revoked = state({ state: 'error', lastError: { code: 'AUTH_INVALID', message: 'token revoked' } });
    b.state(revoked);
    b.state(revoked);
    expect(shown).toEqual([expect.objectContaining({ kind: 'auth', target: { view: 'settings' } })]);
    b.state(state());
    b.state(revoked);
    expect(shown).toHaveLength(2);
  });

  it('drops pending timers on dispose', () => {
    const { timers, shown, b } = setup();
    b.conflicts([conflict('.zshrc')]);
    b.state(state({ state: 'offline' }));
    b.dispose();
    expect(timers.pending()).toBe(0);
    timers.advance(100_000);
    expect(shown).toHaveLength(0);
  });
});
