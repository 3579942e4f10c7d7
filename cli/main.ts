// The `dman` command: the composition root of the CLI (and of `dman serve` / `dman agent`).
import { Command, CommanderError, Option } from 'commander';
import { noteCommand } from './codeCacheCommand.js';
import { registerAll } from './commands/index.js';
import { EXIT } from './exit.js';
import { buildInfo } from './version.js';

/** Builds the root program with every command registered. */
export function createProgram(): Command {
  const program = new Command('dman')
    .description('dman keeps your dotfiles identical across machines through a self-hosted sync server')
    .version(buildInfo().version, '-V, --version-short', 'print the version number')
    .option('-c, --config <file>', 'config file (default: $DMAN_CONFIG, ./dman.yaml, $XDG_CONFIG_HOME/dman/dman.yaml, ~/dman.yaml)')
    .option('--json', 'print one JSON document instead of text')
    .option('-v, --verbose', 'show the cause chain of errors')
    .option('-q, --quiet', 'print only errors; no progress bars')
    // Checked here so a typo is a usage error, not a pino exception deep in a command.
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'))
    .addOption(new Option('--log-format <format>', 'log format (pretty only on a terminal; JSON lines otherwise)').choices(['json', 'pretty']).default('pretty'))
    .option('--log-keep-homes', 'log home paths as they are (by default this user\'s and the config\'s homes show as ~name)')
    // Before any command builds its logger: the config's homes (or --log-keep-homes) reach every logger through the environment.
    .hook('preAction', async (root, action) => {
      // For the code cache (cli/codeCache.ts): what this command compiles is added to it once.
      const names: string[] = [];
      for (let c: Command | null = action; c !== null && c !== root; c = c.parent) names.unshift(c.name());
      noteCommand(names.join(' '));
      const o = root.opts<{ config?: string; logKeepHomes?: boolean }>();
      const { exportLogHomes } = await import('../engine/log/exportLogHomes.js');
      await exportLogHomes({ keepHomes: Boolean(o.logKeepHomes), configPath: o.config, env: process.env });
    })
    .showHelpAfterError('(run `dman help` for the list of commands)')
    .exitOverride();
  registerAll(program);
  return program;
}

/** Runs the CLI on argv and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
}

const isEntry = process.argv[1] && /(?:^|[/\\])(?:dman(?:\.js)?|cli\.js|main\.ts)$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv).then((code) => { process.exitCode = code; });
}
