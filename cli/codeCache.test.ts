// The V8 code cache of the CommonJS CLI bundle (cli/codeCache.ts → dist/boot.cjs): a cache is
// used only when whole and made for these bytes on this Node; anything else is ignored and written
// again; and the real `dman` (bin/dman.js) runs the same with a missing, a corrupt or a fresh cache.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheFileFor, cacheKey, canRunCjsBundle, codeCacheDir, prepareCjsBundle, readCodeCache, writeCodeCache } from './codeCache.js';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'dman-codecache-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

/** A small CommonJS bundle that reports through a global what it was given. */
function writeBundle(name: string, body = 'globalThis.__dmanCodeCacheTest = { dir: __dirname, file: __filename, fn: typeof require, n: [1, 2, 3].map((x) => x * 2).join(",") };'): string {
  const f = join(dir, name);
  writeFileSync(f, `'use strict'; ${body}\n`);
  return f;
}
const seen = (): unknown => (globalThis as Record<string, unknown>).__dmanCodeCacheTest;
const only = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);

describe('codeCacheDir', () => {
  it('is the env-paths cache dir of dman on each platform', () => {
    expect(codeCacheDir({ XDG_CACHE_HOME: '/x/cache' }, 'linux', '/home/a')).toBe('/x/cache/dman/v8');
    expect(codeCacheDir({}, 'linux', '/home/a')).toBe('/home/a/.cache/dman/v8');
    expect(codeCacheDir({ XDG_CACHE_HOME: '/x' }, 'darwin', '/Users/a')).toBe('/Users/a/Library/Caches/dman/v8');
    expect(codeCacheDir({ LOCALAPPDATA: 'C:/L' }, 'win32', 'C:/U/a')).toBe(join('C:/L', 'dman', 'Cache', 'v8'));
  });
});

describe('readCodeCache / writeCodeCache', () => {
  it('reads back what was written, for the same key only', () => {
    const key = cacheKey(Buffer.from('bundle one'));
    const file = cacheFileFor(dir, key);
    expect(writeCodeCache(file, key, Buffer.from('v8 data'))).toBe(true);
    expect(readCodeCache(file, key)?.data.toString()).toBe('v8 data');
    expect(readCodeCache(file, key)?.commands).toEqual([]);
    expect(writeCodeCache(file, key, Buffer.from('more v8 data'), ['version', 'token create'])).toBe(true);
    expect(readCodeCache(file, key)).toEqual({ data: Buffer.from('more v8 data'), commands: ['version', 'token create'] });
    expect(readCodeCache(file, cacheKey(Buffer.from('bundle two')))).toBeUndefined();
  });

  it('keys on the bundle bytes: a bundle of the same length but other bytes gets another key and file', () => {
    const a = cacheKey(Buffer.from('aaaa'));
    const b = cacheKey(Buffer.from('aaab'));
    expect(a.equals(b)).toBe(false);
    expect(cacheFileFor(dir, a)).not.toBe(cacheFileFor(dir, b));
  });

  it('ignores a missing, short, foreign or corrupt file', () => {
    const key = cacheKey(Buffer.from('bundle'));
    const file = cacheFileFor(dir, key);
    expect(readCodeCache(file, key)).toBeUndefined();
    writeFileSync(file, 'DMANV8C2');
    expect(readCodeCache(file, key)).toBeUndefined();
    // A cache of the first format (no command list) is not read as one of this format.
    const v1 = Buffer.from('some cached code');
    writeFileSync(file, Buffer.concat([Buffer.from('DMANV8C1', 'latin1'), key, createHash('sha256').update(v1).digest(), v1]));
    expect(readCodeCache(file, key)).toBeUndefined();
    // A command list longer than the file.
    writeCodeCache(file, key, Buffer.from('some cached code'), ['sync']);
    const long = readFileSync(file);
    long.writeUInt16LE(60_000, 72);
    writeFileSync(file, Buffer.concat([long.subarray(0, 40), createHash('sha256').update(long.subarray(72)).digest(), long.subarray(72)]));
    expect(readCodeCache(file, key)).toBeUndefined();
    writeFileSync(file, Buffer.alloc(200, 7));
    expect(readCodeCache(file, key)).toBeUndefined();
    writeCodeCache(file, key, Buffer.from('some cached code'));
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0xff; // a flipped bit in the payload
    writeFileSync(file, bytes);
    expect(readCodeCache(file, key)).toBeUndefined();
    writeCodeCache(file, key, Buffer.from('some cached code'));
    writeFileSync(file, readFileSync(file).subarray(0, 80)); // torn
    expect(readCodeCache(file, key)).toBeUndefined();
  });

  it.runIf(process.platform !== 'win32')('ignores a cache another user could have written: V8 runs cached data unchecked (e.g. root under sudo with the user\'s HOME)', () => {
    const key = cacheKey(Buffer.from('bundle'));
    const file = cacheFileFor(dir, key);
    writeCodeCache(file, key, Buffer.from('some cached code'));
    expect(readCodeCache(file, key)?.data.toString()).toBe('some cached code');
    chmodSync(file, 0o646);
    expect(readCodeCache(file, key)).toBeUndefined();
    chmodSync(file, 0o620);
    expect(readCodeCache(file, key)).toBeUndefined();
    chmodSync(file, 0o600);
    expect(readCodeCache(file, key)?.data.toString()).toBe('some cached code');
    if (process.getuid?.() === 0) {
      chownSync(file, 4321, 4321);
      expect(readCodeCache(file, key)).toBeUndefined();
    }
  });

  it('drops the caches of other bundles when it writes, and leaves no temp file', () => {
    const old = cacheKey(Buffer.from('old build'));
    const now = cacheKey(Buffer.from('new build'));
    writeCodeCache(cacheFileFor(dir, old), old, Buffer.from('x'));
    writeCodeCache(cacheFileFor(dir, now), now, Buffer.from('y'));
    expect(only(dir)).toEqual([cacheFileFor(dir, now).slice(dir.length + 1)]);
  });

  it('returns false (and throws nothing) where it cannot write', () => {
    const key = cacheKey(Buffer.from('b'));
    writeFileSync(join(dir, 'file'), '');
    expect(writeCodeCache(cacheFileFor(join(dir, 'file'), key), key, Buffer.from('x'))).toBe(false);
  });
});

