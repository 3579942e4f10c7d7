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

  it('draws a bar for a long apply phase and nothing for a short one', () => {
    const draw = (total: number) => {
      const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
      let out = '';
      stream.on('data', (d) => { out += d; });
      const p = createProgress({ isTTY: true, env: {}, stream: stream as unknown as NodeJS.WriteStream, minTotal: 50 });
      for (let i = 1; i <= total; i++) p.onEvent({ type: 'progress', user: 'alice', phase: 'apply', done: i, total, path: `f${i}` });
      p.stop();
      return out;
    };
    expect(draw(120)).toMatch(/alice: syncing/);
    expect(draw(5)).toBe('');
  });
});
