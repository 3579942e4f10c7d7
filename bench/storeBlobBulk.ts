// The store-level cost of bulk blob transfer on Redis and MariaDB, without HTTP or the client:
// storing 10,000 small blobs with putBlobs vs putBlob one by one (what drivers without putBlobs
// get), and reading them back as the fetch route does (getBlob with 8 lookups ahead) vs getBlobs
// in lists of 64 (two lists ahead). Interleaved reps, medians.
//
//   npx tsx bench/storeBlobBulk.ts [--blobs 10000] [--reps 3] [--drivers redis,mariadb]
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { putBlobsOneByOne } from '../server/store/blobStream.js';
import { MariaDbStore } from '../server/store/mariadb/MariaDbStore.js';
import { RedisStore } from '../server/store/redis/RedisStore.js';
import type { BlobUpload, Store } from '../server/store/Store.js';
import { startMariaDb, startRedis } from '../tests/setup/services.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : dflt; };
const N = Number(opt('blobs', '10000'));
const REPS = Number(opt('reps', '3'));
const drivers = opt('drivers', 'redis,mariadb').split(',');
const MB = 1024 * 1024;

// ~gen-home's mix: mostly 100 B - 8 KB, some up to 100 KB, a few up to 1 MB.
let seed = 1;
const rnd = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
function makeBlobs(tag: string): Buffer[] {
  return Array.from({ length: N }, (_, i) => {
    const r = rnd();
    const size = Math.floor(r < 0.92 ? 100 + rnd() * 8000 : r < 0.98 ? 8000 + rnd() * 92_000 : 100_000 + rnd() * 900_000);
    const b = Buffer.alloc(size, i & 0xff);
    b.write(`${tag} ${i} `);
    return b;
  });
}
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
async function* uploads(list: Buffer[]): AsyncIterable<BlobUpload> { for (const b of list) yield { hash: sha(b), data: Readable.from([b]) }; }
async function drain(s: Readable): Promise<number> { let n = 0; for await (const c of s) n += (c as Buffer).length; return n; }

async function readOneByOne(store: Store, hashes: string[]): Promise<number> {
  let bytes = 0;
  const ahead = hashes.slice(0, 8).map((h) => store.getBlob('bench', h));
  for (let i = 0; i < hashes.length; i++) {
    if (i + 8 < hashes.length) ahead.push(store.getBlob('bench', hashes[i + 8]!));
    bytes += await drain((await ahead.shift()!)!.stream);
  }
  return bytes;
}
async function readBulk(store: Store, hashes: string[]): Promise<number> {
  let bytes = 0;
  const lists: Array<Promise<Array<{ stream: Readable } | null>>> = [];
  for (let i = 0; i < hashes.length; i += 64) lists.push(store.getBlobs!('bench', hashes.slice(i, i + 64)));
  for (const l of lists) for (const b of await l) bytes += await drain(b!.stream);
  return bytes;
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
for (const driver of drivers) {
  const inst = driver === 'redis' ? await startRedis() : await startMariaDb();
  try {
    const f = inst.facts as { host: string; port: number };
    const store: Store = driver === 'redis'
      ? new RedisStore({ redis: { addr: `${f.host}:${f.port}` } as never, keyPrefix: 'bench:' })
      : new MariaDbStore({ db: { addr: `${f.host}:${f.port}`, user: 'root', db: 'dman_blobbench' } as never });
    await store.open();
    const times: Record<string, number[]> = { 'putBlob one by one': [], putBlobs: [], 'getBlob, 8 ahead': [], 'getBlobs of 64': [] };
    let bytes = 0;
    for (let rep = 0; rep < REPS; rep++) {
      // fresh content each time, so every write is a first upload
      const a = makeBlobs(`a${rep}`), b = makeBlobs(`b${rep}`);
      bytes = a.reduce((s, x) => s + x.length, 0);
      let t = performance.now();
      await putBlobsOneByOne(store, 'bench', uploads(a), 8 * MB);
      times['putBlob one by one']!.push(performance.now() - t);
      t = performance.now();
      await store.putBlobs!('bench', uploads(b), 8 * MB);
      times.putBlobs!.push(performance.now() - t);
      const hashes = b.map(sha);
      t = performance.now();
      const r1 = await readOneByOne(store, hashes);
      times['getBlob, 8 ahead']!.push(performance.now() - t);
      t = performance.now();
      const r2 = await readBulk(store, hashes);
      times['getBlobs of 64']!.push(performance.now() - t);
      if (r1 !== r2 || r1 !== b.reduce((s, x) => s + x.length, 0)) throw new Error(`read ${r1}/${r2} bytes`);
    }
    await store.close();
    for (const [k, v] of Object.entries(times)) console.log(`${driver} ${k} (${N} blobs, ${(bytes / MB).toFixed(0)} MB): median ${median(v).toFixed(0)} ms (${v.map((x) => x.toFixed(0)).join(', ')})`);
  } finally {
    await inst.stop();
  }
}
