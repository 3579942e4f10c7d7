import type { Command } from 'commander';
import { action, globalsOf } from '../action.js';
import { buildInfo } from '../version.js';

/** Registers `dman version`. */
export function register(program: Command): void {
  program
    .command('version')
    .description('print version, commit, build time and protocol version')
    .addHelpText('after', '\nExample:\n  $ dman version --json')
    .action(action((_opts: unknown, cmd: Command) => {
      const info = buildInfo();
      if (globalsOf(cmd).json) process.stdout.write(`${JSON.stringify(info)}\n`);
      else process.stdout.write(`dman ${info.version} (commit ${info.commit}, built ${info.buildTime}, protocol v${info.protocol})\n`);
    }));
}
