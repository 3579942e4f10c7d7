// The Electron main process: the desktop composition root. It wires the engine's DmanApi
// (engine/api) to a locked-down window, the tray, notifications and the embedded server; every
// decision lives in a pure module next to this file (trayMenu, notifications, ipc, …).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, ipcMain, Menu, nativeImage, Notification, safeStorage, session, shell, Tray } from 'electron';
import Store from 'electron-store';
import electronUpdater from 'electron-updater';
import type { AppState } from '../shared/api.js';
import { createDmanApi } from '../engine/api/createDmanApi.js';
import { createEmbeddedServer } from '../engine/api/createEmbeddedServer.js';
import { createMetricsEndpoint, parseMetricsAddr, type MetricsEndpoint } from '../engine/api/createMetricsEndpoint.js';
import { createClientMetrics } from '../engine/metrics/createClientMetrics.js';
import { createLogger } from '../engine/log.js';
import { createWatcher } from '../engine/watch/createWatcher.js';
import { e2eEnabled, e2eUserDataDir, installE2EHooks } from './e2eHooks.js';
import { createElectronEngineNotifier, createElectronNotifier } from './ElectronNotifier.js';
import { createElectronSettingsStore, isAutoUpdateEnabled } from './ElectronSettingsStore.js';
import { forwardEvents, registerIpc } from './ipc.js';
import { createNotificationBatcher, type NotificationModel } from './notifications.js';
import { createSafeStorageSecretStore } from './SafeStorageSecretStore.js';
import { buildTrayMenu, chooseTrayIcon, toMenuTemplate, type TrayAction, type TrayIconChoice } from './trayMenu.js';
import { buildGate, createUpdater, readBuildMarker, type Updater } from './updater.js';

const here = import.meta.dirname;
const rendererIndex = join(here, 'renderer', 'index.html');
const appUrl = pathToFileURL(rendererIndex).href;
const isE2E = e2eEnabled(process.env);
// e2e only (DMAN_E2E=1): a temp Chromium profile, so a test never touches (or locks) the real one.
const e2eProfile = e2eUserDataDir(process.env);
if (e2eProfile) app.setPath('userData', e2eProfile);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  void run();
}

