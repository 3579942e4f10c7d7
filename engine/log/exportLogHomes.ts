// Carries `--log-keep-homes` and the config's home dirs to every logger a CLI process creates
// (each command builds its own root logger after its own config load) and to the processes it
// starts (the embedded server), through the environment that createLogger reads.
import { loadConfig } from '../config/load.js';
import { LOG_KEEP_HOMES_ENV, LOG_REDACT_HOMES_ENV } from '../log.js';

/** Options of exportLogHomes. */
export interface ExportLogHomesOptions {
  /** `--log-keep-homes`: log home paths as they are. */
  keepHomes: boolean;
  /** `--config`. */
  configPath?: string;
  /** The environment to read the config search from and to write to (process.env in the CLI). */
  env: Record<string, string | undefined>;
}

/** Sets $DMAN_LOG_KEEP_HOMES, or $DMAN_LOG_REDACT_HOMES to the config's users.*.home; a config that does not load is left to the command to report. */
export async function exportLogHomes(opts: ExportLogHomesOptions): Promise<void> {
  if (opts.keepHomes) {
    opts.env[LOG_KEEP_HOMES_ENV] = '1';
    return;
  }
  try {
    const { config } = await loadConfig({ configPath: opts.configPath, env: opts.env, allowMissing: true });
    const homes = Object.values(config.users).map((u) => u.home);
    if (homes.length > 0) opts.env[LOG_REDACT_HOMES_ENV] = JSON.stringify(homes);
  } catch {
    // The command loads the config itself and prints the problem; logging is not the place.
  }
}
