// The tray app under Playwright's _electron, for real: the whole first-run wizard hosting the
// server on disk, a real conflict made by a second engine and resolved in the review window, the
// tray menu (conflict count, Pause/Resume), and the window's lock-down. Every folder the app
// writes (home, dman.yaml, data, server storage, Chromium profile, on Linux a private keyring)
// is in a temp dir. Runs only where an Electron binary exists (ELECTRON_OVERRIDE_DIST_PATH or a
// normal install); elsewhere both tests are skipped, and the reason is printed.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ElectronApplication, Page } from '@playwright/test';
import { loadConfig } from '../../engine/config/load.js';
import { lintConfigText } from '../../engine/config/lint.js';
import { createEngine } from '../../engine/createEngine.js';
import { silentLogger } from '../../engine/log.js';
import { DMAN_METHOD_NAMES } from '../../shared/apiMethods.js';
import { assertBuilt, electronBinary, launchDman, type DmanApp } from './electronApp.js';
import { expect, read, test, writeFiles } from './fixtures.js';

const bin = electronBinary();
if (!bin.path) console.log(`electron e2e skipped: ${bin.why}`);

const BASE = {
  '.bashrc': 'alias ll="ls -l"\nexport EDITOR=vim\n',
  '.gitconfig': '[user]\n  name = Alice\n',
  '.vimrc': 'set number\n',
  '.ssh/config': 'Host *\n  ServerAliveInterval 60\n',
  '.ssh/id_ed25519': 'PRIVATE KEY\n',
  '.bash_history': 'ls\n',
};
const SYNCED = ['.bashrc', '.gitconfig', '.ssh/config', '.vimrc'];
const MINE = { '.bashrc': 'alias ll="ls -la"\nexport EDITOR=vim\n', '.gitconfig': '[user]\n  name = Alice A\n' };
const THEIRS = { '.bashrc': 'alias ll="ls -lh"\nexport EDITOR=vim\n', '.gitconfig': '[user]\n  name = Alice B\n' };

// ---- the main-process seams (main/e2eHooks.ts, on with DMAN_E2E=1)

interface MenuLine { id: string; label: string; type: string; enabled: boolean; checked: boolean; submenu?: MenuLine[] }
interface ShownNotification { kind: string; title: string; body: string; target: { view: string; user?: string; path?: string } }

/** The tray's context menu as Electron holds it (the Menu built from main/trayMenu.ts's model). */
const trayMenu = (app: ElectronApplication) => app.evaluate(() => {
  interface Item { id?: string; label: string; type: string; enabled: boolean; checked: boolean; submenu?: { items: Item[] } | null }
  interface Line { id: string; label: string; type: string; enabled: boolean; checked: boolean; submenu?: Line[] }
  const hooks = (globalThis as unknown as { dmanE2E: { trayMenu(): { items: Item[] } | null } }).dmanE2E;
  const walk = (items: Item[]): Line[] => items.map((i) => ({
    id: i.id ?? '', label: i.label, type: i.type, enabled: i.enabled, checked: i.checked,
    ...(i.submenu ? { submenu: walk(i.submenu.items) } : {}),
  }));
  const m = hooks.trayMenu();
  return m ? walk(m.items) : null;
}) as Promise<MenuLine[] | null>;

/** Clicks a tray menu item by id, as the user would (its real click handler runs). */
async function clickTray(app: ElectronApplication, id: string): Promise<void> {
  const err = await app.evaluate((_electron, itemId) => {
    const hooks = (globalThis as unknown as { dmanE2E: { trayMenu(): { getMenuItemById(id: string): { enabled: boolean; click(): void } | null } | null } }).dmanE2E;
    const item = hooks.trayMenu()?.getMenuItemById(itemId);
    if (!item) return `the tray menu has no item "${itemId}"`;
    if (!item.enabled) return `the tray menu item "${itemId}" is disabled`;
    item.click();
    return null;
  }, id);
  if (err) throw new Error(`${err}; menu: ${JSON.stringify(await trayMenu(app))}`);
}

