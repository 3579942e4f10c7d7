import { describe, expect, it } from 'vitest';
import { describeStoreContract } from './contract.js';
import { MemoryStore } from './MemoryStore.js';

describeStoreContract('MemoryStore', async () => {
  const store = new MemoryStore();
  await store.open();
  return { store, cleanup: () => store.close() };
});

describe('MemoryStore as the reference model', () => {
  it('keeps nothing across instances: it is the model, never a place to keep data', async () => {
    const a = new MemoryStore();
    await a.open();
    const r = await a.commit({ user: 'alice', device: 'd', ops: [{ path: 'gone', baseRev: 0, deleted: true, kind: 'file', hash: null, size: 0, mode: 0, mtime: 0 }], now: 1 });
    expect(r.ok).toBe(true);
    expect(await a.headRev('alice')).toBe(1);
    await a.close();
    const b = new MemoryStore();
    await b.open();
    expect(await b.headRev('alice')).toBe(0);
    expect(await b.listUsers()).toEqual([]);
    await b.close();
  });
});
