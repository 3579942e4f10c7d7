// `dman upload USER PATH` / `dman download USER PATH` (the built CLI) between two "machines"
// (two homes, two state dirs) and a real server: they go through the base-rev checks.
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './serverHarness.js';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'bin', 'dman.js');
let dir: string;
let h: Harness;

interface Run { code: number; stdout: string; stderr: string }
type Machine = 'a' | 'b';

function dman(m: Machine, args: string[]): Promise<Run> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, m, 'home'), XDG_CONFIG_HOME: join(dir, m, 'xdg'),
    DMAN_DATA_DIR: join(dir, m, 'data'), DMAN_AUTH_TOKEN: h.tokens.alice, DMAN_CREDENTIAL_STORE: 'file',
  };
  return new Promise((res) => {
    execFile(process.execPath, [bin, '--config', join(dir, m, 'dman.yaml'), ...args], { cwd: join(dir, m), env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

const home = (m: Machine, p = '') => join(dir, m, 'home', p);

async function serverText(path: string): Promise<string | null> {
  const changes = await (await h.req('/v1/users/alice/changes?since=0', { token: h.tokens.alice })).json();
  const e = (changes.entries as Array<{ path: string; hash: string | null; deleted?: boolean }>).filter((x) => x.path === path).pop();
  if (!e || !e.hash) return null;
  const blob = await h.req(`/v1/users/alice/blobs/${e.hash}`, { token: h.tokens.alice });
  return blob.text();
}

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  dir = await mkdtemp(join(tmpdir(), 'dman-files-'));
  h = await startHarness();
  for (const m of ['a', 'b'] as const) {
    await mkdir(home(m), { recursive: true });
    await writeFile(join(dir, m, 'dman.yaml'), `server_url: ${h.url}\ndevice: ${m}\ntrack: ['.zshrc', '.gitconfig', 'odd*name']\nusers:\n  alice:\n    home: ${home(m)}\n`, { mode: 0o600 });
  }
});

afterAll(async () => {
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('upload and download', () => {
  it('uploads a file, and another machine downloads it', async () => {
    await writeFile(home('a', '.zshrc'), 'export A=1\n');
    const up = await dman('a', ['upload', 'alice', '.zshrc']);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('uploaded alice:.zshrc');
    expect(await serverText('.zshrc')).toBe('export A=1\n');

    const down = await dman('b', ['download', 'alice', home('b', '.zshrc')]);
    expect(down.code).toBe(0);
    expect(await readFile(home('b', '.zshrc'), 'utf8')).toBe('export A=1\n');
    const again = await dman('b', ['download', 'alice', '.zshrc']);
    expect(again.stdout).toContain('already up to date');
  });

  it('refuses to upload over a newer server version, and says how to proceed', async () => {
    await writeFile(home('b', '.zshrc'), 'export B=2\n');
    expect((await dman('b', ['upload', 'alice', '.zshrc'])).code).toBe(0);
    await writeFile(home('a', '.zshrc'), 'export A=edited\n');
    const r = await dman('a', ['upload', 'alice', '.zshrc']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('.zshrc changed both here and on the server: nothing was uploaded');
    // download refuses this case (exit 3), so the hint must point at resolve instead
    expect(r.stderr).not.toContain('dman download');
    expect(r.stderr).toContain('`dman resolve .zshrc --user alice --keep server`');
    expect(await serverText('.zshrc')).toBe('export B=2\n');
    expect(await readFile(home('a', '.zshrc'), 'utf8')).toBe('export A=edited\n');
  });

  it('refuses to download over a local change', async () => {
    const r = await dman('a', ['download', 'alice', '.zshrc']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('nothing was downloaded');
    expect(await readFile(home('a', '.zshrc'), 'utf8')).toBe('export A=edited\n');
    // the command the hint names works as printed
    const suggested = /`dman (resolve [^`]+--keep server)`/.exec(r.stderr)?.[1];
    expect(suggested).toBe('resolve .zshrc --user alice --keep server');
    const fixed = await dman('a', suggested!.split(' '));
    expect(fixed.stderr).toBe('');
    expect(fixed.code).toBe(0);
    expect(await readFile(home('a', '.zshrc'), 'utf8')).toBe('export B=2\n');
    expect(await serverText('.zshrc')).toBe('export B=2\n');
  });

  it('downloads over an unchanged local file when the server moved on', async () => {
    await writeFile(home('a', '.gitconfig'), '[user]\n  name = A\n');
    expect((await dman('a', ['upload', 'alice', '.gitconfig'])).code).toBe(0);
    expect((await dman('b', ['download', 'alice', '.gitconfig'])).code).toBe(0);
    await writeFile(home('a', '.gitconfig'), '[user]\n  name = A2\n');
    expect((await dman('a', ['upload', 'alice', '.gitconfig'])).code).toBe(0);
    const dry = await dman('b', ['download', 'alice', '.gitconfig', '--dry-run']);
    expect(dry.stdout).toContain('(dry run)');
    expect(await readFile(home('b', '.gitconfig'), 'utf8')).toBe('[user]\n  name = A\n');
    expect((await dman('b', ['download', 'alice', '.gitconfig'])).code).toBe(0);
    expect(await readFile(home('b', '.gitconfig'), 'utf8')).toBe('[user]\n  name = A2\n');
  });

  it('handles a file name with glob characters literally', async () => {
    await writeFile(home('a', 'odd*name'), 'x\n');
    await writeFile(home('a', 'oddXname'), 'not me\n');
    expect((await dman('a', ['upload', 'alice', 'odd*name'])).code).toBe(0);
    expect(await serverText('odd*name')).toBe('x\n');
    expect(await serverText('oddXname')).toBeNull();
  });

  it('explains an untracked path, an unknown user, a path outside the home and a missing file', async () => {
    await writeFile(home('a', '.notes'), 'n\n');
    const untracked = await dman('a', ['upload', 'alice', '.notes']);
    expect(untracked.code).toBe(2);
    expect(untracked.stderr).toMatch(/\.notes is not tracked for alice.*dman why/);
    const who = await dman('a', ['upload', 'mallory', '.zshrc']);
    expect(who.code).toBe(2);
    expect(who.stderr).toContain('no user "mallory" in the config (use one of: alice)');
    const outside = await dman('a', ['download', 'alice', '/etc/passwd']);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain("not a file inside alice's home");
    const missing = await dman('b', ['download', 'alice', '.nanorc_not_there']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });
});
