import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizeConfig } from '../../shared/config/normalize.js';
import { configFileSchema } from '../../shared/config/schema.js';
import { lintConfigText } from './lint.js';
import { migrateConfigFile, migrateConfigText } from './migrate.js';

const LEGACY = `# my dman config
server_url: http://dots.lan:3626
storage_driver: maria   # the seed called it maria

# redis, for later
redis_addr: 127.0.0.1:6379
redis_db: 2
redis_tls: true
redis_tls_ca: /etc/ssl/ca.pem

# the database box
maria_addr: db.lan:3306 # behind the NAS
maria_db: dman
maria_user: dman
maria_password: hunter2
maria_tls_server_name: db.lan

include:
  - .bashrc   # shell
  - .gitconfig
users:
  alice:
    home: /home/alice
    include: [.vimrc]
  bob:
    home: /home/bob
    track: [.zshrc]
    include:
      - .tmux.conf
`;

const semantic = (text: string) => normalizeConfig(configFileSchema.parse(parse(text))).config;

describe('migrateConfigText', () => {
  const r = migrateConfigText(LEGACY);

  it('rewrites every legacy key into the modern form', () => {
    const doc = parse(r.text);
    expect(Object.keys(doc).filter((k) => /^(redis_|maria_)|^include$/.test(k))).toEqual([]);
    expect(doc.storage_driver).toBe('mariadb');
    expect(doc.redis).toEqual({ addr: '127.0.0.1:6379', db: 2, tls: true, tls_ca: '/etc/ssl/ca.pem' });
    expect(doc.db).toEqual({ addr: 'db.lan:3306', db: 'dman', user: 'dman', password: 'hunter2', tls_server_name: 'db.lan' });
    expect(doc.track).toEqual(['.bashrc', '.gitconfig']);
    expect(doc.users.alice).toEqual({ home: '/home/alice', track: ['.vimrc'] });
    expect(doc.users.bob).toEqual({ home: '/home/bob', track: ['.zshrc', '.tmux.conf'] });
    expect(r.isChanged).toBe(true);
    expect(r.changes).toContain('maria_addr → db.addr');
  });

  it('means exactly what the legacy file meant', () => {
    expect(semantic(r.text)).toEqual(semantic(LEGACY));
  });

  it('keeps comments', () => {
    for (const c of ['# my dman config', '# redis, for later', '# the database box', '# behind the NAS', '# shell']) expect(r.text).toContain(c);
    expect(r.text.indexOf('# redis, for later')).toBeLessThan(r.text.indexOf('redis:'));
    expect(r.text.indexOf('# the database box')).toBeLessThan(r.text.indexOf('\ndb:'));
    expect(r.text).toContain('\n\n# redis, for later\nredis:\n');
  });

  it('produces a file that lints without warnings and migrates to itself', async () => {
    const rep = await lintConfigText(r.text, { homedir: '/root', env: {}, exists: async () => true });
    expect(rep.problems).toEqual([]);
    const again = migrateConfigText(r.text);
    expect(again.isChanged).toBe(false);
    expect(again.text).toBe(r.text);
  });

  it.each([
    ['a modern file', 'track: [.a]\nredis:\n  addr: h:1\n'],
    ['an empty file', ''],
    ['a comment only', '# nothing yet\n'],
  ])('leaves %s byte for byte', (_n, text) => {
    const m = migrateConfigText(text);
    expect(m.isChanged).toBe(false);
    expect(m.text).toBe(text);
  });

  it('adds flat keys to an existing block; the nested value wins on a clash', () => {
    const m = migrateConfigText('redis:\n  addr: new:1\nredis_addr: old:1\nredis_db: 4\n');
    expect(parse(m.text)).toEqual({ redis: { addr: 'new:1', db: 4 } });
    expect(m.changes).toContain('redis_addr dropped (redis.addr is already set and wins)');
  });

  it('replaces an empty track with include', () => {
    expect(parse(migrateConfigText('track:\ninclude: [.a]\n').text)).toEqual({ track: ['.a'] });
  });

  it('refuses malformed YAML with the position', () => {
    expect(() => migrateConfigText('include: [.a\n', '/x/dman.yaml')).toThrow(/malformed YAML at line \d+:\d+/);
  });

  it('refuses a file whose top level is a list', () => {
    expect(() => migrateConfigText('- a\n')).toThrow(/mapping/);
  });
});

