import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lintConfigText } from './lint.js';

const base = { homedir: '/home/me', hostname: 'box', env: {} };
let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dman-lint-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('lintConfigText: positions', () => {
  it.each([
    ['a list item', 'users:\n  alice:\n    home: /h\n    track:\n      - .a\n      - .b\n      - 7\n', 'users.alice.track[2]', 7, 9],
    ['an unknown nested key', 'server_url: http://x:1\nredis:\n  addr: h:1\n  pasword: x\n', 'redis.pasword', 4, 3],
    ['an unknown top-level key', '\n\ntrak:\n  - .a\n', 'trak', 3, 1],
    ['a missing key points at its parent', 'storage_driver: mariadb\ndb:\n  user: u\n', 'db.db', 2, 1],
    ['a user without home points at the user', 'users:\n  bob:\n    track: [.a]\n', 'users.bob.home', 2, 3],
    ['a flow-list item', 'track: [.a, "/etc/x"]\n', 'track[1]', 1, 13],
  ])('places %s', async (_name, text, key, line, col) => {
    const rep = await lintConfigText(text, base);
    const p = rep.problems.find((x) => x.key === key);
    expect(p, JSON.stringify(rep.problems)).toBeDefined();
    expect([p!.line, p!.col]).toEqual([line, col]);
    expect(rep.errors).toBeGreaterThan(0);
    expect(rep.config).toBeUndefined();
  });

  it('sorts problems by position', async () => {
    const rep = await lintConfigText('zzz: 1\nredis:\n  db: x\naaa: 2\n', base);
    expect(rep.problems.map((p) => p.line)).toEqual([1, 3, 4]);
  });
});

describe('lintConfigText: malformed YAML', () => {
  it.each([
    ['an unclosed flow list', 'track: [.a, .b\nusers: {}\n', /malformed YAML/],
    ['a tab indent', 'users:\n\talice: {}\n', /malformed YAML/],
    ['a duplicate key', 'track: [.a]\ntrack: [.b]\n', /malformed YAML.*[Mm]ap keys must be unique/],
    ['a bad indent', 'users:\n  alice:\n    home: /h\n   track: [.a]\n', /malformed YAML/],
  ])('reports %s with a line and column', async (_n, text, re) => {
    const rep = await lintConfigText(text, base);
    expect(rep.errors).toBeGreaterThan(0);
    expect(rep.problems[0].message).toMatch(re);
    expect(rep.problems[0].line).toBeGreaterThan(0);
    expect(rep.problems[0].col).toBeGreaterThan(0);
    expect(rep.problems[0].hint.length).toBeGreaterThan(5);
    expect(rep.document).toBeUndefined();
  });

  it('refuses an alias bomb instead of expanding it', async () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    const rep = await lintConfigText(`${lines.join('\n')}\n`, base);
    expect(rep.errors).toBe(1);
    expect(rep.problems[0].message).toMatch(/malformed YAML: .*alias/i);
  });

  it('reads a file that starts with a byte order mark', async () => {
    const rep = await lintConfigText('\uFEFFdevice: bom\n', base);
    expect(rep.config?.device).toBe('bom');
  });

  it('treats an empty file as the defaults', async () => {
    const rep = await lintConfigText('# only a comment\n', base);
    expect(rep.errors).toBe(0);
    expect(rep.config?.storage_driver).toBe('disk');
  });

  it('reads `home: ~` as the home, not as YAML null', async () => {
    const rep = await lintConfigText('users:\n  me:\n    home: ~\n', base);
    expect(rep.config?.users.me.home).toBe('/home/me');
  });
});

describe('lintConfigText: checks that need the disk', () => {
  it('flags tls files that do not exist: an error for the driver in use, a warning otherwise', async () => {
    const ca = join(dir, 'ca.pem');
    await writeFile(ca, 'x');
    const text = `storage_driver: redis\nredis:\n  tls: true\n  tls_ca: ${ca}\n  tls_cert: ${join(dir, 'missing.pem')}\n  tls_key: ${join(dir, 'missing.key')}\ndb:\n  tls_ca: ${join(dir, 'nope.pem')}\n`;
    const rep = await lintConfigText(text, { ...base, file: join(dir, 'dman.yaml') });
    const byKey = Object.fromEntries(rep.problems.map((p) => [p.key, p]));
    expect(byKey['redis.tls_ca']).toBeUndefined();
    expect(byKey['redis.tls_cert']).toMatchObject({ severity: 'error', line: 5, message: expect.stringMatching(/does not exist/) });
    expect(byKey['redis.tls_key']).toMatchObject({ severity: 'error', line: 6 });
    expect(byKey['db.tls_ca']).toMatchObject({ severity: 'warning', line: 8 });
  });

  it('resolves relative tls paths and data_dir beside the config file', async () => {
    await writeFile(join(dir, 'ca.pem'), 'x');
    const rep = await lintConfigText('data_dir: data\nredis:\n  tls_ca: ca.pem\n', { ...base, file: join(dir, 'dman.yaml') });
    expect(rep.errors).toBe(0);
    expect(rep.config?.data_dir).toBe(join(dir, 'data'));
    expect(rep.config?.redis.tls_ca).toBe(join(dir, 'ca.pem'));
  });

  it.each([
    [0o644, 1], [0o604, 1], [0o640, 0], [0o600, 0],
  ])('warns about a token in a file of mode %s (%i warning)', async (mode, n) => {
    const rep = await lintConfigText('auth_token: s3cret\n', { ...base, mode });
    const w = rep.problems.filter((p) => p.key === 'auth_token' && p.severity === 'warning');
    expect(w).toHaveLength(n);
    if (n) expect(w[0].hint).toMatch(/chmod 600/);
    expect(JSON.stringify(rep.problems)).not.toContain('s3cret');
    expect(rep.errors).toBe(0);
  });
});

