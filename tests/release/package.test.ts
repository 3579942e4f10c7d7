// `electron-builder --linux dir` against a local Electron dist: the packaged app.asar holds what
// the app runs (main, preload, renderer, the CLI for the embedded server, their production
// dependencies) and nothing it must not (sources, tests, source maps, secrets, dev tooling).
//
// The Electron binary cannot be downloaded on every machine. Give a real one with
// DMAN_ELECTRON_DIST=<dir> (or ELECTRON_OVERRIDE_DIST_PATH; the release workflow passes
// node_modules/electron/dist). Without one, a stub dist stands in: electron-builder copies it
// verbatim, so everything this test checks about the package is the same.
import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Fuses from '@electron/fuses';
import { bundleChunks, importedPackages } from './helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const asar = require('@electron/asar') as { listPackage(archive: string, opts?: object): string[]; extractFile(archive: string, file: string): Buffer };

const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const givenDist = process.env.DMAN_ELECTRON_DIST || process.env.ELECTRON_OVERRIDE_DIST_PATH || '';
const hasMain = existsSync(join(root, 'main/main.ts')) || existsSync(join(root, 'dist/main.js'));
if (!hasMain) console.warn('tests/release/package.test.ts: skipped: main/main.ts (the Electron main process) does not exist yet, so there is no app to package');

