import { describe, expect, it } from 'vitest';
import type { NotificationModel } from './notifications.js';
import { createElectronEngineNotifier, createElectronNotifier, routeFor, type NotificationCtor } from './ElectronNotifier.js';

describe('ElectronNotifier', () => {
  it('shows the notification and opens the review at the conflict on click', () => {
    const shown: Array<{ title: string; click?: () => void }> = [];
    const Notification = class {
      rec: { title: string; click?: () => void };
      constructor(o: { title: string }) { this.rec = { title: o.title }; }
      on(_e: 'click', fn: () => void) { this.rec.click = fn; }
      show() { shown.push(this.rec); }
      static isSupported() { return true; }
    } as unknown as NotificationCtor;
    const opened: string[] = [];
    const show = createElectronNotifier({ Notification, open: (r) => opened.push(r) });
    show({ kind: 'conflicts', title: '2 files changed on two machines', body: '…', target: { view: 'review', user: 'alice', path: '.ssh/config' } });
    expect(shown.map((s) => s.title)).toEqual(['2 files changed on two machines']);
    shown[0]!.click!();
    expect(opened).toEqual(['#/conflicts?user=alice&path=.ssh%2Fconfig']);
  });

  it('maps every target to a route', () => {
    expect(routeFor({ view: 'settings' })).toBe('#/settings');
    expect(routeFor({ view: 'status' })).toBe('#/status');
  });
});

describe('ElectronEngineNotifier', () => {
  it('leaves conflicts to the batcher and shows other notices once per quiet period', () => {
    let now = 0;
    const shown: NotificationModel[] = [];
    const n = createElectronEngineNotifier({ show: (x) => shown.push(x), now: () => now, quietMs: 1000 });
    n.notify({ kind: 'conflict', title: 'dman: conflict', body: '.zshrc', user: 'alice', path: '.zshrc' });
    n.notify({ kind: 'error', title: 'dman: sync stopped', body: 'disk full' });
    n.notify({ kind: 'error', title: 'dman: sync stopped', body: 'disk full' });
    n.notify({ kind: 'info', title: 'dman: a secret was not published', body: '.ssh/id_ed25519' });
    expect(shown.map((s) => s.kind)).toEqual(['error', 'info']);
    now = 1500;
    n.notify({ kind: 'error', title: 'dman: sync stopped', body: 'disk full' });
    expect(shown).toHaveLength(3);
    expect(shown[0]).toMatchObject({ body: 'disk full', target: { view: 'status' } });
  });
});
