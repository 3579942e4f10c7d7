import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUPS, DEFAULT_TRACK } from './defaults.js';
import { expandPath } from './expand.js';
import { normalizeConfig } from './normalize.js';
import { didYouMean, formatKeyPath, formatProblem } from './problem.js';
import { configFileSchema } from './schema.js';
import { CONFIG_PARSE, validateConfig } from './validate.js';
import { compileTrack } from '../patterns/compileTrack.js';

const ctx = { homedir: '/home/me', hostname: 'box', env: { HOME: '/home/me', DOTS: '/srv/dots' } };
const errorsOf = (raw: unknown) => validateConfig(raw, ctx).problems.filter((p) => p.severity === 'error');
const warningsOf = (raw: unknown) => validateConfig(raw, ctx).problems.filter((p) => p.severity === 'warning');

describe('validateConfig: defaults', () => {
  it('gives the documented defaults for an empty file', () => {
    const r = validateConfig(null, ctx);
    expect(r.problems).toEqual([]);
    expect(r.config).toMatchObject({
      server_url: 'http://127.0.0.1:3626', storage_driver: 'disk', listen: '127.0.0.1:3626', conflict_policy: 'ask',
      retention: { versions: 20, days: 30 }, device: 'box', mass_change: { ratio: 0.5, min_files: 10 }, secrets: { allow: [] },
      redis: { db: 0, tls: false, tls_insecure_skip_verify: false }, db: { tls: false, tls_insecure_skip_verify: false }, users: {},
    });
    expect(r.config?.track).toEqual([...DEFAULT_TRACK]);
    expect(r.config?.groups.shell).toEqual([...DEFAULT_GROUPS.shell]);
    expect(r.config?.auth_token).toBeUndefined();
  });

  it('reads blocks whose children are all commented out (YAML null) as empty', () => {
    const r = validateConfig({ redis: null, db: null, retention: null, mass_change: null, secrets: null, groups: null, track: null, users: null }, ctx);
    expect(r.problems).toEqual([]);
    expect(r.config).toMatchObject({ redis: { db: 0 }, retention: { versions: 20 }, track: [...DEFAULT_TRACK], users: {} });
  });

  it('keeps explicit values', () => {
    const r = validateConfig({ server_url: 'https://dots.lan:8443', auth_token: 't0k', conflict_policy: 'keep-both', device: 'laptop', retention: { versions: 5 }, groups: { work: ['.work/'] } }, ctx);
    expect(r.config).toMatchObject({ server_url: 'https://dots.lan:8443', auth_token: 't0k', conflict_policy: 'keep-both', device: 'laptop', retention: { versions: 5, days: 30 } });
    expect(r.config?.groups.work).toEqual(['.work/']);
    expect(validateConfig({ groups: { g: ['~/.a', '/home/me/.b'] } }, ctx).config?.groups.g).toEqual(['.a', '.b']);
    expect(r.config?.groups.git).toBeDefined();
  });
});

describe('validateConfig: storage_driver aliases', () => {
  it.each([
    ['disk', 'disk'], ['redis', 'redis'], ['mariadb', 'mariadb'], ['maria', 'mariadb'], ['mysql', 'mariadb'], ['MySQL', 'mariadb'], [' Redis ', 'redis'],
  ])('%j → %s', (given, want) => {
    const r = validateConfig({ storage_driver: given, db: { db: 'dman', user: 'dman' } }, ctx);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.config?.storage_driver).toBe(want);
  });
});

