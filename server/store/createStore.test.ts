import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore } from './createStore.js';

describe('createStore', () => {
  it('creates memory and disk drivers', async () => {
    expect(createStore({ driver: 'memory' }).driver).toBe('memory');
    const dir = await mkdtemp(join(tmpdir(), 'dman-cs-'));
    try {
      const s = createStore({ driver: 'disk', dataDir: dir });
      expect(s.driver).toBe('disk');
      await s.open();
      expect((await s.health()).ok).toBe(true);
      await s.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses disk without a data dir and unknown drivers, naming the key', () => {
    expect(() => createStore({ driver: 'disk' })).toThrow(/data dir/);
    expect(() => createStore({ driver: 'sqlite' as never })).toThrow(/Unknown storage_driver "sqlite"/);
  });
});
