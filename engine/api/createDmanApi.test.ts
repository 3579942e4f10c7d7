import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DmanEvent, Setup } from '../../shared/api.js';
import { lintConfigText } from '../config/lint.js';
import { createEngine } from '../createEngine.js';
import type { Engine } from '../Engine.js';
import { silentLogger } from '../log.js';
import { createMemoryRemote, type MemoryRemote } from '../remote/MemoryRemote.js';
import { createMemorySettingsStore } from './appSettings.js';
import { createDmanApi, markedMerge, type DmanApiHost } from './createDmanApi.js';
import type { EmbeddedServer } from './createEmbeddedServer.js';
import { DmanError } from '../../shared/errors.js';

const SERVER = 'http://127.0.0.1:3999';

describe('markedMerge', () => {
  it('merges edits that do not overlap', () => {
    expect(markedMerge('a\nb\nc\n', 'A\nb\nc\n', 'a\nb\nC\n')).toEqual({ text: 'A\nb\nC\n', hasOverlap: false });
  });
  it('marks overlapping hunks as mine / server', () => {
    expect(markedMerge('a\nb\n', 'a\nmine\n', 'a\ntheirs\n')).toEqual({ text: 'a\n<<<<<<< mine\nmine\n=======\ntheirs\n>>>>>>> server\n', hasOverlap: true });
  });
  it('ends a hunk without a final newline before its marker', () => {
    expect(markedMerge('x', 'y', 'z').text).toBe('<<<<<<< mine\ny\n=======\nz\n>>>>>>> server\n');
  });
});

