import { describe, expect, it } from 'vitest';
import { createElectronNotifier, routeFor, type NotificationCtor } from './ElectronNotifier.js';

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
