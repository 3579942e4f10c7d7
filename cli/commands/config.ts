// `dman config lint|show|migrate`: check, inspect and modernise dman.yaml.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { homedir as osHomedir } from 'node:os';
import { findConfigFile } from '../../engine/config/find.js';
import { lintConfigFile, lintConfigText, notFound } from '../../engine/config/lint.js';
import { migrateConfigFile, migrateConfigText } from '../../engine/config/migrate.js';
import { readConfigText } from '../../engine/config/find.js';
import { formatProblem } from '../../shared/config/problem.js';
import { DmanError } from '../../shared/errors.js';
import { action, globalsOf } from '../action.js';
import { loadCliConfig } from '../config.js';
import { EXIT } from '../exit.js';

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);

/** Registers `dman config` and its subcommands. */
export function register(program: Command): void {
  const config = program
    .command('config')
    .description('check, show and migrate the config file (dman.yaml)')
    .addHelpText('after', '\nExample:\n  $ dman config lint --config ~/dman.yaml');

  config
    .command('lint')
    .description('check the config file; exit 0 when valid, 2 with every problem listed')
    .addHelpText('after', '\nExample:\n  $ dman config lint --json')
    .action(action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      const rep = await lintConfigFile({ configPath: g.config });
      if (g.json) {
        out(JSON.stringify({ ok: rep.errors === 0, file: rep.file, errors: rep.errors, warnings: rep.warnings, problems: rep.problems }));
      } else {
        for (const p of rep.problems) out(formatProblem(p, rep.file));
        if (!g.quiet || rep.errors > 0) {
          out(rep.errors === 0
            ? `${rep.file}: valid${rep.warnings ? ` (${rep.warnings} warning${rep.warnings === 1 ? '' : 's'})` : ''}`
            : `${rep.file}: ${rep.errors} error${rep.errors === 1 ? '' : 's'}, ${rep.warnings} warning${rep.warnings === 1 ? '' : 's'}`);
        }
      }
      return rep.errors === 0 ? EXIT.OK : EXIT.USAGE;
    }));

  config
    .command('show')
    .description('print the config in its modern form; with --effective, after defaults, migration and per-user inheritance (secrets hidden)')
    .option('--effective', 'apply defaults, environment overrides and per-user inheritance')
    .addHelpText('after', '\nExample:\n  $ dman config show --effective --json')
    .action(action(async (opts: { effective?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const loaded = await loadCliConfig(cmd, { allowMissing: opts.effective === true });
      let value: unknown;
      if (opts.effective) value = loaded.config;
      else {
        // The modern form of what the file says, without defaults: what `migrate` would write.
        const rep = await lintConfigText((await readConfigText(loaded.file as string)).text, { file: loaded.file });
        value = rep.modern ?? {};
      }
      const shown = hideSecrets(value);
      out(g.json ? JSON.stringify({ ok: true, file: loaded.file, effective: opts.effective === true, config: shown }) : stringify(shown, { lineWidth: 0 }));
    }));

  config
    .command('migrate')
    .description('rewrite legacy keys (include:, redis_*, maria_*) in the modern form; prints the result, --write replaces the file after a backup')
    .option('--write', 'replace the file (a backup dman.yaml.bak-<timestamp> is kept beside it)')
    .addHelpText('after', '\nExample:\n  $ dman config migrate            # preview\n  $ dman config migrate --write    # replace, keeping a backup')
    .action(action(async (opts: { write?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const found = await findConfigFile({ configPath: g.config, env: process.env, cwd: process.cwd(), homedir: process.env.HOME ?? osHomedir() });
      if (!found.file) throw notFound(found.searched);
      const file = found.file;
      if (!opts.write) {
        const r = migrateConfigText((await readConfigText(file)).text, file);
        if (g.json) out(JSON.stringify({ ok: true, file, changed: r.isChanged, changes: r.changes, text: r.text }));
        else {
          out(r.text);
          if (!g.quiet) process.stderr.write(r.isChanged ? `dman: ${r.changes.length} change(s); run with --write to apply them to ${file}\n` : `dman: ${file} is already in the modern form\n`);
        }
        return EXIT.OK;
      }
      const r = await migrateConfigFile(file, {
        validate: async (text) => {
          const rep = await lintConfigText(text, { file });
          const errors = rep.problems.filter((p) => p.severity === 'error');
          if (errors.length > 0) {
            throw new DmanError('CONFIG_INVALID', `not migrated: the result would still have ${errors.length} problem(s); first: ${formatProblem(errors[0])}`, {
              hint: `fix them first (\`dman config lint --config ${file}\`); the file was left untouched`, context: { file, problems: rep.problems },
            });
          }
        },
      });
      if (g.json) out(JSON.stringify({ ok: true, file: r.file, changed: r.isChanged, changes: r.changes, backup: r.backup ?? null }));
      else if (!g.quiet) out(r.isChanged ? `migrated ${r.file} (${r.changes.length} change(s)); backup: ${r.backup}` : `${r.file} is already in the modern form; nothing written`);
      return EXIT.OK;
    }));
}

// `show` prints to terminals and CI logs: never the token or passwords themselves.
function hideSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(hideSecrets);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = (k === 'auth_token' || k === 'password') && typeof x === 'string' ? '(hidden)' : hideSecrets(x);
    return o;
  }
  return v;
}
