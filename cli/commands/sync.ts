// The sync commands: sync, publish, install, compare, watch, conflicts, resolve, history, restore,
// status. Each builds one engine from the config, runs it, prints text or one --json document.
import { Option, type Command } from 'commander';
import envPaths from 'env-paths';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import type { Engine, SyncDirection, SyncReport } from '../../engine/Engine.js';
import { createEngine } from '../../engine/createEngine.js';
import { createLogger, type Logger } from '../../engine/log.js';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { DmanError, isDmanError } from '../../shared/errors.js';
import { action, globalsOf, renderError, type GlobalOptions } from '../action.js';
import { resolveTokenSync } from '../credentials.js';
import { loadCliConfig } from '../config.js';
import { EXIT } from '../exit.js';
import { toUserPath } from '../output/paths.js';
import { formatCompare, formatConflicts, formatHistory, formatStatus, formatSyncReport } from '../output/printReport.js';
import { cliOutputSchemas, type CliOutputName, type CliOutputSchemas } from '../output/schemas.js';
import { createProgress } from '../progress.js';

/** Returns the token the engine sends: $DMAN_AUTH_TOKEN, then the `dman login` token for server_url, then config auth_token. */
export function resolveToken(config: EffectiveConfig): string | undefined {
  return resolveTokenSync(config);
}

/** Returns where the engine keeps its base for this machine (shared with `dman agent`). */
export function defaultStateDir(config: EffectiveConfig, env: Readonly<Record<string, string | undefined>> = process.env): string {
  return config.state_dir ?? join(env.DMAN_DATA_DIR || envPaths('dman', { suffix: '' }).data, 'state');
}

interface Opened { engine: Engine; config: EffectiveConfig; loaded: EffectiveConfig; file: string | null; log: Logger; g: GlobalOptions; warnings: string[] }

async function openEngine(cmd: Command, extra: { watch?: boolean; rescanMs?: number } = {}): Promise<Opened> {
  const g = globalsOf(cmd);
  const { config: loaded, file, warnings } = await loadCliConfig(cmd);
  const config = { ...loaded, auth_token: resolveToken(loaded) };
  const log = createLogger({ level: g.logLevel ?? 'warn', format: g.logFormat, base: { proc: 'cli' } });
  const stateDir = defaultStateDir(config);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  // The watcher (and chokidar) is loaded only for `dman watch`: one-shot commands start faster without it.
  const watcher = extra.watch ? (await import('../../engine/watch/createWatcher.js')).createWatcher({ log }) : undefined;
  const engine = createEngine({
    config, log, stateDir,
    ...(watcher ? { watcher, rescanMs: extra.rescanMs } : { blockingWalk: true }),
  });
  return { engine, config, loaded, file, log, g, warnings };
}

/**
 * Why a cold `dman sync` would send another token than `engineToken` (after `dman login` or
 * `dman logout` in another shell), or null when it would send the same: resolved again for each
 * request, the same way a cold run does.
 */
export function tokenChanged(loaded: EffectiveConfig, engineToken: string | undefined, kind: string): string | null {
  let now: string | undefined;
  try { now = resolveToken(loaded); } catch (err) { return `cannot read the stored login (${(err as Error).message})`; }
  return now === engineToken ? null : `the login changed since ${kind} started (\`dman login\`/\`dman logout\`); restart it to use the new one`;
}

/** Where a command's output goes: the process's stdout and stderr, or (for a run asked over the control socket) a buffer. */
interface Out { out(text: string): void; err(text: string): void }
const processOut: Out = { out: (t) => { process.stdout.write(t); }, err: (t) => { process.stderr.write(t); } };

/** Prints one --json document after checking it against its published schema (a mismatch is our bug, so it fails loudly). */
function printJson<N extends CliOutputName>(name: N, doc: z.input<CliOutputSchemas[N]>, io: Out = processOut): void {
  const schema: z.ZodType = cliOutputSchemas()[name];
  const parsed = schema.safeParse(doc);
  if (!parsed.success) throw new DmanError('INTERNAL', `the --json output does not match its schema: ${parsed.error.issues[0]?.message ?? ''} at ${parsed.error.issues[0]?.path.join('.') ?? ''}`, { hint: 'please report this bug' });
  io.out(`${JSON.stringify(parsed.data)}\n`);
}

const collect = (v: string, prev: string[]) => [...prev, v];
const userOption = () => new Option('-u, --user <name>', 'only this configured user (repeatable)').argParser(collect).default([] as string[]);
const onlyOption = () => new Option('--only <glob>', 'only paths matching this glob, relative to the home (repeatable); exclusions in track still apply').argParser(collect).default([] as string[]);

