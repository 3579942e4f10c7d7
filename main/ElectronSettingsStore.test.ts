import { describe, expect, it } from 'vitest';
import { createElectronSettingsStore, isAutoUpdateEnabled, type StoreLike } from './ElectronSettingsStore.js';

function memoryStore(): StoreLike & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  return { data, get: (k) => data.get(k), set: (k, v) => { data.set(k, v); } };
}

describe('ElectronSettingsStore', () => {
  it('keeps autoUpdate, which the updater reads synchronously (default on)', async () => {
    const store = memoryStore();
    const settings = createElectronSettingsStore(store);
    expect(isAutoUpdateEnabled(store)).toBe(true);
    await settings.save({ ...(await settings.load()), autoUpdate: false });
    expect(isAutoUpdateEnabled(store)).toBe(false);
    expect((await settings.load()).autoUpdate).toBe(false);
  });

  it('reads a damaged value as the defaults', async () => {
    const store = memoryStore();
    store.set('app', { autoUpdate: 'maybe' });
    expect(isAutoUpdateEnabled(store)).toBe(true);
    expect((await createElectronSettingsStore(store).load()).paused).toBe(false);
  });
});
