// The scan contents of a full run: bytes kept within a bound, early bulk batches that count as
// stored only once the server acknowledged them, a refused batch left for the publish, and larger
// files held back until the scan is over.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createScanContents, type ContentUse, type ScanContentsOptions } from './publishEarly.js';
import type { StatCacheEntry } from './scan/scan.js';

const entryOf = (data: Buffer | number): StatCacheEntry => ({
  size: typeof data === 'number' ? data : data.length, mtimeMs: 1, ctimeMs: 1, ino: 1, mode: 0o100644,
  hash: createHash('sha256').update(typeof data === 'number' ? String(data) : data).digest('hex'), at: 2,
});

function setup(over: Partial<ScanContentsOptions> = {}, use: (path: string) => ContentUse = () => 'upload') {
  const calls: Array<{ blobs: string[]; resolve: () => void; reject: (e: unknown) => void }> = [];
  const large: string[] = [];
  const contents = createScanContents({
    use: (path) => use(path),
    put: (blobs) => new Promise<void>((resolve, reject) => { calls.push({ blobs: blobs.map((b) => b.hash), resolve, reject }); }),
    putLarge: async (path) => { large.push(path); return true; },
    maxBytes: 1000, batchFiles: 2, batchBytes: 500, concurrency: 1,
    ...over,
  });
  return { contents, calls, large };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('createScanContents', () => {
  it('sends full batches, one in flight at a time, and counts a blob stored only once its batch was acknowledged', async () => {
    const { contents, calls } = setup();
    const files = ['a', 'b', 'c', 'd', 'e'].map((p) => ({ p, data: Buffer.from(`content ${p}`) }));
    for (const f of files) contents.offer(f.p, f.data, entryOf(f.data));
    expect(calls.map((c) => c.blobs.length)).toEqual([2]); // the second full batch waits
    expect(contents.stored.size).toBe(0);
    expect(contents.cleared.size).toBe(5); // all passed the check (use said upload)
    calls[0]!.resolve();
    await tick();
    expect(contents.stored).toEqual(new Set([entryOf(files[0]!.data).hash, entryOf(files[1]!.data).hash]));
    expect(contents.peek('a')).toBeUndefined(); // stored: its bytes were let go
    expect(calls.length).toBe(2);
    contents.flush(); // the scan is over: the last, partial batch queues too
    let settled = false;
    const done = contents.settle().then(() => { settled = true; });
    calls[1]!.resolve();
    await tick();
    expect(settled).toBe(false);
    expect(calls[2]!.blobs.length).toBe(1);
    calls[2]!.resolve();
    await done;
    expect(contents.stored.size).toBe(5);
    expect(contents.heldBytes).toBe(0);
  });

  it('starts with a small batch and doubles it up to batchFiles, so a few changes go up while the scan goes on', async () => {
    const { contents, calls } = setup({ firstBatchFiles: 2, batchFiles: 8, batchBytes: 1 << 20, maxBytes: 1 << 20, concurrency: 8 });
    for (let i = 0; i < 30; i++) {
      const data = Buffer.from(`file ${i}`);
      contents.offer(`f${i}`, data, entryOf(data));
    }
    // 2, 4, 8, 8, 8 sent as they filled; the other 0 wait for the end of the scan.
    expect(calls.map((c) => c.blobs.length)).toEqual([2, 4, 8, 8, 8]);
    contents.flush();
    expect(calls.map((c) => c.blobs.length)).toEqual([2, 4, 8, 8, 8]);
    const d = Buffer.from('one more');
    contents.offer('g', d, entryOf(d));
    contents.flush();
    expect(calls.map((c) => c.blobs.length)).toEqual([2, 4, 8, 8, 8, 1]);
    for (const c of calls) c.resolve();
    await contents.settle();
    expect(contents.stored.size).toBe(31);
  });

  it('frees the memory of bytes the server acknowledged, and leaves kept and refused bytes whole', async () => {
    const { contents, calls } = setup({ maxBytes: 1 << 20, batchBytes: 1 << 20 }, (p) => (p.startsWith('secret') ? 'keep' : 'upload'));
    // Buffers of their own, as the scan reads files of 4 KiB and more (smaller ones share Node's pool and are left to the GC).
    const own = (c: number): Buffer => Buffer.allocUnsafeSlow(8192).fill(c);
    const a = own(1), b = own(2), secret = own(3), c = own(4), d = own(5);
    contents.offer('a', a, entryOf(a));
    contents.offer('secret', secret, entryOf(secret));
    contents.offer('b', b, entryOf(b));
    calls[0]!.resolve();
    await tick();
    expect([a.length, b.length]).toEqual([0, 0]); // detached: their memory is gone
    expect(contents.peek('secret')).toBe(secret);
    expect(secret.length).toBe(8192);
    contents.offer('c', c, entryOf(c));
    contents.offer('d', d, entryOf(d));
    calls[1]!.reject(new Error('refused'));
    await contents.settle();
    expect(contents.take('c')).toBe(c);
    expect(c.equals(own(4))).toBe(true);
    expect(d.length).toBe(8192);
  });

  it('keeps the bytes of a refused batch for the publish and does not count them stored', async () => {
    const refused: number[] = [];
    const { contents, calls } = setup({ onRefused: (_e, n) => refused.push(n) });
    const a = Buffer.from('aaa');
    const b = Buffer.from('bbb');
    contents.offer('a', a, entryOf(a));
    contents.offer('b', b, entryOf(b));
    calls[0]!.reject(new Error('refused'));
    await contents.settle();
    expect(refused).toEqual([2]);
    expect(contents.stored.size).toBe(0);
    expect(contents.take('a')).toBe(a);
    expect(contents.take('a')).toBeUndefined();
    expect(contents.heldBytes).toBe(b.length);
  });

  it('holds at most maxBytes, keeps without sending what may not go up yet, and drops what is unchanged', async () => {
    const { contents, calls } = setup({ maxBytes: 10 }, (p) => (p.startsWith('secret') ? 'keep' : p.startsWith('same') ? 'drop' : 'upload'));
    const s = Buffer.from('12345');
    contents.offer('secret', s, entryOf(s));
    contents.offer('same', Buffer.from('x'), entryOf(Buffer.from('x')));
    contents.offer('big', Buffer.alloc(6), entryOf(Buffer.alloc(6))); // over the bound: not kept, read again later
    contents.offer('ok', Buffer.from('ok'), entryOf(Buffer.from('ok')));
    contents.flush();
    expect(calls.map((c) => c.blobs)).toEqual([[entryOf(Buffer.from('ok')).hash]]);
    expect(contents.peek('secret')).toBe(s);
    expect(contents.cleared.has('secret')).toBe(false);
    expect(contents.peek('same')).toBeUndefined();
    expect(contents.seen.has('same')).toBe(false);
    expect(contents.peek('big')).toBeUndefined();
    expect(contents.heldBytes).toBe(7);
    calls[0]!.resolve();
    await contents.settle();
  });

  it('sends larger files only once the scan is over, and none without putLarge', async () => {
    const { contents, large } = setup();
    contents.offer('huge', null, entryOf(5_000_000));
    await tick();
    expect(large).toEqual([]);
    contents.flush();
    await contents.settle();
    expect(large).toEqual(['huge']);
    expect(contents.stored.has(entryOf(5_000_000).hash)).toBe(true);
    const none = createScanContents({ use: () => 'upload', maxBytes: 10, batchFiles: 1, batchBytes: 1, concurrency: 1 });
    const d = Buffer.from('x');
    none.offer('x', d, entryOf(d));
    none.offer('huge', null, entryOf(5_000_000));
    none.flush();
    await none.settle();
    expect(none.stored.size).toBe(0);
    expect(none.peek('x')).toBe(d);
  });
  it('sends nothing more once stopped, and resolves stop only when the batch in flight was answered', async () => {
    const { contents, calls, large } = setup();
    const files = ['a', 'b', 'c', 'd', 'e'].map((p) => ({ p, data: Buffer.from(`content ${p}`) }));
    for (const f of files) contents.offer(f.p, f.data, entryOf(f.data));
    contents.offer('huge', null, entryOf(5_000_000));
    expect(calls.length).toBe(1); // one batch in flight, one queued, one file in the batch being filled
    let stopped = false;
    const done = contents.stop().then(() => { stopped = true; });
    await tick();
    expect(stopped).toBe(false);
    calls[0]!.resolve();
    await done;
    contents.offer('f', Buffer.from('late'), entryOf(Buffer.from('late')));
    contents.flush();
    await contents.settle();
    expect(calls.length).toBe(1);
    expect(large).toEqual([]);
    expect(contents.stored.size).toBe(2);
  });

  it('makes the scan wait past pauseBytes while a batch is in flight, until it is answered, and never when nothing would free bytes', async () => {
    const { contents, calls } = setup({ pauseBytes: 40, maxBytes: 1000, batchFiles: 10, batchBytes: 1000, concurrency: 2 });
    const offer = (p: string): void => { const data = Buffer.alloc(15, p); contents.offer(p, data, entryOf(data)); };
    offer('a');
    offer('b');
    expect(contents.wait()).toBeNull(); // 30 bytes held: under pauseBytes
    offer('c');
    const w = contents.wait(); // 45 bytes: the batch being filled goes up, and the scan waits for its answer
    expect(w).not.toBeNull();
    expect(calls.map((c) => c.blobs.length)).toEqual([3]);
    let resumed = false;
    void w!.then(() => { resumed = true; });
    await tick();
    expect(resumed).toBe(false);
    expect(contents.wait()).toBe(w); // asked again meanwhile: the same answer to wait for
    calls[0]!.resolve();
    await tick();
    expect(resumed).toBe(true);
    expect(contents.heldBytes).toBe(0);
    expect(contents.wait()).toBeNull();

    // Bytes kept for a secret (never sent) past pauseBytes, nothing in flight: the scan goes on.
    const kept = setup({ pauseBytes: 40, maxBytes: 1000 }, () => 'keep');
    for (const p of ['x', 'y', 'z']) { const data = Buffer.alloc(15, p); kept.contents.offer(p, data, entryOf(data)); }
    expect(kept.contents.heldBytes).toBe(45);
    expect(kept.contents.wait()).toBeNull();
    expect(kept.calls).toEqual([]);
  });

  it('does not make the scan wait once stopped', async () => {
    const { contents, calls } = setup({ pauseBytes: 10, maxBytes: 1000, batchFiles: 1 });
    const data = Buffer.alloc(20, 'q');
    contents.offer('q', data, entryOf(data));
    expect(calls.length).toBe(1);
    const stopping = contents.stop();
    expect(contents.wait()).toBeNull();
    calls[0]!.resolve();
    await stopping;
  });
});
