import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_TRACK } from '../../shared/config/defaults.js';
import { DmanError } from '../../shared/errors.js';
import { configCandidates, findConfigFile } from './find.js';
import { loadConfig } from './load.js';

let dir: string;
let home: string;
let cwd: string;
let xdg: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dman-load-'));
  home = join(dir, 'home');
  cwd = join(dir, 'cwd');
  xdg = join(dir, 'xdg');
  await Promise.all([mkdir(home), mkdir(cwd), mkdir(join(xdg, 'dman'), { recursive: true })]);
});
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

const put = async (path: string, text: string, mode = 0o600) => { await writeFile(path, text, { mode }); await chmod(path, mode); };
const caught = async (p: Promise<unknown>): Promise<DmanError> => {
  try { await p; } catch (err) { expect(err).toBeInstanceOf(DmanError); return err as DmanError; }
  throw new Error('expected a rejection');
};

describe('finding dman.yaml', () => {
  it('searches --config, DMAN_CONFIG, ./dman.yaml, $XDG_CONFIG_HOME/dman, ~/dman.yaml in that order', async () => {
    const files = {
      flag: join(dir, 'flag.yaml'), env: join(dir, 'env.yaml'), cwd: join(cwd, 'dman.yaml'), xdg: join(xdg, 'dman', 'dman.yaml'), home: join(home, 'dman.yaml'),
    };
    for (const [name, f] of Object.entries(files)) await put(f, `device: ${name}\n`);
    const load = (o: { configPath?: string; env?: Record<string, string> }) =>
      loadConfig({ cwd, homedir: home, hostname: 'h', configPath: o.configPath, env: { XDG_CONFIG_HOME: xdg, ...o.env } });
    expect((await load({ configPath: files.flag, env: { DMAN_CONFIG: files.env } })).config.device).toBe('flag');
    expect((await load({ env: { DMAN_CONFIG: files.env } })).config.device).toBe('env');
    expect((await load({})).config.device).toBe('cwd');
    await rm(files.cwd);
    expect((await load({})).config.device).toBe('xdg');
    await rm(files.xdg);
    expect((await load({})).config.device).toBe('home');
    const last = await load({});
    expect(last.file).toBe(files.home);
  });

  it('falls back to ~/.config when XDG_CONFIG_HOME is unset', () => {
    const c = configCandidates({ env: {}, cwd, homedir: home });
    expect(c.map((x) => x.path)).toEqual([join(cwd, 'dman.yaml'), join(home, '.config', 'dman', 'dman.yaml'), join(home, 'dman.yaml')]);
  });

  it('resolves a relative --config against the working directory', async () => {
    const r = await findConfigFile({ configPath: 'sub/x.yaml', env: {}, cwd, homedir: home });
    expect(r).toMatchObject({ file: join(cwd, 'sub', 'x.yaml'), isExplicit: true });
  });
});

describe('docs/config.yaml', () => {
  it('loads without a problem and means what its comments say', async () => {
    const file = join(import.meta.dirname, '..', '..', 'docs', 'config.yaml');
    const r = await loadConfig({ configPath: file, cwd, homedir: home, hostname: 'box', env: {} });
    expect(r.problems).toEqual([]);
    expect(r.config).toMatchObject({ server_url: 'http://127.0.0.1:3626', storage_driver: 'disk', conflict_policy: 'ask', device: 'box' });
    expect(r.config.track).toContain('!docs/config.yaml');
    expect(r.config.users.alice).toEqual({ home, track: r.config.track });
    expect(r.config.users.bob.track).toEqual(['.bashrc', '.gitconfig', '.config/nvim/']);
    expect(r.config.groups.work).toEqual(['.config/work/', '!.config/work/cache/']);
  });

  it('its track list is the default list, as its comment says', async () => {
    const text = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'config.yaml'), 'utf8');
    expect(text).toMatch(/Without a track list, dman uses its default list: exactly the one below/);
    expect((parse(text) as { track: unknown }).track).toEqual([...DEFAULT_TRACK]);
  });
});

