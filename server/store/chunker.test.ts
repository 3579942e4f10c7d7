import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createChunker } from './blobStream.js';

describe('createChunker', () => {
  it('regroups any split of the input into full chunks plus one short last chunk, in order', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(40), { maxLength: 20 }), fc.integer({ min: 1, max: 64 }), async (bytes, cuts, size) => {
      const written: Array<{ seq: number; chunk: Buffer }> = [];
      const c = createChunker(size, async (chunk, seq) => { written.push({ seq, chunk: Buffer.from(chunk) }); });
      let at = 0;
      for (const cut of cuts) { await c.push(Buffer.from(bytes.subarray(at, at + cut))); at = Math.min(bytes.length, at + cut); }
      await c.push(Buffer.from(bytes.subarray(at)));
      await c.flush();
      expect(Buffer.concat(written.map((w) => w.chunk))).toEqual(Buffer.from(bytes));
      expect(written.map((w) => w.seq)).toEqual(written.map((_, i) => i));
      expect(written.slice(0, -1).every((w) => w.chunk.length === size)).toBe(true);
      expect(written.every((w) => w.chunk.length > 0 && w.chunk.length <= size)).toBe(true);
      expect(c.count).toBe(Math.ceil(bytes.length / size));
    }), { numRuns: 300 });
  });
});
