// The real `dman config …` commands (bin/dman.js → dist/cli.js) against temp files.
import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'bin', 'dman.js');
let dir: string;

interface Run { code: number; stdout: string; stderr: string }

function dman(args: string[], opts: { env?: Record<string, string>; cwd?: string; uid?: number } = {}): Promise<Run> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'xdg'), ...opts.env };
  const [cmd, argv] = opts.uid === undefined
    ? [process.execPath, [bin, ...args]]
    : ['setpriv', [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', process.execPath, bin, ...args]];
  return new Promise((res) => {
    execFile(cmd, argv, { cwd: opts.cwd ?? join(dir, 'cwd'), env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      res({ code, stdout, stderr });
    });
  });
}

async function put(name: string, text: string, mode = 0o600): Promise<string> {
  const f = join(dir, name);
  await writeFile(f, text);
  await chmod(f, mode);
  return f;
}

beforeAll(async () => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`npm run build failed: ${b.stderr}`);
  dir = await mkdtemp(join(tmpdir(), 'dman-cfgcli-'));
  await chmod(dir, 0o755); // the unreadable-file case runs as another user, who must reach the file
  await Promise.all([mkdir(join(dir, 'home')), mkdir(join(dir, 'cwd')), mkdir(join(dir, 'xdg'))]);
});
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

