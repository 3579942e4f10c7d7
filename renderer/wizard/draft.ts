// The wizard's working state, kept in one object so Back never loses what was typed.
import type { Setup } from '../../shared/api.js';

export interface Defaults {
  user: string;
  home: string;
  device: string;
  dataDir: string;
  serverUrl: string;
  groups: Record<string, string[]>;
  configFile: string;
}

export interface Draft {
  mode: 'host' | 'connect';
  serverUrl: string;
  storage: NonNullable<Setup['storage']>;
  user: string;
  home: string;
  device: string;
  token: string;
  /** Groups offered (name → patterns) and which are checked. */
  groups: Record<string, string[]>;
  checked: Record<string, boolean>;
  /** The pattern editor's text: one pattern per line. */
  trackText: string;
  conflictPolicy: Setup['conflictPolicy'];
}

const DEFAULT_ON = new Set(['shell', 'git', 'ssh', 'editor', 'tmux']);

/** Builds the first draft from the machine's defaults. */
export function initialDraft(d: Defaults): Draft {
  const checked = Object.fromEntries(Object.keys(d.groups).map((g) => [g, DEFAULT_ON.has(g)]));
  return {
    mode: 'host',
    serverUrl: '',
    storage: { driver: 'disk', dataDir: d.dataDir },
    user: d.user,
    home: d.home,
    device: d.device,
    token: '',
    groups: d.groups,
    checked,
    trackText: trackTextFor(d.groups, checked, ''),
    conflictPolicy: 'ask',
  };
}

/** Rebuilds the editor text from the checked groups, keeping lines the user added by hand. */
export function trackTextFor(groups: Record<string, string[]>, checked: Record<string, boolean>, previousText: string): string {
  const fromGroups = new Set(Object.values(groups).flat());
  const extra = previousText.split('\n').map((l) => l.trim()).filter((l) => l && !fromGroups.has(l));
  const lines = Object.entries(groups).filter(([g]) => checked[g]).flatMap(([, p]) => p);
  return [...new Set([...lines, ...extra])].join('\n');
}

/**
 * Switches one group in the editor text: adds its missing patterns at the end, or removes its
 * lines (unless another checked group lists them too). Every other line stays as written.
 */
export function toggleGroupText(text: string, groups: Record<string, string[]>, checked: Record<string, boolean>, group: string, on: boolean): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const mine = groups[group] ?? [];
  if (on) return [...lines, ...mine.filter((p) => !lines.includes(p))].join('\n');
  const keep = new Set(Object.entries(groups).filter(([g]) => g !== group && checked[g]).flatMap(([, p]) => p));
  return lines.filter((l) => !mine.includes(l) || keep.has(l)).join('\n');
}
