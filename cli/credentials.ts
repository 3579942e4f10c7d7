// Where `dman login` keeps device tokens: the OS keychain when one is reachable without native
// modules (`secret-tool` from libsecret on Linux, `security` on macOS), otherwise a 0600 JSON
// file in the user's config dir. Tokens never go into dman.yaml, so the config can be shared.
import type * as ChildProcess from 'node:child_process';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import envPaths from 'env-paths';
import { z } from 'zod';
import { DmanError } from '../shared/errors.js';
import type { EffectiveConfig } from '../shared/config/schema.js';
import { lazySchema } from '../shared/lazySchema.js';
import { writeFileAtomic } from '../engine/fs/atomic.js';

type Env = Readonly<Record<string, string | undefined>>;

/** A stored login: the token and who the server said it belongs to. */
export interface StoredLogin { token: string; user: string | null; device: string | null; savedAt: number }

/** A place that keeps one login per server URL. */
export interface CredentialStore {
  /** 'keychain' or 'file'. */
  readonly kind: 'keychain' | 'file';
  /** Human words for where the token lives (for messages; never the token). */
  readonly where: string;
  get(serverUrl: string): Promise<StoredLogin | null>;
  set(serverUrl: string, login: StoredLogin): Promise<void>;
  /** Forgets the login; resolves to whether there was one. */
  delete(serverUrl: string): Promise<boolean>;
  /** Set after set() when the keychain failed and the token went to the file instead (the keychain's error). */
  readonly fellBack?: string;
}

/** Options of createCredentialStore; every machine fact is injectable for tests. */
export interface CredentialStoreOptions {
  env?: Env;
  platform?: NodeJS.Platform;
}

const SERVICE = 'dman';

/** Normalises a server URL so `http://h:1/` and `http://h:1` share one login. */
export function credentialKey(serverUrl: string): string {
  return serverUrl.trim().replace(/\/+$/, '');
}

// Built on first use (shared/lazySchema.ts): a run with its token in the config or the environment reads no login file.
const loginSchema = lazySchema(() => z.object({ token: z.string().min(1), user: z.string().nullable(), device: z.string().nullable(), savedAt: z.number() }));
const fileSchema = lazySchema(() => z.object({ version: z.literal(1), logins: z.record(z.string(), loginSchema()) }));

/** Picks the credential store: $DMAN_CREDENTIAL_STORE (keychain|file) or the keychain when its tool is on PATH, else the file. */
export async function createCredentialStore(opts: CredentialStoreOptions = {}): Promise<CredentialStore> {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const wanted = (env.DMAN_CREDENTIAL_STORE ?? 'auto').toLowerCase();
  if (!['auto', 'keychain', 'file'].includes(wanted)) {
    throw new DmanError('USAGE', `DMAN_CREDENTIAL_STORE is "${wanted}"`, { hint: 'set it to keychain, file or auto (or unset it)', context: { key: 'DMAN_CREDENTIAL_STORE' } });
  }
  if (wanted !== 'file') {
    const tool = platform === 'darwin' ? 'security' : platform === 'linux' ? 'secret-tool' : null;
    const found = tool ? await onPath(tool, env) : null;
    if (found && tool) {
      const keychain = tool === 'security' ? macKeychain(found, env) : libsecret(found, env);
      return wanted === 'auto' ? withFileFallback(keychain, fileStore(credentialsFile(env))) : keychain;
    }
    if (wanted === 'keychain') {
      throw new DmanError('USAGE', `no keychain tool found (${tool ?? 'none on this OS'})`, { hint: platform === 'linux' ? 'install libsecret-tools (secret-tool), or set DMAN_CREDENTIAL_STORE=file' : 'set DMAN_CREDENTIAL_STORE=file' });
    }
  }
  return fileStore(credentialsFile(env));
}

/**
 * Uses the keychain, but keeps the token in the 0600 file when the keychain cannot store it (a
 * headless SSH box has secret-tool on PATH but no Secret Service to talk to). Reads look in both.
 */
function withFileFallback(keychain: CredentialStore, file: CredentialStore): CredentialStore {
  let fellBack: string | undefined;
  return {
    get kind() { return fellBack === undefined ? keychain.kind : file.kind; },
    get where() { return fellBack === undefined ? keychain.where : file.where; },
    get fellBack() { return fellBack; },
    async get(url) {
      const inKeychain = await keychain.get(url).catch(() => null);
      return inKeychain ?? file.get(url);
    },
    async set(url, login) {
      try {
        await keychain.set(url, login);
        fellBack = undefined;
        await file.delete(url); // an older fallback copy would outlive a logout from the keychain
      } catch (err) {
        fellBack = err instanceof Error ? err.message : String(err);
        await file.set(url, login);
      }
    },
    async delete(url) {
      const fromKeychain = await keychain.delete(url).catch(() => false);
      const fromFile = await file.delete(url);
      if (fromFile && !fromKeychain) fellBack = 'the token was in the file';
      return fromKeychain || fromFile;
    },
  };
}

