// `dman ls` and `dman why`: what the track patterns select now, and why a path is or is not in.
import type { Command } from 'commander';
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { homedir as osHomedir, userInfo } from 'node:os';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { walkTracked, type WalkSkip } from '../../engine/scan/walk.js';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { DmanError } from '../../shared/errors.js';
import { compileTrack, normalizeInputPath, type TrackExplanation, type TrackMatcher } from '../../shared/patterns/index.js';
import { action, globalsOf } from '../action.js';
import { loadCliConfig } from '../config.js';
import { EXIT } from '../exit.js';

interface UserTrack { user: string; home: string; track: string[] }

const out = (s: string) => process.stdout.write(`${s}\n`);
const err = (s: string) => process.stderr.write(`dman: ${s}\n`);

/** Registers `dman ls` and `dman why`. */
export function register(program: Command): void {
  program
    .command('ls')
    .description('list the files the track patterns select now, in each configured user\'s home')
    .option('-u, --user <name>', 'only this user (default: every user in the config)')
    .addHelpText('after', '\nExample:\n  $ dman ls --user alice\n  $ dman ls --json | jq -r \'.users[].files[].path\'')
    .action(action(async (opts: { user?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const { config, file } = await loadCliConfig(cmd, { allowMissing: true });
      const users = selectUsers(config, file, opts.user);
      const reports = [];
      let failed = false;
      for (const u of users) {
        const matcher = compileFor(u, file);
        const files: { path: string; type: 'file' | 'symlink'; size: number; mtime: string }[] = [];
        const skipped: WalkSkip[] = [];
        let error: { code: string; message: string } | undefined;
        try {
          for await (const e of walkTracked(u.home, matcher, { onSkip: (s) => skipped.push(s) })) {
            files.push({ path: e.path, type: e.stat.isSymbolicLink() ? 'symlink' : 'file', size: e.stat.size, mtime: new Date(Math.round(e.stat.mtimeMs)).toISOString() });
          }
        } catch (e) {
          if (opts.user || !(e instanceof DmanError)) throw e;
          failed = true;
          error = { code: e.code, message: `user ${u.user}: ${e.message}` };
        }
        files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
        reports.push({ user: u.user, home: u.home, count: files.length, files, skipped, ...(error ? { error } : {}) });
      }
      if (g.json) {
        out(JSON.stringify({ ok: !failed, file, users: reports.map((r) => ({ ...r, skipped: r.skipped.map(({ path, reason, code, message }) => ({ path, reason, code, message })) })) }));
        return failed ? EXIT.FAILED : EXIT.OK;
      }
      const several = reports.length > 1;
      for (const r of reports) {
        if (r.error) { err(r.error.message); continue; }
        if (several) out(`${r.user} (${r.home}): ${r.count} file${r.count === 1 ? '' : 's'}`);
        for (const f of r.files) out(several ? `  ${f.path}` : f.path);
        if (!g.quiet) for (const s of r.skipped) err(`skipped ${r.home}/${s.path}: ${s.message}`);
      }
      return failed ? EXIT.FAILED : EXIT.OK;
    }));

  program
    .command('why')
    .description('say whether PATH is tracked and which track pattern decided')
    .argument('<path>', 'a path in the home: absolute, ~/…, or relative (to the current directory when it is inside the home, else to the home)')
    .option('-u, --user <name>', 'answer for this user only (default: every user whose home holds PATH)')
    .addHelpText('after', '\nExample:\n  $ dman why ~/.config/nvim/init.lua\n  $ dman why docs/config.yaml --user alice --json')
    .action(action(async (input: string, opts: { user?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const { config, file } = await loadCliConfig(cmd, { allowMissing: true });
      const candidates = selectUsers(config, file, opts.user);
      const results = [];
      const outside: string[] = [];
      for (const u of candidates) {
        const rel = homeRelative(input, u.home);
        if (rel === null) { outside.push(`${u.user} (${u.home})`); continue; }
        const matcher = compileFor(u, file);
        const st = rel === '' ? null : await lstat(resolve(u.home, rel)).catch(() => null);
        const kind = st === null ? (rel === '' ? 'directory' : 'missing') : kindOf(st);
        // A directory is never tracked itself; what matters is the pattern that decides below it.
        const e = kind === 'directory' ? matcher.explainDir(rel) : matcher.explain(rel);
        const descend = kind === 'directory' ? matcher.shouldDescend(rel) : undefined;
        // `.vim/` never matches a symlink named .vim: say so, since it looks like the directory.
        const linkNote = kind === 'symlink' && !e.tracked && matcher.explainDir(rel).tracked ? { linkToDir: true } : {};
        results.push({ user: u.user, home: u.home, path: rel, kind, ...e, ...(descend === undefined ? {} : { descend }), ...linkNote });
      }
      if (results.length === 0) {
        throw new DmanError('USAGE', `${input} is outside the home of ${outside.join(', ')}`, {
          hint: 'give a path inside a configured home (absolute, ~/…, or relative to the home)',
          context: { path: input },
        });
      }
      if (g.json) out(JSON.stringify({ ok: true, file, results }));
      else for (const r of results) out(describe(r, results.length > 1));
      return EXIT.OK;
    }));
}

// The users a command works on: the config's users, or this OS user with the global list.
function selectUsers(config: EffectiveConfig, file: string | null, only?: string): UserTrack[] {
  const configured = Object.entries(config.users ?? {}).map(([user, u]) => ({ user, home: u.home, track: u.track }));
  const users = configured.length > 0 ? configured : [{ user: currentUser(), home: process.env.HOME || osHomedir(), track: config.track }];
  if (only === undefined) return users;
  const found = users.find((u) => u.user === only);
  if (!found) {
    throw new DmanError('USAGE', `no user ${JSON.stringify(only)} in ${file ?? 'the config'}`, {
      hint: `configured users: ${users.map((u) => u.user).join(', ') || 'none'}`,
      context: { file: file ?? undefined, key: `users.${only}` },
    });
  }
  return [found];
}

function currentUser(): string {
  try { return userInfo().username; } catch { return process.env.USER ?? 'me'; }
}

function compileFor(u: UserTrack, file: string | null): TrackMatcher {
  try {
    return compileTrack(u.track);
  } catch (e) {
    if (e instanceof DmanError) throw new DmanError(e.code, `user ${u.user}: ${e.message}`, { hint: e.hint, context: { ...e.context, file: file ?? undefined, user: u.user }, cause: e });
    throw e;
  }
}

// Home-relative '/' path of input for this home, or null when it lies outside.
function homeRelative(input: string, home: string): string | null {
  const cwd = process.cwd();
  let abs: string;
  if (input === '~' || input.startsWith('~/') || input.startsWith('~\\')) abs = resolve(home, input.slice(2));
  else if (isAbsolute(input)) abs = resolve(input);
  else if (cwd === home || cwd.startsWith(home.endsWith(sep) ? home : home + sep)) abs = resolve(cwd, normalizeInputPath(input) || '.');
  else abs = resolve(home, normalizeInputPath(input) || '.');
  const rel = relative(home, abs);
  if (rel.startsWith('..') || isAbsolute(rel)) return null;
  return normalizeInputPath(rel.split(sep).join('/'));
}

function kindOf(st: Stats): 'file' | 'symlink' | 'directory' | 'special' {
  return st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'special';
}

function describe(r: { user: string; path: string; kind: string; descend?: boolean; linkToDir?: boolean } & TrackExplanation, withUser: boolean): string {
  const who = withUser ? ` [${r.user}]` : '';
  const name = r.path === '' ? '~' : `~/${r.path}`;
  const by = r.index === null ? '' : `track pattern ${r.index + 1} ${JSON.stringify(r.pattern)}`;
  if (r.kind === 'directory') {
    const on = r.dir && r.dir !== r.path ? ` (on its parent ${r.dir}/)` : '';
    if (r.index !== null && r.tracked) return `${name}${who}: directory; everything below it is tracked by ${by}${on}, except what later patterns exclude`;
    if (r.index !== null && r.descend) return `${name}${who}: directory excluded by ${by}${on}, but later patterns track some files below it; \`dman ls\` lists them`;
    if (r.index !== null) return `${name}${who}: directory excluded by ${by}${on}; dman does not look inside it`;
    if (r.descend) return `${name}${who}: directory; some track patterns can match files below it; \`dman ls\` lists them`;
    return `${name}${who}: directory; no track pattern can match below it, so dman does not look inside it`;
  }
  const note = r.kind === 'missing' ? ' (does not exist now)'
    : r.kind === 'special' ? ' (not a regular file or symlink, so never synced)'
      : r.linkToDir ? ' (it is a symlink: a pattern ending in / matches files inside a real directory, and dman never follows links; track the link by its name without the /)' : '';
  if (r.index === null) return `${name}${who}: not tracked: no track pattern matches it${note}`;
  if (r.tracked) return `${name}${who}: tracked, by ${by}${r.dir ? ` (it matches the directory ${r.dir}/)` : ''}${note}`;
  if (r.dir) return `${name}${who}: not tracked: its parent directory ${r.dir}/ is excluded by ${by}${note}`;
  return `${name}${who}: not tracked: excluded by ${by}${note}`;
}
