#!/usr/bin/env node
// Builds what runs outside vitest: the CLI bundle (dist/cli.js), the Electron main and preload
// bundles, and the renderer (vite). Fast (esbuild); `npm install` runs it through `prepare`.
import { build } from 'esbuild';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

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

if (!only || only === 'cli') {
  // Split: modules that commands import on use (the server, store drivers, the agent) become
  // chunks beside dist/cli.js, so `dman sync` does not load fastify, ioredis or mysql2.
  for (const f of readdirSync(`${root}dist`, { withFileTypes: true })) if (f.name.startsWith('cli-chunk-')) rmSync(`${root}dist/${f.name}`);
  await build({ ...common, entryPoints: { cli: 'cli/main.ts' }, outdir: 'dist', splitting: true, chunkNames: 'cli-chunk-[hash]', format: 'esm', define });
}
if ((!only || only === 'main') && existsSync(`${root}main/main.ts`)) {
  await build({ ...common, entryPoints: ['main/main.ts'], outfile: 'dist/main.js', format: 'esm', external: ['electron'] });
  await build({ ...common, entryPoints: ['preload/preload.ts'], outfile: 'dist/preload.cjs', format: 'cjs', external: ['electron'] });
}
if ((!only || only === 'renderer') && existsSync(`${root}renderer/index.html`)) {
  const r = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
