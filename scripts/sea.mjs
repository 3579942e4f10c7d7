#!/usr/bin/env node
// Builds the standalone server binary, dist/dman-server: the whole CLI bundled as one CommonJS
// file (a SEA's require() loads only built-ins, and CJS output forbids top-level await), turned
// into a Node single executable application blob and injected with postject into a copy of this
// machine's node binary. Nothing to install on the box that runs it. Linux is the target (the
// binary is for this OS and CPU; macOS is handled too: its signature is removed and re-applied
// ad hoc, or with DMAN_SEA_SIGN_IDENTITY).
//
//   node scripts/sea.mjs [--out dist/dman-server] [--force]
//
// Rebuilds only what changed: the blob and the binary are skipped when the bundle's hash and the
// node binary are those of the last build (dist/sea/stamp.json), so a test can call it cheaply.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const { values: flags } = parseArgs({ options: { out: { type: 'string' }, force: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false } } });
const out = resolve(root, flags.out ?? 'dist/dman-server');
const work = join(root, 'dist/sea');
const say = (m) => { if (!flags.quiet) process.stderr.write(`sea: ${m}\n`); };
const fail = (m) => { process.stderr.write(`sea: ${m}\n`); process.exit(1); };

if (Number(process.versions.node.split('.')[0]) < 20) fail(`Node ${process.versions.node} cannot build a single executable application; use Node 20 or newer.`);
mkdirSync(work, { recursive: true });

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
const define = {
  __DMAN_VERSION__: JSON.stringify(pkg.version),
  __DMAN_COMMIT__: JSON.stringify(process.env.DMAN_COMMIT ?? (git.status === 0 ? git.stdout.trim() : 'unknown')),
  // A fixed build time keeps the bundle (and so the cache key) stable between identical builds.
  __DMAN_BUILD_TIME__: JSON.stringify(process.env.DMAN_BUILD_TIME ?? 'sea'),
};

// The banner runs before any module. In a SEA, argv is [binary, binary, ...args]: rename argv[1]
// so cli/main.ts's "am I the entry?" check stays false (the entry below calls main() itself,
// whatever the binary is named), and default the log format to JSON: pino-pretty runs as a
// worker-thread transport loaded from node_modules, which a SEA does not have.
// A SEA's require() loads built-ins only and warns on anything else; packages probe optional
// modules at load time (mysql2 tries `cardinal`), so answer those the way a missing module
// would, quietly.
const banner = `(() => {
  process.argv[1] = process.execPath + '#sea';
  const a = process.argv;
  const i = a.findIndex((x) => x === '--log-format' || x.startsWith('--log-format='));
  if (i < 0) a.splice(2, 0, '--log-format=json');
  else if (a[i] === '--log-format=pretty' || (a[i] === '--log-format' && a[i + 1] === 'pretty')) {
    process.stderr.write('dman-server: --log-format pretty needs pino-pretty from node_modules; the standalone binary logs JSON\\n');
    a.splice(i, a[i] === '--log-format' ? 2 : 1, '--log-format=json');
  }
})();
require = ((real) => {
  const { isBuiltin } = real('node:module');
  const missing = (id) => Object.assign(new Error("Cannot find module '" + id + "': not bundled into the dman-server binary"), { code: 'MODULE_NOT_FOUND' });
  return Object.assign((id) => { if (isBuiltin(id)) return real(id); throw missing(id); }, { resolve: (id) => { if (isBuiltin(id)) return id; throw missing(id); }, cache: real.cache, main: real.main });
})(require);`;
const entry = `import { main } from './cli/main.ts';
main(process.argv).then((code) => { process.exitCode = code; }, (err) => { process.stderr.write(String(err && err.stack || err) + '\\n'); process.exitCode = 1; });
`;
// A SEA has no node_modules, so files a module reads from there at run time must be inlined:
// the dashboard's uPlot script and stylesheet (server/dashboard/loadUplotAssets.ts reads them).
const inlineUplot = {
  name: 'inline-uplot',
  setup(b) {
    b.onLoad({ filter: /[\\/]server[\\/]dashboard[\\/]loadUplotAssets\.ts$/ }, () => {
      const text = (f) => JSON.stringify(readFileSync(require.resolve(`uplot/dist/${f}`), 'utf8'));
      return { loader: 'js', contents: `export function loadUplotAssets() { return { js: ${text('uPlot.iife.min.js')}, css: ${text('uPlot.min.css')} }; }\n` };
    });
  },
};
// Per-process work files: two builds at once (parallel test files) never read each other's halves.
const bundle = join(work, `dman-server.${process.pid}.cjs`);
const result = await build({
  stdin: { contents: entry, resolveDir: root, sourcefile: 'sea-entry.ts', loader: 'ts' },
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: bundle,
  define,
  banner: { js: banner },
  legalComments: 'none',
  logLevel: 'error',
  metafile: false,
  plugins: [inlineUplot],
  // Optional native accelerators some packages try first and fall back from.
  external: ['pino-pretty', 'bufferutil', 'utf-8-validate', 'cpu-features', 'electron'],
});
if (result.errors.length) fail('bundling failed');