describe('lintConfigText: every problem in one run', () => {
  it('runs the disk checks even when the schema refuses part of the file', async () => {
    const text = `storage_driver: redis\nredis:\n  tls_ca: ${join(dir, 'missing-ca.pem')}\nauth_token: s3cret\nretention:\n  versions: lots\n`;
    const rep = await lintConfigText(text, { ...base, file: join(dir, 'dman.yaml'), mode: 0o644 });
    const byKey = Object.fromEntries(rep.problems.map((p) => [p.key, p]));
    expect(byKey['retention.versions'], JSON.stringify(rep.problems)).toMatchObject({ severity: 'error', line: 6 });
    expect(byKey['redis.tls_ca']).toMatchObject({ severity: 'error', line: 3, message: expect.stringMatching(/missing-ca\.pem does not exist/) });
    expect(byKey['auth_token']).toMatchObject({ severity: 'warning', line: 4, message: expect.stringMatching(/world-readable/) });
    expect(rep.errors).toBe(2);
    expect(rep.config).toBeUndefined();
    expect(JSON.stringify(rep.problems)).not.toContain('s3cret');
  });

  it('runs them when only a cross-key check failed, and finds secrets under legacy keys', async () => {
    const text = `storage_driver: mariadb\nmaria_tls_ca: ${join(dir, 'nope.pem')}\nmaria_password: pw\nredis_password: pw2\n`;
    const rep = await lintConfigText(text, { ...base, file: join(dir, 'dman.yaml'), mode: 0o604 });
    const keys = rep.problems.map((p) => `${p.severity}:${p.key}:${p.line}`);
    expect(keys).toEqual(expect.arrayContaining(['error:db.db:1', 'error:db.user:1', 'error:maria_tls_ca:2', 'warning:maria_password:3', 'warning:redis_password:4']));
  });
});

describe('lintConfigText: the fix for a secret in a world-readable file', () => {
  const f = '/etc/dman/dman.yaml';
  it.each([
    ['auth_token', 'auth_token: t\n', /^run `chmod 600 \/etc\/dman\/dman\.yaml` so only you can read it, or delete auth_token from the file and run `dman login` .* or set DMAN_AUTH_TOKEN/],
    ['redis.password', 'redis:\n  password: p\n', /^run `chmod 600 \/etc\/dman\/dman\.yaml` so only you can read it; redis\.password can only be set in this file/],
    ['db.password', 'db:\n  password: p\n', /^run `chmod 600 \/etc\/dman\/dman\.yaml` so only you can read it; db\.password can only be set in this file/],
    ['redis_password', 'redis_password: p\n', /^run `chmod 600 \/etc\/dman\/dman\.yaml`.*; redis_password \(redis\.password\) can only be set in this file/],
    ['maria_password', 'maria_password: p\n', /^run `chmod 600 \/etc\/dman\/dman\.yaml`.*; maria_password \(db\.password\) can only be set in this file/],
  ])('%s gets a hint of its own', async (key, text, hint) => {
    const rep = await lintConfigText(text, { ...base, file: f, mode: 0o644, exists: async () => true });
    const w = rep.problems.filter((p) => /world-readable/.test(p.message));
    expect(w.map((p) => p.key)).toEqual([key]);
    expect(w[0].hint).toMatch(hint);
    if (key !== 'auth_token') expect(w[0].hint).not.toContain('DMAN_AUTH_TOKEN');
  });
});

describe('lintConfigText: environment overrides', () => {
  it('DMAN_AUTH_TOKEN and DMAN_SERVER_URL override the file', async () => {
    const rep = await lintConfigText('server_url: http://a:1\nauth_token: file\n', { ...base, env: { DMAN_AUTH_TOKEN: 'env', DMAN_SERVER_URL: 'https://b:2' } });
    expect(rep.config).toMatchObject({ server_url: 'https://b:2', auth_token: 'env' });
  });

  it('an invalid DMAN_SERVER_URL is an error naming the variable', async () => {
    const rep = await lintConfigText('', { ...base, env: { DMAN_SERVER_URL: 'not a url' } });
    expect(rep.errors).toBe(1);
    expect(rep.problems[0].key).toBe('DMAN_SERVER_URL (environment)');
    expect(rep.problems[0].line).toBeUndefined();
  });
});
