// releaseBuffer frees a buffer that lived into the old generation at the next turn of the event
// loop, where V8 alone frees it only at a mark-compact; and it leaves buffers that share memory alone.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { releaseBuffer, releaseBuffers } from './releaseBuffer.js';

const root = new URL('../..', import.meta.url).pathname;

/** MB of array buffers in a child after a 32 MB buffer was promoted, (maybe) released, and the event loop turned (no GC). */
function arrayBuffersAfterScavenge(release: boolean): number {
  const code = `
    const { releaseBuffer } = await import('./engine/util/releaseBuffer.ts');
    const buf = Buffer.alloc(32 << 20, 7);
    gc(); gc(); // now in the old generation, as a buffer that lived through a decode is
    ${release ? 'releaseBuffer(buf);' : ''}
    await new Promise((r) => setTimeout(r, 20));
    console.log(process.memoryUsage().arrayBuffers / 1048576, buf.length);`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const [mb, len] = out.trim().split(' ').map(Number);
  if (release) expect(len).toBe(0);
  return mb!;
}

describe('releaseBuffer', () => {
  it('frees an old buffer\'s bytes once the event loop turns, without a GC', () => {
    expect(arrayBuffersAfterScavenge(false)).toBeGreaterThan(30);
    expect(arrayBuffersAfterScavenge(true)).toBeLessThan(4);
  });

  it('frees many buffers through one channel, skipping those that share memory and a buffer given twice', () => {
    const a = Buffer.allocUnsafeSlow(64 << 10).fill(1), b = Buffer.allocUnsafeSlow(16 << 10).fill(2);
    const pooled = Buffer.from('small');
    const whole = Buffer.alloc(100, 3);
    const slice = whole.subarray(10, 20);
    releaseBuffers([a, b, a, pooled, slice]);
    expect(a.length).toBe(0);
    expect(b.length).toBe(0);
    expect(pooled.toString()).toBe('small');
    expect(slice.length).toBe(10);
    expect(whole[0]).toBe(3);
    releaseBuffers([]); // nothing to do
  });

  it('leaves a slice and a pooled buffer as they are', () => {
    const whole = Buffer.from('0123456789');
    const slice = whole.subarray(2, 5);
    releaseBuffer(slice);
    expect(slice.toString()).toBe('234');
    expect(whole.toString()).toBe('0123456789');
    const pooled = Buffer.from('small'); // from Node's shared pool
    releaseBuffer(pooled);
    expect(pooled.toString()).toBe('small');
  });
});
