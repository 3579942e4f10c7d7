import { describe, expect, it } from 'vitest';
import type { AppState } from '../shared/api.js';
import { formatAgo } from '../shared/formatAgo.js';
import { buildTrayMenu, chooseTrayIcon, toMenuTemplate, type TrayAction, type TrayMenuItem } from './trayMenu.js';

const NOW = 1_700_000_000_000;

function state(over: Partial<AppState> = {}): AppState {
  return {
    state: 'idle', configured: true, paused: false, serverUrl: 'http://127.0.0.1:3626', device: 'laptop', hostsServer: false,
    lastSyncAt: NOW - 3 * 60_000, lastError: null, conflictCount: 0,
    users: [{ name: 'alice', home: '/home/alice', files: 12, pending: 0, conflicts: 0, lastSyncAt: NOW - 3 * 60_000 }],
    groups: [{ name: 'shell', patterns: ['.zshrc'], enabled: true }, { name: 'ssh', patterns: ['.ssh/config'], enabled: false }],
    ...over,
  };
}

const find = (items: TrayMenuItem[], id: string): TrayMenuItem | undefined => {
  for (const i of items) {
    if ('id' in i && i.id === id) return i;
    if (i.kind === 'submenu') { const f = find(i.items, id); if (f) return f; }
  }
  return undefined;
};
const labels = (items: TrayMenuItem[]) => items.map((i) => (i.kind === 'separator' ? '---' : i.label));

describe('buildTrayMenu', () => {
  it('lists status, last sync, sync now, pause, groups, review, open, start at login and quit in order', () => {
    const items = buildTrayMenu(state(), { startAtLogin: false, now: NOW });
    expect(labels(items)).toEqual([
      'Up to date', 'Last sync: 3 min ago', '---', 'Sync now', 'Pause syncing', 'Sync groups', '---',
      'Review conflicts… (0)', 'Open dman', '---', 'Start at login', 'Quit dman',
    ]);
  });

  it('offers "Check for updates" only where the build updates itself, greyed out while busy', () => {
    expect(find(buildTrayMenu(state(), { startAtLogin: false, now: NOW }), 'check-updates')).toBeUndefined();
    const idle = buildTrayMenu(state(), { startAtLogin: false, now: NOW, update: { state: 'idle' } });
    expect(labels(idle).slice(-3)).toEqual(['Start at login', 'Check for updates', 'Quit dman']);
    expect(find(idle, 'check-updates')).toMatchObject({ kind: 'action', enabled: true, action: { type: 'check-updates' } });
    expect(find(buildTrayMenu(state(), { startAtLogin: false, now: NOW, update: { state: 'disabled' } }), 'check-updates')).toMatchObject({ label: 'Check for updates', enabled: true });
    expect(find(buildTrayMenu(state(), { startAtLogin: false, now: NOW, update: { state: 'checking' } }), 'check-updates')).toMatchObject({ label: 'Checking for updates…', enabled: false });
    expect(find(buildTrayMenu(state(), { startAtLogin: false, now: NOW, update: { state: 'downloaded', version: '1.2.0' } }), 'check-updates')).toMatchObject({ label: 'Update 1.2.0 installs when you quit', enabled: false });
    const setup = buildTrayMenu(state({ configured: false, state: 'unconfigured' }), { startAtLogin: false, now: NOW, update: { state: 'idle' } });
    expect(find(setup, 'check-updates')).toBeDefined();
    const clicked: TrayAction[] = [];
    const tpl = toMenuTemplate(idle, (a) => clicked.push(a));
    tpl.find((t) => t.id === 'check-updates')!.click!();
    expect(clicked).toEqual([{ type: 'check-updates' }]);
  });

  it('offers one checkbox per group whose click flips it', () => {
    const items = buildTrayMenu(state(), { startAtLogin: false, now: NOW });
    expect(find(items, 'group:shell')).toMatchObject({ kind: 'checkbox', checked: true, action: { type: 'toggle-group', group: 'shell', enabled: false } });
    expect(find(items, 'group:ssh')).toMatchObject({ kind: 'checkbox', checked: false, action: { type: 'toggle-group', group: 'ssh', enabled: true } });
  });

  it('shows Resume and disables Sync now when paused', () => {
    const items = buildTrayMenu(state({ paused: true, state: 'paused' }), { startAtLogin: true, now: NOW });
    expect(find(items, 'resume')).toMatchObject({ action: { type: 'set-paused', paused: false } });
    expect(find(items, 'pause')).toBeUndefined();
    expect(find(items, 'sync-now')).toMatchObject({ enabled: false });
    expect(find(items, 'start-at-login')).toMatchObject({ checked: true, action: { type: 'set-start-at-login', enabled: false } });
    expect(items[0]).toEqual({ kind: 'label', label: 'Syncing is paused' });
  });

  it('counts conflicts in the status line and enables the review item', () => {
    const items = buildTrayMenu(state({ state: 'conflicts', conflictCount: 2 }), { startAtLogin: false, now: NOW });
    expect(items[0]).toEqual({ kind: 'label', label: '2 conflicts to review' });
    expect(find(items, 'review-conflicts')).toMatchObject({ label: 'Review conflicts… (2)', enabled: true });
  });

  it('offers setup instead of sync items before the wizard ran', () => {
    const items = buildTrayMenu(state({ configured: false, state: 'unconfigured', groups: [] }), { startAtLogin: false, now: NOW });
    expect(find(items, 'run-setup')).toBeDefined();
    expect(find(items, 'sync-now')).toBeUndefined();
    expect(find(items, 'quit')).toBeDefined();
  });

  it('names the unreachable server when offline', () => {
    expect(buildTrayMenu(state({ state: 'offline' }), { startAtLogin: false, now: NOW })[0]).toEqual({ kind: 'label', label: 'Offline: http://127.0.0.1:3626 unreachable' });
  });
});

