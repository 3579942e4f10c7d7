// `npm start` (scripts/start.mjs) where an Electron binary exists: a stand-in binary (a shell
// script found through ELECTRON_OVERRIDE_DIST_PATH, as electron's own package resolves it)
// records how it was launched. The app folder it gets must be the repo (package.json `main`
// points into dist/), or the app cannot find bin/dman.js nor its tray icons. Where the override
// names a missing binary, start says why and falls back to the headless agent.
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const binaryName = (): string => {
  const txt = join(root, 'node_modules/electron/path.txt');
  return existsSync(txt) ? readFileSync(txt, 'utf8').trim() : 'electron';
};

describe('npm start with an Electron binary', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-start-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('launches the tray app on the repo folder, passing extra arguments through', async () => {
    const record = join(dir, 'launched.txt');
    const fake = join(dir, ...binaryName().split('/'));
    await writeFile(fake, `#!/bin/sh\nprintf '%s\\n' "$PWD" "$@" > '${record}'\nexit 7\n`);
    await chmod(fake, 0o755);
    const r = spawnSync(process.execPath, ['scripts/start.mjs', '--hidden'], { cwd: root, encoding: 'utf8', env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: dir }, timeout: 120_000 });
    expect(r.stdout).toContain(`starting the tray app (${fake})`);
    // start.mjs exits with the app's code.
    expect(r.status).toBe(7);
    const [cwd, appDir, ...rest] = (await readFile(record, 'utf8')).trim().split('\n');
    expect(cwd).toBe(root.replace(/\/$/, ''));
    expect(appDir!.replace(/\/$/, '')).toBe(root.replace(/\/$/, ''));
    expect(existsSync(join(appDir!, 'package.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(appDir!, 'package.json'), 'utf8')).main).toBe('dist/main.js');
    expect(rest).toEqual(['--hidden']);
  });

  it('says why it has no desktop app when the override names a missing binary, and starts the agent instead', async () => {
    const child = spawn(process.execPath, ['scripts/start.mjs', '--port', '0'], {
      cwd: root, env: { ...process.env, ELECTRON_OVERRIDE_DIST_PATH: join(dir, 'nowhere'), HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), XDG_DATA_HOME: join(dir, 'share'), XDG_STATE_HOME: join(dir, 'state'), DMAN_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => void (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => void (out += b.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no fallback message within 60 s:\n${out}`)), 60_000);
        const check = (): void => { if (out.includes('starting the headless agent')) { clearTimeout(t); resolve(); } };
        child.stdout.on('data', check);
        child.on('exit', () => { clearTimeout(t); check(); reject(new Error(`start exited early:\n${out}`)); });
      });
      expect(out).toContain(`ELECTRON_OVERRIDE_DIST_PATH is set, but ${join(dir, 'nowhere')}`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    }
  });
});
