import { describe, expect, it } from 'vitest';
import { parseRoute, routeHref } from '../route.js';
import { initialDraft, toggleGroupText, trackTextFor } from './draft.js';

const groups = { shell: ['.bashrc', '.zshrc'], git: ['.gitconfig'], docs: ['docs/', '!docs/config.yaml'] };

describe('wizard draft', () => {
  it('prefills the editor from the default-on groups', () => {
    const d = initialDraft({ user: 'alice', home: '/home/alice', device: 'laptop', dataDir: '/d', serverUrl: 'http://x', groups, configFile: '/c' });
    expect(d.checked).toEqual({ shell: true, git: true, docs: false });
    expect(d.trackText).toBe('.bashrc\n.zshrc\n.gitconfig');
    expect(d).toMatchObject({ mode: 'host', storage: { driver: 'disk', dataDir: '/d' }, conflictPolicy: 'ask' });
  });

  it('keeps hand-written lines when groups are toggled', () => {
    const text = trackTextFor(groups, { shell: true, git: false, docs: true }, '.bashrc\n.zshrc\n.gitconfig\n.config/foo/\n');
    expect(text).toBe('.bashrc\n.zshrc\ndocs/\n!docs/config.yaml\n.config/foo/');
  });
});

describe('toggleGroupText', () => {
  it('adds only the missing patterns of a group and keeps every other line as written', () => {
    expect(toggleGroupText('.bashrc\n.ssh/\n!.ssh/id_*', groups, { shell: true, git: true, docs: false }, 'git', true)).toBe('.bashrc\n.ssh/\n!.ssh/id_*\n.gitconfig');
  });
  it('removes a group\'s lines unless another checked group lists them', () => {
    const g = { ...groups, extra: ['.bashrc'] };
    expect(toggleGroupText('.bashrc\n.zshrc\n.gitconfig', g, { shell: false, git: true, extra: true }, 'shell', false)).toBe('.bashrc\n.gitconfig');
  });
});

describe('hash routes', () => {
  it('round-trips a review route with a path', () => {
    const r = parseRoute(routeHref('conflicts', { user: 'alice', path: '.ssh/config' }));
    expect(r.view).toBe('conflicts');
    expect(r.params.get('path')).toBe('.ssh/config');
  });
  it('falls back to status on an unknown route', () => {
    expect(parseRoute('#/nope').view).toBe('status');
    expect(parseRoute('').view).toBe('status');
  });
});