describe('validateConfig: per-user inheritance', () => {
  const global = ['.bashrc', '.gitconfig'];
  it.each([
    ['absent track inherits the global list', { home: '/home/a' }, global],
    ['empty track inherits the global list', { home: '/home/a', track: [] }, global],
    ['null track (`track:`) inherits the global list', { home: '/home/a', track: null }, global],
    ['a non-empty track replaces the global list', { home: '/home/a', track: ['.vimrc'] }, ['.vimrc']],
    ['a legacy include is read as track', { home: '/home/a', include: ['.zshrc'] }, ['.zshrc']],
    ['include after track is appended', { home: '/home/a', track: ['.a'], include: ['.b'] }, ['.a', '.b']],
    ['~/ prefixes become relative', { home: '/home/a', track: ['~/.vimrc', '!~/.vim/tmp/'] }, ['.vimrc', '!.vim/tmp/']],
    ['absolute patterns inside the home become relative', { home: '/home/a', track: ['/home/a/.vimrc'] }, ['.vimrc']],
  ])('%s', (_name, user, want) => {
    const r = validateConfig({ track: global, users: { alice: user } }, ctx);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.config?.users.alice.track).toEqual(want);
  });

  it('uses DEFAULT_TRACK when there is no global list', () => {
    const r = validateConfig({ users: { alice: { home: '/home/alice', track: [] } } }, ctx);
    expect(r.config?.users.alice.track).toEqual([...DEFAULT_TRACK]);
  });

  it.each([
    ['~', '/home/me'],
    ['~/', '/home/me'],
    ['~/alice', '/home/me/alice'],
    ['$DOTS/alice', '/srv/dots/alice'],
    ['${DOTS}/bob/', '/srv/dots/bob'],
    ['/home/carol', '/home/carol'],
  ])('expands home %j to %s', (home, want) => {
    expect(validateConfig({ users: { u: { home } } }, ctx).config?.users.u.home).toBe(want);
  });

  it('expands ~ and $VARS in data_dir, state_dir and tls files', () => {
    const r = validateConfig({ data_dir: '~/data', state_dir: '$DOTS/state', redis: { tls_ca: '~/ca.pem' } }, ctx);
    expect(r.config).toMatchObject({ data_dir: '/home/me/data', state_dir: '/srv/dots/state', redis: { tls_ca: '/home/me/ca.pem' } });
  });
});

