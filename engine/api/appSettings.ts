// The app's own settings (not dman.yaml): whether this machine hosts the server, pause state,
// groups switched off here, start at login. The agent keeps them in a JSON file; the tray app
// in electron-store. Both sit behind the SettingsStore port.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { lazySchema } from '../../shared/lazySchema.js';
import { writeFileAtomic } from '../fs/atomic.js';

/** The settings' schema, built on first use (shared/lazySchema.ts): the CLI loads this module on every start, only the agent and the app read settings. */
export const appSettingsSchema = lazySchema(() => z.object({
  hostsServer: z.boolean().default(false),
  paused: z.boolean().default(false),
  /** Groups switched off on this machine (their files are left alone here). */
  disabledGroups: z.array(z.string()).default([]),
  startAtLogin: z.boolean().default(false),
  /** The tray app checks for, downloads and installs updates (main/updater.ts). */
  autoUpdate: z.boolean().default(true),
}));
export type AppSettings = z.infer<ReturnType<typeof appSettingsSchema>>;

/** Where the app settings live. */
export interface SettingsStore {
  load(): Promise<AppSettings>;
  save(s: AppSettings): Promise<void>;
}

/** Keeps the settings in a JSON file, written atomically; an unreadable file means defaults. */
export function createJsonSettingsStore(file: string): SettingsStore {
  return {
    async load() {
      try { return appSettingsSchema().parse(JSON.parse(await readFile(file, 'utf8'))); } catch { return appSettingsSchema().parse({}); }
    },
    async save(s) { await writeFileAtomic(file, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 }); },
  };
}

/** Keeps the settings in memory (tests). */
export function createMemorySettingsStore(initial: Partial<AppSettings> = {}): SettingsStore & { current: AppSettings } {
  const store = {
    current: appSettingsSchema().parse(initial),
    async load() { return store.current; },
    async save(s: AppSettings) { store.current = s; },
  };
  return store;
}

/** Where the device token lives when it must not sit in dman.yaml (the tray app: the OS keyring). */
export interface SecretStore {
  /** The token kept for this server, or null. */
  getToken(serverUrl: string): Promise<string | null>;
  /** Throws DmanError when the token cannot be stored safely (no keyring). */
  setToken(serverUrl: string, token: string): Promise<void>;
  /**
   * False when the store only mirrors a login made elsewhere (the agent over `dman login`): the
   * app then also writes the token to dman.yaml (mode 0600). Default true: dman.yaml gets none.
   */
  readonly holdsToken?: boolean;
}
