// The app settings in electron-store (atomic JSON in the app's userData), behind SettingsStore.
import { appSettingsSchema, type AppSettings, type SettingsStore } from '../engine/api/appSettings.js';

/** The part of electron-store we use. */
export interface StoreLike {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

/** Reads the autoUpdate setting synchronously (the updater asks on every check); default on. */
export function isAutoUpdateEnabled(store: StoreLike): boolean {
  const r = appSettingsSchema().safeParse(store.get('app') ?? {});
  return r.success ? r.data.autoUpdate : true;
}

/** Wraps an electron-store instance; a corrupt value reads as the defaults, never crashes the app. */
export function createElectronSettingsStore(store: StoreLike): SettingsStore {
  return {
    async load(): Promise<AppSettings> {
      const r = appSettingsSchema().safeParse(store.get('app') ?? {});
      return r.success ? r.data : appSettingsSchema().parse({});
    },
    async save(s: AppSettings) { store.set('app', appSettingsSchema().parse(s)); },
  };
}
