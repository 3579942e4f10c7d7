// The DmanApi over the engine: what the tray app (through IPC) and the agent (through its
// WebSocket) both serve. It owns the engine's lifecycle (boot from dman.yaml, pause, groups
// switched off, rebuild after settings change), the wizard's helpers (defaults, connection and
// storage tests, track preview, first-sync plan, writing dman.yaml) and the embedded server.
// Every method returns { ok, value } or { ok: false, error }: expected failures are values.
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname as osHostname, homedir as osHomedir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Document, parseDocument } from 'yaml';
import { diff3Merge } from 'node-diff3';
import { setupSchema, type Activity, type AppState, type Conflict, type DmanApi, type DmanEvent, type Setup } from '../../shared/api.js';
import { DEFAULT_GROUPS, DEFAULT_SERVER_URL } from '../../shared/config/defaults.js';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { DmanError, isDmanError, toErrorValue, type ErrorValue } from '../../shared/errors.js';
import { compileTrack } from '../../shared/patterns/index.js';
import { USER_RE } from '../../shared/protocol.js';
import { configCandidates } from '../config/find.js';
import { lintConfigText } from '../config/lint.js';
import { loadConfig } from '../config/load.js';
import { createEngine as realCreateEngine, type EngineDeps } from '../createEngine.js';
import type { ConflictRecord, Engine, EngineEvent, SyncReport } from '../Engine.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { keepsHomes, setRedactedHomes, type Logger } from '../log.js';
import { isBinary } from '../plan/mergeText.js';
import { createHttpRemote } from '../remote/HttpRemote.js';
import { fetchAllChanges, type Remote } from '../remote/Remote.js';
import type { SecretStore, SettingsStore } from './appSettings.js';
import type { EmbeddedServer, StorageFields } from './createEmbeddedServer.js';

type R<T> = Promise<{ ok: true; value: T } | { ok: false; error: ErrorValue }>;

export interface DmanApiOptions {
  log: Logger;
  /** dman.yaml to use/write (--config); default: the usual search, writing to $XDG_CONFIG_HOME/dman/dman.yaml. */
  configPath?: string;
  /** The app's data dir (engine state, embedded server). */
  dataDir: string;
  settings: SettingsStore;
  /** When set, the device token lives here instead of in dman.yaml (the tray app's keyring). */
  secrets?: SecretStore;
  /** The embedded server (absent: this host cannot run one). */
  server?: EmbeddedServer;
  /** The app's self-update (the tray app); absent: this host cannot update itself (the agent). */
  updates?: {
    /** Whether this build can update itself (a packaged, signed build). */
    supported(): boolean;
    /** Called after the user changed the autoUpdate setting. */
    applySettings(): void;
  };
  /** The OS login item (Electron); absent: the setting is only remembered. */
  loginItem?: { get(): boolean; set(enabled: boolean): void };
  env?: Readonly<Record<string, string | undefined>>;
  homedir?: string;
  hostname?: string;
  /** Builds the engine (tests inject a fake watcher or remote). */
  createEngine?: (deps: EngineDeps) => Engine;
  /** Extra engine dependencies (watcher, notifier). */
  engineDeps?: Partial<Omit<EngineDeps, 'config' | 'log' | 'stateDir'>>;
  /** Builds the client of a server (default: HttpRemote); tests pass a MemoryRemote. */
  remote?: (url: string, token?: string) => Remote;
}

/** The API plus its lifecycle. */
export type DmanApiHost = DmanApi & {
  /** Loads dman.yaml (if any), resumes the embedded server and starts syncing. Never throws: problems land in the state. */
  start(): Promise<void>;
  /** Stops syncing and the embedded server. */
  close(): Promise<void>;
  /** The current engine's events and status, stable across engine restarts (for client metrics). */
  engineView: Pick<Engine, 'on' | 'status'>;
};

const ok = <T>(value: T) => ({ ok: true as const, value });
const fail = (err: unknown) => ({ ok: false as const, error: toErrorValue(err) });
async function wrap<T>(fn: () => Promise<T>): R<T> {
  try { return ok(await fn()); } catch (err) { return fail(err); }
}

