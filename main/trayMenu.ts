// The tray: its menu and its icon are pure functions of the app state, so the whole model is
// unit-tested in plain Node; main.ts only turns the model into Electron's Menu and Tray.
import type { AppState } from '../shared/api.js';
import { formatAgo } from '../shared/formatAgo.js';
import type { UpdateStatus } from './updater.js';

/** What clicking a menu item does; main.ts maps each to an engine call or a window. */
export type TrayAction =
  | { type: 'sync-now' }
  | { type: 'set-paused'; paused: boolean }
  | { type: 'toggle-group'; group: string; enabled: boolean }
  | { type: 'review-conflicts' }
  | { type: 'open' }
  | { type: 'run-setup' }
  | { type: 'set-start-at-login'; enabled: boolean }
  | { type: 'check-updates' }
  | { type: 'quit' };

/** One menu line, Electron-agnostic. */
export type TrayMenuItem =
  | { kind: 'separator' }
  | { kind: 'label'; label: string }
  | { kind: 'action'; id: string; label: string; enabled: boolean; action: TrayAction }
  | { kind: 'checkbox'; id: string; label: string; checked: boolean; enabled: boolean; action: TrayAction }
  | { kind: 'submenu'; id: string; label: string; items: TrayMenuItem[] };

export interface TrayMenuOptions {
  startAtLogin: boolean;
  /** ms since the epoch; makes "last sync 3 min ago" deterministic in tests. */
  now: number;
  /** The updater's state (main/updater.ts); absent: this build cannot update itself, no menu item. */
  update?: Pick<UpdateStatus, 'state' | 'version'>;
}

/** The "Check for updates" line: says what the updater is doing and is greyed out while it is busy. */
function updateItem(u: NonNullable<TrayMenuOptions['update']>): TrayMenuItem {
  const label = u.state === 'checking' ? 'Checking for updates…'
    : u.state === 'downloading' ? `Downloading update${u.version ? ` ${u.version}` : ''}…`
      : u.state === 'downloaded' ? (u.version ? `Update ${u.version} installs when you quit` : 'Update installs when you quit')
        : 'Check for updates';
  return { kind: 'action', id: 'check-updates', label, enabled: u.state !== 'checking' && u.state !== 'downloading' && u.state !== 'downloaded', action: { type: 'check-updates' } };
}

/** The icon states of the tray. */
export type TrayIconName = 'in-sync' | 'syncing' | 'conflicts' | 'paused' | 'offline' | 'error' | 'setup';

export interface TrayIconChoice {
  name: TrayIconName;
  /** File name under build/icons/tray/ (a `Template` image on macOS, which the OS tints). */
  file: string;
  /** macOS template image: monochrome, tinted by the menu bar. */
  template: boolean;
  /** Count drawn next to the icon (conflicts), macOS title / Windows tooltip. */
  badge: number | null;
  tooltip: string;
}

/** Describes the state in one line, as the tray menu's first line and the tooltip. */
export function statusLine(s: AppState): string {
  switch (s.state) {
    case 'unconfigured': return 'dman is not set up yet';
    case 'idle': return 'Up to date';
    case 'syncing': return 'Syncing…';
    case 'conflicts': return `${s.conflictCount} conflict${s.conflictCount === 1 ? '' : 's'} to review`;
    case 'paused': return 'Syncing is paused';
    case 'offline': return `Offline: ${s.serverUrl ?? 'server'} unreachable`;
    case 'error': return `Error: ${s.lastError?.message ?? 'unknown'}`;
  }
}

