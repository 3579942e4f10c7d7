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

/** Runs releaseMemory when the heap has grown by more than `bytes` (default 24 MB) since the last one; true when it ran. */
export function releaseMemoryIfGrown(bytes = 24 << 20): boolean {
  return loadV8().getHeapStatistics().total_heap_size - after > bytes ? releaseMemory() : false;
}

/**
 * Keeps V8's young generation at its starting size (two 1 MB semi-spaces) instead of letting a
 * load or a full run grow it to 16 MB each, which a mostly idle watcher then keeps as RSS
 * (40 to 75 MB at 100,000 files; issue 10). `--max-semi-space-size` only counts at start-up;
 * the growth factor is read whenever the young generation would grow, so setting it early (before
 * the state loads) has the same effect. A semi-space flag given to node (NODE_OPTIONS, the
 * command line) wins. Costs more, smaller scavenges: a little CPU in a full run.
 */
export function keepYoungGenerationSmall(): void {
  if (/semi-space/.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`)) return;
  setV8Flag('--semi-space-growth-factor=1', '--semi-space-growth-factor=2');
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
