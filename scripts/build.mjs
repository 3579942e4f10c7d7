#!/usr/bin/env node
// Builds what runs outside vitest: the CLI bundle (dist/cli.js), the Electron main and preload
// bundles, and the renderer (vite). Fast (esbuild); `npm install` runs it through `prepare`.
import { build } from 'esbuild';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { lazyAssertForSonicBoom, lazyChildProcessForCommander, lazyThreadStream, lazyZodFromJsonSchema, lazyZodLocales } from './bundlePlugins.mjs';

const root = new URL('..', import.meta.url).pathname;
const common0 = { bundle: true, platform: 'node', target: 'node20', sourcemap: 'linked', packages: 'external', logLevel: 'warning', absWorkingDir: root };
const common = common0;
const only = process.argv[2];
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
const define = {
  __DMAN_VERSION__: JSON.stringify(pkg.version),
  __DMAN_COMMIT__: JSON.stringify(process.env.DMAN_COMMIT ?? (git.status === 0 ? git.stdout.trim() : 'unknown')),
  __DMAN_BUILD_TIME__: JSON.stringify(new Date().toISOString()),
};

// The CLI bundles the dependencies every command start loads (zod, commander, yaml, picomatch,
// env-paths, cli-progress, node-diff3, and what they import): loading them file by file from node_modules
// (resolve, read, compile each) cost ~60 ms CPU of every `dman` start. The rest stays external,
// loaded from node_modules when a command needs it: the server and its drivers (fastify,
// ioredis, mysql2), the agent's, the wizard's, and pino with its transports (pino starts
// pino-pretty in a worker thread by file path; dist/cli.cjs bundles pino itself, see below). CommonJS code inside an ESM bundle needs
// `require`, `__filename` and `__dirname`: the banner defines them.
const STARTUP_PACKAGES = new Set(['zod', 'commander', 'yaml', 'picomatch', 'env-paths', 'cli-progress', 'node-diff3']);
const NEVER_BUNDLED = new Set(['pino', 'pino-pretty', 'thread-stream', 'electron']);
const packageOf = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
/** Bundles STARTUP_PACKAGES (plus `also`) and what they import; everything else stays external. */
const startupDepsPlugin = (also = new Set()) => ({
  name: 'startup-deps',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || args.kind === 'entry-point') return undefined;
      const pkg = packageOf(args.path);
      if (NEVER_BUNDLED.has(pkg) && !also.has(pkg)) return { external: true };
      // Inside a bundled package: bundle what it imports too (its own versions, resolved from it).
      const fromDependency = /[\\/]node_modules[\\/]/.test(args.importer);
      if (fromDependency || STARTUP_PACKAGES.has(pkg) || also.has(pkg)) return undefined;
      return { external: true };
    });
  },
});
const startupDeps = startupDepsPlugin();
const cliBundle = {
  packages: undefined,
  plugins: [startupDeps],
  banner: {
    js: [
      "import { createRequire as __dmanCreateRequire } from 'node:module';",
      "import { fileURLToPath as __dmanFileURLToPath } from 'node:url';",
      "import { dirname as __dmanDirname } from 'node:path';",
      'const require = __dmanCreateRequire(import.meta.url);',
      'const __filename = __dmanFileURLToPath(import.meta.url);',
      'const __dirname = __dmanDirname(__filename);',
    ].join(' '),
  },
};

