import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PackFiles } from './packs.js';

let dir = '';
afterEach(async () => {
  vi.restoreAllMocks();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

/** The prototype every FileHandle shares (node:fs/promises does not export the class). */
async function fileHandleProto(): Promise<{ datasync(): Promise<void> }> {
  const fh = await open(dir, 'r');
  const proto = Object.getPrototypeOf(fh) as { datasync(): Promise<void> };
  await fh.close();
  return proto;
}

describe('PackFiles', () => {
  it('fails an append whose fdatasync was queued behind one that failed (the kernel reports a lost write-back only once)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-packs-'));
    const packs = new PackFiles(join(dir, 'packs'), true);
    await packs.scan();
    await packs.append([Buffer.from('first, made durable')]); // the pack exists, its writer is open
    const proto = await fileHandleProto();
    const real = proto.datasync;
    let failFirst!: (err: Error) => void;
    let calls = 0;
    vi.spyOn(proto, 'datasync').mockImplementation(function (this: unknown) {
      calls++;
      // The first sync hangs until the test fails it (EIO: its pages may be gone); later ones succeed, as
      // Linux's fdatasync does once it has reported an error to this open file.
      if (calls === 1) return new Promise<void>((_, reject) => { failFirst = reject; });
      return real.call(this);
    });
    const a = packs.append([Buffer.from('a: written, then its sync fails')]);
    const aDone = a.then(() => 'ok', () => 'failed');
    while (calls === 0) await new Promise((r) => setImmediate(r));
    // b is written while a's sync runs: that failed sync may have dropped b's pages as well
    const b = packs.append([Buffer.from('b: written during the failed sync')]);
    const bDone = b.then(() => 'ok', () => 'failed');
    const w = (packs as unknown as { writer: { queued: Promise<void> | null } }).writer;
    while (!w.queued) await new Promise((r) => setImmediate(r));
    failFirst(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    expect(await aDone).toBe('failed');
    expect(await bDone).toBe('failed');
    // later appends go to a fresh pack and succeed
    const [loc] = await packs.append([Buffer.from('c: after the failure')]);
    expect(loc!.pack).not.toBe(1);
    packs.settle([loc!]);
    await packs.close();
  });
});