describe('validateConfig: every check names the key and a fix', () => {
  const cases: Array<[string, unknown, string, RegExp, RegExp?]> = [
    ['unknown top-level key with did-you-mean', { trak: ['.bashrc'] }, 'trak', /unknown key trak/, /did you mean track\?/],
    ['unknown nested key with did-you-mean', { redis: { adress: 'x:1' } }, 'redis.adress', /unknown key adress under redis/, /did you mean addr\?/],
    ['unknown nested key, edit distance 1', { db: { usr: 'x' } }, 'db.usr', /unknown key usr under db/, /did you mean user\?/],
    ['unknown user key', { users: { alice: { home: '/h', hme: 'x' } } }, 'users.alice.hme', /unknown key hme/, /did you mean home\?/],
    ['unknown key with no close match', { zzzzzz: 1 }, 'zzzzzz', /unknown key/, /known keys here: .*server_url/],
    ['unsupported storage_driver', { storage_driver: 'sqlite' }, 'storage_driver', /unsupported storage_driver/, /disk, redis, mariadb/],
    ['redis addr with socket', { redis: { addr: 'h:1', socket: '/s' } }, 'redis.socket', /redis.addr and redis.socket are both set/, /either/],
    ['db addr with socket', { db: { addr: 'h:1', socket: '/s' } }, 'db.socket', /db.addr and db.socket/, /either/],
    ['mariadb without db.db', { storage_driver: 'mariadb', db: { user: 'u' } }, 'db.db', /db.db .* is missing/, /add/],
    ['mariadb without db.user', { storage_driver: 'mysql', db: { db: 'd' } }, 'db.user', /db.user is missing/, /db.user/],
    ['user without home', { users: { alice: { track: ['.x'] } } }, 'users.alice.home', /user alice has no home/, /home: \/home\/alice/],
    ['user that is null', { users: { bob: null } }, 'users.bob.home', /user bob has no home/, /home/],
    ['relative home', { users: { alice: { home: 'alice' } } }, 'users.alice.home', /not an absolute path/, /absolute/],
    ['unset variable in home', { users: { alice: { home: '$NOPE/alice' } } }, 'users.alice.home', /NOPE is not set/, /set NOPE/],
    ['~user in home', { users: { alice: { home: '~alice' } } }, 'users.alice.home', /only ~/, /absolute/],
    ['empty global track', { track: [] }, 'track', /empty/, /at least one pattern/],
    ['exclusion-only global track', { track: ['!.a', '!.b'] }, 'track', /only exclusions/, /before the exclusions/],
    ['exclusion-only user track', { users: { a: { home: '/h', track: ['!x'] } } }, 'users.a.track', /only exclusions/, /add/],
    ['absolute pattern outside home', { users: { a: { home: '/home/a', track: ['.x', '/etc/passwd'] } } }, 'users.a.track[1]', /outside the home \/home\/a/, /relative/],
    ['.. in a pattern', { track: ['.config/../../etc/x'] }, 'track[0]', /`\.\.`/, /without `\.\.`/],
    ['unbalanced bracket', { track: ['.bashrc', '.config/[abc'] }, 'track[1]', /pattern/, /./],
    ['unbalanced brace', { track: ['.{a,b'] }, 'track[0]', /pattern/, /./],
    ['empty pattern', { track: ['.a', ''] }, 'track[1]', /empty/, /delete/],
    ['bad group pattern', { groups: { g: ['../x'] } }, 'groups.g[0]', /`\.\.`/, /./],
    ['wrong type: track is a string', { track: '.bashrc' }, 'track', /expected a list, got string/, /YAML list/],
    ['wrong type: a number in a list', { users: { alice: { home: '/h', track: ['.a', 3] } } }, 'users.alice.track[1]', /expected a string, got number/, /string/],
    ['wrong type: redis.db quoted', { redis: { db: '0' } }, 'redis.db', /expected a number, got string/, /without quotes/],
    ['wrong type: tls as a string', { db: { tls: 'yes' } }, 'db.tls', /expected true or false/, /true or/],
    ['redis.db out of range', { redis: { db: 99 } }, 'redis.db', /must be/, /range/],
    ['server_url not a URL', { server_url: 'dots.lan' }, 'server_url', /not an http\(s\) URL/, /http:\/\//],
    ['server_url ftp', { server_url: 'ftp://dots.lan' }, 'server_url', /not an http\(s\) URL/, /http/],
    ['redis.addr as a URL', { redis: { addr: 'redis://user@h:6379/0' } }, 'redis.addr', /is a URL/, /drop the scheme: h:6379$/],
    ['db.addr with a bad port', { db: { addr: 'h:70000' } }, 'db.addr', /port from 1 to 65535/, /db.lan:3306/],
    ['legacy maria_addr with spaces', { maria_addr: 'my host:3306' }, 'maria_addr', /host:port/, /write it like/],
    ['listen port out of range', { listen: '127.0.0.1:0' }, 'listen', /port from 1 to 65535/, /127.0.0.1:3626/],
    ['a user name the server refuses', { users: { 'bad/name': { home: '/h' } } }, 'users["bad/name"]', /not a valid user name/, /./],
    ['listen without a port', { listen: '0.0.0.0' }, 'listen', /host:port/, /./],
    ['unknown conflict_policy', { conflict_policy: 'newest' }, 'conflict_policy', /unknown conflict_policy/, /keep-both/],
    ['mass_change ratio above 1', { mass_change: { ratio: 2 } }, 'mass_change.ratio', /must be/, /range/],
    ['top level is a list', ['a'], '', /mapping of keys/, /docs\/config.yaml/],
    ['top level is a string', 'server_url http://x', '', /mapping of keys/, /docs\/config.yaml/],
  ];
  it.each(cases)('%s', (_name, raw, key, message, hint) => {
    const errors = errorsOf(raw);
    const hit = errors.find((p) => p.key === key);
    expect(errors.filter((p) => p.key === key), 'one problem per key').toHaveLength(1);
    expect(hit, `problems: ${JSON.stringify(errors)}`).toBeDefined();
    expect(hit!.message).toMatch(message);
    if (hint) expect(hit!.hint).toMatch(hint);
    expect(validateConfig(raw, ctx).config).toBeUndefined();
  });

  it('lists every problem at once, including ones behind a type error', () => {
    const errors = errorsOf({ trak: [], redis: { db: 'x' }, users: { a: { home: '/h', track: ['.a', 3, '/etc/x'] }, b: {} } });
    expect(errors.map((p) => p.key).sort()).toEqual(['redis.db', 'trak', 'users.a.track[1]', 'users.a.track[2]', 'users.b.home'].sort());
  });

  it('reports one problem per bad addr', () => {
    expect(errorsOf({ redis: { addr: 'redis://x' } })).toHaveLength(1);
  });

  it.each([
    [{ auth_token: 12345 }, 'auth_token'], [{ redis: { password: 42 } }, 'redis.password'], [{ maria_password: true }, 'maria_password'], [{ db: { password: ['x'] } }, 'db.password'],
  ])('never carries the value of a secret key (%j)', (raw, key) => {
    const p = errorsOf(raw).find((x) => x.key === key);
    expect(p).toBeDefined();
    expect(p).not.toHaveProperty('value');
  });

  it('accepts the addr of one block with the socket of the other', () => {
    expect(errorsOf({ redis: { addr: 'h:1' }, db: { socket: '/s' } })).toEqual([]);
  });

  it.each(['127.0.0.1:6379', 'redis.lan', 'redis.lan:6380', '[::1]:6379', 'db-1.example.com:3306'])('accepts addr %s', (addr) => {
    expect(errorsOf({ redis: { addr }, db: { addr } })).toEqual([]);
  });
});

describe('validateConfig: legacy forms', () => {
  it('reads flat redis_* and maria_* keys into the nested blocks with a warning each', () => {
    const raw = { storage_driver: 'maria', redis_addr: 'r:6379', redis_db: 3, redis_tls: true, redis_tls_server_name: 'r.lan', maria_addr: 'm:3306', maria_db: 'dman', maria_user: 'u', maria_password: 'p', maria_tls_insecure_skip_verify: true };
    const r = validateConfig(raw, ctx);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.config?.redis).toMatchObject({ addr: 'r:6379', db: 3, tls: true, tls_server_name: 'r.lan' });
    expect(r.config?.db).toMatchObject({ addr: 'm:3306', db: 'dman', user: 'u', password: 'p', tls_insecure_skip_verify: true });
    const w = warningsOf(raw);
    expect(w.map((p) => p.key)).toEqual(['redis_addr', 'redis_db', 'redis_tls', 'redis_tls_server_name', 'maria_addr', 'maria_db', 'maria_user', 'maria_password', 'maria_tls_insecure_skip_verify']);
    expect(w[0].hint).toMatch(/dman config migrate/);
  });

  it('lets the nested key win over a disagreeing flat key, with a warning', () => {
    const r = validateConfig({ redis: { addr: 'new:1' }, redis_addr: 'old:1' }, ctx);
    expect(r.config?.redis.addr).toBe('new:1');
    expect(r.problems.find((p) => p.key === 'redis_addr')?.message).toMatch(/disagrees/);
  });

  it('reads a top-level include as track', () => {
    const r = validateConfig({ include: ['.a', '.b'] }, ctx);
    expect(r.config?.track).toEqual(['.a', '.b']);
    expect(r.problems.map((p) => [p.severity, p.key])).toEqual([['warning', 'include']]);
  });

  it('applies the addr+socket check to flat keys too', () => {
    expect(errorsOf({ redis_addr: 'h:1', redis_socket: '/s' }).map((p) => p.key)).toEqual(['redis.socket']);
  });

  it('normalizeConfig output is accepted by the modern schema and is idempotent', () => {
    const first = normalizeConfig(configFileSchema.parse({ include: ['.a'], maria_db: 'd', users: { u: { home: '/h', include: ['.b'] } } }));
    expect(first.config).toEqual({ track: ['.a'], db: { db: 'd' }, users: { u: { home: '/h', track: ['.b'] } } });
    const second = normalizeConfig(configFileSchema.parse(first.config));
    expect(second.config).toEqual(first.config);
    expect(second.warnings).toEqual([]);
  });
});

