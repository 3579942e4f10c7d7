// The short kill -9 soak in npm test: 3 SIGKILLs of a real `dman serve` per driver while three
// clients commit. The long one (50 kills per driver): npm run soak -- --kill9 50.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { freePort } from '../setup/services.js';
import { getService, uniqueId } from '../setup/testServices.js';
import { killSoak } from './kill9/killSoak.js';

const KILLS = Number(process.env.DMAN_KILL9 ?? 3);

describe('kill -9 of dman serve while three clients commit', () => {
  it.each(['disk', 'redis', 'mariadb'] as const)('%s: every acknowledged commit survives, every blob intact', async (driver) => {
    const dir = await mkdtemp(join(tmpdir(), `dman-kill9-${driver}-`));
    let drop = async (): Promise<void> => {};
    try {
      let config = `storage_driver: disk\ndata_dir: ${join(dir, 'data')}\n`;
      if (driver === 'redis') {
        const f = await getService('redis');
        config = `storage_driver: redis\nredis:\n  addr: ${f.host}:${f.port}\n  db: ${1 + Number(uniqueId().replace(/\D/g, '').slice(-1) || 0) % 14}\n`;
      } else if (driver === 'mariadb') {
        const f = await getService('mariadb');
        const db = `dman_kill9_${uniqueId()}`;
        config = `storage_driver: mysql\ndb:\n  addr: ${f.host}:${f.port}\n  user: ${f.user}\n${f.password ? `  password: ${f.password}\n` : ''}  db: ${db}\n`;
        drop = async () => {
          const conn = await createConnection({ host: f.host, port: f.port, user: f.user, password: f.password });
          try { await conn.query(`DROP DATABASE IF EXISTS \`${db}\``); } finally { await conn.end(); }
        };
      }
      const r = await killSoak({ dir, config, port: await freePort(), kills: KILLS, seed: 9 });
      expect(r.problems).toEqual([]);
      expect(r.acked, `${r.attempts} attempts; last error: ${r.lastError}`).toBeGreaterThan(KILLS);
    } finally {
      await drop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000 + KILLS * 4_000);
});