/** Runs a command, resolving with its combined output; rejects with that output on failure. */
function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => void (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => void (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}):\n${out.slice(-4000)}`));
    });
  });
}

describe.runIf(hasMain)(`electron-builder --linux dir (${givenDist ? `Electron dist ${givenDist}` : 'stub Electron dist'})`, () => {
  let work: string;
  let unpacked: string;
  let files: string[];
  let log: string;
  /** dist/cli.js and the chunks it loads (transitively), as the build wrote them. */
  let cliChunks: string[];

  beforeAll(async () => {
    for (const f of ['dist/main.js', 'dist/preload.cjs', 'dist/renderer/index.html', 'dist/cli.js']) {
      if (!existsSync(join(root, f))) {
        await run(process.execPath, ['scripts/build.mjs'], { cwd: root, timeoutMs: 120_000 });
        break;
      }
    }
    cliChunks = bundleChunks(join(root, 'dist/cli.js'));
    work = await mkdtemp(join(tmpdir(), 'dman-pack-'));
    let dist = givenDist;
    if (!dist) {
      dist = join(work, 'electron-dist');
      await mkdir(join(dist, 'resources'), { recursive: true });
      // A shell script carrying Electron 45's fuse wire (sentinel, version 1, 8 fuses in their
      // default states), so electron-builder's fuse flipping has something real to flip.
      const wire = Buffer.concat([Buffer.from('# '), Buffer.from(FUSE_SENTINEL), Buffer.from([1, 8]), Buffer.from('10110001'), Buffer.from('\n')]);
      await writeFile(join(dist, 'electron'), Buffer.concat([Buffer.from('#!/bin/sh\necho "stub electron: not a real binary" >&2\nexit 1\n'), wire]));
      await chmod(join(dist, 'electron'), 0o755);
      await writeFile(join(dist, 'version'), `v${(JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')) as { version: string }).version}`);
      await writeFile(join(dist, 'LICENSE'), 'stub');
    }
    // A staging copy of the project, with files the package must never take planted in it.
    const proj = join(work, 'proj');
    await mkdir(join(proj, 'dist'), { recursive: true });
    for (const f of ['package.json', 'package-lock.json', 'electron-builder.yml', 'bin/dman.js', 'bin/package.json']) await cp(join(root, f), join(proj, f));
    await cp(join(root, 'build'), join(proj, 'build'), { recursive: true });
    for (const f of ['main.js', 'preload.cjs', 'renderer', ...cliChunks]) await cp(join(root, 'dist', f), join(proj, 'dist', f), { recursive: true });
    await symlink(join(root, 'node_modules'), join(proj, 'node_modules'), 'dir');
    const planted: Record<string, string> = {
      '.env': 'DMAN_AUTH_TOKEN=planted-secret',
      'dist/.env.production': 'X=planted-secret',
      'dist/main.js.map': '{"version":3}',
      'dist/renderer/assets/app.js.map': '{"version":3}',
      'dist/dman.yaml': 'auth_token: planted-secret',
      'dist/certs/signing.p12': 'planted-secret',
      'dist/certs/server.key': 'planted-secret',
      'dist/main.ts': 'export {}',
      'tests/release/x.test.ts': 'planted',
      'cli/main.ts': 'planted',
      'docs/release.md': 'planted',
    };
    for (const [f, text] of Object.entries(planted)) {
      await mkdir(join(proj, f, '..'), { recursive: true });
      await writeFile(join(proj, f), text);
    }
    const out = join(work, 'out');
    log = await run(process.execPath, [join(root, 'node_modules/electron-builder/cli.js'), '--linux', 'dir', '--publish', 'never', `-c.electronDist=${dist}`, `-c.directories.output=${out}`], {
      cwd: proj, env: { CSC_LINK: '', WIN_CSC_LINK: '', DMAN_RELEASE_BUILD: '' }, timeoutMs: 240_000,
    });
    unpacked = join(out, 'linux-unpacked');
    files = asar.listPackage(join(unpacked, 'resources/app.asar'), { isPack: false });
  }, 300_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('packs main, preload, renderer, the CLI and a package.json that starts dist/main.js', () => {
    for (const f of ['/dist/main.js', '/dist/preload.cjs', '/dist/renderer/index.html', '/dist/cli.js', '/bin/dman.js', '/bin/package.json', '/package.json']) expect(files).toContain(f);
    // bin/dman.js is CommonJS by bin/package.json: without it the app's "type": "module" breaks the embedded server.
    expect(JSON.parse(asar.extractFile(join(unpacked, 'resources/app.asar'), 'bin/package.json').toString())).toEqual({ type: 'commonjs' });
    const pkg = JSON.parse(asar.extractFile(join(unpacked, 'resources/app.asar'), 'package.json').toString()) as { main: string; type: string; scripts?: unknown };
    expect(pkg.main).toBe('dist/main.js');
    expect(pkg.type).toBe('module');
    expect(existsSync(join(unpacked, 'dman'))).toBe(true);
    expect(statSync(join(unpacked, 'dman')).mode & 0o111).not.toBe(0);
  });

  it('holds every file main.js opens from the app path (tray icons, the embedded server\'s bin/dman.js)', () => {
    const main = readFileSync(join(root, 'dist/main.js'), 'utf8');
    const opened = [...main.matchAll(/getAppPath\(\)((?:\s*,\s*"[^"]+")+)\)/g)].map((m) => `/${[...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]).join('/')}`);
    expect(opened.length).toBeGreaterThan(0);
    for (const p of opened) expect(files.some((f) => f === p || f.startsWith(`${p}/`)), `${p} (opened by dist/main.js) is in app.asar`).toBe(true);
  });

  it('flips the Electron fuses: no NODE_OPTIONS, no --inspect, app only from an integrity-checked asar; run-as-node kept for the embedded server', async () => {
    const { getCurrentFuseWire, FuseV1Options } = require('@electron/fuses') as typeof Fuses;
    const wire = await getCurrentFuseWire(join(unpacked, 'dman'));
    const on = (o: number) => String.fromCharCode(wire[o as keyof typeof wire] as number);
    expect(on(FuseV1Options.RunAsNode)).toBe('1');
    expect(on(FuseV1Options.EnableCookieEncryption)).toBe('1');
    expect(on(FuseV1Options.EnableNodeOptionsEnvironmentVariable)).toBe('0');
    expect(on(FuseV1Options.EnableNodeCliInspectArguments)).toBe('0');
    expect(on(FuseV1Options.EnableEmbeddedAsarIntegrityValidation)).toBe('1');
    expect(on(FuseV1Options.OnlyLoadAppFromAsar)).toBe('1');
  });

  it('packs every chunk dist/cli.js loads (the server, store drivers and agent are split out)', () => {
    expect(cliChunks.length).toBeGreaterThan(1);
    for (const c of cliChunks) expect(files, `dist/${c} (loaded by dist/cli.js) is in app.asar`).toContain(`/dist/${c}`);
  });

  it('carries every production package that main, the embedded server and its chunks import', () => {
    const pkgs = new Set(files.filter((f) => f.startsWith('/node_modules/')).map((f) => f.split('/').slice(2, f.split('/')[2]?.startsWith('@') ? 4 : 3).join('/')));
    const deps = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    const seen = new Set<string>();
    for (const bundle of ['main.js', ...cliChunks].map((f) => `dist/${f}`)) {
      for (const name of importedPackages(readFileSync(join(root, bundle), 'utf8'))) {
        if (name === 'electron') continue;
        seen.add(name);
        expect(deps, `${bundle} imports ${name}: not a production dependency`).toContain(name);
        expect(pkgs.has(name), `${bundle} imports ${name}: missing from app.asar`).toBe(true);
      }
    }
    // the drivers live in chunks only: scanning dist/cli.js alone would miss them
    for (const driverPkg of ['fastify', 'ioredis', 'mysql2']) expect(seen.has(driverPkg), driverPkg).toBe(true);
    expect(pkgs.has('electron-updater')).toBe(true);
  });

  it('leaves out sources, tests, source maps, secrets and dev tooling', () => {
    const bad = files.filter((f) =>
      /\.map$/.test(f) ||
      /(^|\/)\.env(\.|$)/.test(f) ||
      /\.(p12|pfx|pem|key|mobileprovision)$/.test(f) ||
      /(^|\/)dman\.ya?ml$/.test(f) ||
      (!f.startsWith('/node_modules/') && /\.(ts|tsx)$/.test(f)) ||
      /^\/(tests|cli|server|engine|shared|main|preload|renderer|docs|scripts|bench|\.git|\.github)(\/|$)/.test(f) ||
      /^\/node_modules\/(electron|electron-builder|app-builder-lib|vitest|vite|typescript|esbuild|eslint|@playwright|playwright-core|postject|tsx|@electron\/asar)(\/|$)/.test(f) ||
      /^\/node_modules\/(react|react-dom)(\/|$)/.test(f));
    expect(bad).toEqual([]);
    // No planted secret made it in under any name.
    for (const f of files.filter((x) => !x.startsWith('/node_modules/') && x.includes('.'))) {
      let body: Buffer;
      try {
        body = asar.extractFile(join(unpacked, 'resources/app.asar'), f.slice(1));
      } catch {
        continue; // a folder
      }
      expect(body.includes('planted-secret'), f).toBe(false);
    }
  });

  it('writes the update feed config and the unsigned-build marker beside app.asar, and says it is unsigned', async () => {
    const feed = await readFile(join(unpacked, 'resources/app-update.yml'), 'utf8');
    expect(feed).toMatch(/provider: github/);
    const marker = JSON.parse(await readFile(join(unpacked, 'resources/dman-build.json'), 'utf8')) as { signed: boolean; updatable: boolean };
    expect(marker).toMatchObject({ signed: false, updatable: false });
    expect(log).toMatch(/no code signature/);
  });
});
