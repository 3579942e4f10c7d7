// The Store contract against a real MariaDB over TCP, a unix socket and TLS. Each transport gets
// one database per file, migrated once and emptied after every test (DDL per test is slow).
import { Readable } from 'node:stream';
import { createConnection } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { describeStoreContract, sha256 } from '../../server/store/contract.js';
import { MariaDbStore } from '../../server/store/mariadb/MariaDbStore.js';
import type { DbBlock } from '../../server/store/mariadb/mariaDbOptions.js';
import { SCHEMA_VERSION } from '../../server/store/mariadb/migrations.js';
import type { MariaDbFacts } from '../setup/services.js';
import { getService, mariaDbBlock, uniqueId, type Transport } from '../setup/testServices.js';

async function dropDatabase(facts: MariaDbFacts, db: string): Promise<void> {
  const conn = await createConnection(facts.socket ? { socketPath: facts.socket, user: facts.user, password: facts.password } : { host: facts.host, port: facts.port, user: facts.user, password: facts.password });
  try { await conn.query(`DROP DATABASE IF EXISTS \`${db}\``); } finally { await conn.end(); }
}

async function openStore(via: Transport, db = `dman_t_${uniqueId()}`): Promise<{ store: MariaDbStore; cleanup: () => Promise<void>; reopen: () => Promise<MariaDbStore> }> {
  const facts = await getService(via === 'tls' ? 'mariadb-tls' : via === 'socket' ? 'mariadb-socket' : 'mariadb');
  const make = async (): Promise<MariaDbStore> => {
    const s = new MariaDbStore({ db: mariaDbBlock(facts, via, db) as unknown as DbBlock, pollMs: 50 });
    await s.open();
    return s;
  };
  const store = await make();
  return { store, reopen: make, cleanup: async () => { await store.close(); await dropDatabase(facts, db); } };
}

const T0 = Date.UTC(2026, 0, 1);

const contractDbs = new Map<Transport, { facts: MariaDbFacts; db: string }>();

/** Empties every dman table of `db`, leaving the schema (and its version) in place. */
async function wipe(facts: MariaDbFacts, db: string): Promise<void> {
  const conn = await createConnection({ ...(facts.socket ? { socketPath: facts.socket } : { host: facts.host, port: facts.port }), user: facts.user, password: facts.password, database: db });
  try {
    const [rows] = await conn.query(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? AND table_name LIKE 'dman\\_%' AND table_name <> 'dman_schema'`, [db]);
    for (const r of rows as Array<{ t: string }>) await conn.query(`DELETE FROM \`${r.t}\``);
  } finally { await conn.end(); }
}

async function openContractStore(via: Transport): Promise<{ store: MariaDbStore; cleanup: () => Promise<void>; reopen: () => Promise<MariaDbStore> }> {
  let shared = contractDbs.get(via);
  if (!shared) {
    shared = { facts: await getService(via === 'tls' ? 'mariadb-tls' : via === 'socket' ? 'mariadb-socket' : 'mariadb'), db: `dman_c_${uniqueId()}` };
    contractDbs.set(via, shared);
  }
  const { facts, db } = shared;
  const opened = await openStore(via, db);
  return { ...opened, cleanup: async () => { await opened.store.close(); await wipe(facts, db); } };
}

afterAll(async () => {
  for (const { facts, db } of contractDbs.values()) await dropDatabase(facts, db);
});

for (const via of ['tcp', 'socket', 'tls'] as const) {
  describeStoreContract(`MariaDbStore over ${via}`, () => openContractStore(via), { persistent: true });
}

