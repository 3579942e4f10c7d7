#!/usr/bin/env node
// The `dman` command: runs the built CLI bundle (npm install builds it through `prepare`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('dman: dist/cli.js is missing. Run `npm run build` in the dman folder (npm install runs it for you).\n');
  process.exit(1);
}
await import(entry.href);
