// The scoped counterpart of walkTracked: instead of walking the whole home, look at a few
// paths the watcher or the change feed named. It yields exactly what the walk would yield for
// those paths, or says it cannot (a path is now a directory, or is spelled differently on
// disk), so the caller falls back to a full walk rather than guess.
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import type { TrackMatcher } from '../../shared/patterns/index.js';
import { isTempName } from '../fs/atomic.js';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';
import type { WalkedFile } from './scan.js';

/** What statPaths found for a set of paths. */
export interface StatPathsResult {
  /** Tracked regular files and symlinks among the paths (absent ones are gone from disk). */
  files: WalkedFile[];
  /** Paths that could not be looked at (unreadable folder on the way, special file): never deletes. */
  skipped: Array<{ path: string; reason: string }>;
  /** Set when only a full walk can answer (a path became a directory, or its spelling on disk differs). */
  needsWalk: string | null;
}

const errno = (err: unknown): string => (err as NodeJS.ErrnoException)?.code ?? 'error';

/** Looks at each path as walkTracked would (no link followed, pruned folders respected), without walking the home. */
export async function statPaths(home: string, paths: Iterable<string>, matcher: TrackMatcher, concurrency = 16, fs: FileSystem = nodeFileSystem): Promise<StatPathsResult> {
  const out: StatPathsResult = { files: [], skipped: [], needsWalk: null };
  const dirs = new Map<string, Promise<'dir' | 'gone' | 'other' | string>>();
  // Whether the walk would reach inside `dir`: every folder on the way is a real folder (a
  // symlinked one is never followed) that the track patterns let it descend.
  const dirState = (dir: string): Promise<'dir' | 'gone' | 'other' | string> => {
    let p = dirs.get(dir);
    if (!p) {
      p = (async () => {
        const up = dir.lastIndexOf('/');
        if (up !== -1) {
          const parent = await dirState(dir.slice(0, up));
          if (parent !== 'dir') return parent;
        }
        if (!matcher.shouldDescend(dir)) return 'other';
        try {
          const st = await fs.lstat(join(home, dir));
          return st.isDirectory() ? 'dir' : 'other';
        } catch (err) {
          const code = errno(err);
          return code === 'ENOENT' || code === 'ENOTDIR' ? 'gone' : `permission denied (${code})`;
        }
      })();
      dirs.set(dir, p);
    }
    return p;
  };
  const list = [...new Set(paths)];
  let next = 0;
  const one = async (path: string): Promise<void> => {
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (!path || isTempName(name) || !matcher.isTracked(path)) return;
    if (path !== path.normalize('NFC')) { out.needsWalk ??= path; return; }
    const slash = path.lastIndexOf('/');
    const parent = slash === -1 ? 'dir' : await dirState(path.slice(0, slash));
    if (parent === 'gone' || parent === 'other') return; // the walk would not find it: gone here
    if (parent !== 'dir') { out.skipped.push({ path, reason: parent }); return; }
    let st: Stats;
    try {
      st = await fs.lstat(join(home, path));
    } catch (err) {
      const code = errno(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') { out.skipped.push({ path, reason: code === 'EACCES' || code === 'EPERM' ? 'permission denied' : `cannot read (${code})` }); return; }
      // Gone under this spelling: make sure the folder does not hold it under another (NFD) one.
      const names = await fs.readdir(join(home, path.slice(0, Math.max(0, slash)))).catch(() => [] as string[]);
      if (names.some((n) => n !== name && n.normalize('NFC') === name)) out.needsWalk ??= path;
      return;
    }
    if (st.isFile() || st.isSymbolicLink()) out.files.push({ path, stats: st });
    else if (st.isDirectory()) out.needsWalk ??= path;
    else out.skipped.push({ path, reason: 'not a regular file or symlink; dman does not sync it' });
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, async () => {
    while (next < list.length) await one(list[next++]!);
  }));
  return out;
}
