#!/usr/bin/env node
// The `dman` command: runs the built CLI bundle (npm install builds it through `prepare`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('dman: dist/cli.js is missing. Run `npm run build` in the dman folder (npm install runs it for you).\n');
  process.exit(1);
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
    await import(entry.href);
  }
} else {
  await import(entry.href);
}