describe('validateConfig: the jitless parse', () => {
  // validateConfig parses without zod's JIT (CONFIG_PARSE); the compiled parser is what every
  // config went through before, so both must give the same data and the same issues.
  const full = {
    server_url: 'https://dots.lan:8443', auth_token: 't', storage_driver: 'mysql', listen: '127.0.0.1:3626', data_dir: '~/d', state_dir: '/s',
    redis: { addr: 'r:1', db: 2, cluster: true, nodes: ['a:1', 'b:2'], tls: true, tls_ca: '/ca' }, db: { socket: '/sock', db: 'd', user: 'u', password: 'p' },
    track: ['.a', '!.b'], users: { alice: { home: '/home/alice', track: null, include: ['.c'] }, bob: null }, conflict_policy: 'merge',
    groups: { g: ['.x'], h: null }, retention: { versions: 3, days: 0 }, device: 'box', mass_change: { ratio: 0.5, min_files: 10 }, secrets: { allow: ['.netrc'] },
    include: ['.d'], redis_password: 'x', maria_tls_server_name: 'm.lan',
  };
  it.each([
    ['every key', full],
    ['an empty file', {}],
    ['null blocks', { redis: null, db: null, retention: null, mass_change: null, secrets: null, groups: null, track: null, users: null }],
    ['unknown keys at every level', { trak: [], redis: { adress: 'x' }, users: { a: { hme: 'x' } }, retention: { version: 1 } }],
    ['wrong types', { track: '.a', redis: { db: '0', tls: 'yes' }, users: { a: { home: 1, track: ['.a', 3] } }, listen: 1, secrets: { allow: 'x' } }],
    ['bad values', { server_url: 'ftp://x', storage_driver: 'sqlite', conflict_policy: 'newest', redis: { addr: 'redis://h:1', db: 99 }, listen: '0.0.0.0', mass_change: { ratio: 2 }, users: { 'bad/name': {} } }],
    ['a list at the top', ['a']],
  ])('gives what the compiled parser gives: %s', (_name, raw) => {
    const outcome = (r: ReturnType<typeof configFileSchema.safeParse>) => (r.success ? { data: r.data } : { issues: r.error.issues });
    const compiled = outcome(configFileSchema.safeParse(raw));
    expect(outcome(configFileSchema.safeParse(raw, CONFIG_PARSE))).toEqual(compiled);
    // Twice: the first parse of a shape compiles its parser, the later ones run it.
    expect(outcome(configFileSchema.safeParse(raw))).toEqual(compiled);
  });
});

