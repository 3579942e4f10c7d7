// The question flow of `dman init`. Every question has a flag; a flag answers it without asking,
// and with --yes a question without a flag takes its default. Nothing is written here: the
// command writes the file once, at the very end, so Ctrl-C leaves nothing half-done.
import { existsSync, readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { DEFAULT_GROUPS, DEFAULT_LISTEN, DEFAULT_SERVER_URL } from '../../shared/config/defaults.js';
import { conflictPolicies, modernConfigSchema, storageDriverSchema, type ConflictPolicy, type StorageDriver } from '../../shared/config/schema.js';
import { DmanError } from '../../shared/errors.js';
import { USER_RE } from '../../shared/protocol.js';
import { checkServer, checkStore, countGroupFiles, type CheckResult } from './checks.js';
import type { InitAnswers, InitRole } from './renderInitConfig.js';

/** A choice of a select or checkbox question. */
export interface Choice<T extends string> { name: string; value: T; description?: string; checked?: boolean }

/** The prompt library behind the flow (inquirer in a terminal, defaults with --yes). */
export interface Prompts {
  select<T extends string>(o: { message: string; choices: Array<Choice<T>>; default?: T }): Promise<T>;
  input(o: { message: string; default?: string; validate?: (v: string) => true | string }): Promise<string>;
  password(o: { message: string }): Promise<string>;
  confirm(o: { message: string; default?: boolean }): Promise<boolean>;
  checkbox<T extends string>(o: { message: string; choices: Array<Choice<T>> }): Promise<T[]>;
}

/** The flags of `dman init` (each answers one question). */
export interface InitFlags {
  role?: string;
  serverUrl?: string;
  serveAddr?: string;
  storage?: string;
  dataDir?: string;
  redisAddr?: string;
  redisSocket?: string;
  redisUsername?: string;
  redisPassword?: string;
  redisDb?: string;
  dbAddr?: string;
  dbSocket?: string;
  dbName?: string;
  dbUser?: string;
  dbPassword?: string;
  redisPasswordFile?: string;
  dbPasswordFile?: string;
  redisTls?: boolean;
  redisTlsCa?: string;
  redisTlsCert?: string;
  redisTlsKey?: string;
  redisTlsInsecureSkipVerify?: boolean;
  redisTlsServerName?: string;
  dbTls?: boolean;
  dbTlsCa?: string;
  dbTlsCert?: string;
  dbTlsKey?: string;
  dbTlsInsecureSkipVerify?: boolean;
  dbTlsServerName?: string;
  user?: string[];
  home?: string[];
  groups?: string;
  conflictPolicy?: string;
  /** false with --no-check: skip the live server and database checks. */
  check?: boolean;
  yes?: boolean;
}

/** What the flow needs from the machine. */
export interface InitContext {
  flags: InitFlags;
  prompts: Prompts;
  /** Progress lines and check results (stderr in the CLI). */
  say: (line: string) => void;
  homedir: string;
  username: string;
  /** Injected in tests; default the real checks. */
  checkServer?: (url: string) => Promise<CheckResult>;
  checkStore?: typeof checkStore;
}

/** Makes Prompts that answer every question with its default (for --yes). */
export function defaultPrompts(): Prompts {
  return {
    async select(o) { return o.default ?? o.choices[0]!.value; },
    async input(o) {
      const v = o.default ?? '';
      const ok = o.validate ? o.validate(v) : true;
      if (ok !== true) throw new DmanError('USAGE', `${o.message} has no usable default: ${ok}`, { hint: 'pass the matching flag (see `dman init --help`)' });
      return v;
    },
    async password() { return ''; },
    async confirm(o) { return o.default ?? false; },
    async checkbox(o) { return o.choices.filter((c) => c.checked).map((c) => c.value); },
  };
}

const roles: Array<Choice<InitRole>> = [
  { name: 'client: sync this machine\'s dotfiles with a server elsewhere', value: 'client' },
  { name: 'server: run the sync server here for other machines', value: 'server' },
  { name: 'both: run the server here and sync this machine too', value: 'both' },
];

const policyText: Record<ConflictPolicy, string> = {
  ask: 'ask: keep both sides and ask me (notification, `dman resolve`)',
  'server-wins': 'server-wins: the server\'s version replaces mine',
  'local-wins': 'local-wins: my version replaces the server\'s',
  'keep-both': 'keep-both: take the server\'s, keep mine beside it as a conflict copy',
  merge: 'merge: 3-way merge for text when edits do not overlap, else ask',
};

function flagError(flag: string, value: string, why: string, hint: string): DmanError {
  return new DmanError('USAGE', `${flag} "${value}" ${why}`, { hint, context: { key: flag } });
}

/** Returns true or the problem with a value, using the config schema's own rule for that key. */
function schemaCheck(key: 'server_url' | 'listen' | 'data_dir', v: string): true | string {
  const r = modernConfigSchema().shape[key].safeParse(v);
  return r.success ? true : (r.error.issues[0]?.message ?? 'is not valid');
}

/** Runs the questions and returns the answers. */
export async function runInit(ctx: InitContext): Promise<InitAnswers> {
  const { flags: f, prompts: p, say } = ctx;
  const doCheckServer = ctx.checkServer ?? checkServer;
  const doCheckStore = ctx.checkStore ?? checkStore;
  const live = f.check !== false;

  // Each question: the flag answers it; otherwise ask (or, with --yes, take the default).
  async function text(flag: string, value: string | undefined, message: string, def: string, validate?: (v: string) => true | string): Promise<string> {
    if (value !== undefined) {
      const ok = validate ? validate(value) : true;
      if (ok !== true) throw flagError(flag, value, ok, `see \`dman init --help\` for ${flag}`);
      return value;
    }
    return (await p.input({ message, default: def, validate })).trim();
  }

  // Role
  let role: InitRole;
  if (f.role !== undefined) {
    if (!['client', 'server', 'both'].includes(f.role)) throw flagError('--role', f.role, 'is not a role', 'use client, server or both');
    role = f.role as InitRole;
  } else {
    const guess: InitRole = f.serveAddr || f.storage ? (f.serverUrl ? 'both' : 'server') : f.serverUrl ? 'client' : 'both';
    role = await p.select({ message: 'What runs on this machine?', choices: roles, default: guess });
  }
  const isClient = role !== 'server';
  const isServer = role !== 'client';
  const answers: InitAnswers = { role, users: [] };

  // Server side: listen address, storage and its live test.
  if (isServer) {
    answers.listen = await text('--serve-addr', f.serveAddr, 'Address to serve on (host:port; 0.0.0.0 for every interface, behind TLS)', DEFAULT_LISTEN, (v) => schemaCheck('listen', v));
    let storage: StorageDriver;
    if (f.storage !== undefined) {
      const r = storageDriverSchema.safeParse(f.storage);
      if (!r.success) throw flagError('--storage', f.storage, 'is not a storage driver', 'use disk, redis or mariadb');
      storage = r.data;
    } else {
      storage = await p.select<StorageDriver>({
        message: 'Where should the server store files?', default: 'disk', choices: [
          { name: 'disk: a folder on this machine (simplest)', value: 'disk' },
          { name: 'redis: a Redis server (no local state; several servers can share it)', value: 'redis' },
          { name: 'mariadb: a MariaDB/MySQL database (no local state; scale-out)', value: 'mariadb' },
        ],
      });
    }
    answers.storage = storage;
    if (storage === 'disk') {
      const d = await text('--data-dir', f.dataDir, 'Data directory (empty: the OS data dir)', '', (v) => (v === '' ? true : schemaCheck('data_dir', v)));
      if (d) answers.dataDir = d;
    } else {
      for (;;) {
        await askDatabase(storage, answers, ctx, text);
        if (!live) break;
        say(`Testing the ${storage} connection…`);
        const redis = answers.redis ? { db: answers.redis.db ?? 0, tls: false, tls_insecure_skip_verify: false, ...answers.redis } : undefined;
        const db = answers.db ? { tls: false, tls_insecure_skip_verify: false, ...answers.db } : undefined;
        const r = await doCheckStore(storage, { redis, db });
        if (r.ok) { say(`  ok: ${r.detail}`); break; }
        say(`  failed: ${r.error}`);
        if (f.yes || !(await p.confirm({ message: 'Change the connection settings and try again?', default: true }))) {
          if (f.yes) throw new DmanError('STORE_UNAVAILABLE', `the ${storage} connection test failed: ${r.error}`, { hint: 'fix the --redis-*/--db-* flags, start the database, or pass --no-check to write the config anyway', context: { driver: storage } });
          if (await p.confirm({ message: 'Write the config with these settings anyway?', default: false })) break;
          throw new DmanError('USAGE', 'init stopped: nothing was written', { hint: 'run `dman init` again once the database is reachable' });
        }
        // Asking again: the flags no longer pin the answers.
        for (const k of DB_FLAGS) delete f[k];
      }
    }
  }

  // Client side: server URL and its reachability.
  if (isClient) {
    const def = role === 'both' ? `http://${(answers.listen ?? DEFAULT_LISTEN).replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:')}` : DEFAULT_SERVER_URL;
    for (;;) {
      const url = await text('--server-url', f.serverUrl, 'Server URL', def, (v) => schemaCheck('server_url', v));
      answers.serverUrl = url.replace(/\/+$/, '');
      if (!live || role === 'both') break; // with both, the server starts only after init
      say(`Checking ${answers.serverUrl}/health…`);
      const r = await doCheckServer(answers.serverUrl);
      if (r.ok) { say(`  ok: ${r.detail}`); break; }
      say(`  not reachable: ${r.error}`);
      if (f.yes) { say('  continuing (--yes): start the server, then run `dman status`'); break; }
      if (await p.confirm({ message: 'Keep this URL anyway (the server may not be running yet)?', default: false })) break;
      delete f.serverUrl;
    }
  }

  // Users and homes.
  const names = f.user ?? [];
  const homes = f.home ?? [];
  if (homes.length > names.length) throw new DmanError('USAGE', `${homes.length} --home flags but ${names.length} --user flags`, { hint: 'pair them: --user alice --home /home/alice --user bob --home /home/bob' });
  const userOk = (v: string): true | string => (USER_RE.test(v) ? true : 'is not a valid user name: letters, digits, "_", "." or "-", not starting with a digit, "." or "-"');
  const homeOk = (v: string): true | string => (v.trim() === '' ? 'must not be empty' : true);
  const defaultName = USER_RE.test(ctx.username) ? ctx.username : 'me';
  if (names.length > 0) {
    names.forEach((n, i) => {
      const ok = userOk(n);
      if (ok !== true) throw flagError('--user', n, ok, 'pick another name');
      answers.users.push({ name: n, home: homes[i] ?? (i === 0 ? ctx.homedir : `/home/${n}`) });
    });
  } else {
    for (;;) {
      const first = answers.users.length === 0;
      const name = (await p.input({ message: first ? 'Your user name on the server' : 'Another user\'s name', default: first ? defaultName : undefined, validate: (v) => (answers.users.some((u) => u.name === v) ? 'is already listed' : userOk(v)) })).trim();
      const home = (await p.input({ message: `Home of ${name} on this machine`, default: first ? ctx.homedir : `/home/${name}`, validate: homeOk })).trim();
      answers.users.push({ name, home });
      if (!(await p.confirm({ message: 'Add another user?', default: false }))) break;
    }
  }

  // Track groups (clients): defaults preselected, with what each selects here now.
  if (isClient) {
    const groupNames = Object.keys(DEFAULT_GROUPS);
    let picked: string[];
    if (f.groups !== undefined) {
      picked = f.groups.split(',').map((g) => g.trim()).filter(Boolean);
      const unknown = picked.filter((g) => !groupNames.includes(g));
      if (unknown.length) throw flagError('--groups', f.groups, `names unknown groups: ${unknown.join(', ')}`, `choose from ${groupNames.join(', ')}`);
    } else if (f.yes) {
      picked = groupNames;
    } else {
      const home = answers.users[0]!.home;
      say(`Counting files in ${home}…`);
      const { counts, capped } = await countGroupFiles(home, DEFAULT_GROUPS);
      picked = await p.checkbox({
        message: 'Which groups of files should be synced? (space toggles, enter accepts)',
        choices: groupNames.map((g) => ({
          name: `${g.padEnd(10)} ${String(counts[g] ?? 0).padStart(5)}${capped ? '+' : ''} file${counts[g] === 1 ? '' : 's'} here   ${DEFAULT_GROUPS[g]!.join(' ')}`,
          value: g, checked: true,
        })),
      });
    }
    answers.groups = picked;
    answers.track = [...new Set(picked.flatMap((g) => [...DEFAULT_GROUPS[g]!]))];

    if (f.conflictPolicy !== undefined) {
      if (!(conflictPolicies as readonly string[]).includes(f.conflictPolicy)) throw flagError('--conflict-policy', f.conflictPolicy, 'is not a conflict policy', `use one of ${conflictPolicies.join(', ')}`);
      answers.conflictPolicy = f.conflictPolicy as ConflictPolicy;
    } else {
      answers.conflictPolicy = await p.select<ConflictPolicy>({ message: 'When a file changed both here and on the server:', default: 'ask', choices: conflictPolicies.map((c) => ({ name: policyText[c], value: c })) });
    }
  }
  return answers;
}

// The flags that describe the database connection (forgotten when the user asks to try again).
const DB_FLAGS = ['redisAddr', 'redisSocket', 'redisUsername', 'redisPassword', 'redisPasswordFile', 'redisDb', 'redisTls', 'redisTlsCa', 'redisTlsCert', 'redisTlsKey', 'redisTlsInsecureSkipVerify', 'redisTlsServerName',
  'dbAddr', 'dbSocket', 'dbName', 'dbUser', 'dbPassword', 'dbPasswordFile', 'dbTls', 'dbTlsCa', 'dbTlsCert', 'dbTlsKey', 'dbTlsInsecureSkipVerify', 'dbTlsServerName'] as const;

/** The TLS settings of a redis: or db: block, as init writes them (only what was answered). */
export interface TlsAnswers { tls?: boolean; tls_ca?: string; tls_cert?: string; tls_key?: string; tls_insecure_skip_verify?: boolean; tls_server_name?: string }

// Reads a secret from a file, as Docker and systemd credentials hand them over (one trailing newline dropped).
function readSecretFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new DmanError('USAGE', `${flag} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { hint: 'give a readable file that holds only the password', context: { file }, cause: err });
  }
}

const fileOk = (v: string): true | string => (v === '' || existsSync(resolvePath(v)) ? true : `${resolvePath(v)} does not exist`);

// Asks (or takes from flags) whether to use TLS and, if so, the CA, client certificate and key, server name and verification.
async function askTls(name: 'redis' | 'db', label: string, ctx: InitContext, text: TextFn): Promise<TlsAnswers> {
  const f = ctx.flags;
  const p = ctx.prompts;
  const fl = name === 'redis'
    ? { tls: f.redisTls, ca: f.redisTlsCa, cert: f.redisTlsCert, key: f.redisTlsKey, skip: f.redisTlsInsecureSkipVerify, sni: f.redisTlsServerName }
    : { tls: f.dbTls, ca: f.dbTlsCa, cert: f.dbTlsCert, key: f.dbTlsKey, skip: f.dbTlsInsecureSkipVerify, sni: f.dbTlsServerName };
  const flag = (k: string) => `--${name}-tls${k ? `-${k}` : ''}`;
  const anyDetail = [fl.ca, fl.cert, fl.key, fl.sni].some((v) => v !== undefined) || fl.skip === true;
  const on = fl.tls === true || anyDetail || (!f.yes && fl.tls === undefined && await p.confirm({ message: `Use TLS for the ${label} connection?`, default: false }));
  if (!on) return {};
  const t: TlsAnswers = { tls: true };
  const path = async (k: 'ca' | 'cert' | 'key', value: string | undefined, message: string): Promise<string | undefined> => {
    if (value === undefined && f.yes) return undefined;
    const v = await text(flag(k), value, message, '', fileOk);
    return v ? resolvePath(v) : undefined;
  };
  t.tls_ca = await path('ca', fl.ca, `${label} CA certificate file (empty: the system CAs)`);
  t.tls_cert = await path('cert', fl.cert, `${label} client certificate file (empty: none)`);
  if (t.tls_cert || fl.key !== undefined) t.tls_key = await path('key', fl.key, `${label} client key file`);
  if (t.tls_cert && !t.tls_key) throw new DmanError('USAGE', `${flag('cert')} is set without ${flag('key')}`, { hint: `pass ${flag('key')} FILE, the private key of the client certificate` });
  const sni = fl.sni !== undefined || !f.yes ? await text(flag('server-name'), fl.sni, `${label} server name to verify (empty: the host of the address)`, '') : '';
  if (sni) t.tls_server_name = sni;
  const skip = fl.skip ?? (f.yes ? false : await p.confirm({ message: `Skip verifying the ${label} server's certificate (insecure; for tests only)?`, default: false }));
  if (skip) t.tls_insecure_skip_verify = true;
  return t;
}

type TextFn = (flag: string, value: string | undefined, message: string, def: string, validate?: (v: string) => true | string) => Promise<string>;

const addrOk = (v: string): true | string => (v === '' || /^(?:\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+)(?::\d{1,5})?$/.test(v) ? true : 'is not host:port (like 127.0.0.1:6379)');

async function askDatabase(storage: 'redis' | 'mariadb', a: InitAnswers, ctx: InitContext, text: TextFn): Promise<void> {
  const f = ctx.flags;
  const p = ctx.prompts;
  const viaSocket = async (socketFlag: string | undefined, addrFlag: string | undefined): Promise<boolean> => {
    if (socketFlag !== undefined) return true;
    if (addrFlag !== undefined) return false;
    return (await p.select({ message: `Connect to ${storage} over`, default: 'tcp', choices: [{ name: 'TCP (host:port)', value: 'tcp' }, { name: 'a Unix socket on this machine', value: 'socket' }] })) === 'socket';
  };
  const secret = async (flag: string | undefined, message: string): Promise<string | undefined> => {
    const [name, file] = storage === 'redis' ? ['--redis-password', f.redisPasswordFile] : ['--db-password', f.dbPasswordFile];
    if (file !== undefined) {
      if (flag !== undefined) throw new DmanError('USAGE', `both ${name} and ${name}-file are given`, { hint: `pass only ${name}-file (it keeps the password off the command line)` });
      return readSecretFile(`${name}-file`, file) || undefined;
    }
    if (flag !== undefined) return flag || undefined;
    if (f.yes) return undefined;
    return (await p.password({ message })) || undefined;
  };
  if (storage === 'redis') {
    const sock = await viaSocket(f.redisSocket, f.redisAddr);
    const r: NonNullable<InitAnswers['redis']> = {};
    if (sock) r.socket = await text('--redis-socket', f.redisSocket, 'Redis socket path', '/run/redis/redis.sock', (v) => (v ? true : 'must not be empty'));
    else r.addr = await text('--redis-addr', f.redisAddr, 'Redis address (host:port)', '127.0.0.1:6379', addrOk);
    const username = await text('--redis-username', f.redisUsername, 'Redis ACL user (empty for the default user)', '');
    if (username) r.username = username;
    r.password = await secret(f.redisPassword, 'Redis password (empty for none)');
    const db = await text('--redis-db', f.redisDb, 'Redis database number (0-15)', '0', (v) => (/^(?:[0-9]|1[0-5])$/.test(v) ? true : 'is not a number from 0 to 15'));
    r.db = Number(db);
    Object.assign(r, await askTls('redis', 'Redis', ctx, text));
    a.redis = r;
  } else {
    const sock = await viaSocket(f.dbSocket, f.dbAddr);
    const d: NonNullable<InitAnswers['db']> = {};
    if (sock) d.socket = await text('--db-socket', f.dbSocket, 'MariaDB socket path', '/run/mysqld/mysqld.sock', (v) => (v ? true : 'must not be empty'));
    else d.addr = await text('--db-addr', f.dbAddr, 'MariaDB address (host:port)', '127.0.0.1:3306', addrOk);
    d.db = await text('--db-name', f.dbName, 'Database name', 'dman', (v) => (v ? true : 'must not be empty'));
    d.user = await text('--db-user', f.dbUser, 'Database user', 'dman', (v) => (v ? true : 'must not be empty'));
    d.password = await secret(f.dbPassword, 'Database password (empty for none)');
    Object.assign(d, await askTls('db', 'MariaDB', ctx, text));
    a.db = d;
  }
}
