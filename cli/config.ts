// How every command gets its config: the global --config flag, the same validation as
// `dman config lint`, and warnings printed once to stderr.
import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../engine/config/load.js';
import { globalsOf } from './action.js';

/** Options of loadCliConfig. */
export interface CliConfigOptions {
  /** With no config file anywhere, use the defaults instead of failing (commands that work without a server). */
  allowMissing?: boolean;
  env?: Readonly<Record<string, string | undefined>>;
  /** Where warnings go (default stderr). */
  warn?: (line: string) => void;
}

/** Loads the config for a command, honouring --config and --quiet; throws the DmanError that `action()` prints. */
export async function loadCliConfig(cmd: Command, opts: CliConfigOptions = {}): Promise<LoadedConfig> {
  const g = globalsOf(cmd);
  const loaded = await loadConfig({ configPath: g.config, env: opts.env ?? process.env, allowMissing: opts.allowMissing });
  if (!g.quiet) {
    const warn = opts.warn ?? ((line: string) => process.stderr.write(`dman: ${line}\n`));
    for (const w of loaded.warnings) warn(w);
  }
  return loaded;
}
