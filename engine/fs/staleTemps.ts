// Temp files a crashed dman left in a home. tempPathFor names each one after its writer's pid, so
// a temp file whose process is gone (and which nothing has touched for a while) can only be the
// leftover of a write that never reached its rename: the engine removes it after a full run.
import { basename, join } from 'node:path';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';
import { processAlive } from '../util/processAlive.js';
import { tempOwner } from './atomic.js';

/**
 * How long a temp file must have been left untouched before it is removed, its writer gone. A
 * write in progress changes the file's mtime as it goes; the wait also covers a home shared with
 * another machine (over NFS), whose pids this machine cannot see.
 */
export const STALE_TEMP_MS = 2 * 60_000;


export interface StaleTempOptions {
  /** Whether a pid is a running process (default processAlive). */
  alive?: (pid: number) => boolean;
  now?: () => number;
  /** File-system calls on the home (default node:fs), as the engine's other calls there. */
  fs?: FileSystem;
  /** Called for a stale temp file that could not be removed (it stays; the next full run tries again). */
  onError?: (path: string, err: unknown) => void;
}

/**
 * Removes the temp files at `paths` (relative to `home`) whose writer is gone: a pid that is not
 * this process and not running here, a plain file or symlink untouched for STALE_TEMP_MS. Returns
 * the paths removed; never throws.
 */
export async function removeStaleTemps(home: string, paths: readonly string[], opts: StaleTempOptions = {}): Promise<string[]> {
  const alive = opts.alive ?? processAlive;
  const now = opts.now ?? Date.now;
  const fs = opts.fs ?? nodeFileSystem;
  const removed: string[] = [];
  for (const path of paths) {
    const pid = tempOwner(basename(path));
    if (pid === null || pid === process.pid || alive(pid)) continue;
    const abs = join(home, path);
    try {
      const st = await fs.lstat(abs);
      if (!(st.isFile() || st.isSymbolicLink()) || now() - st.mtimeMs < STALE_TEMP_MS) continue;
      await fs.unlink(abs);
      removed.push(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') opts.onError?.(path, err);
    }
  }
  return removed;
}
