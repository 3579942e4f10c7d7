// One pass from a parsed YAML value to the EffectiveConfig: schema, legacy migration, defaults,
// inheritance and cross-key checks, collecting every problem instead of stopping at the first.
import type { z } from 'zod';
import { normalizeConfig } from './normalize.js';
import { didYouMean, problem, type ConfigProblem } from './problem.js';
import { PRUNED } from './pruned.js';
import { resolveConfig, type ResolveContext } from './resolve.js';
import { configFileSchema, conflictPolicies, knownKeysAt, storageDrivers, storageDriverAliases, type EffectiveConfig, type ModernConfig } from './schema.js';

/** Everything validation learnt about one config value. */
export interface ValidationResult {
  /** The modern form (legacy rewritten, no defaults), when the schema accepted the value. */
  modern?: ModernConfig;
  /** The modern form of what the schema accepted when it refused part of the value (for checks that still apply). */
  partial?: ModernConfig;
  /** The effective config, when there is no error. */
  config?: EffectiveConfig;
  /** Errors and warnings, in file order where known. */
  problems: ConfigProblem[];
}

/**
 * Parse options for the config schema. A config is parsed once per process (twice when it has
 * errors), so zod v4's JIT (on an object schema's first parse it compiles a parser for the shape
 * with `new Function`, which pays off only over many parses) was pure cost here: ~3 ms of every
 * `dman sync`. Same result and issues either way (validate.test.ts checks both paths).
 */
export const CONFIG_PARSE = { jitless: true } as const;

/** Validates a parsed dman.yaml value (null for an empty file) and resolves it against the machine. */
export function validateConfig(raw: unknown, ctx: ResolveContext): ValidationResult {
  const value = raw === null || raw === undefined ? {} : raw;
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { problems: [problem('error', [], `the file must be a mapping of keys (server_url: …, track: …), not ${Array.isArray(value) ? 'a list' : typeof value}`, 'see docs/config.yaml for the format', value)] };
  }
  const parsed = configFileSchema.safeParse(value, CONFIG_PARSE);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((i) => issueToProblems(i, value));
    // Check the rest too, so one run lists every problem: drop what the schema refused and resolve what is left.
    const retry = configFileSchema.safeParse(prune(value, parsed.error.issues), CONFIG_PARSE);
    if (retry.success) {
      const partial = normalizeConfig(retry.data).config;
      const seen = new Set(problems.map((p) => p.key));
      const more = resolveConfig(partial, ctx).problems.filter((p) => p.severity === 'error' && !seen.has(p.key));
      problems.push(...more);
      return { partial, problems };
    }
    return { problems };
  }
  const norm = normalizeConfig(parsed.data);
  const resolved = resolveConfig(norm.config, ctx);
  return { modern: norm.config, config: resolved.config, problems: [...norm.warnings, ...resolved.problems] };
}

