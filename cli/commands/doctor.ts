// `dman doctor`: checks what usually breaks a sync (config, server, token, clock, storage,
// inotify watches, state dir) and what slows every dman start (the environment), and says how to
// fix each finding. Exit 1 when any is an error.
import { constants } from 'node:fs';
import { access, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { isDmanError } from '../../shared/errors.js';
import { lazySchema } from '../../shared/lazySchema.js';
import { compileTrack } from '../../shared/patterns/index.js';
import { PROTOCOL_VERSION, healthReplySchema, whoamiSchema } from '../../shared/protocol.js';
import { lintConfigFile } from '../../engine/config/lint.js';
import { walkTracked } from '../../engine/scan/walk.js';
import { action, globalsOf } from '../action.js';
import { EXIT } from '../exit.js';
import { buildInfo } from '../version.js';
import { defaultStateDir, resolveToken } from './sync.js';

/** One thing doctor found: what, how bad, and how to fix it. */
export interface Finding {
  check: 'config' | 'server' | 'version' | 'token' | 'clock' | 'storage' | 'watches' | 'state' | 'startup';
  level: 'ok' | 'warn' | 'error' | 'skip';
  message: string;
  fix?: string;
}

/** Inputs of runDoctor; machine facts are injectable for tests. */
export interface DoctorOptions {
  configPath?: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Local clock (ms); the skew check compares it to the server's Date header. */
  now?: () => number;
  /** Where the inotify watch limit is read (Linux); null skips the check. */
  watchLimitFile?: string | null;
  timeoutMs?: number;
  version?: string;
}

// Built on first use (shared/lazySchema.ts): every dman start loads this module, few run `dman doctor`.
const statusSchema = lazySchema(() => z.object({
  ok: z.boolean(),
  storage: z.object({ ok: z.boolean(), error: z.string().optional(), warnings: z.array(z.string()).optional(), details: z.record(z.string(), z.unknown()).optional() }).passthrough(),
  schemaVersion: z.unknown().optional(),
}).passthrough());

/** Skew bounds: seconds apart before a warning, and before an error. */
export const SKEW_WARN_S = 30;
export const SKEW_ERROR_S = 300;

async function get(url: string, token: string | undefined, timeoutMs: number): Promise<Response> {
  return fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
}

/** Counts the inotify watches a watch of these users needs: one per tracked file and per directory holding one. */
async function watchesNeeded(config: EffectiveConfig, cap: number): Promise<number> {
  let n = 0;
  for (const u of Object.values(config.users)) {
    const dirs = new Set<string>();
    try {
      for await (const e of walkTracked(u.home, compileTrack(u.track))) {
        n++;
        for (let d = dirname(e.path); d !== '.' && !dirs.has(d); d = dirname(d)) dirs.add(d);
        if (n + dirs.size > cap) return n + dirs.size;
      }
    } catch {
      // A missing home is the config check's business.
    }
    n += dirs.size + 1;
  }
  return n;
}

async function checkState(config: EffectiveConfig, env: Readonly<Record<string, string | undefined>>): Promise<Finding> {
  const dir = defaultStateDir(config, env);
  for (const [user, u] of Object.entries(config.users)) {
    const rel = relative(u.home, dir).split('\\').join('/');
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
      const m = compileTrack(u.track);
      if (m.isTracked(`${rel}/${user}.json`) || m.isTracked(rel)) {
        return { check: 'state', level: 'error', message: `the state dir ${dir} is inside ${user}'s tracked files (${u.home}): dman would sync its own state`, fix: `set state_dir outside the tracked tree, or exclude it with "!${rel}/" in users.${user}.track` };
      }
    }
  }
  let exists = false;
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) return { check: 'state', level: 'error', message: `the state dir ${dir} is not a directory`, fix: `move the file away or set state_dir to a directory` };
    exists = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { check: 'state', level: 'error', message: `cannot read the state dir ${dir}: ${(err as Error).message}`, fix: 'fix its permissions or set state_dir' };
  }
  if (!exists) {
    // The first sync creates it; it must be creatable.
    let parent = dirname(dir);
    while (parent !== dirname(parent)) {
      try { await stat(parent); break; } catch { parent = dirname(parent); }
    }
    try {
      await access(parent, constants.W_OK);
      return { check: 'state', level: 'ok', message: `the state dir ${dir} does not exist yet; the first sync creates it` };
    } catch {
      return { check: 'state', level: 'error', message: `the state dir ${dir} does not exist and ${parent} is not writable`, fix: 'set state_dir to a writable place (or DMAN_DATA_DIR)' };
    }
  }
  const probe = join(dir, `.doctor-${process.pid}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, 'ok');
    await rm(probe, { force: true });
  } catch (err) {
    return { check: 'state', level: 'error', message: `the state dir ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, fix: `fix its owner/permissions (chown -R $USER ${dir}) or set state_dir` };
  }
  return { check: 'state', level: 'ok', message: `the state dir ${dir} exists and is writable` };
}