describe('migrateConfigText: property', () => {
  const pattern = fc.constantFrom('.bashrc', '.zshrc', '.config/nvim/', '!.config/nvim/cache/', '.oh-my-zsh/**/*.zsh', 'docs/');
  const list = fc.array(pattern, { maxLength: 4 });
  const hostPort = fc.tuple(fc.constantFrom('h', 'db.lan', '127.0.0.1'), fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`);
  const flat = fc.record({
    redis_addr: hostPort, redis_db: fc.integer({ min: 0, max: 15 }), redis_tls: fc.boolean(), redis_password: fc.string({ maxLength: 8 }),
    redis_tls_server_name: fc.constantFrom('r.lan', 'x'), maria_addr: hostPort, maria_db: fc.constantFrom('dman', 'd'),
    maria_user: fc.constantFrom('u', 'dman'), maria_tls_insecure_skip_verify: fc.boolean(),
  }, { requiredKeys: [] });
  const nested = fc.record({ redis: fc.record({ addr: hostPort, db: fc.integer({ min: 0, max: 15 }) }, { requiredKeys: [] }), db: fc.record({ user: fc.constantFrom('other') }, { requiredKeys: [] }) }, { requiredKeys: [] });
  const user = fc.record({ home: fc.constantFrom('/home/a', '~'), track: list, include: list }, { requiredKeys: ['home'] });
  const legacy = fc.tuple(flat, nested, fc.record({ track: list, include: list, storage_driver: fc.constantFrom('disk', 'maria', 'mysql', 'redis'), users: fc.dictionary(fc.constantFrom('alice', 'bob'), user) }, { requiredKeys: [] }))
    .map(([a, b, c]) => ({ ...c, ...b, ...a }));

  it('keeps the meaning of any legacy file, leaves no legacy key, and is idempotent', () => {
    fc.assert(fc.property(legacy, (obj) => {
      const text = stringify(obj);
      const m = migrateConfigText(text);
      expect(semantic(m.text)).toEqual(semantic(text));
      const keys = Object.keys(parse(m.text) ?? {});
      expect(keys.filter((k) => /^(redis_|maria_)|^include$/.test(k))).toEqual([]);
      for (const u of Object.values((parse(m.text) ?? {}).users ?? {})) expect(Object.keys(u as object)).not.toContain('include');
      expect(migrateConfigText(m.text).isChanged).toBe(false);
    }), { numRuns: 300 });
  });
});

describe('migrateConfigFile', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dman-migrate-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('keeps a byte-exact backup beside the file, replaces it atomically and keeps its mode', async () => {
    const f = join(dir, 'dman.yaml');
    await writeFile(f, LEGACY);
    await chmod(f, 0o640);
    const r = await migrateConfigFile(f, { now: () => new Date('2026-01-02T03:04:05.678Z') });
    expect(r.backup).toBe(`${f}.bak-2026-01-02T03-04-05-678Z`);
    expect(await readFile(r.backup!, 'utf8')).toBe(LEGACY);
    expect(await readFile(f, 'utf8')).toBe(migrateConfigText(LEGACY).text);
    expect((await stat(f)).mode & 0o777).toBe(0o640);
    expect((await stat(r.backup!)).mode & 0o777).toBe(0o640);
    expect((await readdir(dir)).sort()).toEqual(['dman.yaml', 'dman.yaml.bak-2026-01-02T03-04-05-678Z']);
  });

  it('writes nothing when the file is already modern', async () => {
    const f = join(dir, 'dman.yaml');
    await writeFile(f, 'track: [.a]\n');
    const r = await migrateConfigFile(f);
    expect(r.backup).toBeUndefined();
    expect(await readdir(dir)).toEqual(['dman.yaml']);
  });

  it('leaves the file and writes no backup when validation of the result fails', async () => {
    const f = join(dir, 'dman.yaml');
    await writeFile(f, 'include: [.a]\nbogus: 1\n');
    await expect(migrateConfigFile(f, { validate: async () => { throw new Error('still invalid'); } })).rejects.toThrow('still invalid');
    expect(await readFile(f, 'utf8')).toBe('include: [.a]\nbogus: 1\n');
    expect(await readdir(dir)).toEqual(['dman.yaml']);
  });

  it('rewrites the target of a symlink and keeps the link', async () => {
    const real = join(dir, 'real.yaml');
    const link = join(dir, 'dman.yaml');
    await writeFile(real, 'include: [.a]\n');
    await symlink(real, link);
    const r = await migrateConfigFile(link, { now: () => new Date(0) });
    expect(r.file).toBe(real);
    expect((await stat(link)).isFile()).toBe(true);
    expect(parse(await readFile(link, 'utf8'))).toEqual({ track: ['.a'] });
    expect(r.backup?.startsWith(`${real}.bak-`)).toBe(true);
  });
});
