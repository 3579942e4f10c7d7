// A child process for the crash-point proof: opens a DiskStore in DIR, arms the interposer
// (DMAN_CRASH_AT=k kills it just before its k-th write step; 0 lists the steps), uploads the new
// blobs and commits MODE (single: one path; batch: three paths and a delete) with a fixed
// idempotency key. Prints the steps as JSON on success.
import { Readable } from 'node:stream';
import { installFsFaults } from './fsFaults.js';

const faults = await installFsFaults();
const { DiskStore } = await import('../../../server/store/DiskStore.js');
const { newOps, newBlobs } = await import('./commitCase.js');

const [dir, mode] = process.argv.slice(2) as [string, 'single' | 'batch'];
const store = new DiskStore({ dataDir: dir });
await store.open();
faults.arm({ root: dir, at: Number(process.env.DMAN_CRASH_AT ?? 0), kind: 'crash' });
for (const b of newBlobs(mode)) await store.putBlob('alice', b.hash, Readable.from([b.data]), 1 << 20);
const out = await store.commit({ user: 'alice', device: 'crash', ops: await newOps(store, mode), now: 2, idempotencyKey: `case-${mode}` });
if (!out.ok) throw new Error('unexpected conflict');
faults.disarm();
await store.close();
process.stdout.write(`${JSON.stringify(faults.steps)}\n`);
