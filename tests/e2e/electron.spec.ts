// The tray app under Playwright's _electron: launch, wizard, conflict notification → review.
// Runs only where an Electron binary exists (ELECTRON_OVERRIDE_DIST_PATH or a normal install);
// elsewhere it is skipped, and says why.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { _electron as electron } from '@playwright/test';
import { expect, test } from './fixtures.js';

const root = resolve(import.meta.dirname, '../..');

/** Finds the Electron binary without require('electron') (which would try to download it). */
function electronBinary(): { path: string | null; why: string } {
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const pkgDir = join(root, 'node_modules', 'electron');
  const name = existsSync(join(pkgDir, 'path.txt')) ? readFileSync(join(pkgDir, 'path.txt'), 'utf8').trim() : null;
  if (override) {
    const p = join(override, name ?? 'electron');
    return existsSync(p) ? { path: p, why: '' } : { path: null, why: `ELECTRON_OVERRIDE_DIST_PATH is set but ${p} does not exist` };
  }
  if (!name) return { path: null, why: 'no Electron binary: node_modules/electron/path.txt is missing (the binary download is not possible here); set ELECTRON_OVERRIDE_DIST_PATH to an unpacked Electron' };
  const p = join(pkgDir, 'dist', name);
  return existsSync(p) ? { path: p, why: '' } : { path: null, why: `no Electron binary at ${p}` };
}

test('the tray app launches, shows the wizard, and a conflict notification opens the review', async ({ tmp }, info) => {
  const bin = electronBinary();
  if (!bin.path) console.log(`electron e2e skipped: ${bin.why}`);
  test.skip(!bin.path, bin.why);
  if (!existsSync(join(root, 'dist/main.js'))) throw new Error('dist/main.js is missing: run npm run build');

  const app = await electron.launch({
    executablePath: bin.path!,
    args: [join(root, 'dist/main.js'), '--no-sandbox'],
    env: { ...process.env, HOME: join(tmp, 'home'), DMAN_DATA_DIR: join(tmp, 'data'), DMAN_CONFIG: join(tmp, 'dman.yaml'), DMAN_E2E: '1' },
  });
  try {
    const win = await app.firstWindow();
    await expect(win.getByRole('heading', { name: 'Where is your sync server?' })).toBeVisible();
    // The window is locked down: no Node in the page, only window.dman with the contract's methods.
    const surface = await win.evaluate(() => {
      const g = globalThis as unknown as { dman?: Record<string, unknown>; require?: unknown; process?: unknown };
      return { keys: Object.keys(g.dman ?? {}).sort(), require: typeof g.require, process: typeof g.process };
    });
    expect(surface.require).toBe('undefined');
    expect(surface.process).toBe('undefined');
    expect(surface.keys).toContain('getState');
    await win.screenshot({ path: info.outputPath('electron-wizard.png') });

    // A batch of conflicts gives one notification; its click opens the review at the first one.
    await app.evaluate(async () => {
      const hooks = (globalThis as unknown as { dmanE2E: { feedConflicts(l: unknown[]): void } }).dmanE2E;
      const c = (path: string) => ({ user: 'alice', path, binary: false, detectedAt: Date.now(), localHash: null, remoteHash: null, remoteDevice: 'desk' });
      hooks.feedConflicts([c('.zshrc'), c('.gitconfig')]);
    });
    await expect.poll(() => app.evaluate(() => (globalThis as unknown as { dmanE2E: { notifications(): unknown[] } }).dmanE2E.notifications().length), { timeout: 10_000 }).toBe(1);
    await app.evaluate(() => (globalThis as unknown as { dmanE2E: { click(i: number): void } }).dmanE2E.click(0));
    await expect.poll(() => win.evaluate(() => (globalThis as unknown as { location: { hash: string } }).location.hash)).toContain('#/conflicts?user=alice&path=.zshrc');
  } finally {
    await app.close();
  }
});
