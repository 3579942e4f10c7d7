// The wizard's storage "Test connection" (DmanApi.testStorage) against real Redis and MariaDB:
// working settings pass, wrong ones come back as error values that name the address.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemorySettingsStore } from '../../engine/api/appSettings.js';
import { createDmanApi, type DmanApiHost } from '../../engine/api/createDmanApi.js';
import { silentLogger } from '../../engine/log.js';
import { getService } from '../setup/testServices.js';

describe('wizard storage test', () => {
  let dir: string;
  let api: DmanApiHost;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-wizstore-'));
    api = createDmanApi({ log: silentLogger(), configPath: join(dir, 'dman.yaml'), dataDir: dir, settings: createMemorySettingsStore(), env: {}, homedir: dir });
  });
  afterAll(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a writable disk folder and refuses one it cannot create', async () => {
    expect(await api.testStorage({ driver: 'disk', dataDir: join(dir, 'data') })).toMatchObject({ ok: true, value: { warnings: [] } });
    await writeFile(join(dir, 'a-file'), 'x');
    const r = await api.testStorage({ driver: 'disk', dataDir: join(dir, 'a-file', 'data') });
    expect(r).toMatchObject({ ok: false, error: { code: 'IO', message: expect.stringContaining(join(dir, 'a-file', 'data')) } });
  });

  it('reaches Redis over TCP and a unix socket, and explains a wrong password', async () => {
    const f = await getService('redis');
    const auth = { username: f.username, password: f.password };
    expect(await api.testStorage({ driver: 'redis', addr: `${f.host}:${f.port}`, ...auth })).toMatchObject({ ok: true });
    if (f.socket) expect(await api.testStorage({ driver: 'redis', socket: f.socket, ...auth })).toMatchObject({ ok: true });
    const bad = await api.testStorage({ driver: 'redis', addr: `${f.host}:${f.port}`, username: f.username ?? 'default', password: 'wrong-password' });
    if (f.password) expect(bad).toMatchObject({ ok: false, error: { code: 'STORE_UNAVAILABLE', message: expect.stringContaining(`${f.host}:${f.port}`) } });
    const closed = await api.testStorage({ driver: 'redis', addr: '127.0.0.1:1' });
    expect(closed).toMatchObject({ ok: false, error: { code: 'STORE_UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1') } });
  });

  it('reaches MariaDB and explains an unknown database', async () => {
    const f = await getService('mariadb');
    const base = { driver: 'mariadb' as const, addr: `${f.host}:${f.port}`, username: f.user, password: f.password };
    expect(await api.testStorage({ ...base, db: 'mysql' })).toMatchObject({ ok: true });
    const r = await api.testStorage({ ...base, db: 'dman_no_such_db' });
    expect(r).toMatchObject({ ok: false, error: { code: 'STORE_UNAVAILABLE', message: expect.stringContaining('dman_no_such_db') } });
  });
});
