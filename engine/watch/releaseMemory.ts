// A long-running watcher gives memory back after a run that grew the heap. A full run over
// 100,000 files allocates a few hundred MB of short-lived objects (walk entries, stat results,
// plan actions, the state it saves); V8 keeps the pages it grew into until its next major GC,
// and a watching engine is mostly idle, so that GC may not come for a long time: the process
// then sits near its peak RSS. One full GC right after such a run returns those pages to the
// system (about 0.1 s of CPU per 100 MB live); runs that grew the heap little cost nothing.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null | undefined;
/** The heap's committed size right after the last collection made here. */
let after = 0;

/** Runs a full, compacting GC; false when this runtime offers none (nothing happens then). */
export function releaseMemory(): boolean {
  if (gc === undefined) {
    gc = (globalThis as { gc?: () => void }).gc ?? null;
    if (!gc) {
      try {
        // --expose-gc set at run time only exposes `gc` to contexts made afterwards: take it from a fresh one.
        setFlagsFromString('--expose-gc');
        gc = runInNewContext('gc') as () => void;
      } catch {
        gc = null;
      }
    }
  }
  if (!gc) return false;
  gc();
  after = getHeapStatistics().total_heap_size;
  return true;
}

/** Runs releaseMemory when the heap has grown by more than `bytes` (default 24 MB) since the last one; true when it ran. */
export function releaseMemoryIfGrown(bytes = 24 << 20): boolean {
  return getHeapStatistics().total_heap_size - after > bytes ? releaseMemory() : false;
}
