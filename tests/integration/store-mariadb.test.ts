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
});
