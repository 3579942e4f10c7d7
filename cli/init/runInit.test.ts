// The question flow of `dman init` with scripted answers and injected live checks, and the YAML it
// renders (linted with the same function as `dman config lint`).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_GROUPS } from '../../shared/config/defaults.js';
import { lintConfigText } from '../../engine/config/lint.js';
import { renderInitConfig } from './renderInitConfig.js';
import { defaultPrompts, runInit, type InitFlags, type Prompts } from './runInit.js';

/** Prompts that answer from a script of [message regex, answer] pairs, in order, and record what was asked. */
function scripted(script: Array<[RegExp, unknown]>): Prompts & { asked: string[] } {
  const asked: string[] = [];
  const next = (message: string): unknown => {
    asked.push(message);
    const step = script.shift();
    if (!step) throw new Error(`unexpected question: ${message}`);
    if (!step[0].test(message)) throw new Error(`expected a question like ${step[0]}, got: ${message}`);
    return step[1];
  };
  return {
    asked,
    async select(o) { return next(o.message) as never; },
    async input(o) { const v = next(o.message) as string; return v === '' ? (o.default ?? '') : v; },
    async password(o) { return next(o.message) as string; },
    async confirm(o) { return next(o.message) as boolean; },
    async checkbox(o) { return next(o.message) as never; },
  };
}

const base = { say: () => {}, homedir: '/home/me', username: 'me', checkServer: async () => ({ ok: true as const, detail: 'dman server' }) };

describe('runInit', () => {
  it('with --yes takes every default: both roles, disk, all groups, ask', async () => {
    const both = await runInit({ ...base, flags: { yes: true, role: 'both', serveAddr: '0.0.0.0:4000' }, prompts: defaultPrompts() });
    expect(both).toMatchObject({ listen: '0.0.0.0:4000', serverUrl: 'http://127.0.0.1:4000' });
    const a = await runInit({ ...base, flags: { yes: true }, prompts: defaultPrompts() });
    expect(a).toMatchObject({ role: 'both', listen: '127.0.0.1:3626', serverUrl: 'http://127.0.0.1:3626', storage: 'disk', conflictPolicy: 'ask', users: [{ name: 'me', home: '/home/me' }] });
    expect(a.groups).toEqual(Object.keys(DEFAULT_GROUPS));
    expect(a.track).toContain('!docs/config.yaml');
  });

  it('asks again after a failed database test and keeps the second answers', async () => {
    const tries: unknown[] = [];
    const prompts = scripted([
      [/What runs/, 'server'], [/Address to serve/, ''], [/store files/, 'redis'],
      [/Connect to redis/, 'tcp'], [/Redis address/, 'bad.lan:6379'], [/ACL user/, ''], [/password/, ''], [/database number/, ''], [/Use TLS/, false],
      [/try again/, true],
      [/Connect to redis/, 'socket'], [/socket path/, '/run/redis.sock'], [/ACL user/, 'dman'], [/password/, 's3cret'], [/database number/, '2'], [/Use TLS/, false],
      [/Your user name/, 'alice'], [/Home of alice/, '/home/alice'], [/Add another/, true],
      [/Another user/, 'bob'], [/Home of bob/, ''], [/Add another/, false],
    ]);
    const a = await runInit({
      ...base, flags: {}, prompts,
      checkStore: async (_d, blocks) => { tries.push(blocks.redis); return tries.length === 1 ? { ok: false, error: 'ECONNREFUSED' } : { ok: true, detail: 'ok' }; },
    });
    expect(tries).toHaveLength(2);
    expect(a.redis).toEqual({ socket: '/run/redis.sock', username: 'dman', password: 's3cret', db: 2 });
    expect(a.users).toEqual([{ name: 'alice', home: '/home/alice' }, { name: 'bob', home: '/home/bob' }]);
    expect(a.track).toBeUndefined();
  });

  it('shows a failing server check and asks for another URL unless kept', async () => {
    const said: string[] = [];
    let calls = 0;
    const prompts = scripted([
      [/What runs/, 'client'], [/Server URL/, 'http://down.lan:3626'], [/Keep this URL anyway/, false], [/Server URL/, 'http://up.lan:3626'],
      [/Your user name/, ''], [/Home of me/, ''], [/Add another/, false], [/Which groups/, ['git']], [/When a file changed/, 'merge'],
    ]);
    const a = await runInit({ ...base, say: (l) => said.push(l), flags: {}, prompts, checkServer: async (u) => (++calls && u.includes('down') ? { ok: false, error: 'cannot reach http://down.lan:3626/health: ENOTFOUND' } : { ok: true, detail: 'dman server 1.0' }) });
    expect(said.join('\n')).toContain('not reachable: cannot reach http://down.lan:3626/health: ENOTFOUND');
    expect(a).toMatchObject({ serverUrl: 'http://up.lan:3626', groups: ['git'], track: [...DEFAULT_GROUPS.git!], conflictPolicy: 'merge' });
    expect(calls).toBe(2);
  });

  it.each<[InitFlags, RegExp]>([
    [{ role: 'laptop' }, /--role "laptop" is not a role/],
    [{ role: 'server', storage: 'sqlite' }, /--storage "sqlite" is not a storage driver/],
    [{ role: 'client', conflictPolicy: 'newest' }, /--conflict-policy "newest" is not a conflict policy/],
    [{ role: 'client', home: ['/a'] }, /1 --home flags but 0 --user flags/],
    [{ role: 'server', storage: 'redis', redisAddr: 'r:1', redisDb: '16', check: false }, /--redis-db "16" is not a number from 0 to 15/],
    [{ role: 'server', serveAddr: 'localhost' }, /--serve-addr "localhost"/],
    [{ role: 'client', user: ['9lives'] }, /--user "9lives" is not a valid user name/],
    [{ role: 'client', groups: 'shell,vim' }, /unknown groups: vim/],
  ])('refuses bad flag values: %j', async (flags, msg) => {
    await expect(runInit({ ...base, flags: { yes: true, ...flags }, prompts: defaultPrompts() })).rejects.toThrow(msg);
  });

  it('with --yes a failed store test is an error naming the driver and the cause', async () => {
    await expect(runInit({ ...base, flags: { yes: true, role: 'server', storage: 'mariadb', dbAddr: 'db:3306' }, prompts: defaultPrompts(), checkStore: async () => ({ ok: false, error: 'Access denied for user' }) }))
      .rejects.toThrow(/the mariadb connection test failed: Access denied for user/);
  });
});