function exitCodeOf(r: SyncReport): number {
  if (r.offline || r.users.some((u) => u.errors.length > 0)) return EXIT.FAILED;
  if (!r.dryRun && r.users.some((u) => u.conflicts.length > 0)) return EXIT.CONFLICTS;
  return EXIT.OK;
}

interface RunOpts { only: string[]; user: string[]; dryRun?: boolean; prune?: boolean; yes?: boolean }

async function runSync(command: 'sync' | 'publish' | 'install', o: RunOpts, cmd: Command): Promise<number> {
  const { engine, g } = await openEngine(cmd);
  try {
    return await syncRun(engine, command, o, g, processOut);
  } finally {
    await engine.close();
  }
}

/**
 * One sync/publish/install run on an open engine, printed as the command prints it: the report
 * (or the --json document) and the exit code; a guarded or failed run throws as before (the
 * caller renders it). `dman sync` asked over the control socket goes through here too, so its
 * output is the same text.
 */
async function syncRun(engine: Engine, command: 'sync' | 'publish' | 'install', o: RunOpts, g: GlobalOptions, io: Out, isTTY?: boolean): Promise<number> {
  const direction: SyncDirection = command === 'sync' ? 'both' : command;
  const progress = await createProgress({ json: g.json, quiet: g.quiet, ...(isTTY === undefined ? {} : { isTTY }) });
  const off = engine.on((e) => progress.onEvent(e));
  try {
    let report: SyncReport;
    try {
      report = await engine.sync({ direction, only: o.only.length ? o.only : undefined, users: o.user.length ? o.user : undefined, dryRun: !!o.dryRun, prune: !!o.prune, yes: !!o.yes });
    } catch (err) {
      progress.stop();
      if (isDmanError(err, 'MASS_CHANGE')) throw await explainMassChange(engine, err, command, o, g, io);
      throw err;
    }
    progress.stop();
    const code = exitCodeOf(report);
    if (g.json) {
      printJson('sync', { ok: code === EXIT.OK, exitCode: code, command, ...report }, io);
    } else {
      const text = formatSyncReport(report, g.verbose);
      if (code === EXIT.OK) { if (!g.quiet) io.out(text); } else io.err(text);
    }
    return code;
  } finally {
    off();
    progress.stop();
  }
}

/**
 * Serves `dman sync` over the control socket from this process's engine (see cli/control/).
 * `engine` is the engine itself, or (for `dman agent`, whose engine comes and goes) a function
 * returning it or why a cold run would differ from it (then the client runs the sync itself).
 */
export async function hostSyncRequests(engine: Engine | (() => Engine | string), file: string | null, warnings: string[], kind: string, log: Logger): Promise<{ close(): Promise<void> } | null> {
  if (!file) return null;
  const { startControlServer } = await import('../control/server.js');
  const current = typeof engine === 'function' ? engine : () => engine;
  // refuse() runs right before handle() for the same request: handle uses what it found (one
  // login lookup per request, which may spawn the keychain tool).
  let checked: Engine | string | null = null;
  return startControlServer({
    configFile: file, kind, log,
    refuse: () => { checked = current(); return typeof checked === 'string' ? checked : null; },
    handle: async (args) => {
      const engine = checked ?? current();
      checked = null;
      if (typeof engine === 'string') return { chunks: [[2, `dman: ${engine}\n`]], exitCode: EXIT.FAILED };
      const chunks: Array<[1 | 2, string]> = [];
      const io: Out = { out: (t) => { chunks.push([1, t]); }, err: (t) => { chunks.push([2, t]); } };
      const g: GlobalOptions = { json: args.json, quiet: args.quiet, verbose: args.verbose };
      // What loadCliConfig prints in a cold run.
      if (!g.quiet) for (const w of warnings) io.err(`dman: ${w}\n`);
      let exitCode: number;
      try {
        exitCode = await syncRun(engine, 'sync', { only: [], user: [], dryRun: args.dryRun, yes: args.yes }, g, io, false);
      } catch (err) {
        const r = renderError(err, g);
        (r.fd === 1 ? io.out : io.err)(r.text);
        exitCode = r.code;
      }
      return { chunks, exitCode };
    },
  });
}