describe('createDmanApi', () => {
  let dir: string;
  let home: string;
  let remote: MemoryRemote;
  let api: DmanApiHost;
  let settings: ReturnType<typeof createMemorySettingsStore>;
  const others: Engine[] = [];
  const events: DmanEvent[] = [];

  const write = async (h: string, p: string, text: string) => { await mkdir(dirname(join(h, p)), { recursive: true }); await writeFile(join(h, p), text); };
  const setup = (over: Partial<Setup> = {}): Setup => ({
    mode: 'connect', serverUrl: SERVER, user: 'alice', home, token: 'dman_test_token', track: ['.bashrc', '.gitconfig', '.config/git/', '!.config/git/secret'],
    groups: { shell: ['.bashrc'], git: ['.gitconfig', '.config/git/'] }, conflictPolicy: 'ask', ...over,
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-api-'));
    home = join(dir, 'home');
    await mkdir(home);
    remote = createMemoryRemote({ url: SERVER });
    settings = createMemorySettingsStore();
    api = createDmanApi({
      log: silentLogger(), configPath: join(dir, 'cfg', 'dman.yaml'), dataDir: join(dir, 'data'), settings,
      remote: () => remote, env: {}, homedir: home, hostname: 'laptop',
    });
    api.onEvent((e) => events.push(e));
    await api.start();
  });
  afterEach(async () => {
    for (const e of others.splice(0)) await e.close();
    await api.close();
    events.length = 0;
    await rm(dir, { recursive: true, force: true });
  });

  it('starts unconfigured without a dman.yaml', async () => {
    const s = await api.getState();
    expect(s).toMatchObject({ ok: true, value: { configured: false, state: 'unconfigured', users: [] } });
  });

  it('applySetup writes a valid dman.yaml (mode 0600) and app settings, then syncs', async () => {
    await write(home, '.bashrc', 'export A=1\n');
    const r = await api.applySetup(setup());
    expect(r).toEqual({ ok: true, value: { configFile: join(dir, 'cfg', 'dman.yaml'), token: null } });
    const text = await readFile(join(dir, 'cfg', 'dman.yaml'), 'utf8');
    const lint = await lintConfigText(text, { env: {}, homedir: home, hostname: 'laptop' });
    expect(lint.errors).toBe(0);
    expect(lint.config!.users.alice!.home).toBe(home);
    expect(lint.config!.server_url).toBe(SERVER);
    expect((await stat(join(dir, 'cfg', 'dman.yaml'))).mode & 0o777).toBe(0o600);
    expect(settings.current).toMatchObject({ hostsServer: false, paused: false });

    // The engine's watch may publish before syncNow does; either way the file is on the server.
    const sync = await api.syncNow();
    expect(sync.ok).toBe(true);
    expect(remote.entries('alice').map((e) => e.path)).toEqual(['.bashrc']);
    const st = await api.getState();
    expect(st.ok && st.value).toMatchObject({ configured: true, state: 'idle', users: [{ name: 'alice', files: 1 }], groups: [{ name: 'shell', enabled: true }, { name: 'git', enabled: true }] });
    expect(events.some((e) => e.type === 'state')).toBe(true);
  });

  it('keeps the previous dman.yaml as .bak when the wizard runs again', async () => {
    await api.applySetup(setup());
    await api.applySetup(setup({ conflictPolicy: 'merge' }));
    expect(await readFile(join(dir, 'cfg', 'dman.yaml.bak'), 'utf8')).toContain('conflict_policy: ask');
    expect(await readFile(join(dir, 'cfg', 'dman.yaml'), 'utf8')).toContain('conflict_policy: merge');
  });

  it('refuses a setup that would make an invalid config and writes nothing', async () => {
    const r = await api.applySetup(setup({ track: ['.bashrc', '[unclosed'] }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain('[unclosed');
    await expect(stat(join(dir, 'cfg', 'dman.yaml'))).rejects.toThrow();
  });

  it('previews which files a track list selects and which pattern decided', async () => {
    await write(home, '.bashrc', 'x');
    await write(home, '.config/git/ignore', 'x');
    await write(home, '.config/git/secret', 'x');
    await write(home, '.bash_history', 'x');
    await write(home, 'Documents/report.txt', 'x');
    const r = await api.previewTrack(home, setup().track);
    expect(r).toEqual({ ok: true, value: [
      { path: '.bashrc', tracked: true, pattern: '.bashrc' },
      { path: '.config/git/ignore', tracked: true, pattern: '.config/git/' },
      { path: '.bash_history', tracked: false, pattern: null },
      { path: '.config/git/secret', tracked: false, pattern: '!.config/git/secret' },
    ] });
    const missing = await api.previewTrack(join(dir, 'nope'), ['.bashrc']);
    expect(missing).toMatchObject({ ok: false, error: { code: 'IO' } });
    const bad = await api.previewTrack(home, ['[unclosed']);
    expect(bad).toMatchObject({ ok: false, error: { code: 'PATTERN_INVALID' } });
  });

  it('shows a conflict with base, mine, server and the marked merge, and resolves it', async () => {
    await write(home, '.bashrc', 'a\nb\n');
    await api.applySetup(setup());
    await api.syncNow();
    await api.setPaused(true);
    const bHome = join(dir, 'home-b');
    await mkdir(bHome);
    const lint = await lintConfigText(JSON.stringify({ server_url: SERVER, auth_token: 't', device: 'desk', track: ['.bashrc'], users: { alice: { home: bHome } } }), { env: {}, homedir: bHome, hostname: 'desk' });
    const b = createEngine({ config: lint.config!, remote, log: silentLogger(), stateDir: join(dir, 'state-b') });
    others.push(b);
    await b.sync({ direction: 'both' });
    await write(bHome, '.bashrc', 'a\ntheirs\n');
    await b.sync({ direction: 'both' });
    await write(home, '.bashrc', 'a\nmine\n');
    await api.syncNow();

    const list = await api.listConflicts();
    expect(list).toMatchObject({ ok: true, value: [{ user: 'alice', path: '.bashrc', binary: false, remoteDevice: 'desk' }] });
    const d = await api.getConflict('alice', '.bashrc');
    expect(d).toMatchObject({ ok: true, value: { base: 'a\nb\n', local: 'a\nmine\n', remote: 'a\ntheirs\n', hasOverlap: true, merged: 'a\n<<<<<<< mine\nmine\n=======\ntheirs\n>>>>>>> server\n' } });
    const st = await api.getState();
    expect(st.ok && st.value).toMatchObject({ conflictCount: 1, paused: true });

    const res = await api.resolveConflict('alice', '.bashrc', { keep: 'merged', text: 'a\nboth\n' });
    expect(res).toMatchObject({ ok: true, value: { conflictCount: 0 } });
    expect(await readFile(join(home, '.bashrc'), 'utf8')).toBe('a\nboth\n');
    await b.sync({ direction: 'both' });
    expect(await readFile(join(bHome, '.bashrc'), 'utf8')).toBe('a\nboth\n');

    const hist = await api.history('alice', '.bashrc');
    expect(hist.ok && hist.value.length).toBe(3);
    const first = await api.readVersion('alice', '.bashrc', hist.ok ? Math.min(...hist.value.map((v) => v.rev)) : 0);
    expect(first).toMatchObject({ ok: true, value: { binary: false, text: 'a\nb\n' } });
    const files = await api.listFiles('alice');
    expect(files).toMatchObject({ ok: true, value: [{ path: '.bashrc' }] });
  });

  it('offers a binary conflict without text or merge', async () => {
    await writeFile(join(home, '.gitconfig'), Buffer.from([0, 1, 2, 3]));
    await api.applySetup(setup());
    await api.syncNow();
    await api.setPaused(true);
    const bHome = join(dir, 'home-b');
    await mkdir(bHome);
    const lint = await lintConfigText(JSON.stringify({ server_url: SERVER, auth_token: 't', device: 'desk', track: ['.gitconfig'], users: { alice: { home: bHome } } }), { env: {}, homedir: bHome, hostname: 'desk' });
    const b = createEngine({ config: lint.config!, remote, log: silentLogger(), stateDir: join(dir, 'state-b') });
    others.push(b);
    await b.sync({ direction: 'both' });
    await writeFile(join(bHome, '.gitconfig'), Buffer.from([0, 9, 9]));
    await b.sync({ direction: 'both' });
    await writeFile(join(home, '.gitconfig'), Buffer.from([0, 7, 7]));
    await api.syncNow();
    expect(await api.listConflicts()).toMatchObject({ ok: true, value: [{ path: '.gitconfig', binary: true }] });
    const d = await api.getConflict('alice', '.gitconfig');
    expect(d).toMatchObject({ ok: true, value: { binary: true, local: null, remote: null, base: null, merged: null } });
    const r = await api.resolveConflict('alice', '.gitconfig', { keep: 'server' });
    expect(r.ok).toBe(true);
    expect([...(await readFile(join(home, '.gitconfig')))]).toEqual([0, 9, 9]);
  });

  it('switches groups off and on (files of a group switched off stay put), and names an unknown group', async () => {
    await write(home, '.bashrc', 'a');
    await write(home, '.gitconfig', 'g1');
    await api.applySetup(setup());
    await api.syncNow();
    const off = await api.setGroupEnabled('git', false);
    await write(home, '.gitconfig', 'g2');
    await write(home, '.bashrc', 'b');
    await api.syncNow();
    const onServer = (p: string) => { const e = remote.entries('alice').find((x) => x.path === p); return e && remote.blobText(e.hash!); };
    expect(onServer('.bashrc')).toBe('b');
    expect(onServer('.gitconfig')).toBe('g1');
    expect(remote.entries('alice').every((e) => !e.deleted)).toBe(true);
    await api.setGroupEnabled('git', true);
    await api.syncNow();
    expect(onServer('.gitconfig')).toBe('g2');
    expect(settings.current.disabledGroups).toEqual([]);
    expect(off.ok && off.value.groups).toEqual([{ name: 'shell', patterns: ['.bashrc'], enabled: true }, { name: 'git', patterns: ['.gitconfig', '.config/git/'], enabled: false }]);
    expect(await api.setGroupEnabled('nope', true)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('"nope"') } });
  });

  it('has no auto-update on a host that cannot update itself (the agent)', async () => {
    expect(await api.getSettings()).toMatchObject({ ok: true, value: { supportsUpdates: false, autoUpdate: true } });
  });

  it('persists autoUpdate and tells the updater at once', async () => {
    const applied: boolean[] = [];
    const s = createMemorySettingsStore();
    const app = createDmanApi({
      log: silentLogger(), configPath: join(dir, 'cfg2', 'dman.yaml'), dataDir: join(dir, 'data2'), settings: s,
      remote: () => remote, env: {}, homedir: home, hostname: 'laptop',
      updates: { supported: () => true, applySettings: () => { applied.push(s.current.autoUpdate); } },
    });
    try {
      expect(await app.getSettings()).toMatchObject({ ok: true, value: { supportsUpdates: true, autoUpdate: true } });
      // No dman.yaml needed: it is an app setting, not a config key.
      expect(await app.updateSettings({ autoUpdate: false })).toMatchObject({ ok: true, value: { autoUpdate: false } });
      expect(s.current.autoUpdate).toBe(false);
      expect(applied).toEqual([false]);
      await app.updateSettings({ autoUpdate: true });
      expect(applied).toEqual([false, true]);
    } finally {
      await app.close();
    }
  });

  it('updates settings in dman.yaml, keeping comments, and rejects nothing silently', async () => {
    await api.applySetup(setup());
    const r = await api.updateSettings({ conflictPolicy: 'keep-both', serverUrl: 'http://127.0.0.1:4000' });
    expect(r).toMatchObject({ ok: true, value: { conflictPolicy: 'keep-both', serverUrl: 'http://127.0.0.1:4000', hasToken: true } });
    const text = await readFile(join(dir, 'cfg', 'dman.yaml'), 'utf8');
    expect(text).toContain('written by the dman setup wizard');
    expect(text).toContain('conflict_policy: keep-both');
  });
});