if (!only || only === 'cli') {
  // Split: modules that commands import on use (the server, store drivers, the agent) become
  // chunks beside dist/cli.js, so `dman sync` does not load fastify, ioredis or mysql2.
  // Built into a temp dir at the same depth as dist/ (so source maps point right), then moved in
  // file by file with rename, chunks first and cli.js last: a dman process or a test starting
  // meanwhile sees the old build or the new one, never a half-written one.
  mkdirSync(`${root}dist`, { recursive: true });
  const tmp = mkdtempSync(`${root}.dist-tmp-`);
  try {
    await build({ ...common, ...cliBundle, entryPoints: { cli: 'cli/main.ts' }, outdir: tmp, splitting: true, chunkNames: 'cli-chunk-[hash]', format: 'esm', define });
    // dist/fast.cjs: `dman sync` through a running `dman watch` (cli/control/); node: imports only.
    // CommonJS, as bin/dman.js, which requires it: no ESM loader on the way to a one-shot command.
    await build({ ...common, entryPoints: { fast: 'cli/fast.ts' }, outdir: tmp, outExtension: { '.js': '.cjs' }, format: 'cjs', sourcemap: false, define });
    // dist/cli.cjs: the same CLI as one CommonJS file, which bin/dman.js runs for one-shot commands
    // through dist/boot.cjs (cli/codeCache.ts) with a V8 code cache: ESM modules take no cached data
    // on Node 20, and parsing and compiling the bundle was ~60 ms of every `dman sync`. No
    // chunks (nothing to split in CommonJS): the server code is in the file but is compiled only
    // when called. import.meta.url is this file's URL. Whitespace minified (no comments: esbuild
    // escapes non-ASCII text in code, not in comments), names kept; the source map maps it back.
    await build({
      ...common, ...cliBundle, entryPoints: { cli: 'cli/main.ts' }, outExtension: { '.js': '.cjs' }, outdir: tmp, format: 'cjs', charset: 'ascii', minifyWhitespace: true,
      // pino too (~25 files, ~15 ms to load from node_modules): its one transport we use (pino-pretty,
      // on a terminal) is found from the caller's file (this bundle) and runs in thread-stream's
      // worker, both of which stay external.
      plugins: [lazyThreadStream, lazyAssertForSonicBoom, lazyChildProcessForCommander, lazyZodLocales, lazyZodFromJsonSchema, startupDepsPlugin(new Set(['pino']))],
      define: { ...define, 'import.meta.url': '__dmanImportMetaUrl' },
      // 'use strict' first: a banner before esbuild's own directive would leave the file sloppy.
      banner: { js: "'use strict'; var __dmanImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    });
    // boot.cjs reads the bundle as latin1 and wraps it in a function: it must be ASCII with no hashbang.
    // Its import() of external packages becomes a call of boot.cjs's __dimp (same length, so the
    // source map stays right): an import() inside a vm.Script fails on Node 20 once the script
    // comes from the code cache (see cli/codeCache.ts).
    let cjs = readFileSync(`${tmp}/cli.cjs`, 'latin1');
    cjs = cjs.replace(/(?<![\w$.])import\(("[^"./][^"]*")\)/g, '__dimp($1)');
    if (/(?<![\w$.])import\(/.test(cjs)) throw new Error('dist/cli.cjs has an import() the build cannot redirect (a computed or relative specifier)');
    if (/[\u0080-\uffff]/.test(cjs) || cjs.startsWith('#!')) throw new Error('dist/cli.cjs is not plain ASCII without a hashbang');
    writeFileSync(`${tmp}/cli.cjs`, cjs, 'latin1');
    await build({ ...common, entryPoints: { boot: 'cli/codeCache.ts' }, outdir: tmp, outExtension: { '.js': '.cjs' }, format: 'cjs', sourcemap: false, define });
    const produced = readdirSync(tmp).sort((a, b) => Number(a.startsWith('cli.js')) - Number(b.startsWith('cli.js')));
    for (const f of produced) renameSync(`${tmp}/${f}`, `${root}dist/${f}`);
    // Chunks of earlier builds: content-hashed names, so a stale one is never overwritten. Keep
    // recent ones for processes still running an earlier build; drop the rest.
    const keep = new Set(produced);
    for (const f of readdirSync(`${root}dist`)) {
      if (!f.startsWith('cli-chunk-') || keep.has(f)) continue;
      if (Date.now() - statSync(`${root}dist/${f}`).mtimeMs > 10 * 60_000) rmSync(`${root}dist/${f}`, { force: true });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
if ((!only || only === 'main') && existsSync(`${root}main/main.ts`)) {
  await build({ ...common, entryPoints: ['main/main.ts'], outfile: 'dist/main.js', format: 'esm', external: ['electron'] });
  await build({ ...common, entryPoints: ['preload/preload.ts'], outfile: 'dist/preload.cjs', format: 'cjs', external: ['electron'] });
}
if ((!only || only === 'renderer') && existsSync(`${root}renderer/index.html`)) {
  const r = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