/** Builds the tray menu for a state. */
export function buildTrayMenu(s: AppState, opts: TrayMenuOptions): TrayMenuItem[] {
  const items: TrayMenuItem[] = [{ kind: 'label', label: statusLine(s) }];
  if (!s.configured) {
    items.push(
      { kind: 'separator' },
      { kind: 'action', id: 'run-setup', label: 'Set up dman…', enabled: true, action: { type: 'run-setup' } },
      { kind: 'action', id: 'open', label: 'Open dman', enabled: true, action: { type: 'open' } },
      { kind: 'separator' },
      { kind: 'checkbox', id: 'start-at-login', label: 'Start at login', checked: opts.startAtLogin, enabled: true, action: { type: 'set-start-at-login', enabled: !opts.startAtLogin } },
      ...(opts.update ? [updateItem(opts.update)] : []),
      { kind: 'action', id: 'quit', label: 'Quit dman', enabled: true, action: { type: 'quit' } },
    );
    return items;
  }
  items.push(
    { kind: 'label', label: `Last sync: ${formatAgo(s.lastSyncAt, opts.now)}` },
    { kind: 'separator' },
    { kind: 'action', id: 'sync-now', label: 'Sync now', enabled: !s.paused && s.state !== 'syncing', action: { type: 'sync-now' } },
    s.paused
      ? { kind: 'action', id: 'resume', label: 'Resume syncing', enabled: true, action: { type: 'set-paused', paused: false } }
      : { kind: 'action', id: 'pause', label: 'Pause syncing', enabled: true, action: { type: 'set-paused', paused: true } },
  );
  if (s.groups.length > 0) {
    items.push({
      kind: 'submenu',
      id: 'groups',
      label: 'Sync groups',
      items: s.groups.map((g) => ({
        kind: 'checkbox' as const,
        id: `group:${g.name}`,
        label: g.name,
        checked: g.enabled,
        enabled: true,
        action: { type: 'toggle-group' as const, group: g.name, enabled: !g.enabled },
      })),
    });
  }
  items.push(
    { kind: 'separator' },
    { kind: 'action', id: 'review-conflicts', label: `Review conflicts… (${s.conflictCount})`, enabled: s.conflictCount > 0, action: { type: 'review-conflicts' } },
    { kind: 'action', id: 'open', label: 'Open dman', enabled: true, action: { type: 'open' } },
    { kind: 'separator' },
    { kind: 'checkbox', id: 'start-at-login', label: 'Start at login', checked: opts.startAtLogin, enabled: true, action: { type: 'set-start-at-login', enabled: !opts.startAtLogin } },
    ...(opts.update ? [updateItem(opts.update)] : []),
    { kind: 'action', id: 'quit', label: 'Quit dman', enabled: true, action: { type: 'quit' } },
  );
  return items;
}

/** Chooses the tray icon for a state; macOS gets template images, others full-colour PNGs. */
export function chooseTrayIcon(s: AppState, platform: NodeJS.Platform | string): TrayIconChoice {
  const name: TrayIconName = !s.configured ? 'setup'
    : s.state === 'syncing' ? 'syncing'
      : s.conflictCount > 0 ? 'conflicts'
        : s.paused || s.state === 'paused' ? 'paused'
          : s.state === 'offline' ? 'offline'
            : s.state === 'error' ? 'error'
              : 'in-sync';
  const mac = platform === 'darwin';
  // Windows and Linux trays show 16/32 px; @2x variants sit beside each file for HiDPI.
  const file = mac ? `${name}Template.png` : `${name}.png`;
  return { name, file, template: mac, badge: name === 'conflicts' ? s.conflictCount : null, tooltip: `dman: ${statusLine(s)}` };
}

/** One entry of Electron's menu template (a subset of MenuItemConstructorOptions). */
export interface MenuTemplateItem {
  type?: 'normal' | 'separator' | 'checkbox' | 'submenu';
  id?: string;
  label?: string;
  enabled?: boolean;
  checked?: boolean;
  click?: () => void;
  submenu?: MenuTemplateItem[];
}

/** Turns the menu model into Electron's template, wiring each click to `onAction`. */
export function toMenuTemplate(items: TrayMenuItem[], onAction: (a: TrayAction) => void): MenuTemplateItem[] {
  return items.map((i): MenuTemplateItem => {
    switch (i.kind) {
      case 'separator': return { type: 'separator' };
      case 'label': return { type: 'normal', label: i.label, enabled: false };
      case 'action': return { type: 'normal', id: i.id, label: i.label, enabled: i.enabled, click: () => onAction(i.action) };
      case 'checkbox': return { type: 'checkbox', id: i.id, label: i.label, checked: i.checked, enabled: i.enabled, click: () => onAction(i.action) };
      case 'submenu': return { type: 'submenu', id: i.id, label: i.label, submenu: toMenuTemplate(i.items, onAction) };
    }
  });
}
