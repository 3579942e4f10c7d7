import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DmanError } from '../../shared/errors.js';
import { bulkBlobHeader } from '../../shared/protocol.js';
import { consumeVerified, HeldBlob } from '../store/blobStream.js';
import { parseBlobFrames } from './blobFrames.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const body = (blobs: Buffer[]) => Buffer.concat(blobs.flatMap((b) => [Buffer.from(bulkBlobHeader(sha(b), b.length)), b]));
async function* pieces(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
async function collect(src: AsyncIterable<Buffer>, limits = { maxBlobs: 100, maxBlobBytes: 1 << 20 }, read = () => true) {
  const out: Array<{ hash: string; data: Buffer }> = [];
  for await (const b of parseBlobFrames(src, limits)) {
    const parts: Buffer[] = [];
    if (read()) for await (const c of b.data) parts.push(c);
    out.push({ hash: b.hash, data: Buffer.concat(parts) });
  }
  return out;
}

describe('parseBlobFrames', () => {
  const blobs = [Buffer.from(''), Buffer.from('a'), Buffer.from('hello\nworld\n'), Buffer.alloc(5000, 0x0a)];

  it('yields every blob whole whatever the chunk boundaries (1 byte to all at once)', async () => {
    for (const size of [1, 2, 7, 64, 65, 100_000]) {
      const got = await collect(pieces(body(blobs), size));
      expect(got.map((g) => g.hash)).toEqual(blobs.map(sha));
      expect(got.map((g) => g.data)).toEqual(blobs);
    }
  });

  it('skips the bytes of a blob its consumer did not read, and finds the next header', async () => {
    let n = 0;
    const got = await collect(pieces(body(blobs), 3), undefined, () => n++ % 2 === 1);
    expect(got.map((g) => g.hash)).toEqual(blobs.map(sha));
    expect(got[3]!.data).toEqual(blobs[3]);
  });

  it('reads an empty body as no blobs', async () => {
    expect(await collect(pieces(Buffer.alloc(0), 1))).toEqual([]);
  });

  it('refuses bad headers, a truncated blob, too many blobs and an oversized declaration', async () => {
    const code = async (src: Buffer, limits?: { maxBlobs: number; maxBlobBytes: number }) => {
      try {
        await collect(pieces(src, 5), limits);
      } catch (err) {
        expect(err).toBeInstanceOf(DmanError);
        return [(err as DmanError).code, (err as DmanError).message];
      }
      return ['none', ''];
    };
    expect(await code(Buffer.from(`${'A'.repeat(64)} 1\nx`))).toEqual(['BAD_REQUEST', expect.stringMatching(/blob 1: a header that is not/)]);
    expect(await code(Buffer.from(`${'a'.repeat(200)}`))).toEqual(['BAD_REQUEST', expect.stringMatching(/longer than/)]);
    expect(await code(Buffer.concat([body(blobs.slice(0, 2)), Buffer.from('abc')]))).toEqual(['BAD_REQUEST', expect.stringMatching(/blob 3: a header line cut off/)]);
    expect(await code(body(blobs).subarray(0, body(blobs).length - 10))).toEqual(['BAD_REQUEST', expect.stringMatching(/blob 4: a body that ends 10 bytes before/)]);
    expect(await code(body(blobs), { maxBlobs: 3, maxBlobBytes: 1 << 20 })).toEqual(['PAYLOAD_TOO_LARGE', expect.stringMatching(/more than 3 blobs/)]);
    expect(await code(body(blobs), { maxBlobs: 10, maxBlobBytes: 4999 })).toEqual(['PAYLOAD_TOO_LARGE', expect.stringMatching(/declares 5000 bytes/)]);
  });

  it('hands a blob that arrived whole over as a HeldBlob, which consumeVerified checks like a stream', async () => {
    // All at once: every blob is whole in the buffer. One byte at a time: none is (but the empty one).
    for (const [size, held] of [[100_000, blobs.length], [1, 1]] as const) {
      const kinds: boolean[] = [];
      const sizes: number[] = [];
      for await (const b of parseBlobFrames(pieces(body(blobs), size), { maxBlobs: 100, maxBlobBytes: 1 << 20 })) {
        kinds.push(b.data instanceof HeldBlob);
        const seen: Buffer[] = [];
        sizes.push(await consumeVerified(b.data, b.hash, 1 << 20, (c) => { seen.push(c); }));
        expect(Buffer.concat(seen)).toEqual(blobs[sizes.length - 1]);
      }
      expect(kinds.filter(Boolean).length).toBe(held);
      expect(sizes).toEqual(blobs.map((b) => b.length));
    }
    const wrong = new HeldBlob(Buffer.from('not what the name says'));
    const got: Buffer[] = [];
    await expect(consumeVerified(wrong, sha(Buffer.from('x')), 100, (c) => { got.push(c); })).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    await expect(consumeVerified(wrong, sha(wrong.bytes), 5, (c) => { got.push(c); })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(got).toEqual([]);
    expect(await consumeVerified(wrong, sha(wrong.bytes), 100, (c) => { got.push(c); })).toBe(wrong.bytes.length);
    expect(got).toEqual([wrong.bytes]);
    // Still an async iterable of its bytes for a consumer that iterates.
    const parts: Buffer[] = [];
    for await (const c of wrong) parts.push(c);
    expect(parts).toEqual([wrong.bytes]);
  });
});