describe('runInit TLS and password files', () => {
  let dir: string;
  const f = (n: string) => join(dir, n);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-init-tls-'));
    for (const n of ['ca.pem', 'client.pem', 'client.key']) await writeFile(f(n), `-----BEGIN ${n}-----\n`);
    await writeFile(f('redis.pw'), 'from-a-file\n', { mode: 0o600 });
  });
  afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

  it('takes every TLS flag and a password file, and the written config lints with those keys', async () => {
    for (const storage of ['redis', 'mariadb'] as const) {
      const flags: InitFlags = storage === 'redis'
        ? { redisAddr: 'r.lan:6380', redisPasswordFile: f('redis.pw'), redisTlsCa: f('ca.pem'), redisTlsCert: f('client.pem'), redisTlsKey: f('client.key'), redisTlsServerName: 'redis.internal', redisTlsInsecureSkipVerify: true }
        : { dbAddr: 'db.lan:3306', dbPasswordFile: f('redis.pw'), dbTls: true, dbTlsCa: f('ca.pem') };
      const a = await runInit({ ...base, flags: { yes: true, role: 'server', storage, check: false, ...flags }, prompts: defaultPrompts() });
      const text = renderInitConfig(a);
      const rep = await lintConfigText(text, { file: f('dman.yaml'), mode: 0o600, env: {}, homedir: '/home/me', hostname: 'box' });
      expect(rep.problems, text).toEqual([]);
      if (storage === 'redis') {
        expect(rep.config?.redis).toMatchObject({ addr: 'r.lan:6380', password: 'from-a-file', tls: true, tls_ca: f('ca.pem'), tls_cert: f('client.pem'), tls_key: f('client.key'), tls_server_name: 'redis.internal', tls_insecure_skip_verify: true });
      } else {
        expect(rep.config?.db).toMatchObject({ addr: 'db.lan:3306', password: 'from-a-file', tls: true, tls_ca: f('ca.pem'), tls_insecure_skip_verify: false });
        expect(text).not.toContain('tls_insecure_skip_verify');
      }
    }
  });

  it('passes the TLS settings to the live store test', async () => {
    let seen: unknown;
    await runInit({ ...base, flags: { yes: true, role: 'server', storage: 'redis', redisAddr: 'r:1', redisTls: true }, prompts: defaultPrompts(), checkStore: async (_d, b) => { seen = b.redis; return { ok: true, detail: 'ok' }; } });
    expect(seen).toMatchObject({ addr: 'r:1', tls: true, tls_insecure_skip_verify: false });
  });

  it('asks "Use TLS?" and its follow-ups in the interactive flow', async () => {
    const prompts = scripted([
      [/What runs/, 'server'], [/Address to serve/, ''], [/store files/, 'mariadb'],
      [/Connect to mariadb/, 'tcp'], [/MariaDB address/, 'db.lan:3306'], [/Database name/, ''], [/Database user/, ''], [/password/, 'pw'],
      [/Use TLS for the MariaDB connection/, true], [/CA certificate/, f('ca.pem')], [/client certificate/, f('client.pem')], [/client key/, f('client.key')],
      [/server name/, 'db.internal'], [/Skip verifying/, false],
      [/Your user name/, ''], [/Home of me/, ''], [/Add another/, false],
    ]);
    const a = await runInit({ ...base, flags: { check: false }, prompts });
    expect(a.db).toEqual({ addr: 'db.lan:3306', db: 'dman', user: 'dman', password: 'pw', tls: true, tls_ca: f('ca.pem'), tls_cert: f('client.pem'), tls_key: f('client.key'), tls_server_name: 'db.internal' });
  });

  it.each<[InitFlags, RegExp]>([
    [{ redisTlsCa: '/nonexistent/ca.pem' }, /--redis-tls-ca "\/nonexistent\/ca.pem" \/nonexistent\/ca.pem does not exist/],
    [{ redisTlsCert: '/etc/hostname' }, /--redis-tls-cert is set without --redis-tls-key/],
    [{ redisPasswordFile: '/nonexistent/pw' }, /--redis-password-file \/nonexistent\/pw cannot be read: ENOENT/],
    [{ redisPasswordFile: '/etc/hostname', redisPassword: 'x' }, /both --redis-password and --redis-password-file/],
  ])('refuses bad TLS and password-file flags: %j', async (flags, msg) => {
    await expect(runInit({ ...base, flags: { yes: true, role: 'server', storage: 'redis', redisAddr: 'r:1', check: false, ...flags }, prompts: defaultPrompts() })).rejects.toThrow(msg);
  });
});

describe('renderInitConfig', () => {
  it('writes a config that lints clean for every role', async () => {
    for (const role of ['client', 'server', 'both'] as const) {
      const a = await runInit({ ...base, flags: { yes: true, role, storage: role === 'client' ? undefined : 'redis', redisAddr: '10.0.0.5:6379', redisPassword: 'pw', check: false }, prompts: defaultPrompts() });
      const text = renderInitConfig(a, new Date('2026-01-02T00:00:00Z'));
      const rep = await lintConfigText(text, { file: '/etc/dman/dman.yaml', mode: 0o600, env: {}, homedir: '/home/me', hostname: 'box' });
      expect(rep.problems, text).toEqual([]);
      expect(text.startsWith('# dman.yaml written by `dman init` on 2026-01-02')).toBe(true);
      expect(/^server_url:/m.test(text)).toBe(role !== 'server');
      expect(/^listen:/m.test(text)).toBe(role !== 'client');
      if (role !== 'client') expect(rep.config?.redis).toMatchObject({ addr: '10.0.0.5:6379', password: 'pw' });
    }
  });
});
