// Turns what a user types as PATH (home-relative, ~/…, or absolute) into a user and a tracked path.
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { DmanError } from '../../shared/errors.js';

/** Resolves PATH (and an optional --user) to a configured user and a home-relative path. */
export function toUserPath(config: EffectiveConfig, input: string, user?: string, candidates?: string[]): { user: string; path: string } {
  const users = Object.keys(config.users);
  if (user !== undefined && !config.users[user]) {
    throw new DmanError('USAGE', `no user "${user}" in the config`, { hint: `configured users: ${users.join(', ') || '(none)'}`, context: { user } });
  }
  if (users.length === 0) throw new DmanError('CONFIG_INVALID', 'no users are configured', { hint: 'add users.<name>.home to the config' });
  const inHome = (home: string, abs: string): string | null => {
    const rel = relative(home, abs);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : null;
  };
  const clean = (p: string) => p.replace(/^\.\/+/, '').replace(/\/+$/, '');
  if (isAbsolute(input)) {
    const abs = resolve(input);
    for (const u of user ? [user] : users) {
      const rel = inHome(config.users[u]!.home, abs);
      if (rel) return { user: u, path: rel };
    }
    throw new DmanError('USAGE', `${input} is not inside ${user ? `the home of ${user}` : 'any configured home'}`, { hint: 'give a path inside a home from users: in the config, or one relative to it', context: { path: input } });
  }
  const path = clean(input.startsWith('~/') ? input.slice(2) : input);
  if (!path || path.split('/').includes('..')) throw new DmanError('USAGE', `"${input}" is not a path inside a home`, { hint: 'give a path relative to the home, e.g. .bashrc or .config/nvim/init.lua', context: { path: input } });
  if (user) return { user, path };
  if (users.length === 1) return { user: users[0]!, path };
  // Several users: pick the one whose candidates (e.g. open conflicts) hold this path.
  const owners = candidates ? users.filter((u) => candidates.includes(`${u}\0${path}`)) : [];
  if (owners.length === 1) return { user: owners[0]!, path };
  throw new DmanError('USAGE', `"${path}" could belong to several users (${users.join(', ')})`, { hint: 'pass --user NAME', context: { path } });
}
