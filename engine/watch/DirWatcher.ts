// The Watcher port over plain fs.watch, one watch per FOLDER (not per file): on Linux an inotify
// watch on a folder reports creates, writes, deletes and renames of every entry in it, so 100,000
// files in 4,700 folders cost 4,700 inotify watches and a few MB, where chokidar holds a watch,
// a stat and several objects per file (hundreds of MB and the whole inotify budget).
// Only folders that can hold tracked files are watched; only tracked paths are reported, batched
// per user over a short debounce window. When the system runs out of inotify watches, the folders
// left over are not watched: the watcher says so once, clearly, and reports `degraded` so the
// engine keeps its periodic full rescan on (that rescan then finds what the watcher misses).
import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isTempName } from '../fs/atomic.js';
import type { Logger } from '../log.js';
import type { WatchTarget, Watcher, WatchStatus } from './Watcher.js';

/** One watched folder: its fs.watch handle and the inode it was opened on (a folder replaced under the same name gets a new one). */
interface Watched { w: FSWatcher; ino: number }

const limitHint = (code: string): string => code === 'ENOSPC'
  ? 'raise the limit, e.g. `sudo sysctl fs.inotify.max_user_watches=524288` (persist it in /etc/sysctl.d/), then restart dman'
  : 'raise the open-file limit (`ulimit -n`), then restart dman';

/**
 * Creates a folder-level fs.watch Watcher; `debounceMs` groups bursts of events (default 40 ms)
 * and one trailing report after `trailingMs` (default 70 ms) makes the engine look again at the
 * last path of a burst (a write that was still going on when the first run read the file).
 */
