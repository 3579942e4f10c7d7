// The agent's SecretStore: the token `dman login` stored for the server (keychain or 0600
// credentials file), so the agent and the CLI use the same token with the same precedence.
import type { SecretStore } from '../../engine/api/appSettings.js';
import type { Logger } from '../../engine/log.js';
import type { CredentialStore } from '../credentials.js';

/** Options of createLoginSecretStore. */
export interface LoginSecretStoreOptions {
  /** The `dman login` store (createCredentialStore); opened on first use. */
  credentials: () => Promise<CredentialStore>;
  log: Logger;
  now?: () => number;
}

/**
 * Creates a SecretStore over `dman login`'s credential store. It only mirrors a login made
 * elsewhere: a token saved in the app updates an existing login for that server (so a stale
 * login cannot shadow it) and otherwise goes to dman.yaml as before (holdsToken: false).
 */
export function createLoginSecretStore(opts: LoginSecretStoreOptions): SecretStore {
  let opened: Promise<CredentialStore> | null = null;
  const store = () => (opened ??= opts.credentials());
  const now = opts.now ?? Date.now;
  return {
    holdsToken: false,
    async getToken(serverUrl) {
      return (await (await store()).get(serverUrl))?.token ?? null;
    },
    async setToken(serverUrl, token) {
      const s = await store();
      const login = await s.get(serverUrl);
      if (!login) return;
      await s.set(serverUrl, { ...login, token, savedAt: now() });
      opts.log.info({ url: serverUrl, where: s.where }, 'stored login updated with the new token');
    },
  };
}