const code = readFileSync(bundle);
const nodeBin = process.execPath;
const nodeStat = statSync(nodeBin);
const key = createHash('sha256').update(code).update(`${nodeBin}:${nodeStat.size}:${nodeStat.mtimeMs}:${process.version}`).digest('hex');
const stampFile = join(work, 'stamp.json');
// Kept beside the binary for inspection: the exact code inside it.
copyFileSync(bundle, join(work, 'dman-server.cjs'));
const stamp = existsSync(stampFile) ? JSON.parse(readFileSync(stampFile, 'utf8')) : null;
if (!flags.force && stamp?.key === key && stamp?.out === out && existsSync(out)) {
  say(`${out} is up to date`);
  process.exit(0);
}

const blob = join(work, `sea-prep.${process.pid}.blob`);
const seaConfig = join(work, `sea-config.${process.pid}.json`);
const cleanup = () => { for (const f of [bundle, blob, seaConfig]) rmSync(f, { force: true }); };
process.on('exit', cleanup);
writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }, null, 2));
const gen = spawnSync(nodeBin, ['--experimental-sea-config', seaConfig], { cwd: root, encoding: 'utf8' });
if (gen.status !== 0) fail(`node --experimental-sea-config failed:\n${gen.stderr}`);

// Inject into a temp copy, then rename: a half-written binary never sits at the final path.
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;
copyFileSync(nodeBin, tmp);
chmodSync(tmp, 0o755);
const isMac = process.platform === 'darwin';
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
};
if (isMac) run('codesign', ['--remove-signature', tmp]);
// postject runs in a child so its harmless "Can't find string offset for section name '.note…'"
// warnings (ELF notes it does not need) can be dropped from the output.
const inj = spawnSync(process.execPath, [require.resolve('postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', blob,
  '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2', ...(isMac ? ['--macho-segment-name', 'NODE_SEA'] : [])], { encoding: 'utf8' });
const noise = /Can't find string offset for section name|^\s*$|^💉|Injection done|^Start injection/u;
// eslint-disable-next-line no-control-regex -- strips postject's colour codes
const said = `${inj.stdout}\n${inj.stderr}`.replace(/\u001b\[[0-9;]*m/gu, '').split('\n').filter((l) => !noise.test(l));
if (inj.status !== 0) {
  rmSync(tmp, { force: true });
  fail(`postject could not inject the blob into a copy of ${nodeBin}:\n${said.join('\n')}`);
}
if (said.length && !flags.quiet) process.stderr.write(`${said.join('\n')}\n`);
if (isMac) run('codesign', ['--sign', process.env.DMAN_SEA_SIGN_IDENTITY ?? '-', tmp]);
renameSync(tmp, out);
writeFileSync(`${stampFile}.${process.pid}`, JSON.stringify({ key, out, node: process.version, builtAt: new Date().toISOString() }, null, 2));
renameSync(`${stampFile}.${process.pid}`, stampFile);
say(`built ${out} (${(statSync(out).size / 1e6).toFixed(0)} MB, Node ${process.version}, ${process.platform}-${process.arch})`);
