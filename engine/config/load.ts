// Loading dman.yaml for a command: find, read, lint, and refuse to start on any error.
import { homedir as osHomedir } from 'node:os';
import { formatProblem, type ConfigProblem } from '../../shared/config/problem.js';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { DmanError } from '../../shared/errors.js';
import { findConfigFile, readConfigText, type FindOptions } from './find.js';
import { lintConfigText, notFound, type LintTextOptions } from './lint.js';

/** Options of loadConfig: where to look, the machine, and whether "no file" means defaults. */
export interface LoadOptions extends FindOptions, Omit<LintTextOptions, 'file' | 'mode' | 'env' | 'homedir'> {
  /** With no file anywhere, return the defaults instead of throwing CONFIG_NOT_FOUND (for `dman version`, `dman init`). */
  allowMissing?: boolean;
}

/** The loaded config, the file it came from (null: defaults only) and warnings to print. */
export interface LoadedConfig {
  config: EffectiveConfig;
  file: string | null;
  warnings: string[];
  /** The warnings as structured problems (key, line, hint). */
  problems: ConfigProblem[];
}

/** Loads and validates the config; throws CONFIG_NOT_FOUND, CONFIG_UNREADABLE or CONFIG_INVALID (context.problems lists every problem). */
export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? process.env;
  const homedir = opts.homedir ?? env.HOME ?? osHomedir();
  const found = await findConfigFile({ configPath: opts.configPath, env, cwd: opts.cwd ?? process.cwd(), homedir });
  let text = '';
  let mode: number | undefined;
  if (found.file) ({ text, mode } = await readConfigText(found.file));
  else if (!opts.allowMissing) throw notFound(found.searched);
  const rep = await lintConfigText(text, { ...opts, env, homedir, file: found.file, mode });
  if (rep.errors > 0 || !rep.config) {
    const errors = rep.problems.filter((p) => p.severity === 'error');
    const first = errors[0];
    const at = first?.line !== undefined ? `line ${first.line}:${first.col ?? 1}: ` : '';
    const got = first?.value !== undefined ? ` (got ${JSON.stringify(first.value)?.slice(0, 60)})` : '';
    throw new DmanError('CONFIG_INVALID',
      `invalid config (${errors.length} problem${errors.length === 1 ? '' : 's'}): ${at}${first ? `${first.message}${got}; fix: ${first.hint}` : 'unknown'}`,
      { hint: `run \`dman config lint${found.file ? ` --config ${found.file}` : ''}\` to list them all`, context: { file: found.file ?? undefined, key: first?.key || undefined, problems: rep.problems } });
  }
  const warnings = rep.problems.map((p) => formatProblem(p, found.file));
  return { config: rep.config, file: found.file, warnings, problems: rep.problems };
}