/** Runs every check and returns the findings in a fixed order. */
export async function runDoctor(opts: DoctorOptions = {}): Promise<Finding[]> {
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const version = opts.version ?? buildInfo().version;
  const out: Finding[] = [];
  const skip = (check: Finding['check'], why: string) => out.push({ check, level: 'skip', message: why });

  // ---- config
  let config: EffectiveConfig | undefined;
  try {
    const rep = await lintConfigFile({ configPath: opts.configPath, env });
    for (const p of rep.problems) out.push({ check: 'config', level: p.severity === 'error' ? 'error' : 'warn', message: `${rep.file}${p.line ? `:${p.line}` : ''}: ${p.key ? `${p.key}: ` : ''}${p.message}`, fix: p.hint });
    config = rep.config;
    if (config && rep.problems.length === 0) out.push({ check: 'config', level: 'ok', message: `${rep.file} is valid (${Object.keys(config.users).length} user(s), driver ${config.storage_driver})` });
  } catch (err) {
    out.push({ check: 'config', level: 'error', message: (err as Error).message, fix: isDmanError(err) ? err.hint : 'run `dman config lint`' });
  }
  if (!config) {
    for (const c of ['server', 'token', 'clock', 'storage', 'watches', 'state'] as const) skip(c, 'skipped: no usable config');
    return out;
  }

  // ---- server, version, clock
  const base = config.server_url.replace(/\/+$/, '');
  let reachable = false;
  try {
    const t0 = now();
    const res = await get(`${base}/health`, undefined, timeoutMs);
    const t1 = now();
    const parsed = healthReplySchema().safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) {
      out.push({ check: 'server', level: 'error', message: `${base} answered ${res.status} but is not a dman server`, fix: 'check server_url (scheme, host and port of `dman serve`)' });
    } else {
      reachable = true;
      const h = parsed.data;
      out.push(h.ok
        ? { check: 'server', level: 'ok', message: `${base} is up (dman ${h.version}, storage ${h.driver})` }
        : { check: 'server', level: 'error', message: `${base} is up but its storage (${h.driver}) is down`, fix: 'see `dman audit` and the server log; check the database the server uses' });
      if (h.protocol !== PROTOCOL_VERSION) out.push({ check: 'version', level: 'error', message: `the server speaks protocol ${h.protocol}, this dman speaks ${PROTOCOL_VERSION}`, fix: 'install the same dman release on the server and on this machine' });
      else if (h.version !== version) out.push({ check: 'version', level: 'warn', message: `the server runs dman ${h.version}, this machine ${version} (same protocol ${h.protocol})`, fix: 'upgrade the older side when convenient' });
      else out.push({ check: 'version', level: 'ok', message: `same release as the server (${version}, protocol ${h.protocol})` });
      const date = Date.parse(res.headers.get('date') ?? '');
      if (Number.isFinite(date)) {
        // The Date header has whole seconds: compare with the middle of the round trip and allow that second.
        const skew = (date - (t0 + t1) / 2) / 1000;
        const abs = Math.max(0, Math.abs(skew) - 1);
        const msg = `this clock is ${Math.abs(skew).toFixed(0)} s ${skew > 0 ? 'behind' : 'ahead of'} the server's`;
        if (abs > SKEW_ERROR_S) out.push({ check: 'clock', level: 'error', message: msg, fix: 'turn on time sync on both machines (timedatectl set-ntp true, or chrony/ntpd)' });
        else if (abs > SKEW_WARN_S) out.push({ check: 'clock', level: 'warn', message: msg, fix: 'turn on time sync (timedatectl set-ntp true)' });
        else out.push({ check: 'clock', level: 'ok', message: `clock within ${Math.ceil(abs + 1)} s of the server` });
      } else skip('clock', 'skipped: the server sent no Date header');
    }
  } catch (err) {
    const c = (err as { cause?: { code?: string; message?: string } }).cause;
    const cause = c?.code ?? c?.message ?? (err as Error).message;
    out.push({ check: 'server', level: 'error', message: `cannot reach the server at ${base} (${cause})`, fix: 'start it (`dman serve`), or fix server_url in the config' });
  }

  // ---- token and storage
  const token = resolveToken(config);
  if (!reachable) {
    skip('token', 'skipped: server unreachable');
    skip('storage', 'skipped: server unreachable');
  } else if (!token) {
    out.push({ check: 'token', level: 'error', message: `no token for ${base}: not logged in, and neither DMAN_AUTH_TOKEN nor auth_token is set`, fix: 'run `dman login` (it keeps the token in the keychain or a 0600 file, outside the config); get a token from the server admin (`dman token create --user USER --device NAME`)' });
    skip('storage', 'skipped: no token');
  } else {
    const res = await get(`${base}/v1/whoami`, token, timeoutMs).catch(() => null);
    const who = res?.ok ? whoamiSchema().safeParse(await res.json().catch(() => undefined)) : null;
    if (!res || !who?.success) {
      out.push({ check: 'token', level: 'error', message: res && (res.status === 401 || res.status === 403) ? `the server refuses this token (${res.status}): it is wrong or revoked` : `the server did not confirm the token (${res ? `HTTP ${res.status}` : 'no reply'})`, fix: 'create a new one (`dman token create --user USER --device NAME`) and run `dman login` with it' });
    } else {
      const w = who.data;
      const users = Object.keys(config.users);
      if (w.admin) out.push({ check: 'token', level: 'warn', message: `an admin token (${w.tokenId ?? 'config'}) is used for syncing`, fix: 'give each device its own token (`dman token create --user USER --device NAME`) so one can be revoked alone' });
      else if (w.user && !users.includes(w.user)) out.push({ check: 'token', level: 'error', message: `the token belongs to user "${w.user}", who is not in this config (${users.join(', ') || 'no users'})`, fix: `add users.${w.user} to the config or use a token made for one of its users` });
      else if (users.some((u) => u !== w.user)) out.push({ check: 'token', level: 'warn', message: `the token reaches only "${w.user}"; ${users.filter((u) => u !== w.user).join(', ')} will get 403`, fix: 'sync the other users from their own machines, or use one config per user' });
      else out.push({ check: 'token', level: 'ok', message: `token ${w.tokenId} for ${w.user} on device ${w.device ?? '-'}` });
    }
    const sres = await get(`${base}/status`, token, timeoutMs).catch(() => null);
    const st = sres?.ok ? statusSchema().safeParse(await sres.json().catch(() => undefined)) : null;
    if (!st?.success) skip('storage', 'skipped: /status not readable with this token');
    else {
      const s = st.data.storage;
      if (!s.ok) out.push({ check: 'storage', level: 'error', message: `the server's storage is down: ${s.error ?? 'no reason given'}`, fix: 'start or repair the database named in the server config; the server retries on its own' });
      for (const w of s.warnings ?? []) out.push({ check: 'storage', level: 'warn', message: w, fix: 'see docs/operations.md (storage persistence)' });
      if (s.ok && !s.warnings?.length) out.push({ check: 'storage', level: 'ok', message: s.details ? `storage ok${st.data.schemaVersion != null ? ` (schema ${String(st.data.schemaVersion)})` : ''}` : 'storage ok (persistence details need an admin token)' });
    }
  }

  // ---- inotify watches
  const limitFile = opts.watchLimitFile === undefined ? (process.platform === 'linux' ? '/proc/sys/fs/inotify/max_user_watches' : null) : opts.watchLimitFile;
  if (!limitFile) skip('watches', 'skipped: not Linux (no inotify limit)');
  else {
    const limit = Number((await readFile(limitFile, 'utf8').catch(() => '')).trim());
    if (!Number.isFinite(limit) || limit <= 0) skip('watches', `skipped: cannot read ${limitFile}`);
    else {
      const need = await watchesNeeded(config, limit * 2);
      const fix = `raise it: echo fs.inotify.max_user_watches=${Math.max(524288, need * 2)} | sudo tee /etc/sysctl.d/90-dman.conf && sudo sysctl --system`;
      if (need > limit) out.push({ check: 'watches', level: 'error', message: `watching needs about ${need} inotify watches but the limit is ${limit}; \`dman watch\` will miss changes`, fix });
      else if (need > limit * 0.5) out.push({ check: 'watches', level: 'warn', message: `watching needs about ${need} of ${limit} inotify watches; editors and other watchers share the limit`, fix });
      else out.push({ check: 'watches', level: 'ok', message: `about ${need} inotify watches needed, limit ${limit}` });
    }
  }

  out.push(await checkState(config, env));
  out.push(startupFinding(env, config.server_url));
  return out;
}