describe('chooseTrayIcon', () => {
  it.each([
    [{}, 'in-sync'],
    [{ state: 'syncing' as const }, 'syncing'],
    [{ state: 'conflicts' as const, conflictCount: 3 }, 'conflicts'],
    [{ state: 'paused' as const, paused: true }, 'paused'],
    [{ state: 'offline' as const }, 'offline'],
    [{ state: 'error' as const, lastError: { code: 'IO', message: 'disk full' } }, 'error'],
    [{ configured: false, state: 'unconfigured' as const }, 'setup'],
  ])('%o → %s', (over, name) => {
    expect(chooseTrayIcon(state(over), 'linux').name).toBe(name);
  });

  it('uses template images on macOS only and carries the conflict count', () => {
    const mac = chooseTrayIcon(state({ state: 'conflicts', conflictCount: 4 }), 'darwin');
    expect(mac).toMatchObject({ file: 'conflictsTemplate.png', template: true, badge: 4 });
    const win = chooseTrayIcon(state({ state: 'conflicts', conflictCount: 4 }), 'win32');
    expect(win).toMatchObject({ file: 'conflicts.png', template: false, badge: 4, tooltip: 'dman: 4 conflicts to review' });
    expect(chooseTrayIcon(state(), 'linux').badge).toBeNull();
  });
});

describe('formatAgo', () => {
  it.each([[null, 'never'], [NOW - 2000, 'just now'], [NOW - 30_000, '30 s ago'], [NOW - 5 * 60_000, '5 min ago'], [NOW - 3 * 3600_000, '3 h ago'], [NOW - 72 * 3600_000, '3 days ago']])('%s → %s', (then, text) => {
    expect(formatAgo(then, NOW)).toBe(text);
  });
});

describe('toMenuTemplate', () => {
  it('maps every item to Electron template entries whose clicks fire the action', () => {
    const acts: TrayAction[] = [];
    const tpl = toMenuTemplate(buildTrayMenu(state(), { startAtLogin: false, now: NOW }), (a) => acts.push(a));
    expect(tpl[0]).toEqual({ type: 'normal', label: 'Up to date', enabled: false });
    expect(tpl.filter((t) => t.type === 'separator')).toHaveLength(3);
    tpl.find((t) => t.id === 'sync-now')!.click!();
    const groups = tpl.find((t) => t.id === 'groups')!;
    expect(groups.type).toBe('submenu');
    groups.submenu!.find((t) => t.id === 'group:ssh')!.click!();
    tpl.find((t) => t.id === 'quit')!.click!();
    expect(acts).toEqual([{ type: 'sync-now' }, { type: 'toggle-group', group: 'ssh', enabled: true }, { type: 'quit' }]);
  });
});
