// Bundles a child-process entry once per test file, so each of the many crash runs starts fast.
import { build } from 'esbuild';
import { join } from 'node:path';

const repo = new URL('../../..', import.meta.url).pathname;

/** Bundles `entry` (relative to the repo) into node_modules/.cache and returns the file. */
export async function bundleChild(entry: string): Promise<string> {
  // Inside the repo, so the bundle resolves node_modules.
  const out = join(repo, 'node_modules/.cache', `dman-proof-${entry.replace(/\W+/g, '-')}-${process.pid}.mjs`);
  await build({ entryPoints: [join(repo, entry)], bundle: true, platform: 'node', format: 'esm', outfile: out, packages: 'external', logLevel: 'silent', absWorkingDir: repo });
  return out;
}