/**
 * What the environment costs every dman start before dman runs. NODE_EXTRA_CA_CERTS makes Node 20
 * read and parse the CA bundle it names at start-up: with the system bundle that took a bare
 * `node -e 0` from 19 to 51 ms on the build machines, about a quarter of a one-shot `dman sync` of
 * 10,000 files. A server on plain HTTP never uses it; over HTTPS it may be what makes the
 * server's certificate trusted, which doctor cannot tell without the file.
 */
export function startupFinding(env: Readonly<Record<string, string | undefined>>, serverUrl: string): Finding {
  const certs = env.NODE_EXTRA_CA_CERTS;
  if (!certs) return { check: 'startup', level: 'ok', message: 'nothing in the environment slows Node\'s start (NODE_EXTRA_CA_CERTS is not set)' };
  const cost = 'Node reads and parses that CA bundle at every start, before dman runs (30 ms more per command with the system bundle on a test machine)';
  if (/^http:/i.test(serverUrl)) {
    return {
      check: 'startup', level: 'warn',
      message: `NODE_EXTRA_CA_CERTS is set (${certs}): ${cost}, and the server (${serverUrl}) is plain HTTP, which never uses it`,
      fix: 'run dman without it (env -u NODE_EXTRA_CA_CERTS dman ..., or an alias), or unset it where nothing else needs it',
    };
  }
  return { check: 'startup', level: 'ok', message: `NODE_EXTRA_CA_CERTS is set (${certs}): ${cost}; keep it if the server's certificate is signed by a CA only that file holds` };
}

