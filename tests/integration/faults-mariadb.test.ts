// Faults against the MariaDB driver with real processes: MariaDB killed mid-commit and restarted,
// a proxy that stalls, resets and truncates, two stores on one database, and an unreachable address.
import { Readable } from 'node:stream';
import { createConnection, type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../server/store/createStore.js';
import { MariaDbStore, type MariaDbStoreOptions } from '../../server/store/mariadb/MariaDbStore.js';
import type { DbBlock } from '../../server/store/mariadb/mariaDbOptions.js';
import {
  T0, conflictStorm, crossInstanceNotification, deleteOp, expectFastFailure, fileOp, httpOutage, settle, sha256, twoServersStorm, upload, waitUntil,
} from '../setup/faultHelpers.js';
import { startHarness } from './serverHarness.js';
import { freePort, startMariaDb, type Instance, type MariaDbFacts } from '../setup/services.js';
import { startTcpProxy, type TcpProxy } from '../setup/tcpProxy.js';
import { getService, mariaDbBlock, uniqueId } from '../setup/testServices.js';

const block = (addr: string, db: string): DbBlock => ({ addr, db, user: 'root', tls: false, tls_insecure_skip_verify: false });

async function open(db: DbBlock, over: Partial<MariaDbStoreOptions> = {}): Promise<MariaDbStore> {
  const store = new MariaDbStore({ db, connectTimeoutMs: 1000, acquireTimeoutMs: 2000, queryTimeoutMs: 5000, connectionLimit: 5, pollMs: 50, ...over });
  await store.open();
  return store;
}

/** Waits until every pooled connection is back in the pool (none leaked) and returns the count. */
async function expectNoLeaks(store: MariaDbStore): Promise<number> {
  await waitUntil(() => store.poolStats().free === store.poolStats().all, 5000, 'every connection back in the pool');
  const s = store.poolStats();
  expect(s.all).toBeLessThanOrEqual(5);
  expect(s.queued).toBe(0);
  return s.all;
}

describe('MariaDB faults', () => {
  let inst: Instance<MariaDbFacts>;
  let admin: () => Promise<Connection>;
  beforeAll(async () => {
    inst = await startMariaDb();
    admin = () => createConnection({ socketPath: inst.facts.socket, user: 'root' });
  });
  afterAll(async () => { await inst?.stop(); });

  it('killed mid-commit then restarted: no partial commit, fast failures while down, the pool recovers without leaks, the retry lands once', async () => {
    const db = `f_${uniqueId()}`;
    const store = await open(block(`127.0.0.1:${inst.facts.port}`, db));
    try {
      const blob = await upload(store, 'alice', 'zshrc content');
      const ops = Array.from({ length: 3000 }, (_, i) => fileOp(`.config/p${i}`, 0, blob));
      const input = { user: 'alice', device: 'laptop', ops, now: T0, idempotencyKey: 'batch-0001' };
      const watcher = await admin();
      // Hold the commit mid-transaction: it reads (its version counts are plain reads, which no row
      // lock holds up), writes its dman_entries rows, then waits at its dman_versions insert for the
      // row this uncommitted transaction holds (alice's rev 1). Polling for an INSERT in flight
      // instead raced a fast commit; a table lock also held up the reads before any write.
      await watcher.query('START TRANSACTION');
      await watcher.query(`INSERT INTO \`${db}\`.dman_versions (user, rev, path_key, hash, updated_at, entry) VALUES ('alice', 1, REPEAT('x', 32), NULL, 0, '{}')`);
      const first = settle(store.commit(input));
      await waitUntil(async () => {
        const [rows] = await watcher.query(`SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = ? AND info LIKE 'INSERT INTO dman_versions%'`, [db]);
        return Number((rows as Array<{ n: number }>)[0]!.n) > 0;
      }, 10_000, 'the commit to wait mid-transaction, its entry rows written');
      await inst.kill();
      await watcher.destroy();
      const r1 = await first;
      expect(r1.error?.code).toBe('STORE_UNAVAILABLE');

      const err = await expectFastFailure(store.headRev('alice'), 'STORE_UNAVAILABLE', 2500);
      expect(err.message).toContain(`127.0.0.1:${inst.facts.port}`);
      await expectFastFailure(store.commit(input), 'STORE_UNAVAILABLE', 2500);
      expect((await store.health()).ok).toBe(false);

      await inst.restart();
      // the first request after it returns succeeds: no waiting for a reconnect loop
      expect(await store.headRev('alice')).toBe(0);
      expect(await store.listEntries('alice')).toEqual([]);
      const retry = await store.commit(input);
      expect(retry.ok && retry.rev).toBe(3000);
      expect(await store.headRev('alice')).toBe(3000);
      expect(await store.history('alice', '.config/p0')).toHaveLength(1);
      const replay = await store.commit(input);
      expect(replay.ok && replay.replayed).toBe(true);
      expect(await store.headRev('alice')).toBe(3000);

      const pooled = await expectNoLeaks(store);
      const check = await admin();
      const [rows] = await check.query('SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = ?', [db]);
      await check.end();
      expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBeLessThanOrEqual(pooled);
    } finally {
      await store.close();
    }
  });

  it('through the HTTP server: a fast 503 with Retry-After while MariaDB is down, and success once it is back', async () => {
    await inst.ensureRunning();
    const h = await startHarness({ store: new MariaDbStore({ db: block(`127.0.0.1:${inst.facts.port}`, `h_${uniqueId()}`), connectTimeoutMs: 1000, acquireTimeoutMs: 2000, queryTimeoutMs: 5000 }) });
    try {
      await httpOutage(h, () => inst.kill(), () => inst.restart());
    } finally {
      await h.close();
    }
  });

  it('splits blobs below a small max_allowed_packet and streams them back in chunks', async () => {
    await inst.ensureRunning();
    const conn = await admin();
    await conn.query('SET GLOBAL max_allowed_packet = 1048576');
    const db = `pk_${uniqueId()}`;
    try {
      const store = await open(block(`127.0.0.1:${inst.facts.port}`, db));
      try {
        expect((await store.health()).details?.maxAllowedPacket).toBe(1048576);
        const data = Buffer.alloc(5 * 1024 * 1024);
        for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
        const hash = sha256(data);
        await store.putBlob('alice', hash, Readable.from([data]), data.length);
        const [rows] = await conn.query(`SELECT COUNT(*) AS n, MAX(LENGTH(data)) AS biggest FROM \`${db}\`.dman_blob_chunks`);
        const { n, biggest } = (rows as Array<{ n: number; biggest: number }>)[0]!;
        expect(Number(biggest)).toBeLessThanOrEqual(1048576 / 4);
        expect(Number(n)).toBe(Math.ceil(data.length / Number(biggest)));
        const got = await store.getBlob('alice', hash);
        const parts: Buffer[] = [];
        for await (const c of got!.stream) parts.push(c as Buffer);
        expect(parts.length).toBe(Number(n));
        expect(sha256(Buffer.concat(parts))).toBe(hash);
      } finally { await store.close(); }
    } finally {
      await conn.query('SET GLOBAL max_allowed_packet = 67108864');
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await conn.end();
    }
  });

  it('commits a batch larger than a small max_allowed_packet: split over packets, its replay record sent whole', async () => {
    await inst.ensureRunning();
    const conn = await admin();
    await conn.query('SET GLOBAL max_allowed_packet = 1048576');
    const db = `pb_${uniqueId()}`;
    try {
      const store = await open(block(`127.0.0.1:${inst.facts.port}`, db));
      try {
        const blob = await upload(store, 'alice', 'many');
        // ~3,000 entries of ~300 bytes: the rows (sent as hex) span many packets, and the replay
        // record alone (~1 MB of JSON) is larger than a quarter of the packet limit.
        const ops = Array.from({ length: 3000 }, (_, i) => fileOp(`.config/${'deep/'.repeat(20)}file-${i}`, 0, blob));
        const input = { user: 'alice', device: 'laptop', ops, now: T0, idempotencyKey: 'big-batch-0001' };
        const out = await store.commit(input);
        expect(out.ok && out.rev).toBe(3000);
        expect(await store.headRev('alice')).toBe(3000);
        expect((await store.listEntries('alice')).length).toBe(3000);
        const replay = await store.commit(input);
        expect(replay.ok && replay.replayed && replay.entries.length).toBe(3000);
        expect(replay.ok && replay.entries[2999]).toEqual(out.ok && out.entries[2999]);
        const [rows] = await conn.query(`SELECT MAX(LENGTH(result)) AS biggest FROM \`${db}\`.dman_idempotency`);
        expect(Number((rows as Array<{ biggest: number }>)[0]!.biggest)).toBeGreaterThan(1048576 / 4);
      } finally { await store.close(); }
    } finally {
      await conn.query('SET GLOBAL max_allowed_packet = 67108864');
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await conn.end();
    }
  });

  describe('through a proxy that stalls, resets and truncates', () => {
    let proxy: TcpProxy;
    let store: MariaDbStore;
    const db = `p_${uniqueId()}`;
    beforeAll(async () => {
      await inst.ensureRunning();
      proxy = await startTcpProxy({ host: '127.0.0.1', port: inst.facts.port });
      store = await open(block(`127.0.0.1:${proxy.port}`, db), { queryTimeoutMs: 800, connectTimeoutMs: 800 });
    });
    afterAll(async () => {
      proxy?.setMode('pass');
      await store?.close();
      await proxy?.close();
    });
    const batch = (n: number, key: string) => ({ user: 'bob', device: 'd', ops: Array.from({ length: n }, (_, i) => deleteOp(`${key}/f${i}`, 0)), now: T0, idempotencyKey: key });

    it('a stall times out with a clear error; nothing lands half, and the retry lands once', async () => {
      const before = await store.headRev('bob');
      proxy.setMode('stall');
      const err = await expectFastFailure(store.headRev('bob'), 'STORE_UNAVAILABLE', 3000);
      expect(err.message).toMatch(/timeout|timed out/i);
      const input = batch(500, 'stall-0001');
      expect((await settle(store.commit(input))).error?.code).toBe('STORE_UNAVAILABLE');
      proxy.setMode('pass');
      const head = await store.headRev('bob');
      expect([before, before + 500]).toContain(head);
      const retry = await store.commit(input);
      expect(retry.ok && retry.rev).toBe(before + 500);
      await expectNoLeaks(store);
    });

    it('a reset fails the request with STORE_UNAVAILABLE and the next request works; the retry lands once', async () => {
      const before = await store.headRev('bob');
      const input = batch(2000, 'reset-0001');
      const pending = settle(store.commit(input));
      await waitUntil(() => proxy.openConnections() > 0 && store.poolStats().free < store.poolStats().all, 5000, 'the commit to hold a connection');
      proxy.resetAll();
      const r = await pending;
      if (r.error) expect(r.error.code).toBe('STORE_UNAVAILABLE');
      expect([before, before + 2000]).toContain(await store.headRev('bob'));
      const retry = await store.commit(input);
      expect(retry.ok && retry.rev).toBe(before + 2000);
      expect((await store.listEntries('bob')).filter((e) => e.path.startsWith('reset-0001/')).length).toBe(2000);
      await expectNoLeaks(store);
    });

    it('a truncated statement is never applied: nothing torn, and the retry lands', async () => {
      const before = await store.headRev('bob');
      const input = batch(300, 'trunc-0001');
      proxy.truncateNext(4000);
      const r = await settle(store.commit(input));
      expect(r.error?.code).toBe('STORE_UNAVAILABLE');
      expect(await store.headRev('bob')).toBe(before);
      expect((await store.listEntries('bob')).some((e) => e.path.startsWith('trunc-0001/'))).toBe(false);
      const retry = await store.commit(input);
      expect(retry.ok && retry.rev).toBe(before + 300);
      await expectNoLeaks(store);
    });
  });
});

describe('two MariaDB stores on one database', () => {
  it('500 concurrent conflicting commits: one winner per base rev, every loser conflicts, the manifest matches the model; B hears A', async () => {
    const facts = await getService('mariadb');
    const db = `two_${uniqueId()}`;
    const cfg = mariaDbBlock(facts, 'tcp', db) as unknown as DbBlock;
    const [a, b] = await Promise.all([open(cfg, { connectionLimit: 8, acquireTimeoutMs: 30_000 }), open(cfg, { connectionLimit: 8, acquireTimeoutMs: 30_000 })]);
    try {
      const { winners, losers } = await conflictStorm(a, b, 'carol', 500, ['.zshrc', '.gitconfig', '.vimrc', '.tmux.conf', '.ssh/config']);
      expect(winners).toBe(5);
      expect(losers).toBe(495);
      await crossInstanceNotification(a, b, 'carol');
      await crossInstanceNotification(b, a, 'carol');
    } finally {
      await Promise.all([a.close(), b.close()]);
      const conn = await createConnection(facts.socket ? { socketPath: facts.socket, user: facts.user } : { host: facts.host, port: facts.port, user: facts.user, password: facts.password });
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await conn.end();
    }
  });
});

describe('two servers on one MariaDB', () => {
  it('500 concurrent conflicting commits through both: one 200 per base rev, 409 for the rest, the model manifest; B streams A\'s commits', async () => {
    const facts = await getService('mariadb');
    const db = `two_${uniqueId()}`;
    const make = () => new MariaDbStore({ db: mariaDbBlock(facts, 'tcp', db) as unknown as DbBlock, connectionLimit: 8, acquireTimeoutMs: 30_000, pollMs: 50 });
    const a = await startHarness({ store: make() });
    const b = await startHarness({ store: make() });
    try {
      expect(await twoServersStorm(a, b, 500, ['.zshrc', '.gitconfig', '.vimrc', '.tmux.conf', '.ssh/config'])).toEqual({ ok: 5, conflicts: 495 });
    } finally {
      await Promise.all([a.close(), b.close()]);
      const conn = await createConnection(facts.socket ? { socketPath: facts.socket, user: facts.user } : { host: facts.host, port: facts.port, user: facts.user, password: facts.password });
      await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await conn.end();
    }
  });
});

describe('driver selection', () => {
  it('a config naming an unreachable MariaDB fails at open() with the address and the error, never falling back', async () => {
    const port = await freePort();
    const store = createStore({ driver: 'mysql', db: block(`127.0.0.1:${port}`, 'dman') });
    expect(store.driver).toBe('mariadb');
    const err = await expectFastFailure(store.open(), 'STORE_UNAVAILABLE', 6000);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});
