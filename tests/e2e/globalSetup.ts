// Makes a fresh machine ready for the e2e run: Debian's Chromium (installed with apt when
// missing) and the built CLI + renderer that the agent serves.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/** Installs Chromium if needed and builds dist/ if it is missing. */
export default function globalSetup(): void {
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(chromium)) {
    console.log(`e2e setup: ${chromium} is missing; installing Debian's chromium with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const r = spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
    if (r.status !== 0 || !existsSync(chromium)) throw new Error(`e2e setup: could not install chromium (apt-get exit ${r.status}); set CHROMIUM_PATH to a Chromium binary`);
  }
  if (!existsSync(resolve(root, 'dist/cli.js')) || !existsSync(resolve(root, 'dist/renderer/index.html'))) {
    console.log('e2e setup: building dist/ (node scripts/build.mjs)');
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('e2e setup: the build failed');
  }
}
