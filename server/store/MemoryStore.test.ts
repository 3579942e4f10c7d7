import { describeStoreContract } from './contract.js';
import { MemoryStore } from './MemoryStore.js';

describeStoreContract('MemoryStore', async () => {
  const store = new MemoryStore();
  await store.open();
  return { store, cleanup: () => store.close() };
});
