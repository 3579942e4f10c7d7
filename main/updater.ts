// Auto-update of the desktop app through electron-updater, kept apart from the rest of main/ so it
// runs in plain Node with a fake updater in tests. electron-updater does the downloading and the
// signature checks (see docs/release.md, "What an update verifies"); this module decides *whether*
// to update at all: never in a dev build, never in a build that was not signed (an unsigned
// Windows build has no publisherName, so electron-updater would accept any installer), never when
// the user turned it off. It checks on start and every few hours, downloads in the background and
// installs on quit, or at once when the user clicks "Restart to update".
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppUpdater } from 'electron-updater';
import type { Logger } from '../engine/log.js';

/** The marker that `build/afterPack.cjs` writes into the packaged app's resources folder. */
export const BUILD_MARKER = 'dman-build.json';

/** What the packager knew about this build: was it signed, may it update itself. */
export interface BuildMarker {
  /** The installers were code-signed (macOS Developer ID, Windows Authenticode). */
  signed: boolean;
  /** This build may replace itself from the release feed. */
  updatable: boolean;
  platform: string;
  /** Why it may not update (shown in logs and the About box). */
  reason?: string;
}

/** The part of electron-updater's AppUpdater this module drives (the real one is assignable). */
export interface UpdaterPort {
  autoDownload: boolean;
  autoInstallOnAppQuit: boolean;
  allowDowngrade: boolean;
  allowPrerelease: boolean;
  checkForUpdates(): Promise<unknown>;
  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean): void;
  on(event: 'error', listener: (err: Error, message?: string) => void): unknown;
  on(event: 'checking-for-update', listener: () => void): unknown;
  on(event: 'update-not-available' | 'update-available' | 'update-downloaded', listener: (info: { version: string }) => void): unknown;
  on(event: 'download-progress', listener: (p: { percent: number }) => void): unknown;
  removeAllListeners(event?: string): unknown;
}

/** Timers, injected so tests drive time by hand. */
export interface UpdaterTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  now(): number;
}

/** Tells the user about an update that is ready (a notification with "Restart to update"). */
export interface UpdateNotifier {
  updateReady(info: { version: string }): void;
}

export type UpdateState = 'disabled' | 'idle' | 'checking' | 'downloading' | 'downloaded' | 'error';

/** What the updater is doing, for the tray menu and the settings page. */
export interface UpdateStatus {
  state: UpdateState;
  /** Why updates are off (dev build, unsigned build, turned off by the user). */
  reason?: string;
  /** The version found on the feed (downloading or downloaded). */
  version?: string;
  percent?: number;
  lastCheckAt?: number;
  error?: string;
}

export interface UpdaterOptions {
  /** electron-updater's `autoUpdater` (import it only in main.ts: it needs Electron). */
  autoUpdater: UpdaterPort;
  /** Electron's `app` facts. */
  app: { isPackaged: boolean; getVersion(): string };
  /** What the packager wrote (readBuildMarker); null when the marker is missing (a dev build). */
  build: BuildMarker | null;
  /** The user's setting, read on every check so turning it off takes effect at once. */
  settings: { isAutoUpdateEnabled(): boolean };
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  notifier: UpdateNotifier;
  timers?: UpdaterTimers;
  /** How often to check; default 4 hours. */
  intervalMs?: number;
  onStatus?: (s: UpdateStatus) => void;
}

/** The updater that main.ts starts once the app is ready. */
export interface Updater {
  /** Checks now and then every intervalMs, unless updates are off; returns the status. */
  start(): UpdateStatus;
  /** Re-reads the setting after the user changed it: starts or stops the periodic checks. */
  applySettings(): UpdateStatus;
  /** Checks now (the "Check for updates" menu item); ignores the setting, not the build gate. */
  checkNow(): Promise<UpdateStatus>;
  /** Quits and installs a downloaded update (the notification's "Restart to update"). */
  installNow(): boolean;
  status(): UpdateStatus;
  /** Stops the periodic checks and drops the listeners (on quit). */
  stop(): void;
}

const HOURS = 3_600_000;

const realTimers: UpdaterTimers = {
  setInterval: (fn, ms) => {
    const h = setInterval(fn, ms);
    h.unref?.();
    return h;
  },
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
  now: () => Date.now(),
};

/** Decides whether this build may update itself, and if not, why (null means it may). */
export function buildGate(app: { isPackaged: boolean }, build: BuildMarker | null): string | null {
  if (!app.isPackaged) return 'a development build (not packaged) never updates itself';
  if (!build) return `the packaged app has no ${BUILD_MARKER}: built outside electron-builder's hooks, so its signature is unknown`;
  if (!build.updatable) return build.reason ?? 'this build was not signed, so it never updates itself';
  return null;
}

/** Reads the build marker from the app's resources folder (`process.resourcesPath`); null when absent or unreadable. */
export async function readBuildMarker(resourcesPath: string): Promise<BuildMarker | null> {
  try {
    const raw = JSON.parse(await readFile(join(resourcesPath, BUILD_MARKER), 'utf8')) as Partial<BuildMarker>;
    if (typeof raw.signed !== 'boolean' || typeof raw.updatable !== 'boolean') return null;
    return { signed: raw.signed, updatable: raw.updatable, platform: String(raw.platform ?? ''), reason: typeof raw.reason === 'string' ? raw.reason : undefined };
  } catch {
    return null;
  }
}

