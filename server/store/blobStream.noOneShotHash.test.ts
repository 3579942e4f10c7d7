// Node 20.11 (the oldest package.json allows) has no crypto.hash (added in 20.12): a blob that
// arrived whole is still verified there, with createHash.
import { createHash } from 'node:crypto';
import type * as NodeCrypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof NodeCrypto>();
  const { hash: _oneShot, ...rest } = real;
  return { ...rest, default: { ...real, hash: undefined } };
});

describe('consumeVerified without crypto.hash', () => {
  it('verifies a HeldBlob and refuses one whose bytes do not match its name', async () => {
    const { consumeVerified, HeldBlob } = await import('./blobStream.js');
    const data = Buffer.from('hello\n');
    const name = createHash('sha256').update(data).digest('hex');
    const got: Buffer[] = [];
    expect(await consumeVerified(new HeldBlob(data), name, 100, (c) => { got.push(c); })).toBe(data.length);
    expect(Buffer.concat(got)).toEqual(data);
    await expect(consumeVerified(new HeldBlob(Buffer.from('other')), name, 100, () => {})).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
  });
});