describe('dman config lint', () => {
  it('docs/config.yaml is valid and warning-free', async () => {
    const r = await dman(['config', 'lint', '--config', join(root, 'docs', 'config.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`${join(root, 'docs', 'config.yaml')}: valid`);
    expect(r.code).toBe(0);
  });

  it('lists every problem with key path, line, column, value and fix; exit 2', async () => {
    const f = await put('many.yaml', 'trak: [.a]\nusers:\n  alice:\n    home: /home/alice\n    track:\n      - .a\n      - .b\n      - .c\n      - /etc/passwd\nredis:\n  addr: h:1\n  socket: /s\n');
    const r = await dman(['config', 'lint', '--config', f]);
    expect(r.code).toBe(2);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`${f}:1:1: trak: unknown key trak at the top level; fix: did you mean track?`);
    expect(lines[1]).toMatch(new RegExp(`^${f}:9:9: users\\.alice\\.track\\[3\\]: pattern is an absolute path outside the home /home/alice, so it can never match \\(got "/etc/passwd"\\); fix: `));
    expect(lines[2]).toMatch(new RegExp(`^${f}:12:3: redis\\.socket: redis.addr and redis.socket are both set`));
    expect(lines[3]).toBe(`${f}: 3 errors, 0 warnings`);
  });

  it('--json gives one document with every problem', async () => {
    const f = await put('json.yaml', 'storage_driver: sqlite\nusers:\n  bob: {}\n');
    const r = await dman(['config', 'lint', '--json', '--config', f]);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: false, file: f, errors: 2, warnings: 0 });
    expect(doc.problems.map((p: { key: string; line: number; col: number }) => [p.key, p.line, p.col])).toEqual([['storage_driver', 1, 1], ['users.bob.home', 3, 3]]);
    for (const p of doc.problems) expect(p.hint.length).toBeGreaterThan(3);
  });

  it('lists a schema error, a missing tls file and a world-readable token in the same run', async () => {
    const f = await put('all3.yaml', 'storage_driver: redis\nredis:\n  tls_ca: no-such-ca.pem\nauth_token: tok-abc\nconflict_policy: sometimes\n', 0o644);
    const r = await dman(['config', 'lint', '--json', '--config', f]);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.problems.map((p: { severity: string; key: string; line: number }) => [p.severity, p.key, p.line])).toEqual([
      ['error', 'redis.tls_ca', 3], ['warning', 'auth_token', 4], ['error', 'conflict_policy', 5],
    ]);
    expect(doc.problems[0].message).toContain(join(dir, 'no-such-ca.pem'));
    expect(r.stdout).not.toContain('tok-abc');
  });

  it('warnings alone keep exit 0', async () => {
    const f = await put('legacy.yaml', 'include: [.bashrc]\nauth_token: abc\n', 0o644);
    const r = await dman(['config', 'lint', '--config', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('warning: include: legacy key include is read as track');
    expect(r.stdout).toContain('warning: auth_token: a secret is stored in a world-readable config file');
    expect(r.stdout).toContain(`${f}: valid (2 warnings)`);
    expect(r.stdout).not.toContain('abc');
  });

  it('finds the file through DMAN_CONFIG, then ./dman.yaml', async () => {
    const f = await put('viaenv.yaml', 'bad_key: 1\n');
    expect((await dman(['config', 'lint'], { env: { DMAN_CONFIG: f } })).stdout).toContain(`${f}:1:1: bad_key`);
    const cwd = join(dir, 'withcfg');
    await mkdir(cwd);
    await writeFile(join(cwd, 'dman.yaml'), 'device: here\n');
    const r = await dman(['config', 'show', '--effective', '--json'], { cwd });
    expect(JSON.parse(r.stdout).config.device).toBe('here');
  });

  it('with no config anywhere: exit 2 and the places searched', async () => {
    const r = await dman(['config', 'lint']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(join(dir, 'cwd', 'dman.yaml'));
    expect(r.stderr).toContain(join(dir, 'xdg', 'dman', 'dman.yaml'));
    expect(r.stderr).toContain(join(dir, 'home', 'dman.yaml'));
    expect(r.stdout).toBe('');
  });
});

describe('bad input: a clear error naming the file and key, exit 2, the file untouched', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['malformed YAML', 'server_url: http://x:1\ntrack: [.bashrc, .zshrc\nusers: {}\n', /malformed YAML/],
    ['a wrong type for a key', 'users:\n  alice:\n    home: /home/alice\n    track: .bashrc\n', /users\.alice\.track: invalid config \(1 problem\): line 5:5: expected a list, got string/],
    ['an unknown key', 'retention:\n  versions: 5\n  dayz: 3\n', /retention\.dayz: .*did you mean days\?/],
    ['a token of the wrong type', 'auth_token: 12345\n', /auth_token: .*expected a string, got number/],
  ];
  it.each(cases)('%s', async (name, text, re) => {
    const f = await put(`bad-${name.replace(/\W+/g, '-')}.yaml`, `# keep me\n${text}`);
    const before = await readFile(f);
    for (const args of [['config', 'show'], ['config', 'show', '--effective'], ['config', 'migrate', '--write']]) {
      const r = await dman([...args, '--config', f]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(f);
      if (args[1] === 'show') expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toContain('12345'); // the mistyped token
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const lint = await dman(['config', 'lint', '--config', f]);
    expect(lint.code).toBe(2);
    expect(lint.stdout).toContain(f);
    expect(lint.stdout).not.toContain('12345');
    expect(await readFile(f)).toEqual(before);
    expect((await readdir(dir)).filter((n) => n.includes('.bak-'))).toEqual([]);
  });

  it('a config that is a directory', async () => {
    const d = join(dir, 'adir.yaml');
    await mkdir(d);
    for (const args of [['config', 'lint'], ['config', 'show'], ['config', 'migrate', '--write']]) {
      const r = await dman([...args, '--config', d]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(`dman: ${d}: ${d} is a directory, not a config file (point --config (or DMAN_CONFIG) at the dman.yaml file inside it)`);
    }
    expect(await readdir(d)).toEqual([]);
  });

  it('an unreadable file (chmod 000)', async () => {
    const f = await put('secret.yaml', 'device: x\n', 0o000);
    // root reads any file, so as root the command runs as nobody (uid 65534) to meet a real EACCES.
    const isRoot = process.getuid?.() === 0;
    if (isRoot && spawnSync('setpriv', ['--version']).status !== 0) {
      console.log('unreadable-file case not run: running as root and setpriv is missing, so EACCES cannot be produced');
      return;
    }
    const r = await dman(['config', 'lint', '--config', f], isRoot ? { uid: 65534 } : {});
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`dman: ${f}: cannot read config file ${f}: permission denied (make it readable by this user (chmod 600 ${f} as its owner))`);
    await chmod(f, 0o600);
    expect(await readFile(f, 'utf8')).toBe('device: x\n');
  });
});

describe('dman config show', () => {
  it('--effective --json: defaults, inheritance, env overrides, secrets hidden', async () => {
    const f = await put('show.yaml', 'auth_token: file-token\nstorage_driver: maria\ndb:\n  db: dman\n  user: dman\n  password: pw\ntrack: [.bashrc]\nusers:\n  alice:\n    home: ~/alice\n    track: []\n');
    const r = await dman(['config', 'show', '--effective', '--json', '--config', f], { env: { DMAN_SERVER_URL: 'http://10.0.0.2:3626' } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.config).toMatchObject({
      server_url: 'http://10.0.0.2:3626', auth_token: '(hidden)', storage_driver: 'mariadb', db: { password: '(hidden)' },
      users: { alice: { home: join(dir, 'home', 'alice'), track: ['.bashrc'] } }, conflict_policy: 'ask', retention: { versions: 20, days: 30 },
    });
    expect(r.stdout).not.toContain('file-token');
    expect(r.stdout).not.toContain('"pw"');
  });

  it('without --effective: the modern form of the file, no defaults', async () => {
    const f = await put('plain.yaml', 'include: [.a]\nredis_addr: h:1\n');
    const r = await dman(['config', 'show', '--config', f, '--quiet']);
    expect(r.code).toBe(0);
    expect(parse(r.stdout)).toEqual({ track: ['.a'], redis: { addr: 'h:1' } });
    expect(r.stderr).toBe('');
  });

  it('--effective without any config file: the defaults', async () => {
    const r = await dman(['config', 'show', '--effective', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, file: null, config: { server_url: 'http://127.0.0.1:3626', storage_driver: 'disk' } });
  });
});

describe('dman config migrate', () => {
  const legacy = '# top comment\nstorage_driver: mysql\n# connection\nmaria_addr: db:3306 # lan\nmaria_db: dman\nmaria_user: dman\ninclude:\n  - .bashrc # shell\n';

  it('prints the modern YAML and leaves the file alone', async () => {
    const f = await put('mig-print.yaml', legacy);
    const r = await dman(['config', 'migrate', '--config', f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('# top comment\nstorage_driver: mariadb\n# connection\ndb:\n  addr: db:3306 # lan\n  db: dman\n  user: dman\ntrack:\n  - .bashrc # shell\n');
    expect(r.stderr).toContain('run with --write');
    expect(await readFile(f, 'utf8')).toBe(legacy);
  });

  it('--write keeps a backup, replaces the file with the same mode, and the result lints clean', async () => {
    const sub = join(dir, 'migdir');
    await mkdir(sub);
    const f = join(sub, 'dman.yaml');
    await writeFile(f, legacy);
    await chmod(f, 0o640);
    const r = await dman(['config', 'migrate', '--write', '--json', '--config', f]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: true, file: f, changed: true });
    expect(doc.backup).toMatch(new RegExp(`^${f}\\.bak-\\d{4}-\\d\\d-\\d\\dT`));
    expect(await readFile(doc.backup, 'utf8')).toBe(legacy);
    expect((await readdir(sub)).sort()).toEqual(['dman.yaml', doc.backup.slice(sub.length + 1)].sort());
    expect(parse(await readFile(f, 'utf8'))).toEqual({ storage_driver: 'mariadb', db: { addr: 'db:3306', db: 'dman', user: 'dman' }, track: ['.bashrc'] });
    const lint = await dman(['config', 'lint', '--config', f]);
    expect(lint.stdout.trim()).toBe(`${f}: valid`);
    const again = await dman(['config', 'migrate', '--write', '--config', f]);
    expect(again.stdout).toContain('already in the modern form');
    expect((await readdir(sub))).toHaveLength(2);
  });
});
