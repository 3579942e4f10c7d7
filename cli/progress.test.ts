import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress, isProgressShown } from './progress.js';

describe('progress bars', () => {
  it('show only on a terminal, and never with --json, --quiet, NO_COLOR or CI', () => {
    expect(isProgressShown({ isTTY: true, env: {} })).toBe(true);
    expect(isProgressShown({ isTTY: false, env: {} })).toBe(false);
    expect(isProgressShown({ isTTY: true, env: {}, json: true })).toBe(false);
    expect(isProgressShown({ isTTY: true, env: {}, quiet: true })).toBe(false);
    expect(isProgressShown({ isTTY: true, env: { NO_COLOR: '' } })).toBe(false);
    expect(isProgressShown({ isTTY: true, env: { CI: 'true' } })).toBe(false);
  });

  it('draws a bar for a long apply phase and nothing for a short one', async () => {
    const draw = async (total: number) => {
      const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
      let out = '';
      stream.on('data', (d) => { out += d; });
      const p = await createProgress({ isTTY: true, env: {}, stream: stream as unknown as NodeJS.WriteStream, minTotal: 50 });
      for (let i = 1; i <= total; i++) p.onEvent({ type: 'progress', user: 'alice', phase: 'apply', done: i, total, path: `f${i}` });
      p.stop();
      return out;
    };
    expect(await draw(120)).toMatch(/alice: syncing/);
    expect(await draw(5)).toBe('');
  });

  it('draws a count once a scan gets long', async () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    let out = '';
    stream.on('data', (d) => { out += d; });
    const p = await createProgress({ isTTY: true, env: {}, stream: stream as unknown as NodeJS.WriteStream, minTotal: 5 });
    for (let i = 1; i <= 60; i++) p.onEvent({ type: 'progress', user: 'bob', phase: 'scan', done: i, total: 0 });
    p.stop();
    expect(out).toMatch(/bob: scanning \d+ files/);
  });

  it('draws nothing where bars are not shown (--quiet, a pipe)', async () => {
    for (const o of [{ isTTY: true, quiet: true }, { isTTY: false }]) {
      const stream = Object.assign(new PassThrough(), { isTTY: o.isTTY, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
      let out = '';
      stream.on('data', (d) => { out += d; });
      const p = await createProgress({ ...o, env: {}, stream: stream as unknown as NodeJS.WriteStream, minTotal: 1 });
      expect(p.enabled).toBe(false);
      for (let i = 1; i <= 10; i++) p.onEvent({ type: 'progress', user: 'alice', phase: 'apply', done: i, total: 10, path: 'f' });
      p.stop();
      expect(out).toBe('');
    }
  });
});
