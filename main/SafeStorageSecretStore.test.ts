import { describe, expect, it } from 'vitest';
import { createSafeStorageSecretStore, type KeyValue, type SafeStorageLike } from './SafeStorageSecretStore.js';

const URL = 'http://127.0.0.1:3626';

function fakes(available: boolean, backend = 'gnome_libsecret') {
  const data = new Map<string, unknown>();
  const store: KeyValue = { get: (k) => data.get(k), set: (k, v) => { data.set(k, v); }, delete: (k) => { data.delete(k); } };
  // Reversible but not plain: enough to prove the plain token never reaches the store.
  const safeStorage: SafeStorageLike = {
    isEncryptionAvailable: () => available,
    encryptString: (s) => Buffer.from([...Buffer.from(s)].map((b) => b ^ 0x5a)),
    decryptString: (b) => Buffer.from([...b].map((x) => x ^ 0x5a)).toString(),
    getSelectedStorageBackend: () => backend,
  };
  return { data, store, safeStorage };
}

describe('SafeStorageSecretStore', () => {
  it('keeps the token encrypted and reads it back', async () => {
    const f = fakes(true);
    const s = createSafeStorageSecretStore({ safeStorage: f.safeStorage, store: f.store, platform: 'linux' });
    await s.setToken(URL, 'dman_secret');
    expect(JSON.stringify([...f.data.values()])).not.toContain('dman_secret');
    await expect(s.getToken(URL)).resolves.toBe('dman_secret');
  });

  it('refuses to store the token when there is no keyring, and says so', async () => {
    for (const [available, backend, platform] of [[false, 'unknown', 'darwin'], [true, 'basic_text', 'linux']] as const) {
      const f = fakes(available, backend);
      const s = createSafeStorageSecretStore({ safeStorage: f.safeStorage, store: f.store, platform });
      const err = await s.setToken(URL, 'dman_secret').then(() => null, (e: unknown) => e as { code: string; message: string; hint: string });
      expect(err).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('will not store the device token') });
      // `dman login` keeps the token in the keychain or a 0600 credentials file, never in dman.yaml.
      expect(err!.hint).toContain('dman login');
      expect(err!.hint).not.toContain('dman.yaml');
      expect(f.data.size).toBe(0);
      await expect(s.getToken(URL)).resolves.toBeNull();
    }
  });
});
