// Token minting and checking: 256 random bits shown once, only the SHA-256 kept, compared in
// constant time so response timing reveals nothing about stored hashes.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { TokenRecord } from '../store/Store.js';

/** Prefix of every dman token, so secret scanners and users can recognise one. */
export const TOKEN_PREFIX = 'dman_';
const TOKEN_RE = /^dman_[A-Za-z0-9_-]{43,}$/;

/** Generates a new token: the prefix plus 32 random bytes in base64url. */
export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Returns true when `s` has the shape of a dman token. */
export function looksLikeToken(s: string): boolean {
  return TOKEN_RE.test(s);
}

/** Hashes a token for storage and lookup (SHA-256 hex). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Compares two secrets in constant time (by comparing their SHA-256 digests). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

/** Mints a token and the record to store for it; the token itself is returned once and never kept. */
export function mintToken(opts: { user: string | null; device: string; admin: boolean; now: number }): { token: string; record: TokenRecord } {
  const token = generateToken();
  const record: TokenRecord = {
    id: `tok_${randomUUID().replace(/-/g, '').slice(0, 16)}`,
    user: opts.user,
    device: opts.device,
    admin: opts.admin,
    createdAt: opts.now,
    lastUsedAt: null,
    revokedAt: null,
    hash: hashToken(token),
  };
  return { token, record };
}
