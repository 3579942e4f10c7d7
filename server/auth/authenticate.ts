// Turns an Authorization header into a principal: a device token (one user), an admin token,
// or the config's shared `auth_token` (admin, kept for the seed's clients).
import { DmanError } from '../../shared/errors.js';
import type { Store } from '../store/Store.js';
import { hashToken, safeEqual } from './tokens.js';

/** Who made a request. */
export interface Principal {
  /** The user a device token is scoped to; null for admin tokens. */
  user: string | null;
  admin: boolean;
  device: string | null;
  /** Store id of the token; 'config' for the shared auth_token. */
  tokenId: string;
}

export interface AuthenticatorOptions {
  store: Store;
  /** The config's shared admin token (the seed's single token). */
  authToken?: string;
  now?: () => number;
}

/** Creates the function that resolves a bearer token to a principal (or throws AUTH_REQUIRED / AUTH_INVALID). */
export function createAuthenticator(opts: AuthenticatorOptions): (authorization: string | undefined) => Promise<Principal> {
  const now = opts.now ?? Date.now;
  // lastUsedAt is advisory: touching it at most once a minute per token spares shared databases a write per request.
  const touched = new Map<string, number>();
  return async (authorization) => {
    if (!authorization) {
      throw new DmanError('AUTH_REQUIRED', 'this request needs a token', { hint: 'send "Authorization: Bearer <token>"; create one with `dman token create --user USER --device NAME`' });
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw new DmanError('AUTH_INVALID', 'the Authorization header is not "Bearer <token>"', { hint: 'send "Authorization: Bearer <token>"' });
    const token = m[1]!;
    if (opts.authToken && safeEqual(token, opts.authToken)) {
      return { user: null, admin: true, device: null, tokenId: 'config' };
    }
    const rec = await opts.store.getTokenByHash(hashToken(token));
    // The store looked the record up by hash; compare again in constant time so a driver with a
    // case-folding or prefix index cannot accept a near miss.
    if (!rec || !safeEqual(rec.hash, hashToken(token)) || rec.revokedAt !== null) {
      throw new DmanError('AUTH_INVALID', 'the token is unknown or revoked', { hint: 'ask an admin for a new token (`dman token create`) and run `dman login` again' });
    }
    const t = now();
    if (t - (touched.get(rec.id) ?? -Infinity) >= 60_000) {
      if (touched.size > 10_000) touched.clear();
      touched.set(rec.id, t);
      void opts.store.touchToken(rec.id, t).catch(() => {});
    }
    return { user: rec.user, admin: rec.admin, device: rec.device, tokenId: rec.id };
  };
}
