// Turns a parsed dman.yaml (legacy keys and all) into the modern form, noting every legacy key.
import { problem, type ConfigProblem } from './problem.js';
import { legacyMariaKeys, legacyRedisKeys, type ConfigFile, type ModernConfig } from './schema.js';

/** The modern config plus one warning per legacy key that was rewritten. */
export interface NormalizeResult {
  config: ModernConfig;
  warnings: ConfigProblem[];
}

const MIGRATE_HINT = 'run `dman config migrate --write` to rewrite the file in the modern form';

/** Rewrites legacy keys (`include`, `redis_*`, `maria_*`, driver aliases) into the modern form without applying defaults. */
export function normalizeConfig(file: ConfigFile): NormalizeResult {
  const warnings: ConfigProblem[] = [];
  const out: Record<string, unknown> = {};
  const redis: Record<string, unknown> = { ...(file.redis ?? {}) };
  const db: Record<string, unknown> = { ...(file.db ?? {}) };
  let hasRedis = file.redis !== undefined && file.redis !== null;
  let hasDb = file.db !== undefined && file.db !== null;

  for (const [key, value] of Object.entries(file)) {
    if (value === undefined || (value === null && key !== 'track' && key !== 'include' && key !== 'users')) continue;
    if (key in legacyRedisKeys || key in legacyMariaKeys) {
      const isRedis = key in legacyRedisKeys;
      const block = isRedis ? redis : db;
      const nested = isRedis ? legacyRedisKeys[key as keyof typeof legacyRedisKeys] : legacyMariaKeys[key as keyof typeof legacyMariaKeys];
      const blockName = isRedis ? 'redis' : 'db';
      if (block[nested] !== undefined && block[nested] !== value) {
        warnings.push(problem('warning', [key], `legacy key ${key} disagrees with ${blockName}.${nested}; ${blockName}.${nested} wins`, `delete ${key}`));
        continue;
      }
      block[nested] = value;
      if (isRedis) hasRedis = true; else hasDb = true;
      warnings.push(problem('warning', [key], `legacy key ${key} is read as ${blockName}.${nested}`, MIGRATE_HINT));
      continue;
    }
    if (key === 'include') continue;
    if (key === 'redis' || key === 'db') continue;
    out[key] = value;
  }
  if (file.include !== undefined) {
    out.track = mergeLists(file.track, file.include);
    warnings.push(problem('warning', ['include'], file.track ? 'legacy key include is appended to track' : 'legacy key include is read as track', MIGRATE_HINT));
  }
  if (hasRedis) out.redis = redis;
  if (hasDb) out.db = db;

  if (file.users) {
    const users: Record<string, { home?: string; track?: string[] | null } | null> = {};
    for (const [name, u] of Object.entries(file.users)) {
      if (!u) { users[name] = u; continue; }
      const nu: { home?: string; track?: string[] | null } = {};
      if (u.home !== undefined) nu.home = u.home;
      if (u.include !== undefined) {
        nu.track = mergeLists(u.track, u.include);
        warnings.push(problem('warning', ['users', name, 'include'], u.track ? `legacy key users.${name}.include is appended to track` : `legacy key users.${name}.include is read as track`, MIGRATE_HINT));
      } else if (u.track !== undefined) {
        nu.track = u.track;
      }
      users[name] = nu;
    }
    out.users = users;
  } else if (file.users === null) {
    out.users = null;
  }
  return { config: out as ModernConfig, warnings };
}

function mergeLists(a: string[] | null | undefined, b: string[] | null | undefined): string[] {
  return [...(a ?? []), ...(b ?? [])];
}