/** The file that holds logins when there is no keychain: $DMAN_CREDENTIALS_FILE or <config dir>/credentials.json. */
export function credentialsFile(env: Env = process.env): string {
  if (env.DMAN_CREDENTIALS_FILE) return env.DMAN_CREDENTIALS_FILE;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'dman', 'credentials.json');
  return join(envPaths('dman', { suffix: '' }).config, 'credentials.json');
}

async function onPath(tool: string, env: Env): Promise<string | null> {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(dir, tool);
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  return null;
}

function fileStore(file: string): CredentialStore {
  async function read(): Promise<z.infer<ReturnType<typeof fileSchema>>> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, logins: {} };
      throw new DmanError('IO', `cannot read the stored logins in ${file}`, { hint: 'check its permissions, or remove it and run `dman login` again', context: { file }, cause: err });
    }
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = null; }
    const parsed = fileSchema().safeParse(json);
    if (!parsed.success) throw new DmanError('CONFIG_INVALID', `the stored logins in ${file} are damaged`, { hint: 'remove the file and run `dman login` again', context: { file } });
    return parsed.data;
  }
  async function write(data: z.infer<ReturnType<typeof fileSchema>>): Promise<void> {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  }
  return {
    kind: 'file',
    where: file,
    async get(url) { return (await read()).logins[credentialKey(url)] ?? null; },
    async set(url, login) {
      const data = await read();
      data.logins[credentialKey(url)] = login;
      await write(data);
    },
    async delete(url) {
      const data = await read();
      const key = credentialKey(url);
      if (!(key in data.logins)) return false;
      delete data.logins[key];
      if (Object.keys(data.logins).length === 0) await rm(file, { force: true });
      else await write(data);
      return true;
    },
  };
}

interface RunResult { code: number; stdout: string; stderr: string }

/** node:child_process, loaded when a keychain tool first runs: most commands (a `dman sync` with a token in dman.yaml) never run one. */
let childProcess: typeof ChildProcess | undefined;
const cp = (): typeof ChildProcess => (childProcess ??= process.getBuiltinModule('node:child_process'));

function run(cmd: string, args: string[], env: Env, stdin?: string): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = cp().spawn(cmd, args, { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
    // A tool that exits before reading stdin (no Secret Service) breaks the pipe; its exit code says what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin ?? '');
  });
}