/** Lists what the guarded run would delete or overwrite, and how to confirm it. */
async function explainMassChange(engine: Engine, err: DmanError, command: string, o: RunOpts, g: GlobalOptions, io: Out): Promise<DmanError> {
  let paths: Array<{ user: string; path: string; change: string }> = [];
  try {
    const lines = await engine.compare({ users: o.user.length ? o.user : undefined, only: o.only.length ? o.only : undefined });
    paths = lines.filter((l) => (command !== 'publish' && l.direction === 'local' && (l.state === 'modify' || l.state === 'delete'))
      || (command !== 'install' && l.direction === 'remote' && l.state === 'delete'))
      .map((l) => ({ user: l.user, path: l.path, change: l.direction === 'local' ? (l.state === 'delete' ? 'delete here' : 'overwrite here') : 'delete on the server' }));
  } catch { /* the listing is a courtesy; the refusal stands without it */ }
  const confirm = `dman ${[command, ...o.user.flatMap((u) => ['--user', u]), ...o.only.flatMap((x) => ['--only', x]), ...(o.prune ? ['--prune'] : []), '--yes'].join(' ')}`;
  if (!g.json && paths.length) {
    const shown = g.verbose ? paths : paths.slice(0, 30);
    io.err(`this run would:\n${shown.map((p) => `  ${p.change.padEnd(20)} ${p.user}:${p.path}`).join('\n')}\n${paths.length > shown.length ? `  … and ${paths.length - shown.length} more (--verbose lists them all)\n` : ''}`);
  }
  return new DmanError('MASS_CHANGE', err.message, { hint: `if this is intended, confirm with \`${confirm}\``, context: { ...err.context, paths }, cause: err });
}