export function createDirWatcher(opts: { debounceMs?: number; trailingMs?: number; log?: Logger } = {}): Watcher {
  const debounceMs = opts.debounceMs ?? 40;
  const trailingMs = opts.trailingMs ?? 70;
  const timers = new Map<string, NodeJS.Timeout>();
  const trailing = new Map<string, NodeJS.Timeout>();
  const pending = new Map<string, Set<string>>();
  /** Per user: the timer that looks again for a home that went away. */
  const homeRetry = new Map<string, NodeJS.Timeout>();
  /** Per user: home-relative folder ('' is the home) → its watch. */
  const homes = new Map<string, Map<string, Watched>>();
  const status: WatchStatus = { folders: 0, unwatched: 0 };
  let closed = false;
  let warned = false;

  return {
    async start(targets, onChange) {
      await Promise.all(targets.map((t) => startOne(t, onChange)));
    },
    status: () => ({ ...status, folders: [...homes.values()].reduce((n, m) => n + m.size, 0) }),
    async close() {
      closed = true;
      for (const t of [...timers.values(), ...trailing.values(), ...homeRetry.values()]) clearTimeout(t);
      homeRetry.clear();
      timers.clear();
      trailing.clear();
      pending.clear();
      for (const m of homes.values()) for (const d of m.values()) d.w.close();
      homes.clear();
    },
  };

  async function startOne(t: WatchTarget, onChange: (user: string, paths: string[] | null) => void): Promise<void> {
    const dirs = new Map<string, Watched>();
    homes.set(t.user, dirs);
    const abs = (rel: string): string => (rel ? join(t.home, rel) : t.home);

    const report = (paths: string[]): void => {
      if (closed || paths.length === 0) return;
      let set = pending.get(t.user);
      if (!set) pending.set(t.user, (set = new Set()));
      for (const p of paths) set.add(p);
      const last = paths[paths.length - 1]!;
      opts.log?.debug({ user: t.user, path: last, n: paths.length }, 'watch event');
      clearTimeout(timers.get(t.user));
      timers.set(t.user, setTimeout(() => {
        timers.delete(t.user);
        const all = [...(pending.get(t.user) ?? [])];
        pending.delete(t.user);
        onChange(t.user, all);
      }, debounceMs));
      clearTimeout(trailing.get(t.user));
      trailing.set(t.user, setTimeout(() => {
        trailing.delete(t.user);
        onChange(t.user, [last]);
      }, trailingMs));
    };

    /** Stops watching `rel` and every folder below it. */
    const drop = (rel: string): void => {
      const below = rel ? `${rel}/` : '';
      for (const [k, d] of dirs) {
        if (k === rel || k.startsWith(below)) { d.w.close(); dirs.delete(k); }
      }
    };

    /** Starts one folder's watch; false when the system is out of watches (then nothing below is tried). */
    const watchOne = (rel: string, ino: number): boolean => {
      if (closed) return false;
      let w: FSWatcher;
      try {
        w = watch(abs(rel), { persistent: true }, (_event, name) => {
          const entry = (): void => { if (name) void onEntry(rel, String(name)); else report([rel]); };
          // An event on the home's own watch may be the home itself moved away or replaced.
          if (rel === '') void checkHome().then((replaced) => { if (!replaced) entry(); });
          else entry();
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (code === 'ENOSPC' || code === 'EMFILE' || code === 'ENFILE') {
          status.unwatched++;
          status.limit = code;
          if (!warned) {
            warned = true;
            opts.log?.warn({ user: t.user, home: t.home, folder: rel, code, hint: limitHint(code) },
              `the system allows no more file watches (${code}): some folders of ${t.home} are not watched, so changes there are found by the periodic full rescan instead of at once`);
          }
          return false;
        }
        // Gone or unreadable since we listed it: the parent's watch sees it come back.
        opts.log?.debug({ user: t.user, folder: rel, err: (err as Error).message }, 'cannot watch folder');
        return true;
      }
      w.on('error', (err) => {
        opts.log?.debug({ user: t.user, folder: rel, err: err.message }, 'folder watch ended');
        if (dirs.get(rel)?.w === w) { w.close(); dirs.delete(rel); }
      });
      dirs.set(rel, { w, ino });
      return true;
    };

    /** Watches `rel` and the folders below it that can hold tracked files; returns the tracked files found (for `collect`). */
    const addTree = async (rel: string, ino: number, collect: string[] | null): Promise<void> => {
      const queue: Array<[string, number]> = [[rel, ino]];
      while (queue.length > 0 && !closed) {
        const batch = queue.splice(0, 16);
        await Promise.all(batch.map(async ([dir, dino]) => {
          if (dirs.has(dir) || !watchOne(dir, dino)) return;
          let entries;
          try { entries = await readdir(abs(dir), { withFileTypes: true }); } catch { return; }
          for (const e of entries) {
            if (isTempName(e.name)) continue;
            const r = dir ? `${dir}/${e.name}` : e.name;
            if (e.isDirectory()) {
              if (!t.matcher.shouldDescend(r)) continue;
              try { queue.push([r, (await lstat(abs(r))).ino]); } catch { /* gone */ }
            } else if (collect && t.matcher.isTracked(r)) collect.push(r);
          }
        }));
      }
    };

    /** One event on entry `name` of the watched folder `dir`. */
    const onEntry = async (dir: string, name: string): Promise<void> => {
      if (closed || isTempName(name)) return;
      const rel = dir ? `${dir}/${name}` : name;
      let st;
      try { st = await lstat(abs(rel)); } catch { st = null; }
      if (closed) return;
      const known = dirs.get(rel);
      if (st?.isDirectory()) {
        if (known && known.ino === st.ino) return; // a change inside is reported by its own watch
        if (known) drop(rel); // replaced by another folder under the same name
        if (!t.matcher.shouldDescend(rel)) return;
        const found: string[] = [];
        await addTree(rel, st.ino, found);
        // A folder that came back under an old name: what was known below it is looked at too.
        report(known ? [rel, ...found] : found);
        return;
      }
      if (known) drop(rel); // a folder went away (or became a file)
      if (known || t.matcher.isTracked(rel)) report([rel]);
    };

    /**
     * The home folder moved away, deleted or replaced by another folder under the same name: its
     * watches see nothing of the new one. Drops them all, asks for a look at the whole home, and
     * watches the new home once it exists (counted as unwatched meanwhile, so the rescan is on).
     * Returns true when the home was replaced or is gone.
     */
    let rootIno = -1;
    let homeGone = false;
    const checkHome = async (): Promise<boolean> => {
      if (closed) return true;
      if (homeGone) return true;
      let st;
      try { st = await lstat(t.home); } catch { st = null; }
      if (closed) return true;
      if (st?.isDirectory() && st.ino === rootIno) return false;
      homeGone = true;
      status.unwatched++;
      drop('');
      opts.log?.warn({ user: t.user, home: t.home }, 'the home folder was moved, deleted or replaced; watching it again once it is back');
      onChange(t.user, null);
      const again = async (): Promise<void> => {
        homeRetry.delete(t.user);
        if (closed) return;
        let now;
        try { now = await lstat(t.home); } catch { now = null; }
        if (closed) return;
        if (!now?.isDirectory()) {
          const timer = setTimeout(() => void again(), 1000);
          timer.unref();
          homeRetry.set(t.user, timer);
          return;
        }
        rootIno = now.ino;
        homeGone = false;
        status.unwatched--;
        await addTree('', now.ino, null);
        onChange(t.user, null);
      };
      await again();
      return true;
    };

    let root;
    try { root = await lstat(t.home); } catch (err) {
      opts.log?.warn({ user: t.user, home: t.home, err: (err as Error).message }, 'cannot watch the home folder; changes are found by the periodic rescan');
      status.unwatched++;
      return;
    }
    rootIno = root.ino;
    await addTree('', root.ino, null);
  }
}
