// Commits and no-op compares per second through one dman server on MariaDB: 20 clients doing 1-op
// commits, then 20 clients asking for changes since head (autocannon in its own process, as the peers
// bench does), against a user that already has 10,000 entries, on a throwaway MariaDB.
// Run: node --import tsx bench/mariadbCommits.bench.ts [--seconds N] [--entries N] [--runs N] [--socket] [--only commit|compare] [--general-log FILE]
// (--socket: the server reaches MariaDB over its unix socket instead of TCP)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createPool } from 'mysql2/promise';
import { silentLogger } from '../engine/log.js';
import { createServer } from '../server/app.js';
import { mintToken } from '../server/auth/tokens.js';
import { MariaDbStore } from '../server/store/mariadb/MariaDbStore.js';
import type { CommitOp } from '../shared/protocol.js';
import { startMariaDb } from '../tests/setup/services.js';

const root = join(fileURLToPath(import.meta.url), '../..');
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('--seconds', 10);
const ENTRIES = arg('--entries', 10_000);
const RUNS = arg('--runs', 1);
const GENERAL_LOG = process.argv.includes('--general-log') ? process.argv[process.argv.indexOf('--general-log') + 1] : undefined;
const USER = 'load';
const SOCKET = process.argv.includes('--socket');
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;

/** CPU ms used so far by this process (the dman server runs here) and by mariadbd. */
function cpu(dbPid: number): { server: number; db: number } {
  const u = process.cpuUsage();
  const f = readFileSync(`/proc/${dbPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const tick = 1000 / 100; // USER_HZ
  return { server: (u.user + u.system) / 1000, db: (Number(f[11]) + Number(f[12])) * tick };
}

interface LoadResult { requests: number; perSec: number; p50: number; p99: number; errors: number; non2xx: number }

async function load(url: string, token: string, mode: 'commit' | 'compare', since: number, hash: string): Promise<LoadResult> {
  // Not spawnSync: the server runs in this process and must keep serving meanwhile.
  const r = await promisify(execFile)(process.execPath, [join(root, 'bench/lib/load.mjs'), url, token, USER, mode, '20', String(SECONDS), String(since), hash], { encoding: 'utf8', timeout: (SECONDS + 60) * 1000 });
  return JSON.parse(r.stdout) as LoadResult;
}

async function main(): Promise<void> {
  const inst = await startMariaDb();
  const db = { ...(SOCKET ? { socket: inst.facts.socket } : { addr: `127.0.0.1:${inst.facts.port}` }), user: 'root', db: 'dman_bench', tls: false, tls_insecure_skip_verify: false };
  const store = new MariaDbStore({ db, queryTimeoutMs: 60_000 });
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
    const admin = GENERAL_LOG ? createPool({ host: '127.0.0.1', port: inst.facts.port, user: 'root', connectionLimit: 1 }) : null;
    try {
      for (let run = 1; run <= RUNS; run++) {
        if (admin && run === RUNS) await admin.query(`SET GLOBAL general_log_file = ?, GLOBAL log_output = 'FILE', GLOBAL general_log = 1`, [GENERAL_LOG!]);
        const dbPid = Number(readFileSync(join(inst.dir, 'server.pid'), 'utf8'));
        const c0 = cpu(dbPid);
        const skip: LoadResult = { requests: 1, perSec: 0, p50: 0, p99: 0, errors: 0, non2xx: 0 };
        const c = ONLY === 'compare' ? skip : await load(url, token, 'commit', 0, hash);
        const c1 = cpu(dbPid);
        const head = await store.headRev(USER);
        const q = ONLY === 'commit' ? skip : await load(url, token, 'compare', head, hash);
        const c2 = cpu(dbPid);
        const per = (a: { server: number; db: number }, b: { server: number; db: number }, n: number) => `CPU per request: server ${((b.server - a.server) / n).toFixed(2)} ms, mariadbd ${((b.db - a.db) / n).toFixed(2)} ms`;
        if (admin && run === RUNS) await admin.query('SET GLOBAL general_log = 0');
        const line = (r: LoadResult) => `${r.perSec.toFixed(1)}/s (p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.requests} requests, ${r.errors} errors, ${r.non2xx} non-2xx)`;
        process.stdout.write(`run ${run}: mariadb over ${SOCKET ? 'unix socket' : 'TCP'}, ${ENTRIES} entries, 20 clients: 1-op commits ${line(c)} [${per(c0, c1, c.requests)}]; no-op compares ${line(q)} [${per(c1, c2, q.requests)}]\n`);
      }
    } finally {
      await admin?.end();
      await server.close();
    }
  } finally {
    await store.close();
    await inst.stop();
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
