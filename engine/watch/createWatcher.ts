// The Watcher the products use: folder-level fs.watch on Linux (one inotify watch per folder, see
// DirWatcher.ts), chokidar elsewhere (macOS and Windows keep the watcher they were tested with).
import { DmanError } from '../../shared/errors.js';
import type { Logger } from '../log.js';
import { createChokidarWatcher } from './ChokidarWatcher.js';
import { createDirWatcher } from './DirWatcher.js';
import type { Watcher } from './Watcher.js';

/** Creates the platform's Watcher; `DMAN_WATCHER=chokidar|dirs` picks one explicitly (for comparisons). */
export function createWatcher(opts: { log?: Logger; platform?: NodeJS.Platform } = {}): Watcher {
  const pick = process.env.DMAN_WATCHER || undefined;
  if (pick !== undefined && pick !== 'chokidar' && pick !== 'dirs') {
    throw new DmanError('USAGE', `DMAN_WATCHER=${pick} is not a watcher`, { hint: 'use DMAN_WATCHER=dirs (folder watches, the Linux default) or DMAN_WATCHER=chokidar, or unset it' });
  }
  if (pick === 'chokidar') return createChokidarWatcher(opts);
  if (pick === 'dirs' || (opts.platform ?? process.platform) === 'linux') return createDirWatcher(opts);
  return createChokidarWatcher(opts);
}
