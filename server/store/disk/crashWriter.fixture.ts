// A child process for DiskStore's crash tests (run with `node --import tsx`):
//   write DIR PATHS   commits batch after batch (each batch rewrites PATHS paths with one fresh
//                     ~1 MB blob, uploaded alone or, every other batch, in a bulk upload with 20 small
//                     siblings that go to a pack) and prints "ok <batch> <rev>" after each acknowledged commit;
//                     the test kills it with SIGKILL at random moments.
//   hold DIR          opens the store, prints "opened", and waits to be killed.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DiskStore } from '../DiskStore.js';

const [mode, dir, pathsArg] = process.argv.slice(2);
const store = new DiskStore({ dataDir: dir!, compactBytes: 256 * 1024 });
await store.open();

if (mode === 'hold') {
  process.stdout.write('opened\n');
  setInterval(() => {}, 1 << 30);
} else {
  const P = Number(pathsArg);
  const paths = Array.from({ length: P }, (_, j) => `.config/app${j % 7}/file-${j}.conf`);
  const head = await store.headRev('alice');
  let batch = head / P;
  for (;;) {
    const filler = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < filler.length; i += 4) filler.writeUInt32LE(((i + batch) * 2654435761) >>> 0, i);
    const content = Buffer.concat([Buffer.from(`batch ${batch}\n`), filler]);
    const hash = createHash('sha256').update(content).digest('hex');
    const parts: Buffer[] = [];
    for (let i = 0; i < content.length; i += 64 * 1024) parts.push(content.subarray(i, i + 64 * 1024));
    if (batch % 2 === 0) await store.putBlob('alice', hash, Readable.from(parts), 4 * 1024 * 1024);
    else {
      // Odd batches go through the bulk path: small siblings (held in memory, written in parallel) and the big blob (streamed).
      // (up to ~190 KB each, ~2 MB a batch, so that kills land inside pack appends too)
      const small = Array.from({ length: 20 }, (_, k) => Buffer.from(`batch ${batch} sibling ${k}\n`.repeat((k + 1) * 400)));
      const uploads = [...small.map((b) => ({ hash: createHash('sha256').update(b).digest('hex'), data: Readable.from([b]) })), { hash, data: Readable.from(parts) }];
      await store.putBlobs('alice', (async function* () { yield* uploads; })(), 4 * 1024 * 1024);
    }
    const ops = [];
    for (const path of paths) {
      const cur = await store.getEntry('alice', path);
      ops.push({ path, baseRev: cur?.rev ?? 0, deleted: false, kind: 'file' as const, hash, size: content.length, mode: 0o644, mtime: batch });
    }
    const out = await store.commit({ user: 'alice', device: 'crash', ops, now: Date.now(), idempotencyKey: `batch-${batch}` });
    if (!out.ok) throw new Error(`unexpected conflict in batch ${batch}`);
    process.stdout.write(`ok ${batch} ${out.rev}\n`);
    batch++;
  }
}