describe('the default lists', () => {
  it('DEFAULT_TRACK and every DEFAULT_GROUPS list compile and select what they name', () => {
    const m = compileTrack([...DEFAULT_TRACK]);
    for (const p of ['.bashrc', '.zshrc', '.ssh/config', '.oh-my-zsh/plugins/git/git.plugin.zsh', '.oh-my-zsh/themes/x.zsh-theme', '.nano/a/b', '.config/nvim/init.lua', 'docs/x.md']) {
      expect(m.isTracked(p), p).toBe(true);
    }
    for (const p of ['docs/config.yaml', '.ssh/id_ed25519', '.oh-my-zsh/themes/sub/x.zsh-theme', 'notes.txt']) expect(m.isTracked(p), p).toBe(false);
    for (const list of Object.values(DEFAULT_GROUPS)) expect(() => compileTrack([...list])).not.toThrow();
  });
});

describe('helpers', () => {
  it.each([
    [['users', 'alice', 'track', 3], 'users.alice.track[3]'],
    [['track', 0], 'track[0]'],
    [['users', 'a.b', 'home'], 'users["a.b"].home'],
    [[], ''],
  ])('formatKeyPath(%j) = %s', (path, want) => expect(formatKeyPath(path)).toBe(want));

  it.each([
    ['trak', ['track', 'users'], 'track'],
    ['server-url', ['server_url', 'listen'], 'server_url'],
    ['storage_drvier', ['storage_driver'], 'storage_driver'],
    ['xyz', ['track', 'users'], undefined],
  ])('didYouMean(%s) = %s', (key, known, want) => expect(didYouMean(key, known)).toBe(want));

  it('expandPath leaves a path without ~ or $ alone and reports unset variables', () => {
    expect(expandPath('/a/b', ctx)).toEqual({ ok: true, value: '/a/b' });
    expect(expandPath('$UNSET/x', ctx)).toMatchObject({ ok: false, message: expect.stringMatching(/UNSET/) });
  });

  it('formatProblem puts file, position, key, value and fix on one line', () => {
    const line = formatProblem({ severity: 'error', key: 'track[1]', path: ['track', 1], message: 'bad', hint: 'fix it', value: 3, line: 4, col: 5 }, '/x/dman.yaml');
    expect(line).toBe('/x/dman.yaml:4:5: track[1]: bad (got 3); fix: fix it');
  });
});
