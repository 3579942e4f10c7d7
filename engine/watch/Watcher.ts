// The Watcher port: tells the engine that something changed under a user's home.
import type { TrackMatcher } from '../../shared/patterns/index.js';

/** One home to watch. */
export interface WatchTarget { user: string; home: string; matcher: TrackMatcher }

/** Watches homes and reports changed tracked paths (batched and debounced by the adapter). */
export interface Watcher {
  start(targets: WatchTarget[], onChange: (user: string, paths: string[]) => void): Promise<void>;
  close(): Promise<void>;
}

/** A Watcher fake: tests call `emit` to simulate a change. */
export interface MemoryWatcher extends Watcher { emit(user: string, paths: string[]): void; readonly started: boolean }

/** Creates a MemoryWatcher. */
export function createMemoryWatcher(): MemoryWatcher {
  let cb: ((user: string, paths: string[]) => void) | undefined;
  const w: MemoryWatcher = {
    started: false,
    async start(_t, onChange) { cb = onChange; (w as { started: boolean }).started = true; },
    async close() { cb = undefined; (w as { started: boolean }).started = false; },
    emit(user, paths) { cb?.(user, paths); },
  };
  return w;
}