describe('createDmanApi without an injected remote', () => {
  it('explains a server that cannot be reached, naming its URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dman-api-'));
    const api = createDmanApi({ log: silentLogger(), configPath: join(dir, 'dman.yaml'), dataDir: dir, settings: createMemorySettingsStore(), env: {}, homedir: dir });
    try {
      const r = await api.testServer('http://127.0.0.1:9', undefined);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe('SERVER_UNREACHABLE');
        expect(r.error.message).toContain('127.0.0.1:9');
      }
      expect(await api.startHostedServer({ driver: 'disk' })).toMatchObject({ ok: false, error: { code: 'USAGE' } });
    } finally {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('createDmanApi hosting the embedded server', () => {
  // A fake supervisor whose resume fails as told: the API reports a real failure, not a start
  // that its own close() (the app quitting) overtook.
  const fakeServer = (fail: DmanError): EmbeddedServer => ({
    start: () => Promise.reject(fail), resume: () => Promise.reject(fail), url: () => null, pid: () => null,
    createDeviceToken: () => Promise.reject(fail), stop: () => Promise.resolve(),
  });
  const startWith = async (fail: DmanError): Promise<{ errors: string[]; lastError: unknown }> => {
    const dir = await mkdtemp(join(tmpdir(), 'dman-api-'));
    const api = createDmanApi({ log: silentLogger(), configPath: join(dir, 'dman.yaml'), dataDir: dir, settings: createMemorySettingsStore({ hostsServer: true }), env: {}, homedir: dir, server: fakeServer(fail) });
    const errors: string[] = [];
    api.onEvent((e) => { if (e.type === 'activity' && e.activity.level === 'error') errors.push(e.activity.message); });
    try {
      await api.start();
      const s = await api.getState();
      return { errors, lastError: s.ok ? s.value.lastError : 'no state' };
    } finally {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    }
  };

  it('reports a server that did not start, and not one stopped while it started', async () => {
    const failed = await startWith(new DmanError('STORE_UNAVAILABLE', 'the embedded server did not start: boom'));
    expect(failed.errors).toEqual(['The embedded server did not start: boom']);
    const other = await startWith(new DmanError('IO', 'EACCES: permission denied, mkdir \'/data/server\''));
    expect(other.errors).toEqual(['The embedded server did not start: EACCES: permission denied, mkdir \'/data/server\'']);
    expect(failed.lastError).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    const stopped = await startWith(new DmanError('STORE_UNAVAILABLE', 'the embedded server was stopped while it started', { context: { stopped: true } }));
    expect(stopped).toEqual({ errors: [], lastError: null });
  });
});
