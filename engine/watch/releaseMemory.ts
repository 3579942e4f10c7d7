// A long-running watcher gives memory back after a run that grew the heap. A full run over
// 100,000 files allocates a few hundred MB of short-lived objects (walk entries, stat results,
// plan actions, the state it saves); V8 keeps the pages it grew into until its next major GC,
// and a watching engine is mostly idle, so that GC may not come for a long time: the process
// then sits near its peak RSS. One full GC right after such a run returns those pages to the
// system (about 0.1 s of CPU per 100 MB live); runs that grew the heap little cost nothing.
import { runInNewContext } from 'node:vm';
import { loadV8, setV8Flag } from '../util/v8Flags.js';

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
        setV8Flag('--expose-gc', '--no-expose-gc');
        gc = runInNewContext('gc') as () => void;
      } catch {
        gc = null;
      }
    }
  }
  if (!gc) return false;
  gc();
  after = loadV8().getHeapStatistics().total_heap_size;
  return true;
}

/**
 * Runs releaseMemory when the heap has grown by more than `bytes` (default 8 MB) since the last
 * one; true when it ran. At 24 MB a watcher of 100,000 files whose first full run was still going
 * when saves came in climbed from 140 to 157 MB over 30 saves (the run's leftovers and each
 * scoped run's stayed below the threshold); at 8 MB it stayed at 141-144 MB, with the same
 * save-to-other-machine latency (median 63 ms, p95 73 ms, by hand): a scoped run grows the heap
 * by less, so a quiet watcher still collects only after the runs that made garbage.
 */
export function releaseMemoryIfGrown(bytes = 8 << 20): boolean {
  return loadV8().getHeapStatistics().total_heap_size - after > bytes ? releaseMemory() : false;
}

/**
 * For a loop that leaves old-generation garbage behind (a large publish's commit chunks): each
 * call runs releaseMemory once the heap grew by more than `bytes` since the collector was made or
 * since its last collection; true when it ran. Its baseline is its own, so the first call of a
 * one-shot process (whose heap grew from nothing to what it holds) does not collect for nothing.
 */
export function growthCollector(bytes: number): () => boolean {
  const size = (): number => loadV8().getHeapStatistics().total_heap_size;
  let mark = size();
  return () => {
    if (size() - mark <= bytes) return false;
    const ran = releaseMemory();
    mark = size();
    return ran;
  };
}

/** From how many files a walk counts as a large home's: avoidPretenuring pays off there. */
export const LARGE_HOME_FILES = 20_000;

/**
 * Turns off V8's allocation-site pretenuring for the rest of the process. A walk makes an
 * fs.Stats per file (about 0.8 KB with its four Dates); once V8 has seen enough of them survive a
 * scavenge (the slice in hand, the state loading meanwhile), it allocates them straight into the
 * old generation, where they stay as garbage until a major GC. A one-shot `dman sync` of 100,000
 * files peaked at 231 MB of RSS in 1.45 s with pretenuring and at 157 MB in 1.23 s without. A small
 * home gains nothing and would pay for loading node:v8, so the engine turns it off only from
 * LARGE_HOME_FILES files on.
 */
export function avoidPretenuring(): void {
  setV8Flag('--no-allocation-site-pretenuring', '--allocation-site-pretenuring');
}
