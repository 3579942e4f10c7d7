// The Watcher port over chokidar: only tracked paths are reported (directories that cannot hold
// tracked files are not descended), batched per user over a short debounce window.
import { watch, type FSWatcher } from 'chokidar';
import { relative, sep } from 'node:path';
import type { Stats } from 'node:fs';
import { isTempName } from '../fs/atomic.js';
import type { Logger } from '../log.js';
import type { WatchTarget, Watcher } from './Watcher.js';

/**
 * Creates a chokidar-backed Watcher; `debounceMs` groups bursts of events (default 40 ms).
 * chokidar drops a second 'change' of the same file within 50 ms, so each burst is followed by
 * one trailing report after `trailingMs` (default 70 ms) that makes the engine look again.
 */
export function createChokidarWatcher(opts: { debounceMs?: number; trailingMs?: number; log?: Logger } = {}): Watcher {
  const debounceMs = opts.debounceMs ?? 40;
  const trailingMs = opts.trailingMs ?? 70;
  const trailing = new Map<string, NodeJS.Timeout>();
  const watchers: FSWatcher[] = [];
  const timers = new Map<string, NodeJS.Timeout>();
  const pending = new Map<string, Set<string>>();
  return {
    async start(targets, onChange) {
      await Promise.all(targets.map((t) => startOne(t, onChange)));
    },
    async close() {
      for (const t of [...timers.values(), ...trailing.values()]) clearTimeout(t);
      timers.clear();
      trailing.clear();
      await Promise.all(watchers.splice(0).map((w) => w.close()));
    },
  };

  async function startOne(t: WatchTarget, onChange: (user: string, paths: string[]) => void): Promise<void> {
    const rel = (abs: string): string => relative(t.home, abs).split(sep).join('/');
    const w = watch(t.home, {
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (abs: string, stats?: Stats) => {
        const r = rel(abs);
        if (r === '' ) return false;
        if (r.startsWith('..')) return true;
        const name = r.slice(r.lastIndexOf('/') + 1);
        if (isTempName(name)) return true;
        if (stats?.isDirectory()) return !t.matcher.shouldDescend(r);
        if (stats) return !t.matcher.isTracked(r);
        // No stats yet: keep it if it could be a tracked file or a folder on the way to one.
        return !t.matcher.isTracked(r) && !t.matcher.shouldDescend(r);
      },
    });
    const fire = (abs: string): void => {
      const r = rel(abs);
      if (!r || r.startsWith('..')) return;
      opts.log?.debug({ user: t.user, path: r }, 'watch event');
      let set = pending.get(t.user);
      if (!set) pending.set(t.user, (set = new Set()));
      set.add(r);
      clearTimeout(timers.get(t.user));
      timers.set(t.user, setTimeout(() => {
        timers.delete(t.user);
        const paths = [...(pending.get(t.user) ?? [])];
        pending.delete(t.user);
        onChange(t.user, paths);
      }, debounceMs));
      clearTimeout(trailing.get(t.user));
      trailing.set(t.user, setTimeout(() => {
        trailing.delete(t.user);
        onChange(t.user, [r]);
      }, trailingMs));
    };
    w.on('add', fire).on('change', fire).on('unlink', fire).on('unlinkDir', fire);
    w.on('error', (err) => opts.log?.warn({ err: (err as Error).message, user: t.user }, 'watch failed'));
    watchers.push(w);
    await new Promise<void>((resolve) => w.once('ready', () => resolve()));
  }
}
