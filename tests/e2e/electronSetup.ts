// globalSetup of tests/e2e/electron.config.ts: builds dist/ when a file the tray app runs from is missing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/** Runs scripts/build.mjs unless dist/ already holds the app (main, preload, renderer, CLI). */
export default function electronSetup(): void {
  const needed = ['dist/main.js', 'dist/preload.cjs', 'dist/renderer/index.html', 'dist/cli.js'];
  if (needed.every((f) => existsSync(resolve(root, f)))) return;
  console.log('electron e2e setup: building dist/ (node scripts/build.mjs)');
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`electron e2e setup: the build failed (exit ${r.status}); run npm run build and read its errors`);
}
