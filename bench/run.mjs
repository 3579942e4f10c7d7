#!/usr/bin/env node
// `npm run bench [-- NAME…] [--quick] [--flag value…]`: runs each bench/*.bench.ts (or the named ones) in its own
// Node process, one after another so they do not disturb each other, and prints their figures.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
const args = process.argv.slice(2);
const all = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort();
// A word right after a flag is that flag's value (`--seconds 20`, `--json out.json`), unless the
// flag is a switch or the word is exactly a bench's name (`--quick peers`).
const switches = new Set(['--quick', '--smoke', '--no-watch']);
const isName = (a) => all.includes(`${a}.bench.ts`);
const flags = [];
const names = [];
args.forEach((a, i) => {
  const prev = args[i - 1];
  if (a.startsWith('--')) flags.push(a);
  else if (prev?.startsWith('--') && !prev.includes('=') && !switches.has(prev) && !isName(a)) flags.push(a);
  else names.push(a);
});
const chosen = names.length ? all.filter((f) => names.some((n) => f.startsWith(n))) : all;
if (chosen.length === 0) {
  console.error(`bench: nothing matches ${names.join(', ')}; available: ${all.map((f) => f.replace('.bench.ts', '')).join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const f of chosen) {
  console.log(`\n=== ${f.replace('.bench.ts', '')} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${here}${f}`, ...flags], { stdio: 'inherit', cwd: `${here}..` });
  if (r.status !== 0) { failed++; console.error(`bench: ${f} exited with ${r.status}`); }
}
process.exit(failed ? 1 : 0);