describe('MariaDbStore specifics', () => {
  it('migrates once when two stores open the same new database together, and reports the schema', async () => {
    const db = `dman_t_${uniqueId()}`;
    const [a, b] = await Promise.all([openStore('tcp', db), openStore('tcp', db)]);
    try {
      const h = await a.store.health();
      expect(h.ok).toBe(true);
      expect(h.details?.schemaVersion).toBe(SCHEMA_VERSION);
      expect(Number(h.details?.maxAllowedPacket)).toBeGreaterThanOrEqual(16 * 1024 * 1024);
      expect(await b.store.headRev('alice')).toBe(0);
    } finally { await b.store.close(); await a.cleanup(); }
  });

  it('refuses a schema newer than this code with SCHEMA_TOO_NEW', async () => {
    const { store, cleanup } = await openStore('tcp');
    const facts = await getService('mariadb');
    const db = (store as unknown as { database: string }).database;
    const conn = await createConnection({ host: facts.host, port: facts.port, user: facts.user, password: facts.password, database: db });
    await conn.query('UPDATE dman_schema SET version = 99 WHERE id = 1');
    await conn.end();
    const again = new MariaDbStore({ db: mariaDbBlock(facts, 'tcp', db) as unknown as DbBlock });
    const err = await again.open().then(() => null, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('SCHEMA_TOO_NEW');
    expect(err?.message).toContain(`version 99, newer than this server understands (${SCHEMA_VERSION})`);
    await cleanup();
  });

  it('connects as a user with a password and refuses a wrong one with the address and the reason', async () => {
    const facts = await getService('mariadb');
    const db = `dman_t_${uniqueId()}`, user = `u_${uniqueId()}`;
    const admin = await createConnection({ host: facts.host, port: facts.port, user: facts.user, password: facts.password });
    await admin.query(`CREATE DATABASE \`${db}\``);
    await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 's3cret-pass'`);
    await admin.query(`GRANT ALL ON \`${db}\`.* TO '${user}'@'%'`);
    try {
      const block = { ...mariaDbBlock(facts, 'tcp', db), user, password: 's3cret-pass' } as unknown as DbBlock;
      const store = new MariaDbStore({ db: block });
      await store.open();
      expect(await store.headRev('alice')).toBe(0);
      await store.close();
      const wrong = new MariaDbStore({ db: { ...block, password: 'nope' } });
      const err = await wrong.open().then(() => null, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe('STORE_UNAVAILABLE');
      expect(err?.message).toContain(`mysql://${user}@127.0.0.1:${facts.port}/${db}`);
      expect(err?.message).toMatch(/Access denied/);
    } finally {
      await admin.query(`DROP USER '${user}'@'%'`);
      await admin.query(`DROP DATABASE IF EXISTS \`${db}\``);
      await admin.end();
    }
  });

  it('refuses TLS when the CA or the server name does not match', async () => {
    const facts = await getService('mariadb-tls');
    for (const over of [{ tls_ca: undefined }, { tls_server_name: 'wrong.example' }]) {
      const store = new MariaDbStore({ db: { ...mariaDbBlock(facts, 'tls', 'dman_never'), ...over } as unknown as DbBlock, connectTimeoutMs: 2000 });
      const err = await store.open().then(() => null, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe('STORE_UNAVAILABLE');
      expect(err?.message).toMatch(/certificate|self.signed|wrong\.example|altnames/i);
    }
  });

  it('keeps quotes, backslashes, placeholders and non-ASCII text exact through the commit packets', async () => {
    const { store, cleanup } = await openStore('tcp');
    try {
      const data = Buffer.from('odd');
      await store.putBlob('alice', sha256(data), Readable.from([data]), 100);
      const blob = { hash: sha256(data), size: data.length };
      const paths = [`it's "quoted"`, 'back`tick` ;semi', 'what? ?', '100% _like_', 'ünï/cödé/🙂', `x'); DROP TABLE dman_heads; --`, 'CONCAT(\'a\')'];
      const ops = [
        ...paths.map((path) => ({ path, baseRev: 0, deleted: false, kind: 'file' as const, ...blob, mode: 0o644, mtime: 7 })),
        { path: 'link', baseRev: 0, deleted: false, kind: 'symlink' as const, hash: null, size: 0, mode: 0, mtime: 0, target: `../it's\\"there"?` },
      ];
      const device = `dev'ice\\ "ü" ?`;
      const out = await store.commit({ user: 'alice', device, ops, now: T0, idempotencyKey: `key'"\\?-0001` });
      expect(out.ok).toBe(true);
      if (!out.ok) return;
      for (const e of out.entries) {
        expect(await store.getEntry('alice', e.path)).toEqual(e);
        expect(await store.history('alice', e.path)).toEqual([e]);
      }
      expect(out.entries.map((e) => e.device)).toEqual(ops.map(() => device));
      expect((await store.changes('alice', 0, 100)).entries).toEqual(out.entries);
      expect(await store.commit({ user: 'alice', device, ops, now: T0, idempotencyKey: `key'"\\?-0001` })).toEqual({ ...out, replayed: true });
      // a conflict names the stored entry exactly
      const stale = await store.commit({ user: 'alice', device, ops: [ops[0]!], now: T0 });
      expect(stale.ok || stale.conflicts[0]!.current).toEqual(out.entries[0]);
      expect(await store.headRev('alice')).toBe(ops.length);
    } finally { await cleanup(); }
  });

  it('retention after a commit skips the paths that commit counted too short, and the last committer of a path trims it', async () => {
    const { store: a, cleanup, reopen } = await openStore('tcp');
    const b = await reopen();
    try {
      const data = Buffer.from('v');
      for (const s of [a, b]) await s.putBlob('alice', sha256(data), Readable.from([data]), 100);
      const op = (path: string, baseRev: number) => ({ path, baseRev, deleted: false, kind: 'file' as const, hash: sha256(data), size: 1, mode: 0o644, mtime: baseRev });
      const none = { versions: 0, days: 0 };
      // a's own history of p: counted 3 under a's last commit, so the pass asks and trims 2
      let rev = 0;
      for (let i = 0; i < 3; i++) { const o = await a.commit({ user: 'alice', device: 'a', ops: [op('p', rev)], now: T0 }); rev = o.ok ? o.rev : -1; }
      expect((await a.applyRetention('alice', none, T0 + 1, { paths: ['p'] })).versionsRemoved).toBe(2);
      // q: a commits it once (counted 1), then b twice more. a's pass trusts its count and skips q;
      // b committed last, counted all three, and trims them.
      const q1 = await a.commit({ user: 'alice', device: 'a', ops: [op('q', 0)], now: T0 });
      const q2 = await b.commit({ user: 'alice', device: 'b', ops: [op('q', q1.ok ? q1.rev : -1)], now: T0 });
      await b.commit({ user: 'alice', device: 'b', ops: [op('q', q2.ok ? q2.rev : -1)], now: T0 });
      expect((await a.applyRetention('alice', none, T0 + 1, { paths: ['q'] })).versionsRemoved).toBe(0);
      expect((await b.applyRetention('alice', none, T0 + 1, { paths: ['q'] })).versionsRemoved).toBe(2);
      expect(await a.history('alice', 'q')).toHaveLength(1);
      // a count is used once: the next pass over r asks the database
      const r1 = await a.commit({ user: 'alice', device: 'a', ops: [op('r', 0)], now: T0 });
      await b.commit({ user: 'alice', device: 'b', ops: [op('r', r1.ok ? r1.rev : -1)], now: T0 });
      expect((await a.applyRetention('alice', none, T0 + 1, { paths: ['r'] })).versionsRemoved).toBe(0);
      expect((await a.applyRetention('alice', none, T0 + 1, { paths: ['r'] })).versionsRemoved).toBe(1);
      // versions younger than the policy's days are not even read back, and none goes
      for (let i = 0; i < 3; i++) { const h = await a.headRev('alice'); const cur = await a.getEntry('alice', 's'); await a.commit({ user: 'alice', device: 'a', ops: [op('s', cur?.rev ?? 0)], now: T0 + i }); expect(await a.headRev('alice')).toBe(h + 1); }
      expect((await a.applyRetention('alice', { versions: 0, days: 1 }, T0 + 1000)).versionsRemoved).toBe(0);
      expect((await a.applyRetention('alice', { versions: 0, days: 1 }, T0 + 2 * 86_400_000)).versionsRemoved).toBe(2);
    } finally { await b.close(); await cleanup(); }
  });

  it('keys the chunks of blobs uploaded one after another in upload order (ids in time order append to the chunk index)', async () => {
    const { store, cleanup } = await openStore('tcp');
    const facts = await getService('mariadb');
    const db = (store as unknown as { database: string }).database;
    const conn = await createConnection({ host: facts.host, port: facts.port, user: facts.user, password: facts.password, database: db });
    try {
      const blobs = Array.from({ length: 40 }, (_, i) => Buffer.from(`blob ${i}`));
      // one at a time, then a batch (putBlobs), then one more large one (its own upload row)
      for (const b of blobs.slice(0, 10)) await store.putBlob('alice', sha256(b), Readable.from([b]), 1e6);
      await store.putBlobs('alice', (async function* () { for (const b of blobs.slice(10)) yield { hash: sha256(b), data: Readable.from([b]) }; })(), 1e6);
      const [rows] = await conn.query('SELECT hash, upload_id FROM dman_blobs');
      const idOf = new Map((rows as Array<{ hash: string; upload_id: string }>).map((r) => [r.hash, r.upload_id]));
      const ids = blobs.map((b) => idOf.get(sha256(b))!);
      expect(new Set(ids).size).toBe(blobs.length);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      // the chunk table's key order is the upload order
      const [chunks] = await conn.query('SELECT upload_id FROM dman_blob_chunks ORDER BY upload_id, seq');
      expect((chunks as Array<{ upload_id: string }>).map((c) => c.upload_id)).toEqual(ids);
      for (const b of blobs) expect(Buffer.concat(await (await store.getBlob('alice', sha256(b)))!.stream.toArray() as Buffer[])).toEqual(b);
    } finally { await conn.end(); await cleanup(); }
  });

  it('a commit of more paths than one statement holds (a first publish) counts them all, so its retention pass asks nothing', async () => {
    const { store: a, cleanup, reopen } = await openStore('tcp');
    const b = await reopen();
    try {
      const data = Buffer.from('v');
      for (const s of [a, b]) await s.putBlob('alice', sha256(data), Readable.from([data]), 100);
      const op = (path: string, baseRev: number) => ({ path, baseRev, deleted: false, kind: 'file' as const, hash: sha256(data), size: 1, mode: 0o644, mtime: 1 });
      const paths = Array.from({ length: 1200 }, (_, i) => `d/f${i}`);
      const first = await a.commit({ user: 'alice', device: 'a', ops: paths.map((p) => op(p, 0)), now: T0 });
      if (!first.ok) throw new Error('the first commit conflicted');
      // b adds two versions of a path far past the first 500 of a's commit: a counted it at 1
      const late = first.entries[1100]!;
      const o2 = await b.commit({ user: 'alice', device: 'b', ops: [op(late.path, late.rev)], now: T0 });
      await b.commit({ user: 'alice', device: 'b', ops: [op(late.path, o2.ok ? o2.rev : -1)], now: T0 });
      const none = { versions: 0, days: 0 };
      expect((await a.applyRetention('alice', none, T0 + 1, { paths })).versionsRemoved).toBe(0);
      expect((await b.applyRetention('alice', none, T0 + 1, { paths: [late.path] })).versionsRemoved).toBe(2);
      expect(await a.history('alice', late.path)).toHaveLength(1);
      // once its counts are used, a scoped pass asks the database and trims only the named paths
      const again = await a.commit({ user: 'alice', device: 'a', ops: [op('d/f7', first.entries[7]!.rev)], now: T0 });
      expect(again.ok).toBe(true);
      expect((await a.applyRetention('alice', none, T0 + 1, { paths: ['d/f3'] })).versionsRemoved).toBe(0);
      expect(await a.history('alice', 'd/f7')).toHaveLength(2);
      expect((await b.applyRetention('alice', none, T0 + 1, { paths: ['d/f3', 'd/f7'] })).versionsRemoved).toBe(1);
      expect(await a.history('alice', 'd/f7')).toHaveLength(1);
    } finally { await b.close(); await cleanup(); }
  });

  it('upgrades a version-1 database to the current schema, keeping its data', async () => {
    const { store, cleanup } = await openStore('tcp');
    const facts = await getService('mariadb');
    const db = (store as unknown as { database: string }).database;
    const data = Buffer.from('from the v1 days');
    await store.putBlob('alice', sha256(data), Readable.from([data]), 100);
    await store.close();
    const conn = await createConnection({ host: facts.host, port: facts.port, user: facts.user, password: facts.password, database: db });
    await conn.query('ALTER TABLE dman_blobs DROP COLUMN uploaded_at');
    await conn.query('UPDATE dman_blobs SET created_at = 1234');
    await conn.query('UPDATE dman_schema SET version = 1 WHERE id = 1');
    const again = new MariaDbStore({ db: mariaDbBlock(facts, 'tcp', db) as unknown as DbBlock });
    await again.open();
    try {
      const [rows] = await conn.query('SELECT s.version, b.uploaded_at FROM dman_schema s, dman_blobs b');
      expect(rows).toEqual([{ version: SCHEMA_VERSION, uploaded_at: 1234 }]);
      expect(await again.hasBlob('alice', sha256(data))).toBe(true);
    } finally {
      await conn.end();
      await again.close();
      await cleanup();
    }
  });
  describe('uploads that gc catches half-way (review findings)', () => {
    async function small(chunk: number): Promise<{ store: MariaDbStore; sql: Awaited<ReturnType<typeof createConnection>>; cleanup: () => Promise<void> }> {
      const facts = await getService('mariadb');
      const db = `dman_t_${uniqueId()}`;
      const store = new MariaDbStore({ db: mariaDbBlock(facts, 'tcp', db) as unknown as DbBlock, blobChunkBytes: chunk });
      await store.open();
      const sql = await createConnection({ host: facts.host, port: facts.port, user: facts.user, password: facts.password, database: db });
      return { store, sql, cleanup: async () => { await sql.end(); await store.close(); await dropDatabase(facts, db); } };
    }
    const fileOp = (path: string, hash: string, size: number) => ({ path, baseRev: 0, deleted: false, kind: 'file' as const, hash, size, mode: 0o644, mtime: 0 });

    it('putBlobs fails, publishing nothing, when gc dropped a slow group\'s pending upload', async () => {
      const { store, sql, cleanup } = await small(16 * 1024);
      try {
        const big = Buffer.alloc(100_000, 9), tiny = Buffer.from('small');
        let removed = -1;
        async function* upload() {
          yield { hash: sha256(big), data: Readable.from([big]) }; // streamed into a pending upload
          // the rest of the group takes over an hour: the pending upload ages past gc's limit
          await sql.query('UPDATE dman_uploads SET started_at = started_at - 2 * 3600 * 1000');
          removed = (await store.gcBlobs()).blobsRemoved;
          yield { hash: sha256(tiny), data: Readable.from([tiny]) };
        }
        await expect(store.putBlobs('alice', upload(), 1e6)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/took too long.*upload again/) });
        expect(removed).toBe(0);
        expect(await store.hasBlob('alice', sha256(big))).toBe(false);
        const [rows] = await sql.query('SELECT hash FROM dman_blobs');
        expect(rows).toEqual([]);
        await expect(store.commit({ user: 'alice', device: 'd', ops: [fileOp('.big', sha256(big), big.length)], now: T0 })).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
        // uploading again works
        const again = await store.putBlobs('alice', (async function* () { yield { hash: sha256(big), data: Readable.from([big]) }; })(), 1e6);
        expect(again).toEqual([{ hash: sha256(big), size: big.length, created: true }]);
        const got = await store.getBlob('alice', sha256(big));
        const parts: Buffer[] = [];
        for await (const x of got!.stream) parts.push(x as Buffer);
        expect(Buffer.concat(parts).equals(big)).toBe(true);
      } finally { await cleanup(); }
    });

    it('putBlob fails when gc dropped its pending upload before it finished', async () => {
      const { store, sql, cleanup } = await small(1024);
      try {
        const big = Buffer.alloc(10_000, 5);
        async function* slow() {
          yield big.subarray(0, 5000);
          await sql.query('UPDATE dman_uploads SET started_at = started_at - 2 * 3600 * 1000');
          await store.gcBlobs();
          yield big.subarray(5000);
        }
        await expect(store.putBlob('alice', sha256(big), slow(), 1e6)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/took too long/) });
        expect(await store.hasBlob('alice', sha256(big))).toBe(false);
        const [rows] = await sql.query('SELECT (SELECT COUNT(*) FROM dman_blobs) AS b, (SELECT COUNT(*) FROM dman_blob_chunks) AS c, (SELECT COUNT(*) FROM dman_uploads) AS u');
        expect(rows).toEqual([{ b: 0, c: 0, u: 0 }]);
      } finally { await cleanup(); }
    });

    it('putBlobs of a known large blob that gc removes meanwhile fails instead of reporting it stored', async () => {
      const { store, cleanup } = await small(1024);
      try {
        const big = Buffer.alloc(40_000, 7), h = sha256(big);
        await store.putBlob('alice', h, Readable.from([big]), 1e6); // old and unreferenced
        let removed = -1;
        async function* upload() {
          yield { hash: h, data: Readable.from([big]) }; // known: verified, no bytes kept
          removed = (await store.gcBlobs({ graceMs: 0, now: Date.now() + 1000 })).blobsRemoved;
        }
        await expect(store.putBlobs('bob', upload(), 1e6)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/garbage-collected.*retry/) });
        expect(removed).toBe(1);
        expect(await store.hasBlob('bob', h)).toBe(false);
        // the retry stores it anew
        expect(await store.putBlobs('bob', (async function* () { yield { hash: h, data: Readable.from([big]) }; })(), 1e6)).toEqual([{ hash: h, size: big.length, created: true }]);
        expect(await store.getBlob('bob', h)).not.toBeNull();
      } finally { await cleanup(); }
    });

    it('putBlob of a known blob that gc removes meanwhile fails instead of reporting it stored', async () => {
      const { store, cleanup } = await small(1024);
      try {
        const big = Buffer.alloc(4000, 3), h = sha256(big);
        await store.putBlob('alice', h, Readable.from([big]), 1e6);
        async function* slow() {
          yield big.subarray(0, 100);
          await store.gcBlobs({ graceMs: 0, now: Date.now() + 1000 });
          yield big.subarray(100);
        }
        const err = await store.putBlob('bob', h, slow(), 1e6).then(() => null, (e: unknown) => e);
        expect((err as Error).message).toMatch(/garbage-collected/);
        expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE' });
        expect(await store.hasBlob('bob', h)).toBe(false);
      } finally { await cleanup(); }
    });
  });
});
