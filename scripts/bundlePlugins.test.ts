// The stand-ins of dist/cli.cjs behave as the modules they stand for: a small bundle built with
// and without each plugin must print the same.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, without types
import { lazyAssertForSonicBoom, lazyChildProcessForCommander, lazyZodFromJsonSchema, lazyZodLocales } from './bundlePlugins.mjs';

const root = new URL('..', import.meta.url).pathname;
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(root, '.bundle-plugins-test-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** Bundles `source` as dist/cli.cjs is bundled (CommonJS, dependencies inside), runs it and returns its stdout. */
async function runBundled(name: string, source: string, plugins: Plugin[]): Promise<{ out: string; code: string }> {
  const entry = join(dir, `${name}.ts`);
  await writeFile(entry, source);
  const r = await build({ entryPoints: [entry], bundle: true, platform: 'node', target: 'node20', format: 'cjs', write: false, plugins, logLevel: 'silent', absWorkingDir: root });
  const code = r.outputFiles[0]!.text;
  const file = join(dir, `${name}-${plugins.length}.cjs`);
  await writeFile(file, code);
  const run = spawnSync(process.execPath, [file], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return { out: run.stdout, code };
}

describe('bundle stand-ins', () => {
  it('zod locales: every locale is still there and gives the same messages; English is the default', async () => {
    const source = `
      import { z } from 'zod';
      const issue = { code: 'too_small', origin: 'string', minimum: 3, inclusive: true, input: 'ab', path: [] };
      console.log(JSON.stringify({
        keys: Object.keys(z.locales), core: Object.keys(z.core.locales),
        messages: Object.keys(z.locales).map((k) => z.locales[k]().localeError(issue)),
        english: z.string().min(3).safeParse('ab').error.issues[0].message,
      }));`;
    const real = await runBundled('locales', source, []);
    const lazy = await runBundled('locales', source, [lazyZodLocales]);
    expect(lazy.code).toContain('lazy-zod-locales');
    const parsed = JSON.parse(lazy.out) as { keys: string[]; english: string };
    expect(parsed.keys.length).toBeGreaterThan(30);
    expect(parsed.english).toBe('Too small: expected string to have >=3 characters');
    expect(lazy.out).toBe(real.out);
  });

  it('zod fromJSONSchema: converts as the real one does', async () => {
    const source = `
      import { z } from 'zod';
      const s = z.fromJSONSchema({ type: 'object', properties: { a: { type: 'string', minLength: 2 }, n: { type: 'integer' } }, required: ['a'] });
      console.log(JSON.stringify([s.safeParse({ a: 'xy', n: 3 }), s.safeParse({ a: 'x' }), z.toJSONSchema(s)]));`;
    const real = await runBundled('fromjson', source, []);
    const lazy = await runBundled('fromjson', source, [lazyZodFromJsonSchema]);
    expect(lazy.code).toContain('lazy-zod-from-json-schema');
    expect(JSON.parse(lazy.out)[0]).toMatchObject({ success: true });
    expect(lazy.out).toBe(real.out);
  });

  it('sonic-boom assert: node:assert loads when sonic-boom first asserts (closing a stream), not with it', async () => {
    const out = join(dir, 'out.log');
    const source = `
      import SonicBoom from 'sonic-boom';
      const loaded = () => process.moduleLoadList.includes('NativeModule assert');
      const atStart = loaded();
      const s = new SonicBoom({ dest: ${JSON.stringify(out)}, sync: true });
      s.write('x\\n');
      s.on('close', () => console.log(JSON.stringify({ atStart, afterClose: loaded() })));
      s.end();`;
    const lazy = await runBundled('sonic', source, [lazyAssertForSonicBoom]);
    expect(lazy.code).not.toMatch(/require\("assert"\)/);
    expect(JSON.parse(lazy.out)).toEqual({ atStart: false, afterClose: true });
    expect(await readFile(out, 'utf8')).toBe('x\n');
  });
  it('commander child_process: loads when an executable subcommand spawns, not with commander; the subcommand runs', async () => {
    const sub = join(dir, 'prog-hello.cjs');
    await writeFile(sub, "process.stdout.write('hello from ' + process.argv.slice(2).join(' ') + '\\n');\n");
    const source = `
      import { Command } from 'commander';
      const loaded = () => process.moduleLoadList.includes('NativeModule child_process');
      const atStart = loaded();
      const program = new Command('prog');
      program.command('hello', 'a subcommand in its own file', { executableFile: ${JSON.stringify(sub)} });
      process.on('exit', () => console.log(JSON.stringify({ atStart, afterSpawn: loaded() })));
      program.parse(['node', 'prog', 'hello', 'there']);`;
    const real = await runBundled('commander', source, []);
    const lazy = await runBundled('commander', source, [lazyChildProcessForCommander]);
    expect(real.code).toMatch(/require\("node:child_process"\)/);
    expect(lazy.code).toContain('lazy-child-process');
    expect(lazy.out).toContain('hello from there');
    expect(lazy.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))).toEqual([{ atStart: false, afterSpawn: true }]);
  });
});
