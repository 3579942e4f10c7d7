import { describe, expect, it } from 'vitest';
import type { NotificationModel } from './notifications.js';
import { e2eUserDataDir, installE2EHooks, type E2EHookDeps } from './e2eHooks.js';
import type { TrayIconChoice } from './trayMenu.js';

function deps(): E2EHookDeps & { opened: string[]; shown: NotificationModel[]; menu: { items: string[] }; icon: TrayIconChoice } {
  const opened: string[] = [];
  const shown: NotificationModel[] = [];
  const menu = { items: ['Up to date'] };
  const icon: TrayIconChoice = { name: 'conflicts', file: 'conflicts.png', template: false, badge: 2, tooltip: 'dman: 2 conflicts to review' };
  return { opened, shown, menu, icon, notifications: () => shown, open: (r) => opened.push(r), trayMenu: () => menu, trayIcon: () => icon };
}

describe('e2e hooks', () => {
  it('are off without DMAN_E2E=1: nothing is put on the global', () => {
    for (const env of [{}, { DMAN_E2E: '0' }, { DMAN_E2E: 'true' }, { DMAN_E2E_USER_DATA: '/tmp/x' }]) {
      const target: Record<string, unknown> = {};
      expect(installE2EHooks(env, target, deps())).toBeNull();
      expect(target).toEqual({});
      expect(e2eUserDataDir(env)).toBeNull();
    }
  });

  it('with DMAN_E2E=1 read the notifications and click one open at its target', () => {
    const d = deps();
    const target: Record<string, unknown> = {};
    const hooks = installE2EHooks({ DMAN_E2E: '1' }, target, d)!;
    expect(target.dmanE2E).toBe(hooks);
    expect(hooks.notifications()).toEqual([]);
    expect(hooks.click(0)).toBe(false);
    expect(d.opened).toEqual([]);
    d.shown.push({ kind: 'conflicts', title: '2 files changed on two machines', body: '.bashrc, .ssh/config', target: { view: 'review', user: 'alice', path: '.ssh/config' } });
    const copy = hooks.notifications();
    copy.pop(); // a copy: the caller cannot change what the app recorded
    expect(hooks.notifications()).toHaveLength(1);
    expect(hooks.click(0)).toBe(true);
    expect(d.opened).toEqual(['#/conflicts?user=alice&path=.ssh%2Fconfig']);
  });

  it('hand out the current tray menu and icon', () => {
    const d = deps();
    const hooks = installE2EHooks({ DMAN_E2E: '1' }, {}, d)!;
    expect(hooks.trayMenu()).toBe(d.menu);
    expect(hooks.trayIcon()).toEqual(d.icon);
  });

  it('take a temp userData folder only with DMAN_E2E=1 and an absolute path', () => {
    expect(e2eUserDataDir({ DMAN_E2E: '1' })).toBeNull();
    expect(e2eUserDataDir({ DMAN_E2E: '1', DMAN_E2E_USER_DATA: '/tmp/dman-e2e/profile' })).toBe('/tmp/dman-e2e/profile');
    expect(e2eUserDataDir({ DMAN_E2E: '1', DMAN_E2E_USER_DATA: 'C:\\Temp\\profile' })).toBe('C:\\Temp\\profile');
    expect(() => e2eUserDataDir({ DMAN_E2E: '1', DMAN_E2E_USER_DATA: 'profile' })).toThrow(/DMAN_E2E_USER_DATA must be an absolute path \(got "profile"\)/);
  });
});
