// Where dman.yaml is looked for, with no imports beyond node:path: the fast `dman sync` client
// (dist/fast.cjs) finds the config with this before deciding whether to load the whole CLI.
import { join, resolve } from 'node:path';

/** Lists the places dman.yaml is searched, in order: --config, DMAN_CONFIG, ./dman.yaml, $XDG_CONFIG_HOME/dman/dman.yaml, ~/dman.yaml. */
export function configCandidates(opts: { env: Readonly<Record<string, string | undefined>>; cwd: string; homedir: string; configPath?: string }): { path: string; isExplicit: boolean }[] {
  if (opts.configPath) return [{ path: resolve(opts.cwd, opts.configPath), isExplicit: true }];
  if (opts.env.DMAN_CONFIG) return [{ path: resolve(opts.cwd, opts.env.DMAN_CONFIG), isExplicit: true }];
  const xdg = opts.env.XDG_CONFIG_HOME || join(opts.homedir, '.config');
  return [
    { path: resolve(opts.cwd, 'dman.yaml'), isExplicit: false },
    { path: join(xdg, 'dman', 'dman.yaml'), isExplicit: false },
    { path: join(opts.homedir, 'dman.yaml'), isExplicit: false },
  ];
}