/** Registers the sync commands on the root program. */
export function register(program: Command): void {
  program.command('sync').description('sync both ways: publish local changes, install the server\'s, settle conflicts by conflict_policy')
    .addOption(onlyOption()).addOption(userOption())
    .option('-n, --dry-run', 'show what would happen; change nothing')
    .option('-y, --yes', 'confirm a run the mass-change guard stopped')
    .addHelpText('after', '\nExit codes: 0 done, 1 failed (or server unreachable), 2 bad usage or config, 3 conflicts left.\n\nWhile `dman watch` (or a `dman agent` with the same settings) runs for the same config, `dman sync`\n(with no flags but --yes, --dry-run, --json, --quiet, --verbose, --config) runs in its engine and\nprints the same result, much sooner. DMAN_NO_DAEMON=1 always runs it in this process;\nDMAN_DEBUG=1 says which one ran.\n\nExample:\n  $ dman sync\n  $ dman sync --dry-run --only ".config/nvim/**"')
    .action(action((o: RunOpts, cmd: Command) => runSync('sync', o, cmd)));

  program.command('publish').description('upload local changes to the server (one atomic batch); nothing is installed here')
    .addOption(onlyOption()).addOption(userOption())
    .option('-n, --dry-run', 'show what would be published; change nothing')
    .option('--prune', 'also delete server files that do not exist here and were never synced here')
    .option('-y, --yes', 'confirm a run the mass-change guard stopped')
    .addHelpText('after', '\nExample:\n  $ dman publish --only .bashrc --only ".config/git/**"\n  $ dman publish --prune --dry-run')
    .action(action((o: RunOpts, cmd: Command) => runSync('publish', o, cmd)));

  program.command('install').description('download the server\'s changes onto this machine; nothing is published')
    .addOption(onlyOption()).addOption(userOption())
    .option('-n, --dry-run', 'show what would be installed; change nothing')
    .option('-y, --yes', 'confirm a run the mass-change guard stopped')
    .addHelpText('after', '\nExample:\n  $ dman install --dry-run\n  $ dman install --only ".ssh/config"')
    .action(action((o: RunOpts, cmd: Command) => runSync('install', o, cmd)));

  program.command('compare').description('show per path what a sync would do: add, modify, delete or conflict, and in which direction')
    .addOption(onlyOption()).addOption(userOption())
    .option('--show-same', 'list paths that are equal on both sides too')
    .addHelpText('after', '\nDirections: "here → server" would publish, "server → here" would install.\n\nExample:\n  $ dman compare\n  $ dman compare --show-same --json')
    .action(action(async (o: { only: string[]; user: string[]; showSame?: boolean }, cmd: Command) => {
      const { engine, config, g } = await openEngine(cmd);
      try {
        const lines = await engine.compare({ users: o.user.length ? o.user : undefined, only: o.only.length ? o.only : undefined, showSame: !!o.showSame });
        if (g.json) printJson('compare', { ok: true, lines });
        else process.stdout.write(formatCompare(lines, Object.keys(config.users).length > 1));
        return EXIT.OK;
      } finally {
        await engine.close();
      }
    }));

  program.command('watch').description('keep syncing in the foreground: local saves and server pushes sync within a second; Ctrl-C stops')
    .option('--rescan <seconds>', 'full rescan period, to catch what the file watcher misses', '60')
    .addHelpText('after', '\nWith --json, prints one JSON event per line (docs/schemas/watch-event.schema.json).\n\nExample:\n  $ dman watch\n  $ dman watch --json | jq .')
    .action(action(async (o: { rescan: string }, cmd: Command) => {
      const rescan = Number(o.rescan);
      if (!Number.isFinite(rescan) || rescan < 0) throw new DmanError('USAGE', `--rescan ${o.rescan} is not a number of seconds`, { hint: 'e.g. --rescan 60 (0 turns the periodic rescan off)' });
      const { engine, config, loaded, g, file, warnings, log } = await openEngine(cmd, { watch: true, rescanMs: rescan * 1000 });
      const line = (doc: z.input<CliOutputSchemas['watch-event']>, text: string | null, isError = false) => {
        if (g.json) printJson('watch-event', doc);
        else if (text !== null && (isError || !g.quiet)) (isError ? process.stderr : process.stdout).write(`${text}\n`);
      };
      const clock = () => new Date().toTimeString().slice(0, 8);
      const off = engine.on((e) => {
        if (e.type === 'synced') {
          const acts = e.report.actions.filter((a) => a.type !== 'nothing' && a.type !== 'skip' && a.type !== 'converged');
          if (acts.length === 0) return;
          const text = acts.map((a) => `${clock()} ${e.user} ${a.error ? `failed ${a.path}: ${a.error.message}` : `${a.type === 'publish' ? 'published' : a.type === 'install' ? 'installed' : a.type === 'merge' ? 'merged' : 'CONFLICT'} ${a.path}`}`).join('\n');
          line({ event: 'synced', user: e.user, time: Date.now(), actions: acts, conflicts: e.report.conflicts.length }, text);
        } else if (e.type === 'conflict') {
          line({ event: 'conflict', time: Date.now(), conflict: e.conflict }, `${clock()} ${e.conflict.user} CONFLICT ${e.conflict.path}: ${e.conflict.reason} (settle it with \`dman resolve ${e.conflict.path} --keep local|server|both\`)`);
        } else if (e.type === 'error') {
          line({ event: 'error', time: Date.now(), ...(e.user ? { user: e.user } : {}), ...(e.path ? { path: e.path } : {}), error: e.error }, `${clock()} ${e.user ?? ''} error: ${e.error.message}${e.error.hint ? ` (${e.error.hint})` : ''}`, true);
        }
      });
      const stopped = new Promise<string>((done) => {
        process.once('SIGINT', () => done('SIGINT'));
        process.once('SIGTERM', () => done('SIGTERM'));
      });
      let control: { close(): Promise<void> } | null = null;
      try {
        await engine.watch();
        // `dman sync` for the same config asks this engine to run instead of loading its own.
        // Each request checks the login again: a cold run would use the one `dman login` stored since.
        if (process.env.DMAN_NO_DAEMON !== '1') control = await hostSyncRequests(() => tokenChanged(loaded, config.auth_token, 'dman watch') ?? engine, file, warnings, 'dman watch', log);
        const users = Object.keys(config.users);
        line({ event: 'watching', users, serverUrl: config.server_url }, `watching ${users.map((u) => `${u} (${config.users[u]!.home})`).join(', ')} with ${config.server_url}; Ctrl-C stops`);
        const reason = await stopped;
        await control?.close();
        await engine.close();
        line({ event: 'stopped', reason }, 'stopped');
        return EXIT.OK;
      } finally {
        off();
        await control?.close();
        await engine.close();
      }
    }));

  program.command('conflicts').description('list open conflicts (policy ask, or merges whose edits overlapped)')
    .addHelpText('after', '\nExample:\n  $ dman conflicts\n  $ dman resolve .gitconfig --keep both')
    .action(action(async (_o: unknown, cmd: Command) => {
      const { engine, g } = await openEngine(cmd);
      try {
        const list = await engine.conflicts();
        if (g.json) printJson('conflicts', { ok: true, conflicts: list });
        else process.stdout.write(formatConflicts(list));
        return EXIT.OK;
      } finally {
        await engine.close();
      }
    }));

  program.command('resolve').description('settle an open conflict: keep this machine\'s version, the server\'s, or both (the other beside it)')
    .argument('<path>', 'the conflicting path, relative to the home (or absolute)')
    .addOption(new Option('--keep <side>', 'which version wins').choices(['local', 'server', 'both']).makeOptionMandatory())
    .option('-u, --user <name>', 'the user the path belongs to (needed only with several users)')
    .addHelpText('after', '\nExample:\n  $ dman resolve .gitconfig --keep local\n  $ dman resolve ~/.zshrc --keep both --user alice')
    .action(action(async (input: string, o: { keep: 'local' | 'server' | 'both'; user?: string }, cmd: Command) => {
      const { engine, config, g } = await openEngine(cmd);
      try {
        const open = await engine.conflicts();
        const { user, path } = toUserPath(config, input, o.user, open.map((c) => `${c.user}\0${c.path}`));
        await engine.resolve(user, path, o.keep);
        const remaining = (await engine.conflicts()).length;
        if (g.json) printJson('resolve', { ok: true, user, path, kept: o.keep, remaining });
        else if (!g.quiet) process.stdout.write(`resolved ${path}: kept ${o.keep === 'both' ? 'both versions' : o.keep === 'local' ? 'this machine\'s version' : 'the server\'s version'}${remaining ? `; ${remaining} conflict${remaining === 1 ? '' : 's'} left` : ''}\n`);
        return EXIT.OK;
      } finally {
        await engine.close();
      }
    }));

  program.command('history').description('list the versions of a path the server keeps, newest first')
    .argument('<path>', 'a path relative to the home (or absolute)')
    .option('-u, --user <name>', 'the user the path belongs to (needed only with several users)')
    .addHelpText('after', '\nExample:\n  $ dman history .bashrc\n  $ dman restore .bashrc --rev 12')
    .action(action(async (input: string, o: { user?: string }, cmd: Command) => {
      const { engine, config, g } = await openEngine(cmd);
      try {
        const { user, path } = toUserPath(config, input, o.user);
        const entries = await engine.history(user, path);
        if (g.json) printJson('history', { ok: true, user, path, entries });
        else process.stdout.write(formatHistory(entries));
        return EXIT.OK;
      } finally {
        await engine.close();
      }
    }));

  program.command('restore').description('bring back an earlier version of a path (as a new version on the server, installed here)')
    .argument('<path>', 'a path relative to the home (or absolute)')
    .option('--rev <n>', 'the version to restore (from `dman history`; default: the one before the current)')
    .option('-u, --user <name>', 'the user the path belongs to (needed only with several users)')
    .addHelpText('after', '\nExample:\n  $ dman restore .bashrc\n  $ dman restore .config/nvim/init.lua --rev 42')
    .action(action(async (input: string, o: { rev?: string; user?: string }, cmd: Command) => {
      if (o.rev !== undefined && !/^[1-9]\d*$/.test(o.rev)) throw new DmanError('USAGE', `--rev ${o.rev} is not a version number`, { hint: 'pick a rev from `dman history PATH`' });
      const { engine, config, g } = await openEngine(cmd);
      try {
        const { user, path } = toUserPath(config, input, o.user);
        let rev = o.rev ? Number(o.rev) : undefined;
        if (rev === undefined) {
          const entries = await engine.history(user, path);
          const head = entries[0];
          const prev = entries.slice(1).find((e) => !e.deleted && e.hash !== head?.hash);
          if (!prev) throw new DmanError('NOT_FOUND', `no earlier version of "${path}" for ${user} on the server`, { hint: 'list the versions with `dman history PATH`', context: { user, path } });
          rev = prev.rev;
        }
        const entry = await engine.restore(user, path, rev);
        if (g.json) printJson('restore', { ok: true, user, path, fromRev: rev, entry });
        else if (!g.quiet) process.stdout.write(`restored ${path} to the version of rev ${rev} (now rev ${entry.rev})\n`);
        return EXIT.OK;
      } finally {
        await engine.close();
      }
    }));

  program.command('status').description('show the server, each user\'s home, pending changes, conflicts and the last sync')
    .addHelpText('after', '\nExample:\n  $ dman status\n  $ dman status --json')
    .action(action(async (_o: unknown, cmd: Command) => {
      const { engine, file, g } = await openEngine(cmd);
      try {
        const s = await engine.status();
        if (g.json) printJson('status', { ok: true, configFile: file, ...s });
        else process.stdout.write(formatStatus(s, file));
        return s.online ? EXIT.OK : EXIT.FAILED;
      } finally {
        await engine.close();
      }
    }));
}