describe('loadConfig: bad input', () => {
  it('no file anywhere: CONFIG_NOT_FOUND listing every place searched', async () => {
    const err = await caught(loadConfig({ cwd, homedir: home, env: { XDG_CONFIG_HOME: xdg } }));
    expect(err.code).toBe('CONFIG_NOT_FOUND');
    for (const p of [join(cwd, 'dman.yaml'), join(xdg, 'dman', 'dman.yaml'), join(home, 'dman.yaml')]) expect(err.message).toContain(p);
    expect(err.hint).toMatch(/dman init/);
  });

  it('no file with allowMissing: the defaults, file null', async () => {
    const r = await loadConfig({ cwd, homedir: home, hostname: 'box', env: { XDG_CONFIG_HOME: xdg }, allowMissing: true });
    expect(r.file).toBeNull();
    expect(r.config.device).toBe('box');
  });

  it('an explicit --config that does not exist is CONFIG_NOT_FOUND even with allowMissing', async () => {
    const missing = join(dir, 'nope.yaml');
    const err = await caught(loadConfig({ configPath: missing, cwd, homedir: home, env: {}, allowMissing: true }));
    expect(err.code).toBe('CONFIG_NOT_FOUND');
    expect(err.context.file).toBe(missing);
  });

  it('a directory: CONFIG_UNREADABLE naming it', async () => {
    const err = await caught(loadConfig({ configPath: cwd, cwd, homedir: home, env: {} }));
    expect(err.code).toBe('CONFIG_UNREADABLE');
    expect(err.message).toContain(`${cwd} is a directory`);
  });

  it('a ./dman.yaml that is a directory is reported, not skipped', async () => {
    await mkdir(join(cwd, 'dman.yaml'));
    const err = await caught(loadConfig({ cwd, homedir: home, env: { XDG_CONFIG_HOME: xdg } }));
    expect(err.code).toBe('CONFIG_UNREADABLE');
  });

  it('a dangling symlink: CONFIG_NOT_FOUND naming the file', async () => {
    const link = join(dir, 'link.yaml');
    await symlink(join(dir, 'gone.yaml'), link);
    const err = await caught(loadConfig({ configPath: link, cwd, homedir: home, env: {} }));
    expect(err.code).toBe('CONFIG_NOT_FOUND');
  });

  it('a huge file: CONFIG_INVALID without reading it all', async () => {
    const f = join(dir, 'huge.yaml');
    await writeFile(f, Buffer.alloc(2 * 1024 * 1024, 0x20));
    const err = await caught(loadConfig({ configPath: f, cwd, homedir: home, env: {} }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/at most 1048576 bytes/);
  });

  it('a binary file: CONFIG_INVALID', async () => {
    const f = join(dir, 'bin.yaml');
    await writeFile(f, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]));
    const err = await caught(loadConfig({ configPath: f, cwd, homedir: home, env: {} }));
    expect(err.code).toBe('CONFIG_INVALID');
  });

  it.each([
    ['malformed YAML', 'track: [.a\n', undefined, /malformed YAML/],
    ['a wrong type', 'users:\n  alice:\n    home: /h\n    track: 3\n', 'users.alice.track', /expected a list, got number/],
    ['an unknown key', 'storage_drvier: disk\n', 'storage_drvier', /did you mean storage_driver/],
  ])('%s: CONFIG_INVALID with file, key, line and every problem; file untouched', async (_n, text, key, re) => {
    const f = join(dir, 'dman.yaml');
    await put(f, text);
    const before = await readFile(f);
    const err = await caught(loadConfig({ configPath: f, cwd, homedir: home, env: {} }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.context.file).toBe(f);
    if (key) expect(err.context.key).toBe(key);
    expect(err.message).toMatch(re);
    expect(err.message).toMatch(/line \d+:\d+/);
    expect(Array.isArray(err.context.problems)).toBe(true);
    expect(await readFile(f)).toEqual(before);
  });

  it('returns warnings (legacy keys, world-readable token) as printable lines', async () => {
    const f = join(dir, 'dman.yaml');
    await put(f, 'auth_token: abc\nredis_addr: h:1\n', 0o644);
    const r = await loadConfig({ configPath: f, cwd, homedir: home, env: {} });
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(new RegExp(`^${f}:1:1: warning: auth_token: .*world-readable`));
    expect(r.warnings[1]).toMatch(/redis_addr.*dman config migrate/);
    expect(r.warnings.join('\n')).not.toContain('abc');
    expect(r.config.redis.addr).toBe('h:1');
  });
});