/** Builds the 3-way merge of mine and the server's against base, marking overlapping hunks. */
export function markedMerge(base: string, mine: string, server: string): { text: string; hasOverlap: boolean } {
  const lines = (s: string) => s.split(/(?<=\n)/).filter((l) => l.length > 0);
  const regions = diff3Merge<string>(lines(mine), lines(base), lines(server), { excludeFalseConflicts: true });
  const out: string[] = [];
  let hasOverlap = false;
  const nl = (arr: string[]) => { const s = arr.join(''); return s.length === 0 || s.endsWith('\n') ? s : `${s}\n`; };
  for (const r of regions) {
    if (r.ok) out.push(r.ok.join(''));
    else if (r.conflict) {
      hasOverlap = true;
      out.push(`<<<<<<< mine\n${nl(r.conflict.a)}=======\n${nl(r.conflict.b)}>>>>>>> server\n`);
    }
  }
  return { text: out.join(''), hasOverlap };
}

const decode = (b: Uint8Array) => new TextDecoder().decode(b);
async function readStream(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks);
}

/** Creates the DmanApi host over the engine. */
export function createDmanApi(opts: DmanApiOptions): DmanApiHost {
  const log = opts.log.child({ mod: 'api' });
  const env = opts.env ?? process.env;
  const home = opts.homedir ?? env.HOME ?? osHomedir();
  const host = opts.hostname ?? osHostname();
  const makeEngine = opts.createEngine ?? realCreateEngine;
  const listeners = new Set<(e: DmanEvent) => void>();
  const activity: Activity[] = [];

  let config: EffectiveConfig | null = null;
  let configFile: string | null = null;
  let engine: Engine | null = null;
  let offEngine: (() => void) | null = null;
  let running = 0;
  let offline = false;
  let lastError: ErrorValue | null = null;
  let lastSyncAt: number | null = null;
  let conflicts: ConflictRecord[] = [];
  let users: AppState['users'] = [];

  const emit = (e: DmanEvent) => { for (const l of listeners) { try { l(e); } catch {} } };
  const note = (level: Activity['level'], message: string, user: string | null = null, path: string | null = null) => {
    const a: Activity = { time: Date.now(), level, user, path, message };
    activity.unshift(a);
    activity.length = Math.min(activity.length, 1000);
    emit({ type: 'activity', activity: a });
  };

  const remoteFor = (url: string, token?: string): Remote => opts.remote?.(url, token) ?? createHttpRemote({ url, token, log, retries: 0, timeoutMs: 8000 });
  const stateDir = () => config?.state_dir ?? join(opts.dataDir, 'state');
  const targetConfigFile = () => configFile ?? configCandidates({ env, cwd: process.cwd(), homedir: home, configPath: opts.configPath })
    .map((c) => c.path).find((p) => p.includes(`${join('dman', 'dman.yaml')}`)) ?? configCandidates({ env, cwd: process.cwd(), homedir: home, configPath: opts.configPath })[0]!.path;

  async function groupsState(): Promise<AppState['groups']> {
    const s = await opts.settings.load();
    // The config always carries the default groups; show only those this machine tracks.
    const tracked = new Set(Object.values(config?.users ?? {}).flatMap((u) => u.track));
    return Object.entries(config?.groups ?? {})
      .filter(([, patterns]) => patterns.some((p) => tracked.has(p)))
      .map(([name, patterns]) => ({ name, patterns, enabled: !s.disabledGroups.includes(name) }));
  }

  async function state(): Promise<AppState> {
    const s = await opts.settings.load();
    const conflictCount = conflicts.length;
    const st: AppState['state'] = !config ? 'unconfigured'
      : running > 0 ? 'syncing'
        : s.paused ? 'paused'
          : offline ? 'offline'
            : lastError && /^AUTH_/.test(lastError.code) ? 'error'
              : conflictCount > 0 ? 'conflicts'
                : lastError ? 'error' : 'idle';
    return {
      state: st,
      configured: config !== null,
      paused: s.paused,
      serverUrl: config?.server_url ?? null,
      device: config?.device ?? host,
      hostsServer: s.hostsServer,
      lastSyncAt,
      lastError,
      conflictCount,
      users: config ? users : [],
      groups: await groupsState(),
    };
  }
  const pushState = async () => emit({ type: 'state', state: await state() });

  function toConflict(c: ConflictRecord): Conflict {
    return {
      user: c.user, path: c.path, binary: false, detectedAt: c.since,
      localHash: c.local?.hash ?? null, remoteHash: c.remote && !c.remote.deleted ? c.remote.hash : null,
      remoteDevice: c.remote && !c.remote.deleted ? c.remote.device : null,
    };
  }

  async function refreshAfterRun(): Promise<void> {
    if (!engine) return;
    const before = new Set(conflicts.map((c) => `${c.user}\0${c.path}`));
    try {
      conflicts = await engine.conflicts();
      const st = await engine.status();
      offline = !st.online;
      users = st.users.map((u) => ({ name: u.user, home: u.home, files: u.tracked, pending: u.pending, conflicts: u.conflicts, lastSyncAt: u.lastSyncAt }));
      const latest = Math.max(0, ...st.users.map((u) => u.lastSyncAt ?? 0));
      if (latest > 0) lastSyncAt = Math.max(lastSyncAt ?? 0, latest);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'status refresh failed');
    }
    const now = new Set(conflicts.map((c) => `${c.user}\0${c.path}`));
    if (now.size !== before.size || [...now].some((k) => !before.has(k))) emit({ type: 'conflicts', conflicts: conflicts.map(toConflict) });
    await pushState();
  }

  function describeReport(r: SyncReport): void {
    for (const u of r.users) {
      const c = u.counts;
      const changed = c.published + c.installed + c.deleted;
      if (changed > 0) note('info', `Synced ${u.user}: ${c.published} uploaded, ${c.installed} downloaded, ${c.deleted} deleted`, u.user);
      for (const a of u.actions) if (a.error) note('error', `${a.path}: ${a.error.message}`, u.user, a.path);
      for (const cf of u.conflicts) if (!conflicts.some((x) => x.user === cf.user && x.path === cf.path)) note('warn', `Conflict: ${cf.path} changed here and on the server`, cf.user, cf.path);
    }
  }

  const engineListeners = new Set<(e: EngineEvent) => void>();
  function onEngineEvent(e: EngineEvent): void {
    for (const l of engineListeners) l(e);
    if (e.type === 'progress') emit({ type: 'progress', done: e.done, total: Math.max(e.total, e.done), phase: e.phase });
    else if (e.type === 'synced') {
      lastSyncAt = Date.now();
      lastError = null;
      offline = false;
      const c = e.report.counts;
      if (c.published + c.installed + c.deleted > 0) note('info', `Synced ${e.user}: ${c.published} uploaded, ${c.installed} downloaded, ${c.deleted} deleted`, e.user);
      void refreshAfterRun();
    } else if (e.type === 'conflict') {
      note('warn', `Conflict: ${e.conflict.path} changed here and on the server`, e.conflict.user, e.conflict.path);
      void refreshAfterRun();
    } else if (e.type === 'error') {
      if (e.error.code === 'SERVER_UNREACHABLE') offline = true;
      else lastError = e.error;
      note('error', e.error.message, e.user ?? null, e.path ?? null);
      void pushState();
    }
  }

  /**
   * The config this machine syncs with: each user's track list minus the patterns of groups
   * switched off here (unless an enabled group lists them too). The engine leaves paths it no
   * longer tracks alone (no delete is published), so switching a group off is safe.
   */
  function withGroupsOff(cfg: EffectiveConfig, disabled: string[]): EffectiveConfig {
    if (disabled.length === 0) return cfg;
    const off = new Set(Object.entries(cfg.groups).filter(([g]) => disabled.includes(g)).flatMap(([, p]) => p));
    const on = new Set(Object.entries(cfg.groups).filter(([g]) => !disabled.includes(g)).flatMap(([, p]) => p));
    const users = Object.fromEntries(Object.entries(cfg.users).map(([name, u]) => [name, { ...u, track: u.track.filter((p) => !off.has(p) || on.has(p)) }]));
    return { ...cfg, users };
  }

  async function runSync(): Promise<SyncReport> {
    if (!engine) throw new DmanError('USAGE', 'dman is not set up yet', { hint: 'finish the setup wizard first' });
    running++;
    await pushState();
    try {
      const r = await engine.sync({ direction: 'both' });
      lastSyncAt = Date.now();
      offline = r.offline;
      const errs = r.users.flatMap((u) => u.errors);
      lastError = r.offline ? null : (errs[0] ?? null);
      describeReport(r);
      return r;
    } catch (err) {
      const ev = toErrorValue(err);
      if (ev.code === 'SERVER_UNREACHABLE') offline = true; else lastError = ev;
      note('error', ev.message);
      throw err;
    } finally {
      running--;
      await refreshAfterRun();
    }
  }

  async function stopEngine(): Promise<void> {
    offEngine?.();
    offEngine = null;
    const e = engine;
    engine = null;
    await e?.close();
  }

  async function startEngine(): Promise<void> {
    await stopEngine();
    if (!config) return;
    let cfg = config;
    const token = await tokenFor(cfg);
    if (token) cfg = { ...cfg, auth_token: token };
    await mkdir(stateDir(), { recursive: true, mode: 0o700 });
    const s = await opts.settings.load();
    cfg = withGroupsOff(cfg, s.disabledGroups);
    const e = makeEngine({ ...opts.engineDeps, remote: opts.remote?.(cfg.server_url, cfg.auth_token), config: cfg, log, stateDir: stateDir() });
    engine = e;
    offEngine = e.on(onEngineEvent);
    if (s.paused) return;
    await e.watch().catch((err: unknown) => { lastError = toErrorValue(err); note('error', lastError.message); });
  }

  async function loadAndStart(): Promise<void> {
    try {
      const loaded = await loadConfig({ configPath: opts.configPath ?? configFile ?? undefined, env, homedir: home, hostname: host });
      config = Object.keys(loaded.config.users).length > 0 ? loaded.config : null;
      configFile = loaded.file;
      // Homes name people: every line of this process shows them as ~name from now on.
      if (!keepsHomes(env)) setRedactedHomes(opts.log, Object.values(loaded.config.users).map((u) => u.home));
      for (const w of loaded.warnings) log.warn({ file: loaded.file }, w);
    } catch (err) {
      config = null;
      if (!isDmanError(err, 'CONFIG_NOT_FOUND')) { lastError = toErrorValue(err); note('error', lastError.message); }
    }
    await startEngine();
    if (engine) void refreshAfterRun();
    else await pushState();
  }

  // ---- config writing

  function setupYaml(setup: Setup, token: string | null, serverUrl: string): string {
    const doc = new Document({
      server_url: serverUrl,
      ...(token ? { auth_token: token } : {}),
      conflict_policy: setup.conflictPolicy,
      groups: setup.groups ?? Object.fromEntries(Object.entries(DEFAULT_GROUPS).map(([k, v]) => [k, [...v]])),
      track: setup.track,
      users: { [setup.user]: { home: setup.home } },
    });
    doc.commentBefore = ' dman.yaml: written by the dman setup wizard. Edit freely; `dman config lint` checks it.';
    return doc.toString();
  }

  async function lintOrThrow(text: string, file: string): Promise<EffectiveConfig> {
    const rep = await lintConfigText(text, { file, env, homedir: home, hostname: host });
    const errors = rep.problems.filter((p) => p.severity === 'error');
    if (errors.length > 0 || !rep.config) {
      const first = errors[0];
      const got = first?.value !== undefined ? ` (got ${JSON.stringify(first.value)})` : '';
      throw new DmanError('CONFIG_INVALID', `the settings would make an invalid dman.yaml: ${first ? `${first.key ? `${first.key}: ` : ''}${first.message}${got}` : 'unknown problem'}`, { hint: first?.hint, context: { file, key: first?.key } });
    }
    return rep.config;
  }

  async function writeConfig(text: string, file: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    // Never lose a config: keep the previous file beside the new one.
    const had = await stat(file).then(() => true, () => false);
    if (had) await copyFile(file, `${file}.bak`);
    await writeFileAtomic(file, text, { mode: 0o600 });
  }

  async function serverUrlFor(setup: Setup): Promise<string> {
    if (setup.mode === 'host') {
      const url = opts.server?.url();
      if (!url) {
        if (!opts.server) throw new DmanError('USAGE', 'this app cannot host a server here', { hint: 'choose "Connect to a server" instead' });
        return (await opts.server.start(setup.storage ?? { driver: 'disk', dataDir: join(opts.dataDir, 'server', 'data') })).url;
      }
      return url;
    }
    if (!setup.serverUrl) throw new DmanError('USAGE', 'no server URL given', { hint: 'enter the URL of the dman server (step 1)' });
    return setup.serverUrl;
  }

  async function tempConfig(setup: Setup): Promise<EffectiveConfig> {
    const url = await serverUrlFor(setup);
    return lintOrThrow(setupYaml(setup, setup.token ?? null, url), targetConfigFile());
  }

  // ---- preview

  async function preview(homeDir: string, patterns: string[]) {
    const matcher = compileTrack(patterns);
    const root = resolve(homeDir);
    const st = await stat(root).catch(() => null);
    if (!st?.isDirectory()) throw new DmanError('IO', `the home folder ${root} does not exist or is not a folder`, { hint: 'enter an existing absolute folder', context: { path: root } });
    const items: Array<{ path: string; tracked: boolean; pattern: string | null }> = [];
    const queue = [''];
    const LIMIT = 2000;
    while (queue.length > 0 && items.length < LIMIT) {
      const dir = queue.shift()!;
      const entries = await readdir(join(root, dir), { withFileTypes: true }).catch(() => []);
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const ent of entries) {
        const rel = dir ? `${dir}/${ent.name}` : ent.name;
        if (ent.isDirectory()) {
          if (matcher.shouldDescend(rel)) queue.push(rel);
          continue;
        }
        if (!ent.isFile() && !ent.isSymbolicLink()) continue;
        const x = matcher.explain(rel);
        // At the top of a home, list only dotfiles as "not synced": the rest is noise.
        if (!x.tracked && x.pattern === null && dir === '' && !ent.name.startsWith('.')) continue;
        items.push({ path: rel, tracked: x.tracked, pattern: x.pattern });
        if (items.length >= LIMIT) break;
      }
    }
    return items.sort((a, b) => Number(b.tracked) - Number(a.tracked) || a.path.localeCompare(b.path));
  }

  // ---- storage test

  async function testStorage(s: StorageFields) {
    const t0 = performance.now();
    const warnings: string[] = [];
    if (s.driver === 'disk') {
      const dir = resolve(s.dataDir ?? join(opts.dataDir, 'server', 'data'));
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const probe = join(dir, `.dman-probe-${randomUUID()}`);
        await writeFile(probe, 'probe');
        await rm(probe, { force: true });
      } catch (err) {
        throw new DmanError('IO', `cannot write to the data folder ${dir}: ${(err as Error).message}`, { hint: 'choose a folder you can write to', context: { path: dir }, cause: err });
      }
      if (dir === resolve(home)) warnings.push('The data folder is your home folder itself; a subfolder is safer.');
    } else if (s.driver === 'redis') {
      const { Redis } = await import('ioredis');
      const [h, p] = (s.addr ?? '127.0.0.1:6379').split(':');
      const client = new Redis({
        ...(s.socket ? { path: s.socket } : { host: h, port: Number(p ?? 6379) }),
        username: s.username, password: s.password, db: s.db ? Number(s.db) : 0,
        tls: s.tls ? {} : undefined, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null,
      });
      client.on('error', () => {}); // the failure is reported once, below
      try {
        await client.connect();
        await client.ping();
      } catch (err) {
        throw new DmanError('STORE_UNAVAILABLE', `cannot reach Redis at ${s.socket ?? s.addr ?? '127.0.0.1:6379'}: ${(err as Error).message}`, { hint: 'check the address, password and TLS setting, and that Redis runs', context: { driver: 'redis' }, cause: err });
      } finally {
        client.disconnect();
      }
    } else {
      const mysql = await import('mysql2/promise');
      const [h, p] = (s.addr ?? '127.0.0.1:3306').split(':');
      let conn: Awaited<ReturnType<typeof mysql.createConnection>> | null = null;
      try {
        conn = await mysql.createConnection({
          ...(s.socket ? { socketPath: s.socket } : { host: h, port: Number(p ?? 3306) }),
          user: s.username, password: s.password, database: s.db, connectTimeout: 3000, ssl: s.tls ? {} : undefined,
        });
        await conn.ping();
      } catch (err) {
        throw new DmanError('STORE_UNAVAILABLE', `cannot reach MariaDB/MySQL at ${s.socket ?? s.addr ?? '127.0.0.1:3306'}: ${(err as Error).message}`, { hint: 'check the address, user, password and database name, and that the server runs', context: { driver: 'mariadb' }, cause: err });
      } finally {
        await conn?.end().catch(() => {});
      }
    }
    return { latencyMs: performance.now() - t0, warnings };
  }

  // ---- helpers over the remote

  async function remoteOf(): Promise<Remote> {
    if (!config) throw new DmanError('USAGE', 'dman is not set up yet', { hint: 'finish the setup wizard first' });
    return remoteFor(config.server_url, await tokenNow());
  }
  async function tokenNow(): Promise<string | undefined> {
    return config ? tokenFor(config) : undefined;
  }
  /** Same precedence as the CLI: $DMAN_AUTH_TOKEN > the secret store (keyring, `dman login`) > auth_token in dman.yaml. */
  async function tokenFor(cfg: EffectiveConfig): Promise<string | undefined> {
    if (env.DMAN_AUTH_TOKEN) return env.DMAN_AUTH_TOKEN;
    let stored: string | null = null;
    try {
      stored = (await opts.secrets?.getToken(cfg.server_url)) ?? null;
    } catch (err) {
      log.warn({ err: (err as Error).message, url: cfg.server_url }, 'stored token unreadable; using the config');
    }
    return stored ?? cfg.auth_token;
  }
  /** Whether a token saved by the app goes into dman.yaml too. */
  const tokenInFile = () => !opts.secrets || opts.secrets.holdsToken === false;
  async function blob(user: string, hash: string): Promise<Buffer> {
    const r = opts.remote?.(config!.server_url, await tokenNow()) ?? createHttpRemote({ url: config!.server_url, token: await tokenNow(), log });
    return readStream(await r.getBlob(user, hash));
  }
  function needEngine(): Engine {
    if (!engine) throw new DmanError('USAGE', 'dman is not set up yet', { hint: 'finish the setup wizard first' });
    return engine;
  }
  function userHome(user: string): string {
    const u = config?.users[user];
    if (!u) throw new DmanError('NOT_FOUND', `no user "${user}" in the config`, { context: { user } });
    return u.home;
  }

  const api: DmanApiHost = {
    getState: () => wrap(state),
    syncNow: () => wrap(async () => {
      const r = await runSync();
      const sum = (k: 'published' | 'installed' | 'deleted' | 'conflicts' | 'skipped') => r.users.reduce((n, u) => n + u.counts[k], 0);
      if (r.offline) throw new DmanError('SERVER_UNREACHABLE', `cannot reach the server at ${config?.server_url}; local changes stay pending`, { hint: 'check that the server runs and the URL is right (Settings)' });
      return { published: sum('published'), installed: sum('installed'), deleted: sum('deleted'), conflicts: sum('conflicts'), skipped: sum('skipped'), durationMs: r.totalMs };
    }),
    setPaused: (paused) => wrap(async () => {
      const s = await opts.settings.load();
      await opts.settings.save({ ...s, paused });
      note('info', paused ? 'Syncing paused' : 'Syncing resumed');
      await startEngine();
      return state();
    }),
    setGroupEnabled: (group, enabled) => wrap(async () => {
      if (!config || !(group in config.groups)) throw new DmanError('NOT_FOUND', `no group "${group}" in the config`, { hint: `groups: ${Object.keys(config?.groups ?? {}).join(', ') || '(none)'}`, context: { key: `groups.${group}` } });
      const s = await opts.settings.load();
      const disabled = new Set(s.disabledGroups);
      if (enabled) disabled.delete(group); else disabled.add(group);
      await opts.settings.save({ ...s, disabledGroups: [...disabled] });
      note('info', `Group ${group} ${enabled ? 'syncing again' : 'paused on this machine'}`);
      await startEngine();
      return state();
    }),
    listConflicts: () => wrap(async () => {
      if (engine) conflicts = await engine.conflicts();
      // Sniff this machine's copy so the list can say "binary" before anything is downloaded.
      return Promise.all(conflicts.map(async (c) => {
        const head = c.local ? await readFile(join(userHome(c.user), c.path)).catch(() => null) : null;
        return { ...toConflict(c), binary: head !== null && isBinary(head) };
      }));
    }),
    getConflict: (user, path) => wrap(async () => {
      const e = needEngine();
      const rec = (await e.conflicts()).find((c) => c.user === user && c.path === path);
      if (!rec) throw new DmanError('NOT_FOUND', `no open conflict on ${path} for ${user}`, { hint: 'it may have been resolved already; refresh the list', context: { user, path } });
      const local = rec.local ? await readFile(join(userHome(user), path)).catch(() => null) : null;
      const remote = rec.remote && !rec.remote.deleted && rec.remote.hash ? await blob(user, rec.remote.hash) : null;
      let base: Buffer | null = null;
      if (rec.baseRev) {
        const v = (await e.history(user, path)).find((h) => h.rev === rec.baseRev);
        if (v?.hash && !v.deleted) base = await blob(user, v.hash).catch(() => null);
      }
      const binary = [local, remote, base].some((b) => b !== null && isBinary(b));
      const text = (b: Buffer | null) => (b === null || binary ? null : decode(b));
      const merged = binary ? null : markedMerge(text(base) ?? '', text(local) ?? '', text(remote) ?? '');
      return { ...toConflict(rec), binary, base: text(base), local: text(local), remote: text(remote), merged: merged?.text ?? null, hasOverlap: merged?.hasOverlap ?? false };
    }),
    resolveConflict: (user, path, how) => wrap(async () => {
      const e = needEngine();
      await e.resolve(user, path, how.keep === 'merged' ? { mergedText: how.text } : how.keep);
      note('info', `Resolved ${path}: ${how.keep === 'local' ? 'kept mine' : how.keep === 'server' ? "kept the server's" : how.keep === 'both' ? 'kept both' : 'saved the merge'}`, user, path);
      await refreshAfterRun();
      return state();
    }),
    history: (user, path) => wrap(async () => needEngine().history(user, path)),
    readVersion: (user, path, rev) => wrap(async () => {
      const v = (await needEngine().history(user, path)).find((h) => h.rev === rev);
      if (!v) throw new DmanError('NOT_FOUND', `${path} has no version ${rev}`, { hint: 'the server may have pruned it (retention)', context: { user, path } });
      if (v.deleted || !v.hash) return { rev, binary: false, size: 0, text: null };
      const b = await blob(user, v.hash);
      const bin = isBinary(b);
      return { rev, binary: bin, size: b.length, text: bin ? null : decode(b) };
    }),
    restore: (user, path, rev) => wrap(async () => {
      await needEngine().restore(user, path, rev);
      note('info', `Restored ${path} to version ${rev}`, user, path);
      await refreshAfterRun();
      return state();
    }),
    listFiles: (user) => wrap(async () => {
      const { entries } = await fetchAllChanges(await remoteOf(), user, 0);
      const latest = new Map<string, (typeof entries)[number]>();
      for (const en of entries) latest.set(en.path, en);
      return [...latest.values()].filter((en) => !en.deleted).map((en) => ({ path: en.path, size: en.size, rev: en.rev })).sort((a, b) => a.path.localeCompare(b.path));
    }),
    activity: (n) => wrap(async () => activity.slice(0, n)),
    testServer: (url, token) => wrap(async () => {
      const r = remoteFor(url, token);
      if (!token) {
        const h = await r.health();
        return { version: h.version, user: null, device: null };
      }
      const w = await r.whoami();
      return { version: w.serverVersion, user: w.user, device: w.device };
    }),
    testStorage: (s) => wrap(() => testStorage(s)),
    previewTrack: (homeDir, patterns) => wrap(() => preview(homeDir, patterns)),
    planFirstSync: (setupIn) => wrap(async () => {
      const cfg = await tempConfig(setupSchema.parse(setupIn));
      await mkdir(stateDir(), { recursive: true, mode: 0o700 });
      const e = makeEngine({ remote: opts.remote?.(cfg.server_url, cfg.auth_token), config: cfg, log, stateDir: config?.state_dir ?? join(opts.dataDir, 'state') });
      try {
        const lines = await e.compare({ showSame: true });
        return lines.map((l) => ({
          user: l.user, path: l.path,
          action: l.state === 'conflict' ? 'conflict' as const
            : l.state === 'same' ? 'same' as const
              : l.direction === 'remote' ? (l.state === 'delete' ? 'delete-remote' as const : 'publish' as const)
                : l.direction === 'local' ? (l.state === 'delete' ? 'delete-local' as const : 'install' as const) : 'same' as const,
        }));
      } finally {
        await e.close();
      }
    }),
    applySetup: (setupIn) => wrap(async () => {
      const setup = setupSchema.parse(setupIn);
      const file = targetConfigFile();
      const url = await serverUrlFor(setup);
      let token = setup.token ?? null;
      if (setup.mode === 'host' && !token && opts.server) token = await opts.server.createDeviceToken(setup.user, host);
      if (!token) throw new DmanError('AUTH_REQUIRED', 'no device token for this machine', { hint: 'create one (hosted server) or paste one (step 3)' });
      if (opts.secrets) await opts.secrets.setToken(url, token);
      const text = setupYaml(setup, tokenInFile() ? token : null, url);
      await lintOrThrow(text, file);
      await writeConfig(text, file);
      const s = await opts.settings.load();
      await opts.settings.save({ ...s, hostsServer: setup.mode === 'host', paused: false, disabledGroups: [] });
      configFile = file;
      note('info', `Setup saved to ${file}`);
      await loadAndStart();
      return { configFile: file, token: null };
    }),
    setupDefaults: () => wrap(async () => {
      let user = 'me';
      try { user = userInfo().username; } catch {}
      if (!USER_RE.test(user)) user = user.replace(/[^a-z0-9_.-]/gi, '_').replace(/^[^a-z_]/i, '_').slice(0, 64) || 'me';
      return {
        user, home, device: host,
        dataDir: join(opts.dataDir, 'server', 'data'),
        serverUrl: config?.server_url ?? DEFAULT_SERVER_URL,
        groups: Object.fromEntries(Object.entries(config?.groups ?? DEFAULT_GROUPS).map(([k, v]) => [k, [...v]])),
        configFile: targetConfigFile(),
      };
    }),
    startHostedServer: (storage) => wrap(async () => {
      if (!opts.server) throw new DmanError('USAGE', 'this app cannot host a server here', { hint: 'choose "Connect to a server" instead' });
      const r = await opts.server.start(storage);
      note('info', `Started the embedded server (${storage.driver}) at ${r.url}`);
      return r;
    }),
    createDeviceToken: (user, device) => wrap(async () => {
      if (!opts.server?.url()) throw new DmanError('USAGE', 'the embedded server is not running', { hint: 'go back to the storage step and start it' });
      return { token: await opts.server.createDeviceToken(user, device) };
    }),
    getSettings: () => wrap(async () => {
      const s = await opts.settings.load();
      return {
        serverUrl: config?.server_url ?? null,
        hasToken: Boolean(await tokenNow()),
        conflictPolicy: config?.conflict_policy ?? 'ask',
        startAtLogin: opts.loginItem ? opts.loginItem.get() : s.startAtLogin,
        autoUpdate: s.autoUpdate,
        supportsUpdates: opts.updates?.supported() ?? false,
        groups: await groupsState(),
        configFile,
      };
    }),
    updateSettings: (patch) => wrap(async () => {
      if (patch.startAtLogin !== undefined) {
        opts.loginItem?.set(patch.startAtLogin);
        const s = await opts.settings.load();
        await opts.settings.save({ ...s, startAtLogin: patch.startAtLogin });
      }
      if (patch.autoUpdate !== undefined) {
        const s = await opts.settings.load();
        await opts.settings.save({ ...s, autoUpdate: patch.autoUpdate });
        opts.updates?.applySettings();
        note('info', patch.autoUpdate ? 'Automatic updates on' : 'Automatic updates off');
      }
      if (patch.serverUrl !== undefined || patch.token !== undefined || patch.conflictPolicy !== undefined) {
        if (!configFile) throw new DmanError('USAGE', 'dman is not set up yet', { hint: 'finish the setup wizard first' });
        const doc = parseDocument(await readFile(configFile, 'utf8'));
        if (patch.serverUrl !== undefined) doc.set('server_url', patch.serverUrl);
        if (patch.conflictPolicy !== undefined) doc.set('conflict_policy', patch.conflictPolicy);
        if (patch.token !== undefined) {
          const url = patch.serverUrl ?? config?.server_url ?? String(doc.get('server_url') ?? DEFAULT_SERVER_URL);
          if (opts.secrets) await opts.secrets.setToken(url, patch.token);
          if (tokenInFile()) doc.set('auth_token', patch.token); else doc.delete('auth_token');
        }
        const text = doc.toString();
        await lintOrThrow(text, configFile);
        await writeConfig(text, configFile);
        note('info', 'Settings saved');
        await loadAndStart();
      }
      const r = await api.getSettings();
      if (!r.ok) throw new DmanError(r.error.code as ErrorValue['code'], r.error.message);
      return r.value;
    }),
    onEvent(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },
    engineView: {
      on(listener) {
        engineListeners.add(listener);
        return () => { engineListeners.delete(listener); };
      },
      async status() {
        if (!engine) throw new DmanError('USAGE', 'dman is not set up yet', { hint: 'finish the setup wizard first' });
        return engine.status();
      },
    },
    async start() {
      const s = await opts.settings.load();
      if (s.hostsServer && opts.server) {
        await opts.server.resume().catch((err: unknown) => {
          // The app is quitting (close() overtook the start): nothing went wrong.
          if (err instanceof DmanError && err.context.stopped === true) return;
          lastError = toErrorValue(err);
          // The supervisor's own errors name the embedded server already ("the embedded server did not start: …").
          const m = lastError.message;
          note('error', /^the embedded server /i.test(m) ? `${m[0]!.toUpperCase()}${m.slice(1)}` : `The embedded server did not start: ${m}`);
        });
      }
      await loadAndStart();
    },
    async close() {
      await stopEngine();
      await opts.server?.stop();
      listeners.clear();
    },
  };
  return api;
}
