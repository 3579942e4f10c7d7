#!/usr/bin/env node
// The `dman` command: runs the built CLI bundle (npm install builds it through `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('dman: dist/cli.js is missing. Run `npm run build` in the dman folder (npm install runs it for you).\n');
  process.exit(1);
}

/**
 * Loads the CLI. One-shot commands run dist/cli.cjs (the same CLI as one CommonJS file) through
 * dist/boot.js with a V8 code cache in the user's cache dir (cli/codeCache.ts): ~60 ms less per
 * start than compiling the ESM build. `dman serve` and `dman agent` (long-lived), a Node without
 * what boot.js needs, a missing file or DMAN_CODE_CACHE=0 load the ESM build as before.
 */
async function loadCli(args) {
  const cjs = new URL('../dist/cli.cjs', import.meta.url);
  const longLived = args.includes('serve') || args.includes('agent');
  if (!longLived && process.env.DMAN_CODE_CACHE !== '0' && existsSync(cjs)) {
    let prepared = null;
    try {
      const boot = await import(new URL('../dist/boot.js', import.meta.url).href);
      if (boot.canRunCjsBundle()) prepared = boot.prepareCjsBundle(fileURLToPath(cjs));
    } catch {
      prepared = null;
    }
    // Outside the try: once the CLI runs, its errors are its own (never a second run through the ESM build).
    if (prepared) return prepared.run();
  }
  await import(entry.href);
}

// `dman sync` with plain flags first asks a running `dman watch` for the same config to run it
// (dist/fast.js, no zod/yaml/commander); with none, or DMAN_NO_DAEMON=1, the full CLI runs it.
const args = process.argv.slice(2);
if (args.includes('sync') && process.env.DMAN_NO_DAEMON !== '1') {
  const fast = new URL('../dist/fast.js', import.meta.url);
  let code = null;
  try {
    if (existsSync(fast)) code = await (await import(fast.href)).runFast(args);
  } catch {
    code = null;
  }
  if (code !== null) {
    process.exitCode = code;
  } else {
    await loadCli(args);
  }
} else {
  await loadCli(args);
}