/** Creates the auto-updater; nothing happens until start(). */
export function createUpdater(opts: UpdaterOptions): Updater {
  const { autoUpdater, app, build, settings, log, notifier } = opts;
  const timers = opts.timers ?? realTimers;
  const intervalMs = opts.intervalMs ?? 4 * HOURS;
  const gate = buildGate(app, build);
  let current: UpdateStatus = { state: 'disabled', reason: gate ?? 'not started' };
  let timer: unknown = null;
  let wired = false;
  let inFlight: Promise<UpdateStatus> | null = null;
  let notifiedVersion: string | null = null;

  const set = (next: UpdateStatus) => {
    current = next;
    opts.onStatus?.({ ...next });
  };

  const wire = () => {
    if (wired) return;
    wired = true;
    // Background download, install on quit; never go back to an older version from the feed.
    autoUpdater.autoDownload = true;
    autoUpdater.autoInstallOnAppQuit = true;
    autoUpdater.allowDowngrade = false;
    autoUpdater.allowPrerelease = false;
    autoUpdater.on('checking-for-update', () => set({ ...current, state: 'checking', error: undefined }));
    autoUpdater.on('update-not-available', () => set({ state: 'idle', lastCheckAt: timers.now() }));
    autoUpdater.on('update-available', (info) => {
      log.info({ version: info.version, running: app.getVersion() }, 'update available, downloading');
      set({ state: 'downloading', version: info.version, percent: 0, lastCheckAt: timers.now() });
    });
    autoUpdater.on('download-progress', (p) => {
      if (current.state === 'downloading') set({ ...current, percent: Math.round(p.percent) });
    });
    autoUpdater.on('update-downloaded', (info) => {
      log.info({ version: info.version }, 'update downloaded and verified; installs on quit');
      set({ state: 'downloaded', version: info.version, lastCheckAt: timers.now() });
      if (notifiedVersion !== info.version) {
        notifiedVersion = info.version;
        notifier.updateReady({ version: info.version });
      }
    });
    // A failed signature check arrives here too: the download is discarded by electron-updater.
    autoUpdater.on('error', (err) => {
      log.warn({ err: { message: err.message } }, 'update check or download failed');
      if (current.state !== 'downloaded') set({ ...current, state: 'error', error: err.message });
    });
  };

  const check = (): Promise<UpdateStatus> => {
    if (gate) return Promise.resolve(current);
    if (current.state === 'downloaded') return Promise.resolve(current); // nothing newer until it installs
    if (current.state === 'downloading') return Promise.resolve(current); // one download at a time
    if (inFlight) return inFlight;
    wire();
    inFlight = (async () => {
      try {
        set({ ...current, state: 'checking', error: undefined });
        await autoUpdater.checkForUpdates();
      } catch (err) {
        // Offline or the feed is down: log and try again at the next tick.
        const message = err instanceof Error ? err.message : String(err);
        log.warn({ err: { message } }, 'update check failed');
        if (current.state !== 'downloaded') set({ ...current, state: 'error', error: message, lastCheckAt: timers.now() });
      } finally {
        inFlight = null;
      }
      if (current.state === 'checking') set({ state: 'idle', lastCheckAt: timers.now() });
      return current;
    })();
    return inFlight;
  };

  const stopTimer = () => {
    if (timer !== null) timers.clearInterval(timer);
    timer = null;
  };

  const applySettings = (): UpdateStatus => {
    if (gate) {
      set({ state: 'disabled', reason: gate });
      return current;
    }
    if (!settings.isAutoUpdateEnabled()) {
      stopTimer();
      if (current.state !== 'downloaded') set({ state: 'disabled', reason: 'automatic updates are turned off in Settings' });
      return current;
    }
    if (timer === null) {
      timer = timers.setInterval(() => {
        if (settings.isAutoUpdateEnabled()) void check();
      }, intervalMs);
      if (current.state === 'disabled') set({ state: 'idle' });
      void check();
    }
    return current;
  };

  return {
    start() {
      if (gate) log.info({ reason: gate }, 'automatic updates off');
      return applySettings();
    },
    applySettings,
    checkNow: check,
    installNow() {
      if (current.state !== 'downloaded') return false;
      // isSilent=false shows the Windows installer's progress; isForceRunAfter=true restarts the app.
      autoUpdater.quitAndInstall(false, true);
      return true;
    },
    status: () => ({ ...current }),
    stop() {
      stopTimer();
      if (wired) {
        for (const e of ['checking-for-update', 'update-not-available', 'update-available', 'download-progress', 'update-downloaded', 'error']) autoUpdater.removeAllListeners(e);
        wired = false;
      }
    },
  };
}

/** Compile-time proof that electron-updater's real AppUpdater fits the port. */
export type AppUpdaterFitsPort = AppUpdater extends UpdaterPort ? true : never;
