// Commits per second through one dman server on Redis with 20 clients doing 1-op commits (autocannon
// in its own process, as the peers bench does), against a user that already has 10,000 entries.
// Runs on a throwaway single Redis, and with --cluster on a throwaway 3-master Redis Cluster.
// Run: node --import tsx bench/redisCommits.bench.ts [--cluster] [--seconds N] [--entries N]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../engine/log.js';
import { createServer } from '../server/app.js';
import { mintToken } from '../server/auth/tokens.js';
import { RedisStore } from '../server/store/redis/RedisStore.js';
import type { CommitOp } from '../shared/protocol.js';
import { startRedis, startRedisCluster } from '../tests/setup/services.js';

const root = join(fileURLToPath(import.meta.url), '../..');
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const CLUSTER = process.argv.includes('--cluster');
const SECONDS = arg('--seconds', 10);
const ENTRIES = arg('--entries', 10_000);
const USER = 'load';

async function main(): Promise<void> {
  const inst = CLUSTER ? await startRedisCluster() : await startRedis();
  const redis = CLUSTER
    ? { cluster: true, addr: `127.0.0.1:${(inst.facts as { ports: number[] }).ports[0]}`, db: 0, tls: false, tls_insecure_skip_verify: false }
    : { addr: `127.0.0.1:${(inst.facts as { port: number }).port}`, db: 0, tls: false, tls_insecure_skip_verify: false };
  const store = new RedisStore({ redis: redis as never, commandTimeoutMs: 60_000 });
  try {
    await store.open();
    const content = Buffer.from('hello');
    const hash = createHash('sha256').update(content).digest('hex');
    await store.putBlob(USER, hash, Readable.from([content]), 1024);
    const op = (path: string): CommitOp => ({ path, baseRev: 0, deleted: false, kind: 'file', hash, size: 5, mode: 0o644, mtime: 0 });
    for (let i = 0; i < ENTRIES; i += 1000) {
      const ops = Array.from({ length: Math.min(1000, ENTRIES - i) }, (_, j) => op(`.config/dir${(i + j) % 100}/file${i + j}`));
      if (!(await store.commit({ user: USER, device: 'seed', ops, now: Date.now() })).ok) throw new Error('seed conflict');
    }
    const { token, record } = mintToken({ user: USER, device: 'bench', admin: false, now: Date.now() });
    await store.putToken(record);
    const server = createServer({ store, log: silentLogger(), users: [USER], version: 'bench', retention: { versions: 20, days: 30, gcIntervalMs: 0 } });
    const url = await server.listen('127.0.0.1:0');
    try {
      // Not spawnSync: the server runs in this process and must keep serving meanwhile.
      const r = await promisify(execFile)(process.execPath, [join(root, 'bench/lib/load.mjs'), url, token, USER, 'commit', '20', String(SECONDS), '0', hash], { encoding: 'utf8', timeout: (SECONDS + 60) * 1000 });
      const res = JSON.parse(r.stdout) as { requests: number; perSec: number; p50: number; p99: number; errors: number; non2xx: number };
      process.stdout.write(`${CLUSTER ? 'cluster' : 'single'} redis, ${ENTRIES} entries, 20 clients, 1-op commits: ${res.perSec.toFixed(1)}/s (p50 ${res.p50} ms, p99 ${res.p99} ms, ${res.requests} requests, ${res.errors} errors, ${res.non2xx} non-2xx)\n`);
    } finally {
      await server.close();
    }
  } finally {
    await store.close();
    await inst.stop();
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
