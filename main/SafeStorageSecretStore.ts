// The device token in the OS keyring through Electron's safeStorage. Where the OS offers no
// keyring (Linux without GNOME Keyring/KWallet: the "basic_text" backend), safeStorage would
// only obfuscate, so we refuse to store the token and say what to do instead. The app talks to
// one server at a time, so one token is kept whatever the server URL.
import type { SecretStore } from '../engine/api/appSettings.js';
import { DmanError } from '../shared/errors.js';

/** The part of Electron's safeStorage we use. */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
  getSelectedStorageBackend?(): string;
}

/** A key-value store for the encrypted blob (electron-store in the app). */
export interface KeyValue {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

const KEY = 'deviceTokenEncrypted';

/** Says why the token cannot be stored safely here, or null when it can. */
export function keyringProblem(safe: SafeStorageLike, platform: string): string | null {
  if (!safe.isEncryptionAvailable()) return 'this system offers no keyring to encrypt the token';
  if (platform === 'linux' && safe.getSelectedStorageBackend?.() === 'basic_text') return 'no keyring is running (GNOME Keyring or KWallet), so the token would be kept in plain text';
  return null;
}

/** Creates the SecretStore over safeStorage. */
export function createSafeStorageSecretStore(opts: { safeStorage: SafeStorageLike; store: KeyValue; platform: string }): SecretStore {
  return {
    async getToken() {
      const b64 = opts.store.get(KEY);
      if (typeof b64 !== 'string' || keyringProblem(opts.safeStorage, opts.platform)) return null;
      try { return opts.safeStorage.decryptString(Buffer.from(b64, 'base64')); } catch { return null; }
    },
    async setToken(_serverUrl, token) {
      const problem = keyringProblem(opts.safeStorage, opts.platform);
      if (problem) {
        throw new DmanError('FORBIDDEN', `dman will not store the device token: ${problem}`, {
          hint: 'start or unlock your keyring (GNOME Keyring, KWallet) and try again, or run `dman login` in a terminal, which keeps the token in the system keychain or, without one, in a credentials file only you can read (mode 0600)',
        });
      }
      opts.store.set(KEY, opts.safeStorage.encryptString(token).toString('base64'));
    },
  };
}