const menuItem = async (app: ElectronApplication, id: string) => (await trayMenu(app))?.find((l) => l.id === id) ?? null;
const statusLine = async (app: ElectronApplication) => (await trayMenu(app))?.[0]?.label ?? null;
const trayIcon = (app: ElectronApplication) => app.evaluate(() => (globalThis as unknown as { dmanE2E: { trayIcon(): { name: string; badge: number | null; tooltip: string } | null } }).dmanE2E.trayIcon());
const notifications = (app: ElectronApplication) => app.evaluate(() => (globalThis as unknown as { dmanE2E: { notifications(): unknown[] } }).dmanE2E.notifications()) as Promise<ShownNotification[]>;
const conflictNotifications = async (app: ElectronApplication) => (await notifications(app)).filter((n) => n.kind === 'conflicts');
const hash = (win: Page) => win.evaluate(() => (globalThis as unknown as { location: { hash: string } }).location.hash);

// ---- the server, asked over HTTP

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Path → text of every live file the server holds for `user`. */
async function serverFiles(url: string, token: string, user: string): Promise<Record<string, string>> {
  const auth = { authorization: `Bearer ${token}` };
  const res = await fetch(`${url}/v1/users/${user}/manifest`, { headers: auth });
  if (res.status !== 200) throw new Error(`GET manifest: HTTP ${res.status} ${await res.text()}`);
  const { entries } = (await res.json()) as { entries: Array<{ path: string; hash: string | null; deleted: boolean }> };
  const out: Record<string, string> = {};
  for (const e of entries.filter((x) => !x.deleted && x.hash)) {
    const b = await fetch(`${url}/v1/users/${user}/blobs/${e.hash}`, { headers: auth });
    const text = await b.text();
    if (sha(text) !== e.hash) throw new Error(`blob of ${e.path} does not match its hash`);
    out[e.path] = text;
  }
  return out;
}

// ---- the wizard, step by step, as the Chromium spec drives it (tests/e2e/fixtures.ts completeWizard)

async function shot(win: Page, info: { outputPath(n: string): string; attach(n: string, o: { path: string; contentType: string }): Promise<void> }, name: string) {
  const path = info.outputPath(`${name}.png`);
  await win.screenshot({ path });
  await info.attach(name, { path, contentType: 'image/png' });
}

