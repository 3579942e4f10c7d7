// From the modern form to the EffectiveConfig: defaults, path expansion, per-user inheritance,
// and every check that needs more than one key (addr with socket, MariaDB settings, track lists).
import { DEFAULT_GROUPS, DEFAULT_LISTEN, DEFAULT_MASS_CHANGE, DEFAULT_RETENTION, DEFAULT_SERVER_URL, DEFAULT_TRACK } from './defaults.js';
import { expandPath, isAbsolutePath, type ExpandContext } from './expand.js';
import { validatePattern } from '../patterns/validatePattern.js';
import { PRUNED } from './pruned.js';
import { problem, type ConfigProblem, type KeyPath } from './problem.js';
import type { EffectiveConfig, ModernConfig, TlsSettings } from './schema.js';

/** What resolution needs from the machine. */
export interface ResolveContext extends ExpandContext {
  /** This machine's name: the default `device`. */
  hostname: string;
}

/** The effective config (absent when there are errors) and every problem found. */
export interface ResolveResult {
  config?: EffectiveConfig;
  problems: ConfigProblem[];
}

/** Applies defaults, expands paths, resolves per-user track inheritance and checks cross-key rules. */
export function resolveConfig(modern: ModernConfig, ctx: ResolveContext): ResolveResult {
  const problems: ConfigProblem[] = [];
  const expand = (path: KeyPath, v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    const r = expandPath(v, ctx);
    if (!r.ok) { problems.push(problem('error', path, r.message, r.hint, v)); return v; }
    return r.value;
  };

  const storage_driver = modern.storage_driver ?? 'disk';
  const redis = { ...modern.redis, db: modern.redis?.db ?? 0, ...tls(modern.redis, ['redis'], expand) };
  const db = { ...modern.db, ...tls(modern.db, ['db'], expand) };
  for (const [name, block] of [['redis', modern.redis], ['db', modern.db]] as const) {
    if (block?.addr && block.socket) {
      problems.push(problem('error', [name, 'socket'], `${name}.addr and ${name}.socket are both set; dman connects one way`, `keep either ${name}.addr (host:port) or ${name}.socket (a unix socket path), not both`, block.socket));
    }
    if (block?.socket) (name === 'redis' ? redis : db).socket = expand([name, 'socket'], block.socket);
  }
  const rb = modern.redis;
  if (rb?.cluster && rb.socket) problems.push(problem('error', ['redis', 'socket'], 'redis.cluster is true but redis.socket is set; a Redis Cluster is reached over TCP', 'give the cluster\'s seed nodes as redis.addr (and redis.nodes) instead of redis.socket', rb.socket));
  if (rb?.cluster && (rb.db ?? 0) !== 0) problems.push(problem('error', ['redis', 'db'], 'redis.cluster is true but redis.db is not 0; Redis Cluster has only database 0', 'remove redis.db (dman keeps its keys apart with its key prefix)', String(rb.db)));
  if (rb?.nodes && !rb.cluster) problems.push(problem('error', ['redis', 'nodes'], 'redis.nodes is set but redis.cluster is not true; seed nodes only mean something for a Redis Cluster', 'add `cluster: true` to the redis block, or remove redis.nodes and use redis.addr', rb.nodes.join(',')));
  if (storage_driver === 'mariadb') {
    if (!modern.db?.db) problems.push(problem('error', ['db', 'db'], 'storage_driver is mariadb but db.db (the database name) is missing', 'add `db: { db: dman, user: dman, ... }` to the config'));
    if (!modern.db?.user) problems.push(problem('error', ['db', 'user'], 'storage_driver is mariadb but db.user is missing', 'add the MariaDB user name as db.user'));
  }

  const globalExplicit = modern.track !== undefined && modern.track !== null;
  if (globalExplicit && modern.track!.length === 0) {
    problems.push(problem('error', ['track'], 'the track list is empty, so nothing would be synced', 'list at least one pattern (e.g. .bashrc), or delete `track:` to use the default list'));
  }
  const globalTrack = globalExplicit && modern.track!.length > 0 ? cleanList(modern.track!, ['track'], ctx.homedir, problems) : [...DEFAULT_TRACK];

  const users: EffectiveConfig['users'] = {};
  for (const [name, u] of Object.entries(modern.users ?? {})) {
    const base: KeyPath = ['users', name];
    if (!u || u.home === undefined) {
      problems.push(problem('error', [...base, 'home'], `user ${name} has no home`, `add \`home: /home/${name}\` (or ~ for your own) under users.${name}`));
      continue;
    }
    const expanded = expandPath(u.home, ctx);
    if (!expanded.ok) {
      problems.push(problem('error', [...base, 'home'], expanded.message, expanded.hint, u.home));
      continue;
    }
    const home = expanded.value;
    if (!isAbsolutePath(home)) {
      problems.push(problem('error', [...base, 'home'], `home of user ${name} is not an absolute path`, `write an absolute path such as /home/${name} or ~`, u.home));
      continue;
    }
    const own = u.track ?? [];
    // An empty user list inherits the global one (the seed's rule); a non-empty one replaces it.
    const track = own.length > 0 ? cleanList(own, [...base, 'track'], home, problems) : [...globalTrack];
    users[name] = { home: trimSlash(home), track };
  }

  const groups: Record<string, string[]> = {};
  for (const [g, list] of Object.entries(DEFAULT_GROUPS)) groups[g] = [...list];
  for (const [g, list] of Object.entries(modern.groups ?? {})) {
    groups[g] = list.flatMap((p, i) => {
      const clean = p === PRUNED ? undefined : checkPattern(p, ['groups', g, i], ctx.homedir, problems);
      return clean === undefined ? [] : [clean];
    });
  }

  if (problems.some((p) => p.severity === 'error')) return { problems };
  const config: EffectiveConfig = {
    server_url: modern.server_url ?? DEFAULT_SERVER_URL,
    storage_driver,
    listen: modern.listen ?? DEFAULT_LISTEN,
    redis,
    db,
    track: globalTrack,
    users,
    conflict_policy: modern.conflict_policy ?? 'ask',
    groups,
    retention: { versions: modern.retention?.versions ?? DEFAULT_RETENTION.versions, days: modern.retention?.days ?? DEFAULT_RETENTION.days },
    device: modern.device ?? ctx.hostname,
    mass_change: { ratio: modern.mass_change?.ratio ?? DEFAULT_MASS_CHANGE.ratio, min_files: modern.mass_change?.min_files ?? DEFAULT_MASS_CHANGE.min_files },
    secrets: { allow: modern.secrets?.allow ?? [] },
  };
  if (modern.auth_token !== undefined) config.auth_token = modern.auth_token;
  const dataDir = expand(['data_dir'], modern.data_dir);
  if (dataDir !== undefined) config.data_dir = dataDir;
  const stateDir = expand(['state_dir'], modern.state_dir);
  if (stateDir !== undefined) config.state_dir = stateDir;
  if (problems.some((p) => p.severity === 'error')) return { problems };
  return { config, problems };
}