describe('prepareCjsBundle', () => {
  it.runIf(canRunCjsBundle())('runs the bundle as CommonJS, writes a cache, and uses it on the next start', () => {
    const bundle = writeBundle('b1.cjs');
    const cacheDir = join(dir, 'cache');
    const first = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
    expect(first.cached).toBe(false);
    first.run();
    expect(seen()).toEqual({ dir, file: bundle, fn: 'function', n: '2,4,6' });
    expect(first.saveCache()).toBe(true);
    expect(only(cacheDir)).toHaveLength(1);

    const second = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
    expect(second.cached).toBe(true);
    (globalThis as Record<string, unknown>).__dmanCodeCacheTest = undefined;
    second.run();
    expect(seen()).toEqual({ dir, file: bundle, fn: 'function', n: '2,4,6' });
  });

  it.runIf(canRunCjsBundle())('adds what a command new to the cache compiled (once per command), so the first command after an install does not leave the others compiling', () => {
    // Two "commands" of one bundle: each compiles its own functions when it runs.
    const body = `globalThis.__dmanCodeCacheTest = (cmd) => cmd === 'a'
      ? [1, 2, 3].map(function a1(x) { return x + 1; }).map(function a2(x) { return x * 10; }).join(',')
      : [4, 5].map(function b1(x) { return String(x).repeat(2); }).map(function b2(s) { return s + '!'; }).join(',');`;
    const bundle = writeBundle('b5.cjs', body);
    const cacheDir = join(dir, 'cache');
    const file = (): string => join(cacheDir, only(cacheDir)[0]!);
    const key = cacheKey(readFileSync(bundle));
    const runAs = (cmd: string, expectCached: boolean): { wrote: boolean; out: unknown } => {
      const p = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
      expect(p.cached).toBe(expectCached);
      (globalThis as Record<string, unknown>).__dmanCodeCacheTest = undefined;
      p.run();
      const out = (seen() as (c: string) => string)(cmd);
      return { wrote: p.finish(cmd), out };
    };
    expect(runAs('a', false)).toEqual({ wrote: true, out: '20,30,40' });
    const afterA = readCodeCache(file(), key)!;
    expect(afterA.commands).toEqual(['a']);
    // The same command again: the cache serves it and is left as it is.
    const stat = readFileSync(file());
    expect(runAs('a', true)).toEqual({ wrote: false, out: '20,30,40' });
    expect(readFileSync(file()).equals(stat)).toBe(true);
    // Another command: its functions are added once.
    expect(runAs('b', true)).toEqual({ wrote: true, out: '44!,55!' });
    const afterB = readCodeCache(file(), key)!;
    expect(afterB.commands).toEqual(['a', 'b']);
    expect(afterB.data.length).toBeGreaterThan(afterA.data.length);
    expect(runAs('b', true)).toEqual({ wrote: false, out: '44!,55!' });
    expect(runAs('a', true)).toEqual({ wrote: false, out: '20,30,40' });
    // A run that noted no command (e.g. --help) adds nothing to a cache it could use.
    const p = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
    p.run();
    expect(p.finish(undefined)).toBe(false);
  });

  it.runIf(canRunCjsBundle())('writes a cache the next start takes even when the run changed V8 flags (GC tuning): it puts their defaults back first', () => {
    // V8 checks its flag hash when a process takes cached data: only two processes show it.
    const bundle = writeBundle('b6.cjs');
    const cacheDir = join(dir, 'cache');
    const here = new URL('.', import.meta.url).pathname;
    const node = (code: string): string => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', cwd: here });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    const prepare = `const { prepareCjsBundle } = await import(${JSON.stringify(join(here, 'codeCache.ts'))}); const p = prepareCjsBundle(${JSON.stringify(bundle)}, { cacheDir: ${JSON.stringify(cacheDir)}, saveAtExit: false }); p.run();`;
    const flags = `const { setV8Flag } = await import(${JSON.stringify(join(here, '../engine/util/v8Flags.ts'))});`;
    // What a large home's run and a watcher set, through setV8Flag: the next start takes the cache.
    expect(node(`${prepare} ${flags} setV8Flag('--no-allocation-site-pretenuring', '--allocation-site-pretenuring'); setV8Flag('--semi-space-growth-factor=1', '--semi-space-growth-factor=2'); console.log(p.cached, p.finish('sync'));`)).toBe('false true');
    expect(node(`${prepare} console.log(p.cached);`)).toBe('true');
    // The same flag set behind setV8Flag's back stays in the hash the cache carries: refused.
    rmSync(cacheDir, { recursive: true, force: true });
    expect(node(`${prepare} (await import('node:v8')).default.setFlagsFromString('--no-allocation-site-pretenuring'); console.log(p.cached, p.finish('sync'));`)).toBe('false true');
    expect(node(`${prepare} console.log(p.cached);`)).toBe('false');
  }, 60_000);

  it.runIf(canRunCjsBundle())('ignores a corrupt cache (runs the bundle compiled afresh) and writes a good one again', () => {
    const bundle = writeBundle('b2.cjs');
    const cacheDir = join(dir, 'cache');
    const first = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
    first.run();
    first.saveCache();
    const file = join(cacheDir, only(cacheDir)[0]!);
    const bytes = readFileSync(file);
    for (let i = 80; i < bytes.length; i += 7) bytes[i] ^= 0x5a;
    writeFileSync(file, bytes);

    const again = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
    expect(again.cached).toBe(false);
    (globalThis as Record<string, unknown>).__dmanCodeCacheTest = undefined;
    again.run();
    expect(seen()).toEqual({ dir, file: bundle, fn: 'function', n: '2,4,6' });
    expect(again.saveCache()).toBe(true);
    const key = cacheKey(readFileSync(bundle));
    expect(readCodeCache(file, key)).toBeDefined();
    expect(prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!.cached).toBe(true);
  });

  it.runIf(canRunCjsBundle())('does not use the cache of an edited bundle of the same length', () => {
    const bundle = writeBundle('b3.cjs', 'globalThis.__dmanCodeCacheTest = "aaaa";');
    const cacheDir = join(dir, 'cache');
    const first = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
    first.run();
    first.saveCache();
    writeBundle('b3.cjs', 'globalThis.__dmanCodeCacheTest = "bbbb";');
    const edited = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
    expect(edited.cached).toBe(false);
    edited.run();
    expect(seen()).toBe('bbbb');
  });

  it.runIf(canRunCjsBundle())('gives the bundle a dynamic import (__dimp) that works from a cached compile too', async () => {
    const bundle = writeBundle('b4.cjs', 'globalThis.__dmanCodeCacheTest = async () => (await __dimp("node:path")).posix.sep;');
    const cacheDir = join(dir, 'cache');
    for (const cached of [false, true]) {
      const p = prepareCjsBundle(bundle, { cacheDir, saveAtExit: false })!;
      expect(p.cached).toBe(cached);
      p.run();
      await expect((seen() as () => Promise<string>)()).resolves.toBe('/');
      if (!cached) p.saveCache();
    }
  });

  it('returns null for a bundle it cannot read or compile (the caller loads the ESM build)', () => {
    expect(prepareCjsBundle(join(dir, 'missing.cjs'), { cacheDir: dir, saveAtExit: false })).toBeNull();
    expect(prepareCjsBundle(writeBundle('bad.cjs', 'this is not javascript ((('), { cacheDir: dir, saveAtExit: false })).toBeNull();
  });
});