/** Turns one zod issue into problems users can act on (one per unknown key). */
export function issueToProblems(issue: z.core.$ZodIssue, root: unknown): ConfigProblem[] {
  const path = issue.path.filter((s): s is string | number => typeof s !== 'symbol');
  const value = valueAt(root, path);
  const last = path[path.length - 1];
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => {
        const known = knownKeysAt(path);
        const guess = (SYNONYMS[k.toLowerCase()] ?? []).find((x) => known.includes(x)) ?? didYouMean(k, known);
        const where = path.length ? `under ${path.join('.')}` : 'at the top level';
        return problem('error', [...path, k], `unknown key ${k} ${where}`,
          guess ? `did you mean ${guess}?` : known.length ? `known keys here: ${known.filter((x) => !/^(redis|maria)_/.test(x) && x !== 'include').join(', ')}` : 'delete it');
      });
    case 'invalid_type': {
      const got = value === undefined ? 'nothing' : value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
      return [problem('error', path, `expected ${article(issue.expected)}, got ${got}`, fixForType(issue.expected, last), value)];
    }
    case 'invalid_value':
      if (last === 'storage_driver') {
        return [problem('error', path, 'unsupported storage_driver', `use one of ${storageDrivers.join(', ')} (aliases: ${Object.keys(storageDriverAliases).join(', ')})`, value)];
      }
      if (last === 'conflict_policy') return [problem('error', path, 'unknown conflict_policy', `use one of ${conflictPolicies.join(', ')}`, value)];
      return [problem('error', path, issue.message, `use one of ${issue.values.map(String).join(', ')}`, value)];
    case 'too_small':
    case 'too_big':
      return [problem('error', path, `value ${issue.message.replace(/^Too (small|big): expected \w+ to (have|be) /i, 'must be ')}`, 'change the value to fit the range', value)];
    case 'invalid_key': {
      const why = issue.issues[0]?.message ?? 'is not allowed here';
      return [problem('error', path, `${path[0] === 'users' ? 'user name' : 'key'} ${JSON.stringify(last)} ${why}`, 'rename it (a user name must match the account name on the server)')];
    }
    case 'invalid_format':
      if (last === 'server_url') return [problem('error', path, 'server_url is not an http(s) URL', 'write it like http://192.168.1.10:3626', value)];
      return [problem('error', path, issue.message, 'fix the format', value)];
    case 'custom': {
      const hint = (issue.params as { hint?: unknown } | undefined)?.hint;
      return [problem('error', path, issue.message, typeof hint === 'string' ? hint : fixForKey(last), value)];
    }
    default:
      return [problem('error', path, issue.message, fixForKey(last), value)];
  }
}


function prune(root: object, issues: readonly z.core.$ZodIssue[]): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  for (const issue of issues) {
    const path = issue.path.filter((s): s is string | number => typeof s !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const parent = valueAt(copy, path);
      if (parent && typeof parent === 'object') for (const k of issue.keys) delete (parent as Record<string, unknown>)[k];
      continue;
    }
    if (path.length === 0) continue;
    const parent = valueAt(copy, path.slice(0, -1));
    if (!parent || typeof parent !== 'object') continue;
    const last = path[path.length - 1];
    if (Array.isArray(parent) && typeof last === 'number') parent[last] = PRUNED;
    else delete (parent as Record<string | number, unknown>)[last];
  }
  return copy;
}

// Names people reach for that are too far from ours for an edit distance to catch.
const SYNONYMS: Record<string, string[]> = {
  address: ['addr'], adress: ['addr'], host: ['addr'], hostname: ['addr'], url: ['server_url'], server: ['server_url'],
  token: ['auth_token'], driver: ['storage_driver'], storage: ['storage_driver'], database: ['db'], dbname: ['db'],
  user: ['user', 'username'], username: ['username', 'user'], pass: ['password'], policy: ['conflict_policy'],
  path: ['socket', 'home'], files: ['track'], patterns: ['track'], dir: ['home', 'data_dir'],
};

function valueAt(root: unknown, path: ReadonlyArray<string | number>): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function article(t: string): string {
  const names: Record<string, string> = { array: 'a list', object: 'a mapping', string: 'a string', number: 'a number', boolean: 'true or false', int: 'a whole number' };
  return names[t] ?? t;
}

function fixForType(expected: string, key: string | number | undefined): string {
  if (expected === 'array') return `write ${key ?? 'it'} as a YAML list ("- item" on its own lines, or [a, b])`;
  if (expected === 'boolean') return `write ${key ?? 'it'}: true or ${key ?? 'it'}: false, without quotes`;
  if (expected === 'number') return `write a number without quotes, e.g. ${key ?? 'key'}: 0`;
  if (expected === 'object') return `write ${key ?? 'it'} as a mapping of indented keys`;
  if (expected === 'string') return 'write a string (quote it if it looks like a number, true/false or null)';
  return fixForKey(key);
}

function fixForKey(key: string | number | undefined): string {
  return key === undefined ? 'see docs/config.yaml' : `see the entry for ${key} in docs/config.yaml`;
}