const MARK: Record<Finding['level'], string> = { ok: '✓', warn: '!', error: '✗', skip: '-' };

/** Registers `dman doctor`. */
export function register(program: Command): void {
  program
    .command('doctor')
    .description('check config, server, token, clock, storage, inotify limits, the state dir and what slows every start; print a fix for each problem')
    .addHelpText('after', '\nExit code 0 when nothing is an error, 1 otherwise.\n\nExample:\n  $ dman doctor\n  $ dman --config ~/dman.yaml doctor --json')
    .action(action(async (_o: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      const findings = await runDoctor({ configPath: g.config, env: process.env });
      const ok = !findings.some((f) => f.level === 'error');
      if (g.json) process.stdout.write(`${JSON.stringify({ ok, findings })}\n`);
      else {
        const lines = findings.filter((f) => !(g.quiet && (f.level === 'ok' || f.level === 'skip'))).map((f) => `${MARK[f.level]} ${f.check.padEnd(8)} ${f.message}${f.fix && f.level !== 'ok' ? `\n             fix: ${f.fix}` : ''}`);
        process.stdout.write(`${lines.join('\n')}\n${ok ? 'no errors' : `${findings.filter((f) => f.level === 'error').length} error(s)`}\n`);
      }
      return ok ? EXIT.OK : EXIT.FAILED;
    }));
}
