import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../store/MemoryStore.js';
import { createAuthenticator } from './authenticate.js';
import { createFailureThrottle } from './throttle.js';
import { generateToken, hashToken, looksLikeToken, mintToken, safeEqual } from './tokens.js';

describe('tokens', () => {
  it('generates distinct 256-bit tokens and keeps only the hash', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a).not.toBe(b);
    expect(Buffer.from(a.slice(5), 'base64url')).toHaveLength(32);
    expect(looksLikeToken(a)).toBe(true);
    const { token, record } = mintToken({ user: 'alice', device: 'laptop', admin: false, now: 5 });
    expect(record.hash).toBe(hashToken(token));
    expect(JSON.stringify(record)).not.toContain(token);
    expect(safeEqual(token, token)).toBe(true);
    expect(safeEqual(token, `${token}x`)).toBe(false);
  });
});

describe('authenticator', () => {
  it('resolves device, admin and shared tokens and refuses revoked ones at once', async () => {
    const store = new MemoryStore();
    const dev = mintToken({ user: 'alice', device: 'laptop', admin: false, now: 1 });
    const adm = mintToken({ user: null, device: 'ops', admin: true, now: 1 });
    await store.putToken(dev.record);
    await store.putToken(adm.record);
    const auth = createAuthenticator({ store, authToken: 'shared-secret-token' });
    expect(await auth(`Bearer ${dev.token}`)).toMatchObject({ user: 'alice', admin: false, tokenId: dev.record.id });
    expect(await auth(`bearer ${adm.token}`)).toMatchObject({ admin: true });
    expect(await auth('Bearer shared-secret-token')).toMatchObject({ admin: true, tokenId: 'config' });
    await expect(auth(undefined)).rejects.toMatchObject({ code: 'AUTH_REQUIRED' });
    await expect(auth('Basic abc')).rejects.toMatchObject({ code: 'AUTH_INVALID' });
    await store.revokeToken(dev.record.id, 2);
    await expect(auth(`Bearer ${dev.token}`)).rejects.toMatchObject({ code: 'AUTH_INVALID' });
  });
});

describe('failure throttle', () => {
  it('blocks one source after the limit, releases it later, and leaves others alone', () => {
    let t = 0;
    const th = createFailureThrottle({ maxFailures: 3, windowMs: 1000, blockMs: 5000, now: () => t });
    for (let i = 0; i < 3; i++) th.fail('a');
    expect(th.retryAfter('a')).toBe(5);
    expect(th.retryAfter('b')).toBe(0);
    t = 4500;
    expect(th.retryAfter('a')).toBe(1);
    t = 5001;
    expect(th.retryAfter('a')).toBe(0);
  });

  it('forgets failures outside the window and after a success', () => {
    let t = 0;
    const th = createFailureThrottle({ maxFailures: 3, windowMs: 1000, now: () => t });
    th.fail('a'); th.fail('a');
    t = 2000;
    th.fail('a');
    expect(th.retryAfter('a')).toBe(0);
    th.fail('a'); th.succeed('a'); th.fail('a');
    expect(th.retryAfter('a')).toBe(0);
  });

  it('bounds the number of tracked sources', () => {
    const th = createFailureThrottle({ maxFailures: 1, maxSources: 2 });
    th.fail('a'); th.fail('b'); th.fail('c');
    expect(th.retryAfter('a')).toBe(0);
    expect(th.retryAfter('c')).toBeGreaterThan(0);
  });
});