// The keychain holds a JSON document so user and device survive beside the token; on macOS it is
// base64-encoded, so it needs no quoting on the `security -i` command line.
function decode(secret: string): StoredLogin | null {
  for (const text of [secret, /^[A-Za-z0-9+/]+=*$/.test(secret) ? Buffer.from(secret, 'base64').toString('utf8') : '']) {
    try {
      const parsed = loginSchema().safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {
      // not this encoding
    }
  }
  return null;
}

function keychainError(tool: string, what: string, r: RunResult): DmanError {
  return new DmanError('IO', `${tool} could not ${what}: ${r.stderr.trim() || `exit ${r.code}`}`, {
    hint: 'unlock the keychain, or set DMAN_CREDENTIAL_STORE=file to keep the token in a 0600 file instead',
  });
}

function libsecret(tool: string, env: Env): CredentialStore {
  const attrs = (url: string) => ['service', SERVICE, 'server', credentialKey(url)];
  return {
    kind: 'keychain',
    where: 'the Secret Service keyring (secret-tool)',
    async get(url) {
      const r = await run(tool, ['lookup', ...attrs(url)], env);
      return r.code === 0 && r.stdout ? decode(r.stdout) : null;
    },
    async set(url, login) {
      // The secret goes through stdin, never argv, so other users cannot read it from ps.
      const r = await run(tool, ['store', `--label=dman token for ${credentialKey(url)}`, ...attrs(url)], env, JSON.stringify(login));
      if (r.code !== 0) throw keychainError('secret-tool', 'store the token', r);
    },
    async delete(url) {
      const had = (await this.get(url)) !== null;
      const r = await run(tool, ['clear', ...attrs(url)], env);
      if (r.code !== 0 && had) throw keychainError('secret-tool', 'remove the token', r);
      return had;
    },
  };
}

function macKeychain(tool: string, env: Env): CredentialStore {
  return {
    kind: 'keychain',
    where: 'the macOS login keychain',
    async get(url) {
      const r = await run(tool, ['find-generic-password', '-s', SERVICE, '-a', credentialKey(url), '-w'], env);
      return r.code === 0 ? decode(r.stdout.trim()) : null;
    },
    async set(url, login) {
      // `add-generic-password -w` takes the password only as an argument, so the command goes to
      // `security -i` on stdin: nothing secret in any argv that ps could show. -U updates an existing item.
      const secret = Buffer.from(JSON.stringify(login), 'utf8').toString('base64');
      const r = await run(tool, ['-i'], env, `add-generic-password -U -s ${SERVICE} -a "${credentialKey(url).replace(/["\\]/g, '')}" -w ${secret}\n`);
      if (r.code !== 0 || /error|usage/i.test(r.stderr)) throw keychainError('security', 'store the token', r);
    },
    async delete(url) {
      const r = await run(tool, ['delete-generic-password', '-s', SERVICE, '-a', credentialKey(url)], env);
      return r.code === 0;
    },
  };
}

/** Where the token a command uses came from. */
export type TokenSource = 'env' | 'login' | 'config' | 'none';

/** Resolves the token and its source: $DMAN_AUTH_TOKEN, then the stored login for config.server_url, then config auth_token. */
export async function resolveTokenSource(
  config: Pick<EffectiveConfig, 'server_url' | 'auth_token'>,
  opts: { env?: Env; store?: CredentialStore } = {},
): Promise<{ token: string | undefined; source: TokenSource }> {
  const env = opts.env ?? process.env;
  if (env.DMAN_AUTH_TOKEN) return { token: env.DMAN_AUTH_TOKEN, source: 'env' };
  const store = opts.store ?? await createCredentialStore({ env });
  const login = await store.get(config.server_url);
  if (login) return { token: login.token, source: 'login' };
  if (config.auth_token) return { token: config.auth_token, source: 'config' };
  return { token: undefined, source: 'none' };
}

/** Resolves the token a client command sends: $DMAN_AUTH_TOKEN > `dman login` > config auth_token. */
export async function resolveToken(config: Pick<EffectiveConfig, 'server_url' | 'auth_token'>, opts: { env?: Env; store?: CredentialStore } = {}): Promise<string | undefined> {
  return (await resolveTokenSource(config, opts)).token;
}

/**
 * Whether secret-tool could reach a D-Bus session bus with this environment, decided as GLib
 * does: $DBUS_SESSION_BUS_ADDRESS, else the socket `bus` in the user's runtime directory
 * ($XDG_RUNTIME_DIR, else GLib's fallback, the cache directory), else X11 autolaunch (needs
 * $DISPLAY). Without any of them secret-tool can only fail, so there is no point spawning it
 * (4 to 40 ms on every command on a headless box that has it installed).
 */
export function sessionBusReachable(env: Env): boolean {
  if (env.DBUS_SESSION_BUS_ADDRESS || env.DISPLAY) return true;
  const runtime = env.XDG_RUNTIME_DIR || env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return existsSync(join(runtime, 'bus'));
}

/**
 * Reads the stored login for a server synchronously (for callers that cannot await, such as
 * `resolveToken` in the sync commands); same store choice as createCredentialStore.
 */
export function readStoredLoginSync(serverUrl: string, opts: CredentialStoreOptions = {}): StoredLogin | null {
  const env = opts.env ?? process.env;
  const platform = opts.platform ?? process.platform;
  const wanted = (env.DMAN_CREDENTIAL_STORE ?? 'auto').toLowerCase();
  const key = credentialKey(serverUrl);
  if (wanted !== 'file') {
    const tool = platform === 'darwin' ? 'security' : platform === 'linux' ? 'secret-tool' : null;
    const found = tool ? (env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, tool)).find((p) => {
      try { accessSync(p, constants.X_OK); return true; } catch { return false; }
    }) : undefined;
    // A Secret Service out of reach answers nothing, as secret-tool would after failing to connect.
    if (found && tool === 'secret-tool' && !sessionBusReachable(env)) {
      if (wanted === 'keychain') return null;
    } else if (found) {
      const args = tool === 'security' ? ['find-generic-password', '-s', SERVICE, '-a', key, '-w'] : ['lookup', 'service', SERVICE, 'server', key];
      const r = cp().spawnSync(found, args, { env: env as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 10_000 });
      const login = r.status === 0 && r.stdout ? decode(r.stdout.trim()) : null;
      // In auto mode a login the keychain could not take lives in the file (see withFileFallback).
      if (login || wanted === 'keychain') return login;
    }
  }
  const file = credentialsFile(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new DmanError('IO', `cannot read the stored logins in ${file}`, { hint: 'check its permissions, or remove it and run `dman login` again', context: { file }, cause: err });
  }
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = null; }
  const parsed = fileSchema().safeParse(json);
  if (!parsed.success) throw new DmanError('CONFIG_INVALID', `the stored logins in ${file} are damaged`, { hint: 'remove the file and run `dman login` again', context: { file } });
  return parsed.data.logins[key] ?? null;
}

/** Synchronous resolveToken: $DMAN_AUTH_TOKEN > `dman login` > config auth_token. */
export function resolveTokenSync(config: Pick<EffectiveConfig, 'server_url' | 'auth_token'>, opts: { env?: Env } = {}): string | undefined {
  const env = opts.env ?? process.env;
  if (env.DMAN_AUTH_TOKEN) return env.DMAN_AUTH_TOKEN;
  return readStoredLoginSync(config.server_url, { env })?.token ?? config.auth_token;
}
