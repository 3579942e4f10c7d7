#!/usr/bin/env node
// `npm start`: the tray app where an Electron binary exists; otherwise (a machine without one,
// such as a server or CI box) the headless agent with the embedded server, printing its URL.
// The Electron binary is found WITHOUT require('electron'), which would try to download it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/** Returns the Electron executable, or null with the reason. */
function findElectron() {
  const pkg = join(root, 'node_modules', 'electron');
  const name = existsSync(join(pkg, 'path.txt')) ? readFileSync(join(pkg, 'path.txt'), 'utf8').trim() : null;
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const p = join(process.env.ELECTRON_OVERRIDE_DIST_PATH, name ?? 'electron');
    return existsSync(p) ? { path: p } : { path: null, why: `ELECTRON_OVERRIDE_DIST_PATH is set, but ${p} does not exist` };
  }
  if (!name) return { path: null, why: 'the Electron binary is not installed (node_modules/electron/path.txt is missing)' };
  const p = join(pkg, 'dist', name);
  return existsSync(p) ? { path: p } : { path: null, why: `the Electron binary ${p} is missing` };
}

function ensureBuilt(files) {
  if (files.every((f) => existsSync(join(root, f)))) return;
  const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const electron = findElectron();
let child;
if (electron.path) {
  ensureBuilt(['dist/main.js', 'dist/preload.cjs', 'dist/renderer/index.html', 'dist/cli.js']);
  console.log(`dman: starting the tray app (${electron.path})`);
  // The repo folder is the app (package.json `main` is dist/main.js): app.getAppPath() must be
  // the folder that holds bin/dman.js and build/icons, not dist/.
  child = spawn(electron.path, [root, ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
} else {
  ensureBuilt(['dist/cli.js', 'dist/renderer/index.html']);
  console.log(`dman: no desktop app here (${electron.why}); starting the headless agent with the embedded server.`);
  child = spawn(process.execPath, [join(root, 'bin/dman.js'), 'agent', '--serve', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
