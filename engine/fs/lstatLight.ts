// A blocking lstat without node's fs.Stats, for the walk's one lstat per tracked file.
//
// Node 20 builds an fs.Stats for every lstatSync: eighteen fields and four Date objects, most of
// which the walk never reads, and all of which the next scavenge must look at. The walk needs six
// numbers. Node's own fs binding (`process.binding('fs')`, the call lstatSync itself makes) answers
// with all the numbers in a Float64Array; lstatLight copies the six into a small object. A one-shot
// no-op `dman sync` walked a 10,000-file home in 122 ms instead of 147 (medians of 20 paired
// rounds), and ran over a 100,000-file home in 1.09 s instead of 1.34 (docs/benchmarks.md).
// An engine fed by a fake file system (tests, the simulation) hands its own stats instead.
//
// The binding is not a public API, so it is used only after a self-check, on this process's first
// call: lstatSync's own source must call the binding the way lstatLight does (path, bigint,
// undefined, throwIfNoEntry: the binding then throws lstatSync's errors itself; older Nodes passed
// an error context there instead), and the binding must give lstatSync's answers for a folder, a
// file and a missing path (the same numbers, the same error code). Any difference, a missing
// binding, Windows (where lstatSync also rewrites the path), the permission model, or
// `--pending-deprecation` (under which process.binding warns) and it is plain lstatSync, as before.
// Paths with a NUL byte go to lstatSync too, which rejects them (the binding would cut them short).
import { lstatSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the walk and the scan read of an lstat: fs.Stats has all of it, and so does lstatLight's answer. */
export type StatLike = Pick<Stats, 'dev' | 'ino' | 'mode' | 'size' | 'mtimeMs' | 'ctimeMs' | 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isSocket' | 'isFIFO'>;

/** The binding call lstatSync makes, as (path, false, undefined, true): the stat numbers in uv_stat_t's order. */
type BindingLstat = (path: string) => Float64Array;

/** How lstatSync calls the binding in Node 20.20 (checked here); a Node whose lstatSync reads otherwise gets plain lstatSync. */
const CALLS_BINDING_AS_WE_DO = /binding\.lstat\(\s*[^,]+,\s*options\.bigint,\s*undefined,\s*options\.throwIfNoEntry,?\s*\)/;

const S_IFMT = 0o170000;

/** Node's msFromTimeSpec: the same arithmetic, so a time matches the one an fs.Stats of the same file holds to the last bit. */
const ms = (sec: number, nsec: number): number => sec * 1000 + nsec / 1_000_000;

class LightStats implements StatLike {
  readonly dev: number;
  readonly ino: number;
  readonly mode: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  constructor(a: Float64Array) {
    // uv_stat_t as node's binding fills it: dev, mode, nlink, uid, gid, rdev, blksize, ino, size,
    // blocks, then atime, mtime, ctime and birthtime as (seconds, nanoseconds) pairs.
    this.dev = a[0]!;
    this.mode = a[1]!;
    this.ino = a[7]!;
    this.size = a[8]!;
    this.mtimeMs = ms(a[12]!, a[13]!);
    this.ctimeMs = ms(a[14]!, a[15]!);
  }
  isFile(): boolean { return (this.mode & S_IFMT) === 0o100000; }
  isDirectory(): boolean { return (this.mode & S_IFMT) === 0o040000; }
  isSymbolicLink(): boolean { return (this.mode & S_IFMT) === 0o120000; }
  isSocket(): boolean { return (this.mode & S_IFMT) === 0o140000; }
  isFIFO(): boolean { return (this.mode & S_IFMT) === 0o010000; }
}

/** The fields a self-check compares. */
const FIELDS = ['dev', 'ino', 'mode', 'size', 'mtimeMs', 'ctimeMs'] as const;
const TYPES = ['isFile', 'isDirectory', 'isSymbolicLink', 'isSocket', 'isFIFO'] as const;

const errCode = (fn: () => unknown): string | null => {
  try {
    fn();
    return null;
  } catch (err) {
    return String((err as NodeJS.ErrnoException).code ?? 'no code');
  }
};

/**
 * Returns an lstat built on `binding` when it gives the same answers as lstatSync for `probes`
 * (each an existing path) and for a path that does not exist; null otherwise. Exported for tests,
 * which hand it bindings that answer wrongly.
 */
export function checkedLightLstat(binding: BindingLstat | undefined, probes: string[], missing: string): ((abs: string) => StatLike) | null {
  if (typeof binding !== 'function') return null;
  const light = (abs: string): StatLike => new LightStats(binding(abs));
  try {
    for (const p of probes) {
      const want = lstatSync(p);
      const got = light(p);
      if (!FIELDS.every((f) => got[f] === want[f])) return null;
      if (TYPES.some((t) => got[t]() !== want[t]())) return null;
    }
    const wantErr = errCode(() => lstatSync(missing));
    if (wantErr === null || errCode(() => light(missing)) !== wantErr) return null;
  } catch {
    return null;
  }
  return light;
}

const plain = (abs: string): StatLike => lstatSync(abs);

let chosen: ((abs: string) => StatLike) | undefined;
let chosenWay: 'binding' | 'lstatSync' = 'lstatSync';

function choose(): (abs: string) => StatLike {
  if (process.platform === 'win32') return plain;
  const opts = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  if (opts.includes('--pending-deprecation') || opts.includes('--throw-deprecation')) return plain;
  if ((process as { permission?: unknown }).permission !== undefined) return plain;
  if (!CALLS_BINDING_AS_WE_DO.test(Function.prototype.toString.call(lstatSync))) return plain;
  let binding: BindingLstat | undefined;
  try {
    const fsb = (process as unknown as { binding?: (name: string) => { lstat?: unknown } }).binding?.('fs');
    if (typeof fsb?.lstat === 'function') {
      const call = fsb.lstat as (path: string, bigint: false, req: undefined, throwIfNoEntry: true) => Float64Array;
      binding = (path) => call.call(fsb, path, false, undefined, true);
    }
  } catch {
    binding = undefined;
  }
  const fast = checkedLightLstat(binding, [tmpdir(), process.execPath], join(tmpdir(), `dman-no-such-file-${process.pid}-${Date.now()}`));
  if (!fast) return plain;
  chosenWay = 'binding';
  return (abs) => (abs.includes('\0') ? plain(abs) : fast(abs));
}

/** Which way lstatLight answers in this process: through node's fs binding, or lstatSync (the self-check said no). */
export function lstatLightWay(): 'binding' | 'lstatSync' {
  chosen ??= choose();
  return chosenWay;
}

/** lstatSync's answer for what the walk reads: through node's fs binding after a self-check, else lstatSync itself. Throws as lstatSync does. */
export function lstatLight(abs: string): StatLike {
  chosen ??= choose();
  return chosen(abs);
}