test.describe('the Electron tray app', () => {
  test.skip(!bin.path, bin.why);

  let dman: DmanApp | null = null;
  test.beforeEach(() => { assertBuilt(); });
  // eslint-disable-next-line no-empty-pattern
  test.afterEach(async ({}, info) => {
    if (!dman) return;
    if (info.status !== info.expectedStatus) await info.attach('app-output', { body: dman.output(), contentType: 'text/plain' });
    await dman.close();
    dman = null;
  });

  test('the window is locked down: context-isolated, no Node, only window.dman, checked IPC, no navigation or new windows', async ({ tmp }) => {
    dman = await launchDman(bin.path!, tmp);
    const { app, win } = dman;
    await expect(win.getByRole('heading', { name: 'Where is your sync server?' })).toBeVisible({ timeout: 30_000 });

    const surface = await win.evaluate(() => {
      const g = globalThis as unknown as { dman?: Record<string, unknown>; require?: unknown; process?: unknown; module?: unknown; Buffer?: unknown };
      return { keys: Object.keys(g.dman ?? {}).sort(), require: typeof g.require, process: typeof g.process, module: typeof g.module, buffer: typeof g.Buffer };
    });
    // window.dman exists only through contextBridge, which works only with contextIsolation on;
    // no Node global leaks into the page (nodeIntegration off, sandboxed preload).
    expect(surface).toEqual({ keys: [...DMAN_METHOD_NAMES, 'onEvent'].sort(), require: 'undefined', process: 'undefined', module: 'undefined', buffer: 'undefined' });

    // Every IPC call is checked against the contract: bad arguments come back as an error value.
    const bad = await win.evaluate(() => (globalThis as unknown as { dman: { previewTrack(a: unknown, b: unknown): Promise<{ ok: boolean; error?: { code: string } }> } }).dman.previewTrack(42, 'not a list'));
    expect(bad.ok).toBe(false);
    expect(bad.error?.code).toBe('BAD_REQUEST');

    // A strict CSP: the page cannot reach anything but its own files (here: a loopback URL).
    const csp = await win.evaluate(async () => {
      const g = globalThis as unknown as {
        document: { addEventListener(t: 'securitypolicyviolation', f: (e: { violatedDirective: string; blockedURI: string }) => void): void };
        fetch(u: string): Promise<unknown>;
        setTimeout(f: () => void, ms: number): unknown;
      };
      const seen: string[] = [];
      g.document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
      const fetched = await g.fetch('http://127.0.0.1:9/remote').then(() => 'loaded', () => 'refused');
      // The violation event is queued as a task; wait for it (bounded).
      for (let i = 0; i < 100 && !seen.some((v) => v.startsWith('connect-src')); i++) await new Promise<void>((w) => g.setTimeout(w, 20));
      return { fetched, seen };
    });
    expect(csp.fetched).toBe('refused');
    expect(csp.seen).toContain('connect-src http://127.0.0.1:9/remote');

    // No new windows.
    const opened = await win.evaluate(() => (globalThis as unknown as { open(u: string): unknown }).open('http://127.0.0.1:9/popup') === null);
    expect(opened).toBe(true);
    expect(await app.evaluate(({ BrowserWindow }) => BrowserWindow.getAllWindows().length)).toBe(1);

    // No navigation away from the app page: the page asks, main refuses, the document stays.
    const appUrl = win.url();
    expect(appUrl).toMatch(/^file:.*\/renderer\/index\.html#\/setup$/);
    await app.evaluate(({ BrowserWindow }) => {
      const wc = BrowserWindow.getAllWindows()[0]!.webContents;
      const seen: string[] = [];
      (globalThis as Record<string, unknown>).navSeen = seen;
      wc.on('will-navigate', (_e, url) => { seen.push(`will-navigate ${url}`); });
      wc.on('did-navigate', (_e, url) => { seen.push(`did-navigate ${url}`); });
      wc.on('did-fail-load', (_e, _code, _desc, url) => { seen.push(`did-fail-load ${url}`); });
    });
    await win.evaluate(() => {
      const g = globalThis as unknown as { marker: number; location: { href: string } };
      g.marker = 42;
      g.location.href = 'http://127.0.0.1:9/elsewhere';
    });
    const navSeen = () => app.evaluate(() => (globalThis as unknown as { navSeen: string[] }).navSeen);
    await expect.poll(navSeen).toContain('will-navigate http://127.0.0.1:9/elsewhere');
    // A navigation that went through would commit (or fail) right after will-navigate; give it the chance.
    await win.waitForTimeout(1000);
    expect(await navSeen()).toEqual(['will-navigate http://127.0.0.1:9/elsewhere']);
    expect(win.url()).toBe(appUrl);
    expect(await win.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
    await expect(win.getByRole('heading', { name: 'Where is your sync server?' })).toBeVisible();
  });

  test('the wizard hosts the server on disk, syncs, and a real conflict is notified, reviewed and resolved; the tray follows', async ({ tmp }, info) => {
    test.setTimeout(300_000);
    const serverData = join(tmp, 'server-storage');
    await mkdir(join(tmp, 'home'), { recursive: true });
    await writeFiles(join(tmp, 'home'), BASE);
    dman = await launchDman(bin.path!, tmp);
    const { app, win, home, configFile } = dman;

    // The keyring the app keeps the token in (a private GNOME Keyring on Linux).
    const keyring = await app.evaluate(({ safeStorage }) => ({ available: safeStorage.isEncryptionAvailable(), backend: process.platform === 'linux' ? safeStorage.getSelectedStorageBackend() : null }));
    expect(keyring.available).toBe(true);
    if (process.platform === 'linux') expect(keyring.backend).toBe('gnome_libsecret');

    // Before setup the tray offers setup.
    await expect.poll(() => statusLine(app), { timeout: 30_000 }).toBe('dman is not set up yet');
    expect(await menuItem(app, 'run-setup')).toMatchObject({ label: 'Set up dman…', enabled: true });

    // 1. This machine hosts the server.
    await expect(win.getByRole('heading', { name: 'Where is your sync server?' })).toBeVisible({ timeout: 30_000 });
    await expect(win.getByRole('radio', { name: /This machine hosts the server/ })).toBeChecked();
    await shot(win, info, 'electron-wizard-1-server');
    await win.getByRole('button', { name: 'Continue' }).click();

    // 2. Disk storage, in a temp folder.
    await expect(win.getByRole('heading', { name: 'Where should the server keep its data?' })).toBeVisible();
    await expect(win.getByRole('radio', { name: /^Disk/ })).toBeChecked();
    await win.getByLabel('Data folder').fill(serverData);
    await win.getByRole('button', { name: 'Test connection' }).click();
    await expect(win.getByText(/Storage works/)).toBeVisible();
    await shot(win, info, 'electron-wizard-2-storage');
    await win.getByRole('button', { name: 'Start server and continue' }).click();

    // 3. Pairing: a user name and a device token created on the embedded server.
    await expect(win.getByRole('heading', { name: 'Pair this machine' })).toBeVisible({ timeout: 60_000 });
    await win.getByLabel('User name').fill('alice');
    await expect(win.getByLabel('Home folder')).toHaveValue(home);
    await expect(win.getByText(/This machine's server at http:\/\/127\.0\.0\.1:\d+/)).toBeVisible();
    await win.getByRole('button', { name: 'Create device token' }).click();
    await expect(win.getByText(/Created a token for alice on /)).toBeVisible();
    await shot(win, info, 'electron-wizard-3-pairing');
    await win.getByRole('button', { name: 'Continue' }).click();

    // 4. What to track: the live preview lists the real files of the temp home, and follows the groups.
    await expect(win.getByRole('heading', { name: 'What should dman sync?' })).toBeVisible();
    const synced = win.getByRole('list', { name: 'Files that will sync' });
    await expect(synced.getByRole('listitem')).toHaveCount(SYNCED.length);
    for (const p of SYNCED) await expect(synced).toContainText(p);
    const editor = win.getByRole('checkbox', { name: /^editor/ });
    await editor.uncheck();
    await expect(synced.getByRole('listitem')).toHaveCount(SYNCED.length - 1);
    await expect(synced).not.toContainText('.vimrc');
    await editor.check();
    await expect(synced).toContainText('.vimrc');
    const show = win.getByRole('radiogroup', { name: 'Show' });
    await show.getByRole('radio', { name: /Excluded/ }).click();
    const excluded = win.getByRole('list', { name: 'Files left out' });
    await expect(excluded).toContainText('.ssh/id_ed25519');
    await expect(excluded).toContainText('.bash_history');
    await show.getByRole('radio', { name: /Synced/ }).click();
    await expect(synced.getByRole('listitem')).toHaveCount(SYNCED.length);
    await shot(win, info, 'electron-wizard-4-track');
    await win.getByRole('button', { name: 'Continue' }).click();

    // 5. The first-sync plan: four uploads, to confirm.
    await expect(win.getByRole('heading', { name: 'Review the first sync' })).toBeVisible();
    const plan = win.getByRole('list', { name: 'Planned changes' });
    await expect(plan.getByRole('listitem')).toHaveCount(SYNCED.length, { timeout: 30_000 });
    for (const p of SYNCED) await expect(plan).toContainText(`Upload ${p}`);
    await shot(win, info, 'electron-wizard-5-plan');
    await win.getByRole('button', { name: 'Start syncing' }).click();
    const statusHeading = win.getByRole('heading', { name: 'Status', exact: true });
    await expect(statusHeading.or(win.getByRole('alert'))).toBeVisible({ timeout: 60_000 });
    if (!(await statusHeading.isVisible())) throw new Error(`the wizard did not finish: ${await win.getByRole('alert').first().innerText()}`);

    // dman.yaml is valid for the project's own loader, names this home and the hosted server,
    // and holds no token (the app keeps it in the keyring).
    const yamlText = await readFile(configFile, 'utf8');
    const loaded = await loadConfig({ configPath: configFile, env: { HOME: home }, homedir: home, hostname: 'e2e-check' });
    expect(loaded.file).toBe(configFile);
    expect(Object.keys(loaded.config.users)).toEqual(['alice']);
    expect(loaded.config.users.alice!.home).toBe(home);
    expect(loaded.config.server_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(loaded.config.conflict_policy).toBe('ask');
    expect(loaded.config.track).toEqual(expect.arrayContaining(['.bashrc', '.gitconfig', '.ssh/config', '.vimrc']));
    expect(loaded.config.auth_token).toBeUndefined();
    expect(yamlText).not.toMatch(/auth_token/);
    const serverUrl = loaded.config.server_url;

    // The embedded server stores on disk in the folder chosen in step 2.
    expect((await readdir(serverData)).length).toBeGreaterThan(0);

    // A second device token for "machine B", created through the app's own API.
    const created = await win.evaluate(() => (globalThis as unknown as { dman: { createDeviceToken(u: string, d: string): Promise<{ ok: boolean; value?: { token: string }; error?: { message: string } }> } }).dman.createDeviceToken('alice', 'machine-b'));
    if (!created.ok || !created.value) throw new Error(`createDeviceToken failed: ${created.error?.message}`);
    const tokenB = created.value.token;

    // The first sync published exactly the tracked files, byte for byte.
    await expect.poll(async () => serverFiles(serverUrl, tokenB, 'alice'), { timeout: 30_000 })
      .toEqual(Object.fromEntries(SYNCED.map((p) => [p, BASE[p as keyof typeof BASE]])));
    await expect(win.getByRole('article', { name: 'user alice' })).toContainText(String(SYNCED.length));

    // The tray now shows the synced state and the groups chosen in the wizard.
    await expect.poll(() => statusLine(app), { timeout: 30_000 }).toBe('Up to date');
    const groups = await menuItem(app, 'groups');
    expect(groups?.submenu?.map((g) => `${g.label}:${g.checked}`)).toEqual(expect.arrayContaining(['shell:true', 'git:true', 'ssh:true', 'editor:true']));
    expect(await menuItem(app, 'review-conflicts')).toMatchObject({ label: 'Review conflicts… (0)', enabled: false });

    // Machine B: an engine in this process with its own home, state and token, on the app's server.
    const homeB = join(tmp, 'home-b');
    await mkdir(homeB, { recursive: true });
    const cfgB = JSON.stringify({ server_url: serverUrl, auth_token: tokenB, device: 'machine-b', conflict_policy: 'ask', track: loaded.config.track, users: { alice: { home: homeB } } });
    const repB = await lintConfigText(cfgB, { homedir: homeB, env: {}, hostname: 'machine-b' });
    if (!repB.config) throw new Error(`machine B's config is invalid: ${JSON.stringify(repB.problems)}`);
    const b = createEngine({ config: repB.config, log: silentLogger(), stateDir: join(tmp, 'state-b') });
    try {
      await b.sync({ direction: 'both' });
      for (const p of SYNCED) expect(await read(homeB, p)).toBe(BASE[p as keyof typeof BASE]);

      // Pause from the tray: the menu, the icon and the window all say so.
      await clickTray(app, 'pause');
      await expect.poll(() => statusLine(app)).toBe('Syncing is paused');
      expect(await menuItem(app, 'resume')).toMatchObject({ label: 'Resume syncing', enabled: true });
      expect(await menuItem(app, 'pause')).toBeNull();
      expect(await menuItem(app, 'sync-now')).toMatchObject({ enabled: false });
      expect((await trayIcon(app))?.name).toBe('paused');
      await expect(win.getByRole('button', { name: 'Resume syncing' })).toBeVisible();

      // Both machines edit the same two files; B publishes first.
      await writeFiles(home, MINE);
      await writeFiles(homeB, THEIRS);
      const rb = await b.sync({ direction: 'both' });
      expect(rb.users[0]!.counts.published).toBe(2);

      // Resume from the tray, then "Sync now" in the window.
      await clickTray(app, 'resume');
      await expect.poll(async () => (await menuItem(app, 'pause'))?.label).toBe('Pause syncing');
      await expect(win.getByRole('button', { name: 'Pause syncing' })).toBeVisible();
      await win.getByRole('button', { name: 'Sync now' }).click();
      await expect(win.getByText(/^Synced in \d+ ms: /)).toBeVisible({ timeout: 30_000 });

      // The tray counts the conflicts and its icon says so.
      await expect.poll(() => statusLine(app), { timeout: 30_000 }).toBe('2 conflicts to review');
      expect(await menuItem(app, 'review-conflicts')).toMatchObject({ label: 'Review conflicts… (2)', enabled: true });
      expect(await trayIcon(app)).toMatchObject({ name: 'conflicts', badge: 2, tooltip: 'dman: 2 conflicts to review' });

      // One notification for the batch, not one per file.
      await expect.poll(async () => (await conflictNotifications(app)).length, { timeout: 15_000 }).toBe(1);
      const [note] = await conflictNotifications(app);
      expect(note!.title).toBe('2 files changed on two machines');
      expect(note!.body).toContain('.bashrc');
      expect(note!.body).toContain('.gitconfig');
      expect(note!.target).toMatchObject({ view: 'review', user: 'alice' });
      expect(['.bashrc', '.gitconfig']).toContain(note!.target.path);

      // The tray's "Review conflicts…" opens the review; the notification's click opens it at its file.
      await clickTray(app, 'review-conflicts');
      await expect.poll(() => hash(win)).toBe('#/conflicts');
      await expect(win.getByRole('heading', { name: 'Conflicts', exact: true })).toBeVisible();
      expect(await app.evaluate((_e, i) => (globalThis as unknown as { dmanE2E: { click(i: number): boolean } }).dmanE2E.click(i), 0)).toBe(true);
      await expect.poll(() => hash(win)).toBe(`#/conflicts?${new URLSearchParams({ user: 'alice', path: note!.target.path! }).toString()}`);
      await expect(win.locator('#conflict-h')).toHaveText(note!.target.path!);
      const list = win.getByRole('list', { name: 'Conflicts' });
      await expect(list.getByRole('link')).toHaveCount(2);
      await expect(list.getByRole('link', { name: /\.bashrc/ })).toContainText('vs machine-b');

      // .bashrc: the side-by-side diff shows both machines' lines (and the base), then keep mine.
      await list.getByRole('link', { name: /\.bashrc/ }).click();
      await expect(win.locator('#conflict-h')).toHaveText('.bashrc');
      const diff = win.getByTestId('diff');
      await expect(diff).toContainText('ls -la');
      await expect(diff).toContainText('ls -lh');
      await expect(diff).toContainText('Mine (this machine)');
      await expect(diff).toContainText('Server\'s (from machine-b)');
      await shot(win, info, 'electron-review');
      await win.getByRole('radio', { name: 'Base → server\'s' }).click();
      await expect(diff).toContainText('ls -l"');
      await win.getByRole('radio', { name: 'Mine ↔ server\'s' }).click();
      await win.getByRole('button', { name: 'Keep mine' }).click();
      await expect(win.getByText('.bashrc: kept your version.')).toBeVisible();
      await expect(list.getByRole('link')).toHaveCount(1);
      await expect.poll(async () => (await menuItem(app, 'review-conflicts'))?.label).toBe('Review conflicts… (1)');

      // .gitconfig: keep the server's (machine B's) version.
      await list.getByRole('link', { name: /\.gitconfig/ }).click();
      await expect(win.locator('#conflict-h')).toHaveText('.gitconfig');
      await expect(diff).toContainText('Alice A');
      await expect(diff).toContainText('Alice B');
      await win.getByRole('button', { name: 'Keep server\'s' }).click();
      await expect(win.getByText('.gitconfig: kept the server\'s version.')).toBeVisible();
      await expect(win.getByText('All clear')).toBeVisible();

      // On this machine's disk and on the server.
      expect(await read(home, '.bashrc')).toBe(MINE['.bashrc']);
      expect(await read(home, '.gitconfig')).toBe(THEIRS['.gitconfig']);
      await expect.poll(async () => {
        const f = await serverFiles(serverUrl, tokenB, 'alice');
        return { bashrc: f['.bashrc'], gitconfig: f['.gitconfig'] };
      }, { timeout: 30_000 }).toEqual({ bashrc: MINE['.bashrc'], gitconfig: THEIRS['.gitconfig'] });

      // Machine B converges on the resolutions.
      await b.sync({ direction: 'both' });
      expect(await read(homeB, '.bashrc')).toBe(MINE['.bashrc']);
      expect(await read(homeB, '.gitconfig')).toBe(THEIRS['.gitconfig']);

      // The tray is back to normal, and over the whole run the user was notified once: the batch.
      await expect.poll(() => statusLine(app), { timeout: 30_000 }).toBe('Up to date');
      expect(await menuItem(app, 'review-conflicts')).toMatchObject({ label: 'Review conflicts… (0)', enabled: false });
      expect((await trayIcon(app))?.name).toBe('in-sync');
      expect((await notifications(app)).filter((n) => n.kind !== 'info')).toEqual([note]);
    } finally {
      await b.close();
    }
  });
});
