// The Watcher port: tells the engine that something changed under a user's home.
import type { TrackMatcher } from '../../shared/patterns/index.js';

/** One home to watch. */
export interface WatchTarget { user: string; home: string; matcher: TrackMatcher }

/** How much of the homes a Watcher covers. */
export interface WatchStatus {
  /** Folders watched. */
  folders: number;
  /** Folders (with what is below them) the system had no watch left for: only the periodic rescan sees changes there. */
  unwatched: number;
  /** The error that stopped further watches (ENOSPC: inotify's max_user_watches; EMFILE/ENFILE: open files). */
  limit?: string;
}

/** Watches homes and reports changed tracked paths (batched and debounced by the adapter). */
export interface Watcher {
  /** `onChange(user, null)` asks for a look at the whole home (the home folder itself was replaced). */
  start(targets: WatchTarget[], onChange: (user: string, paths: string[] | null) => void): Promise<void>;
  /** What the watcher covers once started (adapters that cannot tell leave it out). */
  status?(): WatchStatus;
  close(): Promise<void>;
}

/** A Watcher fake: tests call `emit` to simulate a change. */
export interface MemoryWatcher extends Watcher { emit(user: string, paths: string[] | null): void; readonly started: boolean }

/** Creates a MemoryWatcher. */
export function createMemoryWatcher(): MemoryWatcher {
  let cb: ((user: string, paths: string[] | null) => void) | undefined;
  const w: MemoryWatcher = {
    started: false,
    async start(_t, onChange) { cb = onChange; (w as { started: boolean }).started = true; },
    async close() { cb = undefined; (w as { started: boolean }).started = false; },
    emit(user, paths) { cb?.(user, paths); },
  };
  return w;
}
