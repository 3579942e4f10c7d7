import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createChunker, receiveHeldOrChunked, type ReceiveState } from './blobStream.js';

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

describe('receiveHeldOrChunked', () => {
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const pieces = (b: Buffer, n: number): Buffer[] => Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));
  async function receive(body: Buffer, known: boolean, hash = sha(body)) {
    const written: Buffer[] = [];
    const chunker = createChunker(8, async (c) => { written.push(Buffer.from(c)); });
    const state: ReceiveState = { large: false, exists: false };
    let asked = 0;
    const run = receiveHeldOrChunked(Readable.from(pieces(body, 3)), hash, 1000, { chunkBytes: 8, chunker, state, startLarge: async () => { asked++; return known; } });
    return { run, written, state, asked: () => asked };
  }

  it('holds a blob of up to one chunk whole and never asks the store', async () => {
    const body = Buffer.from('12345678');
    const r = await receive(body, false);
    expect(await r.run).toEqual({ size: 8, data: body });
    expect(r.state).toEqual({ large: false, exists: false });
    expect(r.asked()).toBe(0);
    expect(r.written).toEqual([]);
  });

  it('chunks a larger new blob from its first byte, and only verifies a known one', async () => {
    const body = Buffer.from('abcdefghijklmnopqrstu');
    const fresh = await receive(body, false);
    expect(await fresh.run).toEqual({ size: 21, data: null });
    expect(Buffer.concat(fresh.written).equals(body)).toBe(true);
    expect(fresh.written.map((c) => c.length)).toEqual([8, 8, 5]);
    expect(fresh.state).toEqual({ large: true, exists: false });
    const known = await receive(body, true);
    expect(await known.run).toEqual({ size: 21, data: null });
    expect(known.written).toEqual([]);
    expect(known.state).toEqual({ large: true, exists: true });
    expect(known.asked()).toBe(1);
  });

  it('leaves the state saying what was written when the content does not match its name', async () => {
    const body = Buffer.from('abcdefghijklmnopqrstu');
    const bad = await receive(body, false, sha(Buffer.from('other')));
    await expect(bad.run).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    expect(bad.state.large).toBe(true);
  });
});