describe('bin/dman.js with the code cache', () => {
  const root = new URL('..', import.meta.url).pathname;
  const dman = (env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [join(root, 'bin/dman.js'), ...args], { encoding: 'utf8', env: { ...process.env, DMAN_CONFIG: '', ...env } });

  it.runIf(canRunCjsBundle())('writes the cache on the first run, and a corrupt or unwritable cache changes nothing but the speed', () => {
    if (!existsSync(join(root, 'dist/cli.cjs'))) {
      const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
      expect(b.status, b.stderr).toBe(0);
    }
    const env = { XDG_CACHE_HOME: join(dir, 'xdg'), HOME: dir };
    const v8dir = join(dir, 'xdg', 'dman', 'v8');
    const plain = dman({ ...env, DMAN_CODE_CACHE: '0' }, 'version');
    expect(plain.status, plain.stderr).toBe(0);
    expect(only(v8dir)).toEqual([]);

    const first = dman(env, 'version');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe(plain.stdout);
    expect(only(v8dir)).toHaveLength(1);
    const file = join(v8dir, only(v8dir)[0]!);
    const good = readFileSync(file);
    const key = cacheKey(readFileSync(join(root, 'dist/cli.cjs')));
    expect(readCodeCache(file, key)?.commands).toEqual(['version']);
    // The same command again leaves the cache as it is; another command adds what it compiled, once.
    expect(dman(env, 'version').status).toBe(0);
    expect(readFileSync(file).equals(good)).toBe(true);
    expect(dman(env, 'completion', 'bash').status).toBe(0);
    expect(readCodeCache(file, key)?.commands).toEqual(['version', 'completion']);
    const both = readFileSync(file);
    expect(dman(env, 'completion', 'bash').status).toBe(0);
    expect(readFileSync(file).equals(both)).toBe(true);

    // Corrupt: ignored, the command runs as before, and a good cache is written again.
    const bad = Buffer.from(good);
    for (let i = 100; i < bad.length; i += 13) bad[i] ^= 0xff;
    writeFileSync(file, bad);
    const second = dman(env, 'version');
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toBe(plain.stdout);
    expect(second.stderr).toBe('');
    expect(readCodeCache(file, key)).toBeDefined();

    // A cache dir that cannot be written: the command runs and says nothing about it.
    rmSync(join(dir, 'xdg'), { recursive: true, force: true });
    mkdirSync(join(dir, 'xdg'));
    writeFileSync(join(dir, 'xdg', 'dman'), 'not a folder');
    chmodSync(join(dir, 'xdg', 'dman'), 0o400);
    const third = dman(env, 'version');
    expect(third.status, third.stderr).toBe(0);
    expect(third.stdout).toBe(plain.stdout);
    expect(third.stderr).toBe('');
  }, 60_000);
});
