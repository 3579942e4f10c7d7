#!/usr/bin/env node
// The `dman` command: runs the built CLI bundle (npm install builds it through `prepare`).
// CommonJS (bin/package.json says so): Node starts a CommonJS entry about 5-10 ms sooner than an
// ES module (no ESM loader, no module namespaces for the node: builtins it loads), and every
// one-shot `dman sync` pays for its start. dist/fast.cjs and dist/boot.cjs are CommonJS for the same reason.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const dist = join(__dirname, '..', 'dist');
const entry = join(dist, 'cli.js');

/**
 * Loads the CLI. One-shot commands run dist/cli.cjs (the same CLI as one CommonJS file) through
 * dist/boot.cjs with a V8 code cache in the user's cache dir (cli/codeCache.ts): ~60 ms less per
 * start than compiling the ESM build. `dman serve` and `dman agent` (long-lived), a Node without
 * what boot.cjs needs, a missing file or DMAN_CODE_CACHE=0 load the ESM build as before.
 */
async function loadCli(args) {
  const cjs = join(dist, 'cli.cjs');
  const longLived = args.includes('serve') || args.includes('agent');
  if (!longLived && process.env.DMAN_CODE_CACHE !== '0' && existsSync(cjs)) {
    let prepared = null;
    try {
      const boot = require(join(dist, 'boot.cjs'));
      if (boot.canRunCjsBundle()) prepared = boot.prepareCjsBundle(cjs);
    } catch {
      prepared = null;
    }
    // Outside the try: once the CLI runs, its errors are its own (never a second run through the ESM build).
    if (prepared) return prepared.run();
  }
  await import(pathToFileURL(entry).href);
}

/** `dman sync` with plain flags first asks a running `dman watch` for the same config to run it (dist/fast.cjs, no zod/yaml/commander); null when none did. */
async function delegated(args) {
  if (!args.includes('sync') || process.env.DMAN_NO_DAEMON === '1') return null;
  const fast = join(dist, 'fast.cjs');
  try {
    return existsSync(fast) ? await require(fast).runFast(args) : null;
  } catch {
    return null;
  }
}

async function start() {
  if (!existsSync(entry)) {
    process.stderr.write('dman: dist/cli.js is missing. Run `npm run build` in the dman folder (npm install runs it for you).\n');
    process.exit(1);
  }
  const args = process.argv.slice(2);
  const code = await delegated(args);
  if (code !== null) process.exitCode = code;
  else await loadCli(args);
}

start().catch((err) => {
  process.stderr.write(`dman: ${err && err.stack ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