function tls(block: Partial<TlsSettings> | null | undefined, base: KeyPath, expand: (p: KeyPath, v: string | undefined) => string | undefined): TlsSettings {
  const out: TlsSettings = { tls: block?.tls ?? false, tls_insecure_skip_verify: block?.tls_insecure_skip_verify ?? false };
  for (const k of ['tls_ca', 'tls_cert', 'tls_key'] as const) {
    const v = expand([...base, k], block?.[k]);
    if (v !== undefined) out[k] = v;
  }
  if (block?.tls_server_name !== undefined) out.tls_server_name = block.tls_server_name;
  return out;
}

// Checks each pattern of a track list and returns the list with `~/` and in-home absolute prefixes made relative.
function cleanList(list: string[], base: KeyPath, home: string, problems: ConfigProblem[]): string[] {
  const out: string[] = [];
  list.forEach((p, i) => {
    if (p === PRUNED) return;
    const clean = checkPattern(p, [...base, i], home, problems);
    if (clean !== undefined) out.push(clean);
  });
  if (list.length > 0 && list.every((p) => p.trim().startsWith('!'))) {
    problems.push(problem('error', base, 'the track list holds only exclusions (!…), so nothing would be synced', 'add the patterns to track before the exclusions, e.g. `.config/` then `!.config/secret`'));
  }
  return out;
}

// Returns the pattern relative to home, or undefined (and a problem) when it can never match.
function checkPattern(raw: string, path: KeyPath, home: string, problems: ConfigProblem[]): string | undefined {
  const neg = raw.startsWith('!');
  let body = neg ? raw.slice(1) : raw;
  if (body.trim() === '') {
    problems.push(problem('error', path, 'empty pattern', 'delete the entry or write a path relative to home, e.g. .bashrc', raw));
    return undefined;
  }
  if (body === '~' || body.startsWith('~/')) body = body.slice(2) || '**';
  else if (isAbsolutePath(body)) {
    const rel = underHome(body, home);
    if (rel === undefined) {
      problems.push(problem('error', path, `pattern is an absolute path outside the home ${home}, so it can never match`, 'write patterns relative to the home, e.g. .config/nvim/', raw));
      return undefined;
    }
    problems.push(problem('warning', path, 'pattern is an absolute path inside the home; dman reads it relative to the home', `write ${neg ? '!' : ''}${rel}`, raw));
    body = rel;
  }
  if (body.split(/[/\\]/).includes('..')) {
    problems.push(problem('error', path, 'pattern contains `..`; dman only syncs files inside the home, so it can never match', 'write the path relative to the home without `..`', raw));
    return undefined;
  }
  // The matcher's own check, so the config and the matcher can never disagree on what is valid.
  const bad = validatePattern((neg ? '!' : '') + body);
  if (bad) {
    const cut = bad.indexOf(': ');
    problems.push(problem('error', path, `pattern ${cut > 0 ? bad.slice(0, cut) : bad}`, cut > 0 ? bad.slice(cut + 2) : 'fix the glob (see `dman why` for how patterns match)', raw));
    return undefined;
  }
  return (neg ? '!' : '') + body;
}

function underHome(abs: string, home: string): string | undefined {
  const norm = (s: string) => s.replace(/\\/g, '/').replace(/\/+$/, '');
  const a = norm(abs);
  const h = norm(home);
  if (a === h) return '**';
  if (h && a.startsWith(`${h}/`)) return a.slice(h.length + 1);
  return undefined;
}

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/[/\\]+$/, '') : p;
}
