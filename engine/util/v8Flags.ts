// V8 flags the engine sets while it runs (GC tuning for a watcher, a large home). A flag changes
// V8's flag hash, which a code cache must match: the CLI's cache (cli/codeCache.ts), written at
// exit, would carry the changed hash and every later start, which runs without the flag, would
// refuse it and compile the CLI afresh. So each flag is set with the one that undoes it, and the
// cache puts them back (restoreV8Flags) before it is written.
import type * as V8 from 'node:v8';

// node:v8 loads on first use (~5 ms of start-up a one-shot `dman sync` of a small home need not pay).
let v8: typeof V8 | undefined;
/** node:v8, loaded on first use. */
export const loadV8 = (): typeof V8 => (v8 ??= process.getBuiltinModule('node:v8'));

/** Per flag name: the value set last and the flag that puts V8's default back; shared by every copy of this module (boot.cjs and the CLI bundle each have one). */
const UNDO = Symbol.for('dman.v8FlagUndo');
interface Setting { flag: string; undo: string }
const settings = (): Map<string, Setting> => {
  const slot = process as unknown as Record<symbol, Map<string, Setting> | undefined>;
  return (slot[UNDO] ??= new Map());
};

/** A flag's name: `--no-x`, `--x` and `--x=5` all set x. */
const nameOf = (flag: string): string => flag.replace(/^--(no-)?/, '').replace(/=.*$/, '').replace(/_/g, '-');

/**
 * Sets a V8 flag and remembers `undo`, the flag that puts V8's default back. Setting a flag to
 * the value it has from here costs nothing; setting it to another value keeps the first undo
 * (the default). V8 takes any text here: a flag it does not know is reported on stderr and
 * changes nothing.
 */
export function setV8Flag(flag: string, undo: string): void {
  const set = settings(), name = nameOf(flag);
  const had = set.get(name);
  if (had?.flag === flag) return;
  loadV8().setFlagsFromString(flag);
  set.set(name, { flag, undo: had?.undo ?? undo });
}

/** Puts back V8's defaults of the flags setV8Flag set (for a code cache written at exit); the flags' effects end there. */
export function restoreV8Flags(): void {
  const set = (process as unknown as Record<symbol, Map<string, Setting> | undefined>)[UNDO];
  if (!set || set.size === 0) return;
  for (const { undo } of [...set.values()].reverse()) {
    try { loadV8().setFlagsFromString(undo); } catch { /* nothing to put back */ }
  }
  set.clear();
}
