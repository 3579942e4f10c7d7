// The installers' config: it loads and validates through electron-builder's own API, names every
// target the release promises, keeps credentials out of the file, and the afterPack hook tells an
// unsigned build apart from a signed one (and writes the marker main/updater.ts reads).
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DebugLogger } from 'builder-util';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config.js';
import type { Configuration } from 'app-builder-lib';
import { parse as parseYaml } from 'yaml';
import { readBuildMarker, buildGate } from '../../main/updater.js';

const root = new URL('../../', import.meta.url).pathname;
const require = createRequire(import.meta.url);

interface HookModule {
  afterPack(ctx: unknown, env: Record<string, string | undefined>, print: (line: string) => void): Promise<{ signed: boolean; updatable: boolean }>;
  signingFacts(platform: string, env: Record<string, string | undefined>): { signed: boolean; notarized: boolean; updatable: boolean; missing: string[] };
}
const hook = require(join(root, 'build/afterPack.cjs')) as HookModule;

const targetNames = (t: unknown): string[] =>
  (Array.isArray(t) ? t : [t]).map((x) => (typeof x === 'string' ? x : (x as { target: string }).target));

describe('electron-builder.yml', () => {
  let cfg: Configuration;
  let tmp: string | undefined;
  afterEach(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  it('loads and passes electron-builder\'s own schema validation', async () => {
    cfg = await getConfig(root, join(root, 'electron-builder.yml'), null);
    await expect(validateConfiguration(cfg, new DebugLogger(false))).resolves.toBeUndefined();
    expect(cfg.appId).toMatch(/^[a-z0-9.-]+$/);
    expect(cfg.productName).toBe('dman');
    expect(cfg.extraMetadata?.main).toBe('dist/main.js');
  });

  it('a typo in the same config is rejected by the same validator (the check has teeth)', async () => {
    tmp = await mkdtemp(join(tmpdir(), 'dman-eb-'));
    const text = await readFile(join(root, 'electron-builder.yml'), 'utf8');
    await writeFile(join(tmp, 'package.json'), JSON.stringify({ name: 'x', version: '1.0.0' }));
    await writeFile(join(tmp, 'bad.yml'), text.replace(/^linux:\n {2}target:/m, 'linux:\n  targte:'));
    const bad = await getConfig(tmp, join(tmp, 'bad.yml'), null);
    await expect(validateConfiguration(bad, new DebugLogger(false))).rejects.toThrow(/configuration\.linux/);
  });

  it('builds AppImage, deb and rpm; NSIS; dmg and zip with hardened runtime and notarization', async () => {
    cfg ??= await getConfig(root, join(root, 'electron-builder.yml'), null);
    expect(targetNames(cfg.linux?.target)).toEqual(expect.arrayContaining(['AppImage', 'deb', 'rpm']));
    expect(targetNames(cfg.win?.target)).toContain('nsis');
    expect(targetNames(cfg.mac?.target)).toEqual(expect.arrayContaining(['dmg', 'zip']));
    expect(cfg.mac?.hardenedRuntime).toBe(true);
    expect(cfg.mac?.notarize).toBe(true);
    expect(cfg.win?.verifyUpdateCodeSignature).toBe(true);
    const entitlements = await readFile(join(root, String(cfg.mac?.entitlements)), 'utf8');
    expect(entitlements).toContain('com.apple.security.cs.allow-jit');
    // No escape hatches that would let injected code run under the app's signature.
    expect(entitlements).not.toMatch(/disable-library-validation|allow-dyld-environment-variables|get-task-allow/);
    expect(cfg.afterPack).toBe('build/afterPack.cjs');
    const icon = await readFile(join(root, 'build/icon.png'));
    expect(icon.subarray(1, 4).toString()).toBe('PNG');
    expect(icon.readUInt32BE(16)).toBeGreaterThanOrEqual(512); // width: electron-builder wants 512+ for macOS
  });

  it('publishes to the GitHub release feed electron-updater reads', async () => {
    cfg ??= await getConfig(root, join(root, 'electron-builder.yml'), null);
    const pub = (Array.isArray(cfg.publish) ? cfg.publish : [cfg.publish])[0] as { provider: string; owner?: string; repo?: string };
    expect(pub.provider).toBe('github');
    expect(pub.owner).toBeTruthy();
    expect(pub.repo).toBeTruthy();
  });

  it('packs what the app runs and excludes sources, maps and secrets; holds no credentials itself', async () => {
    cfg ??= await getConfig(root, join(root, 'electron-builder.yml'), null);
    // validateConfiguration normalizes `files` in place; read the file as written.
    const raw = parseYaml(await readFile(join(root, 'electron-builder.yml'), 'utf8')) as { files: string[] };
    const files = raw.files;
    for (const need of ['dist/main.js', 'dist/preload.cjs', 'dist/renderer/**', 'dist/cli.js', 'bin/dman.js', 'bin/package.json', 'package.json']) expect(files).toContain(need);
    expect(files).toContain('!**/*.map');
    expect(files.some((f) => f.startsWith('!') && f.includes('.env'))).toBe(true);
    expect(files.some((f) => f.startsWith('!') && f.includes('*.p12'))).toBe(true);
    const text = await readFile(join(root, 'electron-builder.yml'), 'utf8');
    // Identities only from the environment: no certificate, password or Apple id in the file.
    expect(text).not.toMatch(/^\s*(cscLink|cscKeyPassword|certificateFile|certificatePassword|appleId|appleIdPassword|teamId|token)\s*:/m);
  });
});

describe('build/afterPack.cjs', () => {
  let out: string | undefined;
  afterEach(async () => {
    if (out) await rm(out, { recursive: true, force: true });
    out = undefined;
  });

  const context = (dir: string, platform: string) => ({ appOutDir: dir, electronPlatformName: platform, packager: { appInfo: { productFilename: 'dman' } } });

  it('says an unsigned build is unsigned and marks it not updatable', async () => {
    out = await mkdtemp(join(tmpdir(), 'dman-hook-'));
    for (const platform of ['win32', 'darwin', 'linux']) {
      const lines: string[] = [];
      const marker = await hook.afterPack(context(join(out, platform), platform), {}, (l) => lines.push(l));
      expect(marker).toMatchObject({ signed: false, updatable: false });
      const res = platform === 'darwin' ? join(out, platform, 'dman.app/Contents/Resources') : join(out, platform, 'resources');
      const read = await readBuildMarker(res);
      expect(read).toMatchObject({ signed: false, updatable: false, platform });
      expect(buildGate({ isPackaged: true }, read)).toBeTruthy();
      if (platform !== 'linux') {
        expect(lines.join('\n')).toMatch(/UNSIGNED/);
        expect(lines.join('\n')).toMatch(platform === 'win32' ? /WIN_CSC_LINK/ : /CSC_LINK/);
      }
    }
  });

  it('marks a build signed only when the signing variables are set', async () => {
    out = await mkdtemp(join(tmpdir(), 'dman-hook-'));
    const lines: string[] = [];
    const win = await hook.afterPack(context(join(out, 'w'), 'win32'), { WIN_CSC_LINK: 'base64…', WIN_CSC_KEY_PASSWORD: 'x' }, (l) => lines.push(l));
    expect(win).toMatchObject({ signed: true, updatable: true });
    expect(buildGate({ isPackaged: true }, await readBuildMarker(join(out, 'w', 'resources')))).toBeNull();
    expect(lines.join('\n')).toMatch(/SIGNED win32/);
    expect(lines.join('\n')).not.toContain('base64');
    expect(hook.signingFacts('win32', { WIN_CSC_LINK: '  ' }).signed).toBe(false);
    expect(hook.signingFacts('darwin', { CSC_LINK: 'x', APPLE_ID: 'a', APPLE_APP_SPECIFIC_PASSWORD: 'p', APPLE_TEAM_ID: 't' })).toMatchObject({ signed: true, notarized: true });
    expect(hook.signingFacts('darwin', { CSC_LINK: 'x', APPLE_ID: 'a' })).toMatchObject({ signed: true, notarized: false });
    expect(hook.signingFacts('darwin', { CSC_LINK: 'x', APPLE_API_KEY: 'k', APPLE_API_KEY_ID: 'i', APPLE_API_ISSUER: 'u' }).notarized).toBe(true);
    expect(hook.signingFacts('linux', { DMAN_RELEASE_BUILD: '1' })).toMatchObject({ signed: false, updatable: true });
  });

  it('refuses to build an unsigned or unnotarized release when DMAN_REQUIRE_SIGNED=1', async () => {
    out = await mkdtemp(join(tmpdir(), 'dman-hook-'));
    const quiet = () => {};
    await expect(hook.afterPack(context(join(out, 'w'), 'win32'), { DMAN_REQUIRE_SIGNED: '1' }, quiet)).rejects.toThrow(/would not be signed; set WIN_CSC_LINK/);
    await expect(hook.afterPack(context(join(out, 'm'), 'darwin'), { DMAN_REQUIRE_SIGNED: '1', CSC_LINK: 'x' }, quiet)).rejects.toThrow(/would not be notarized/);
    await expect(hook.afterPack(context(join(out, 'm'), 'darwin'), { DMAN_REQUIRE_SIGNED: '1', CSC_LINK: 'x', APPLE_API_KEY: 'k', APPLE_API_KEY_ID: 'i', APPLE_API_ISSUER: 'u' }, quiet)).resolves.toMatchObject({ signed: true });
    await expect(hook.afterPack(context(join(out, 'l'), 'linux'), { DMAN_REQUIRE_SIGNED: '1', DMAN_RELEASE_BUILD: '1' }, quiet)).resolves.toMatchObject({ updatable: true });
  });

  it('is the hook electron-builder resolves (named export afterPack)', async () => {
    out = await mkdtemp(join(tmpdir(), 'dman-hook-'));
    await mkdir(join(out, 'build'));
    await copyFile(join(root, 'build/afterPack.cjs'), join(out, 'build/afterPack.cjs'));
    const { resolveFunction } = require('app-builder-lib/out/util/resolve.js') as { resolveFunction: (t: string | undefined, e: string, n: string, root: string) => Promise<unknown> };
    const prev = process.cwd();
    process.chdir(out);
    try {
      const fn = await resolveFunction(undefined, './build/afterPack.cjs', 'afterPack', out);
      expect(fn).toBe((require(join(out, 'build/afterPack.cjs')) as HookModule).afterPack);
    } finally {
      process.chdir(prev);
    }
  });
});
