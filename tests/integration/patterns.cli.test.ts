// The real `dman ls` and `dman why` (bin/dman.js → dist/cli.js) against a temp config and temp homes.
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'bin', 'dman.js');
let dir: string, alice: string, bob: string, config: string;

interface Run { code: number; stdout: string; stderr: string }

function dman(args: string[], opts: { cwd?: string } = {}): Promise<Run> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: alice, XDG_CONFIG_HOME: join(dir, 'xdg') };
  return new Promise((res) => {
    execFile(process.execPath, [bin, ...args], { cwd: opts.cwd ?? dir, env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

async function put(abs: string, text = 'x'): Promise<void> {
  await mkdir(dirname(abs), { recursive: true });
  await writeFile(abs, text);
}

async function writeConfig(name: string, users: Record<string, { home: string; track?: string[] }>, track?: string[]): Promise<string> {
  const lines: string[] = [];
  if (track) lines.push('track:', ...track.map((t) => `  - ${JSON.stringify(t)}`));
  lines.push('users:');
  for (const [u, v] of Object.entries(users)) {
    lines.push(`  ${u}:`, `    home: ${JSON.stringify(v.home)}`);
    if (v.track) lines.push('    track:', ...v.track.map((t) => `      - ${JSON.stringify(t)}`));
  }
  const f = join(dir, name);
  await writeFile(f, `${lines.join('\n')}\n`, { mode: 0o600 });
  return f;
}

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`npm run build failed: ${b.stderr}`);
  dir = await mkdtemp(join(tmpdir(), 'dman-lswhy-'));
  alice = join(dir, 'home', 'alice');
  bob = join(dir, 'home', 'bob');
  for (const f of ['.bashrc', '.zshrc', '.config/nvim/init.lua', '.config/nvim/lua/plugins.lua', '.config/secret/token', '.config/secret/keep.conf',
    'docs/readme.md', 'docs/config.yaml', '.oh-my-zsh/plugins/git/git.plugin.zsh', '.oh-my-zsh/plugins/git/README.md', '.cache/blob',
    'My Notes/ünïcode file.txt']) await put(join(alice, f));
  for (const f of ['.bashrc', '.gitconfig', 'notes.txt']) await put(join(bob, f));
  await mkdir(join(alice, 'dotfiles/vim'), { recursive: true });
  await symlink(join(alice, 'dotfiles/vim'), join(alice, '.vim'));
  expect(spawnSync('mkfifo', [join(alice, '.config/nvim/pipe')]).status).toBe(0);
  config = await writeConfig('dman.yaml', {
    alice: { home: alice, track: ['.bashrc', '.config/', '!.config/secret/', '.config/secret/keep.conf', 'docs/', '!docs/config.yaml', '.oh-my-zsh/plugins/**/*.zsh', 'My Notes/', '.vim/'] },
    bob: { home: bob },
  }, ['.bashrc', '.gitconfig']);
});
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

describe('dman ls', () => {
  it('lists each user\'s tracked files, sorted, with a header per user', async () => {
    const r = await dman(['ls', '--config', config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      `alice (${alice}): 7 files`,
      '  .bashrc', '  .config/nvim/init.lua', '  .config/nvim/lua/plugins.lua', '  .config/secret/keep.conf',
      '  .oh-my-zsh/plugins/git/git.plugin.zsh', '  My Notes/ünïcode file.txt', '  docs/readme.md',
      `bob (${bob}): 2 files`, '  .bashrc', '  .gitconfig', ''].join('\n'));
    expect(r.stderr).toMatch(/skipped .*\.config\/nvim\/pipe: is a named pipe/);
  });

  it('lists bare paths for one user and JSON with sizes and skips', async () => {
    const text = await dman(['ls', '--user', 'bob', '--config', config]);
    expect(text.stdout).toBe('.bashrc\n.gitconfig\n');
    const j = await dman(['ls', '--user', 'alice', '--json', '--config', config]);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.users).toHaveLength(1);
    expect(doc.users[0].user).toBe('alice');
    expect(doc.users[0].files.map((f: { path: string }) => f.path)).toContain('.config/secret/keep.conf');
    expect(doc.users[0].files.find((f: { path: string }) => f.path === '.bashrc')).toMatchObject({ type: 'file', size: 1 });
    expect(doc.users[0].skipped).toEqual([{ path: '.config/nvim/pipe', reason: 'special', code: 'fifo', message: expect.stringMatching(/named pipe/) }]);
  });

  it('refuses an unknown user with exit 2 and names the configured ones', async () => {
    const r = await dman(['ls', '--user', 'carol', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no user "carol".*configured users: alice, bob/);
  });

  it('goes on past a user whose home is missing, then exits 1', async () => {
    const f = await writeConfig('missing-home.yaml', { ghost: { home: join(dir, 'home', 'ghost') }, bob: { home: bob } }, ['.bashrc']);
    const r = await dman(['ls', '--config', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`bob (${bob}): 1 file\n  .bashrc\n`);
    expect(r.stderr).toMatch(/user ghost: home directory .*ghost does not exist/);
  });

  it('with no users in the config, lists $HOME against the global track list', async () => {
    const f = join(dir, 'no-users.yaml');
    await writeFile(f, 'track:\n  - .bashrc\n  - .zshrc\n  - .config/nvim/\n', { mode: 0o600 });
    const r = await dman(['ls', '--config', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('.bashrc\n.config/nvim/init.lua\n.config/nvim/lua/plugins.lua\n.zshrc\n');
  });

  it('refuses an invalid track pattern with exit 2', async () => {
    const f = await writeConfig('bad-pattern.yaml', { bob: { home: bob, track: ['.bashrc', '../escape'] } });
    const r = await dman(['ls', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\.\./);
  });
});

describe('dman why', () => {
  it.each([
    ['.bashrc', /^~\/\.bashrc: tracked, by track pattern 1 "\.bashrc"$/],
    ['docs/config.yaml', /^~\/docs\/config\.yaml: not tracked: excluded by track pattern 6 "!docs\/config\.yaml"$/],
    ['docs/readme.md', /^~\/docs\/readme\.md: tracked, by track pattern 5 "docs\/" \(it matches the directory docs\/\)$/],
    ['.config/secret/token', /^~\/\.config\/secret\/token: not tracked: its parent directory \.config\/secret\/ is excluded by track pattern 3 "!\.config\/secret\/"$/],
    ['.config/secret/keep.conf', /tracked, by track pattern 4/],
    ['.oh-my-zsh/plugins/git/README.md', /not tracked: no track pattern matches it$/],
    ['.oh-my-zsh\\plugins\\git\\git.plugin.zsh', /^~\/\.oh-my-zsh\/plugins\/git\/git\.plugin\.zsh: tracked, by track pattern 7/],
    ['.config/nvim/pipe', /not a regular file or symlink/],
    ['.vimrc', /no track pattern matches it \(does not exist now\)$/],
    ['.config', /directory; everything below it is tracked by track pattern 2 "\.config\/"/],
    ['.config/secret', /directory excluded by track pattern 3 .*but later patterns track some files below it/],
    ['.cache', /directory; no track pattern can match below it/],
    ['.vim', /^~\/\.vim: not tracked: no track pattern matches it \(it is a symlink: .*dman never follows links/],
  ])('%s', async (path, expected) => {
    const r = await dman(['why', path, '--user', 'alice', '--config', config]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(expected);
  });

  it('takes absolute and ~ paths, and paths relative to a directory inside the home', async () => {
    const abs = await dman(['why', join(alice, '.config/nvim/init.lua'), '--config', config]);
    expect(abs.stdout.trim()).toBe('~/.config/nvim/init.lua: tracked, by track pattern 2 ".config/" (it matches the directory .config/)');
    const tilde = await dman(['why', '~/docs/config.yaml', '--user', 'alice', '--config', config]);
    expect(tilde.stdout).toMatch(/not tracked: excluded by track pattern 6/);
    const rel = await dman(['why', 'nvim/init.lua', '--user', 'alice', '--config', config], { cwd: join(alice, '.config') });
    expect(rel.stdout).toMatch(/^~\/\.config\/nvim\/init\.lua: tracked/);
  });

  it('answers for every user whose home holds the path', async () => {
    const r = await dman(['why', '.gitconfig', '--config', config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('~/.gitconfig [alice]: not tracked: no track pattern matches it (does not exist now)\n~/.gitconfig [bob]: tracked, by track pattern 2 ".gitconfig"\n');
  });

  it('prints JSON with the deciding pattern and the excluded parent', async () => {
    const r = await dman(['why', '.config/secret/token', '--user', 'alice', '--json', '--config', config]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, file: config, results: [{
      user: 'alice', home: alice, path: '.config/secret/token', kind: 'file', tracked: false, pattern: '!.config/secret/', index: 2, dir: '.config/secret',
    }] });
  });

  it('refuses a path outside every home with exit 2', async () => {
    const r = await dman(['why', '/etc/passwd', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/etc\/passwd is outside the home of alice .*bob/);
  });
});
