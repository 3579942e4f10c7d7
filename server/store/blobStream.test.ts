// consumeVerified on a blob that arrived whole (HeldBlob, most blobs of a bulk upload): the
// driver gets the bytes only once they hash to the blob's name.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { consumeVerified, HeldBlob } from './blobStream.js';

describe('consumeVerified of a HeldBlob', () => {
  it('verifies it and hands it on whole, and refuses one whose bytes do not match its name without handing anything on', async () => {
    const data = Buffer.from('hello\n');
    const name = createHash('sha256').update(data).digest('hex');
    const got: Buffer[] = [];
    expect(await consumeVerified(new HeldBlob(data), name, 100, (c) => { got.push(c); })).toBe(data.length);
    expect(Buffer.concat(got)).toEqual(data);
    const none: Buffer[] = [];
    await expect(consumeVerified(new HeldBlob(Buffer.from('other')), name, 100, (c) => { none.push(c); })).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    expect(none).toEqual([]);
    await expect(consumeVerified(new HeldBlob(data), name, 3, () => {})).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });
});
