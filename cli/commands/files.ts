// `dman upload USER PATH` / `dman download USER PATH`: the seed's single-file commands, run as a
// one-path sync in one direction, so they go through the same base-rev checks as `dman sync` and
// can never overwrite a newer version on either side silently.
import { mkdir } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { DmanError } from '../../shared/errors.js';
import { compileTrack } from '../../shared/patterns/index.js';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { createEngine } from '../../engine/createEngine.js';
import type { SyncReport, UserSyncReport } from '../../engine/Engine.js';
import { createLogger } from '../../engine/log.js';
import { action, globalsOf } from '../action.js';
import { loadCliConfig } from '../config.js';
import { resolveToken } from '../credentials.js';
import { EXIT } from '../exit.js';
import { defaultStateDir } from './sync.js';

/** Turns PATH (relative to the home, `~/…`, or absolute inside the home) into the home-relative path. */
export function homeRelative(config: EffectiveConfig, user: string, input: string): string {
  const u = config.users[user];
  if (!u) {
    const known = Object.keys(config.users);
    throw new DmanError('USAGE', `no user "${user}" in the config`, { hint: known.length ? `use one of: ${known.join(', ')}` : 'add users.<name>.home to dman.yaml (or run `dman init`)', context: { key: `users.${user}` } });
  }
  const expanded = input === '~' || input.startsWith('~/') ? resolve(u.home, input.slice(2)) : input;
  const abs = isAbsolute(expanded) ? resolve(expanded) : resolve(u.home, expanded);
  const rel = relative(u.home, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new DmanError('USAGE', `${input} is not a file inside ${user}'s home (${u.home})`, { hint: 'give a path relative to the home, like .zshrc or .config/git/config', context: { path: input, user } });
  }
  return rel.split('\\').join('/');
}

// `only` takes globs; a file name with glob characters must match only itself.
const literalGlob = (p: string): string => (/[\\*?[\]{}()!+@]/.test(p) ? p.replace(/[\\*?[\]{}()!+@]/g, '\\$&') : p);

function explain(u: UserSyncReport, path: string, direction: 'publish' | 'install', user: string): { code: number; text: string } {
  if (u.unmatchedOnly.length > 0) {
    const where = direction === 'publish' ? `in ${user}'s home` : `on the server for ${user}`;
    throw new DmanError('NOT_FOUND', `${path} does not exist ${where}`, { hint: 'check the spelling; `dman ls` lists the tracked files', context: { path, user } });
  }
  if (u.conflicts.length > 0) {
    const c = u.conflicts[0]!;
    const hint = direction === 'publish'
      ? `the server has rev ${c.remote?.rev ?? '?'}${c.remote?.device ? ` from ${c.remote.device}` : ''}, newer than this machine last saw; take the server's with \`dman resolve ${path} --user ${user} --keep server\`, keep yours with \`--keep local\`, or both with \`--keep both\``
      : `this machine changed it since the last sync; keep the server's with \`dman resolve ${path} --user ${user} --keep server\`, yours with \`--keep local\`, or both with \`--keep both\``;
    throw new DmanError('CONFLICTS_LEFT', `${path} changed both here and on the server: nothing was ${direction === 'publish' ? 'uploaded' : 'downloaded'}`, { hint, context: { path, user } });
  }
  if (u.errors.length > 0) {
    const e = u.errors[0]!;
    throw new DmanError(e.code, e.message, { hint: e.hint, context: { path, user } });
  }
  const did = u.actions.find((a) => a.path === path);
  const skipped = u.skipped.find((s) => s.path === path);
  if (did) return { code: EXIT.OK, text: `${direction === 'publish' ? 'uploaded' : 'downloaded'} ${user}:${path} (${did.type})` };
  if (skipped) return { code: EXIT.FAILED, text: `${user}:${path} left alone: ${skipped.reason}` };
  return { code: EXIT.OK, text: `${user}:${path} is already up to date` };
}

async function runOne(direction: 'publish' | 'install', user: string, input: string, o: { dryRun?: boolean }, cmd: Command): Promise<number> {
  const g = globalsOf(cmd);
  const { config: loaded } = await loadCliConfig(cmd);
  const path = homeRelative(loaded, user, input);
  // Checked here rather than from the run's report: the engine cannot tell an escaped literal from a glob.
  const why = compileTrack(loaded.users[user]!.track).explain(path);
  if (!why.tracked) {
    const reason = why.pattern ? `the track pattern "${why.pattern}" excludes it` : 'no track pattern includes it';
    throw new DmanError('USAGE', `${path} is not tracked for ${user}: ${reason}`, { hint: `see \`dman why ${path} --user ${user}\`; add it to track: in dman.yaml to sync it`, context: { path, user } });
  }
  // Single-file commands never settle a conflict by policy: a newer version on the other side always stops them.
  const config: EffectiveConfig = { ...loaded, auth_token: await resolveToken(loaded), conflict_policy: 'ask' };
  const log = createLogger({ level: g.logLevel ?? 'warn', format: g.logFormat, base: { proc: 'cli' } });
  const stateDir = defaultStateDir(config);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const engine = createEngine({ config, log, stateDir });
  let report: SyncReport;
  try {
    report = await engine.sync({ direction, only: [literalGlob(path)], users: [user], dryRun: !!o.dryRun, yes: true });
  } finally {
    await engine.close();
  }
  if (report.offline) {
    throw new DmanError('SERVER_UNREACHABLE', `cannot reach the server at ${config.server_url}`, { hint: 'check server_url in dman.yaml and that `dman serve` runs there', context: { url: config.server_url } });
  }
  const u = report.users.find((x) => x.user === user);
  if (!u) throw new DmanError('INTERNAL', `the run did not cover user ${user}`, { hint: 'please report this bug' });
  const { code, text } = explain(u, path, direction, user);
  if (g.json) process.stdout.write(`${JSON.stringify({ ok: code === EXIT.OK, user, path, dryRun: !!o.dryRun, actions: u.actions, skipped: u.skipped })}\n`);
  else if (code !== EXIT.OK) process.stderr.write(`dman: ${text}\n`);
  else if (!g.quiet) process.stdout.write(`${o.dryRun ? '(dry run) ' : ''}${text}\n`);
  return code;
}

/** Registers `dman upload` and `dman download`. */
export function register(program: Command): void {
  program
    .command('upload')
    .description('publish one file to the server; refuses when the server has a newer version than this machine last saw')
    .argument('<user>', 'the configured user the file belongs to')
    .argument('<path>', 'the file, relative to the user\'s home (or absolute inside it)')
    .option('-n, --dry-run', 'say what would happen, change nothing')
    .addHelpText('after', '\nExample:\n  $ dman upload alice .zshrc\n  $ dman upload alice ~/.config/git/config --dry-run')
    .action(action((user: string, path: string, o: { dryRun?: boolean }, cmd: Command) => runOne('publish', user, path, o, cmd)));

  program
    .command('download')
    .description('install one file from the server; refuses when the local file changed since the last sync')
    .argument('<user>', 'the configured user the file belongs to')
    .argument('<path>', 'the file, relative to the user\'s home (or absolute inside it)')
    .option('-n, --dry-run', 'say what would happen, change nothing')
    .addHelpText('after', '\nExample:\n  $ dman download alice .zshrc\n  $ dman download alice .ssh/config --dry-run')
    .action(action((user: string, path: string, o: { dryRun?: boolean }, cmd: Command) => runOne('install', user, path, o, cmd)));
}