async function run(): Promise<void> {
  const dataDir = process.env.DMAN_DATA_DIR ?? app.getPath('userData');
  const log = createLogger({ level: process.env.DMAN_LOG_LEVEL ?? 'info', format: 'json', base: { proc: 'app' } });
  const store = new Store<Record<string, unknown>>({ name: 'settings', cwd: dataDir });
  // electron-builder packs build/icons/tray/** into app.asar, and nativeImage reads from asar paths.
  const iconDir = join(app.getAppPath(), 'build', 'icons', 'tray');
  const cli = join(app.getAppPath(), 'bin', 'dman.js');

  let openRoute: (route: string) => void = () => {};
  const shownNotifications: NotificationModel[] = [];
  const showNotification = createElectronNotifier({ Notification, open: (route) => openRoute(route), onShown: (n) => { shownNotifications.push(n); } });

  // Created once the app is ready (below); the API and the tray reach it through this variable.
  let updater: Updater | null = null;
  const build = await readBuildMarker(process.resourcesPath).catch(() => null);
  const api = createDmanApi({
    log,
    dataDir,
    // The Settings checkbox "Update dman automatically" shows only where this build can update itself.
    updates: { supported: () => buildGate(app, build) === null, applySettings: () => { updater?.applySettings(); renderTray(); } },
    settings: createElectronSettingsStore(store),
    secrets: createSafeStorageSecretStore({ safeStorage, store, platform: process.platform }),
    // Electron's own Node runs the CLI bundle (no separate node binary on users' machines).
    server: existsSync(cli) ? createEmbeddedServer({ dataDir, command: [process.execPath, cli], env: { ELECTRON_RUN_AS_NODE: '1' }, log }) : undefined,
    loginItem: { get: () => app.getLoginItemSettings().openAtLogin, set: (v) => app.setLoginItemSettings({ openAtLogin: v }) },
    engineDeps: { watcher: createWatcher({ log }), notifier: createElectronEngineNotifier({ show: showNotification, now: () => Date.now() }) },
  });

  // The same client metrics as `dman agent`; served only when DMAN_METRICS_ADDR asks (loopback only).
  const clientMetrics = createClientMetrics({ engine: api.engineView });
  let metricsEndpoint: MetricsEndpoint | null = null;

  let win: BrowserWindow | null = null;
  let tray: Tray | null = null;
  let quitting = false;
  let state: AppState | null = null;
  let trayMenu: Menu | null = null;
  let trayIcon: TrayIconChoice | null = null;

  const openWindow = (route = '#/status') => {
    if (win && !win.isDestroyed()) {
      void win.webContents.executeJavaScript(`window.location.hash = ${JSON.stringify(route)}`);
      win.show();
      win.focus();
      return;
    }
    win = new BrowserWindow({
      width: 1120, height: 780, minWidth: 720, minHeight: 520, show: false, title: 'dman',
      backgroundColor: '#f5f6f8',
      webPreferences: {
        preload: join(here, 'preload.cjs'),
        contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true,
        allowRunningInsecureContent: false, spellcheck: false, devTools: !app.isPackaged,
      },
    });
    win.once('ready-to-show', () => win?.show());
    win.on('close', (e) => { if (!quitting) { e.preventDefault(); win?.hide(); } });
    win.on('closed', () => { win = null; });
    void win.loadFile(rendererIndex, { hash: route.replace(/^#/, '') });
  };
  openRoute = openWindow;

  // Security: no navigation away from the app page, no new windows, no permissions, no remote content.
  app.on('web-contents-created', (_e, contents) => {
    contents.on('will-navigate', (e, url) => { if (new URL(url).pathname !== new URL(appUrl).pathname) e.preventDefault(); });
    contents.setWindowOpenHandler(({ url }) => {
      if (/^https:\/\//.test(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
    contents.on('will-attach-webview', (e) => e.preventDefault());
  });

  const onTray = async (a: TrayAction) => {
    switch (a.type) {
      case 'sync-now': await api.syncNow(); break;
      case 'set-paused': await api.setPaused(a.paused); break;
      case 'toggle-group': await api.setGroupEnabled(a.group, a.enabled); break;
      case 'review-conflicts': openWindow('#/conflicts'); break;
      case 'open': openWindow('#/status'); break;
      case 'run-setup': openWindow('#/setup'); break;
      case 'set-start-at-login': await api.updateSettings({ startAtLogin: a.enabled }); renderTray(); break;
      case 'check-updates': await updater?.checkNow(); renderTray(); break;
      case 'quit': quitting = true; app.quit(); break;
    }
  };

  const renderTray = () => {
    if (!tray || !state) return;
    const icon = chooseTrayIcon(state, process.platform);
    trayIcon = icon;
    const img = nativeImage.createFromPath(join(iconDir, icon.file));
    if (icon.template) img.setTemplateImage(true);
    tray.setImage(img);
    tray.setToolTip(icon.tooltip);
    if (process.platform === 'darwin') tray.setTitle(icon.badge ? String(icon.badge) : '');
    const update = updater && buildGate(app, build) === null ? updater.status() : undefined;
    const menu = buildTrayMenu(state, { startAtLogin: app.getLoginItemSettings().openAtLogin, now: Date.now(), ...(update ? { update } : {}) });
    trayMenu = Menu.buildFromTemplate(toMenuTemplate(menu, (act) => { void onTray(act); }));
    tray.setContextMenu(trayMenu);
  };

  const batcher = createNotificationBatcher({
    show: showNotification,
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout), now: () => Date.now() },
  });

  // Seams for tests/e2e/electron.spec.ts, on the main process only and only with DMAN_E2E=1.
  installE2EHooks(process.env, globalThis as Record<string, unknown>, {
    notifications: () => shownNotifications,
    open: (route) => openWindow(route),
    trayMenu: () => trayMenu,
    trayIcon: () => trayIcon,
  });

  await app.whenReady();
  if (process.platform === 'darwin') app.dock?.hide();
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
  session.defaultSession.webRequest.onBeforeRequest((details, cb) => {
    // Only the app's own files (and devtools in dev builds): no remote content, ever.
    cb({ cancel: !/^(file|devtools|data|blob):/.test(details.url) });
  });

  registerIpc({ ipcMain, api, appUrl, log: log.child({ mod: 'ipc' }) });
  forwardEvents(api, () => (win && !win.isDestroyed() ? win.webContents : null));
  api.onEvent((e) => {
    if (e.type === 'state') { state = e.state; batcher.state(e.state); renderTray(); }
    if (e.type === 'conflicts') batcher.conflicts(e.conflicts);
  });

  tray = new Tray(nativeImage.createFromPath(join(iconDir, process.platform === 'darwin' ? 'setupTemplate.png' : 'setup.png')));
  tray.on('click', () => openWindow());

  // Before api.start(), which may wait seconds for the embedded server: a quit (or the OS's
  // SIGTERM) meanwhile must still stop it, or its `dman serve` outlives the app.
  app.on('before-quit', (e) => {
    if (quitting === true && (globalThis as Record<string, unknown>).dmanClosed) return;
    quitting = true;
    e.preventDefault();
    updater?.stop();
    batcher.dispose();
    clientMetrics.close();
    void (metricsEndpoint?.close() ?? Promise.resolve()).then(() => api.close()).finally(() => { (globalThis as Record<string, unknown>).dmanClosed = true; app.quit(); });
  });

  await api.start();
  try {
    const addr = parseMetricsAddr(process.env.DMAN_METRICS_ADDR);
    if (addr) metricsEndpoint = await createMetricsEndpoint({ metrics: clientMetrics, addr, log, ...(process.env.DMAN_METRICS_TOKEN ? { token: process.env.DMAN_METRICS_TOKEN } : {}) });
  } catch (err) {
    // A bad metrics setting must not keep dman from syncing: say so in the log and go on.
    log.error({ err: (err as Error).message }, 'client metrics not served');
  }
  const first = await api.getState();
  if (first.ok) { state = first.value; renderTray(); }
  if (!first.ok || !first.value.configured || isE2E) openWindow(first.ok && first.value.configured ? '#/status' : '#/setup');

  updater = createUpdater({
    autoUpdater: electronUpdater.autoUpdater,
    app,
    build,
    // The same app settings the Settings view writes (updateSettings({ autoUpdate })).
    settings: { isAutoUpdateEnabled: () => isAutoUpdateEnabled(store) },
    log: log.child({ mod: 'updater' }),
    notifier: { updateReady: ({ version }) => { new Notification({ title: 'dman update ready', body: `Version ${version} installs when you quit dman.` }).show(); } },
    onStatus: () => renderTray(),
  });
  updater.start();
  renderTray();

  app.on('second-instance', () => openWindow());
  app.on('window-all-closed', () => { /* a tray app keeps running */ });
}
