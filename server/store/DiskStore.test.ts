import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStoreContract } from './contract.js';
import { DiskStore } from './DiskStore.js';

describeStoreContract('DiskStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dman-disk-'));
  const store = new DiskStore({ dataDir: dir });
  await store.open();
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
