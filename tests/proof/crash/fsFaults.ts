// Named crash points and I/O faults without touching the code under test: every mutating step a
// process takes under `root` (open for write, write, fsync, chmod, rename, unlink, rm, mkdir …)
// goes through this interposer, which can list the steps, SIGKILL the process just before step k
// (a crash point), or fail step k with ENOSPC or EIO. It patches node:fs/promises and FileHandle
// and re-syncs the ESM bindings, so modules that imported `rename` by name see it too.
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { relative, resolve } from 'node:path';
import type * as FsModule from 'node:fs';

type Kind = 'crash' | 'ENOSPC' | 'EIO';

/** Controls the interposer. */
export interface FsFaults {
  /** Steps seen since the last arm (names like `rename tmp/ab… -> blobs/ab/…`). */
  readonly steps: string[];
  /** Starts counting steps under `root`; at step `at` (1-based) crash or fail. at = 0 only records. */
  arm(opts: { root: string; at: number; kind: Kind; once?: boolean }): void;
  disarm(): void;
}

const require = createRequire(import.meta.url);
let installed: FsFaults | null = null;

/** Installs the interposer in this process (idempotent). */
export async function installFsFaults(): Promise<FsFaults> {
  if (installed) return installed;
  const fs = require('node:fs') as typeof FsModule;
  const fsp = fs.promises as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  let root: string | null = null;
  let at = 0;
  let kind: Kind = 'crash';
  let once = true;
  let n = 0;
  const steps: string[] = [];
  const paths = new WeakMap<object, string>();
  const rel = (p: unknown): string | null => {
    if (root === null || (typeof p !== 'string' && !(p instanceof URL))) return null;
    const abs = resolve(String(p instanceof URL ? p.pathname : p));
    const r = relative(root, abs);
    return r.startsWith('..') ? null : r || '.';
  };
  const step = (name: string): void => {
    n++;
    steps.push(name);
    if (at === 0 || n !== at) return;
    if (kind === 'crash') {
      process.stderr.write(`crash point ${n}: ${name}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    if (once) at = 0;
    const err = new Error(`${kind}: injected at step ${n} (${name})`) as NodeJS.ErrnoException;
    err.code = kind;
    err.errno = kind === 'ENOSPC' ? -28 : -5;
    throw err;
  };
  const isWrite = (flags: unknown): boolean => {
    if (flags === undefined) return false;
    if (typeof flags === 'number') return (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT)) !== 0;
    return /[wa+]/.test(String(flags));
  };
  const wrap = (name: string, pick: (a: unknown[]) => string | null): void => {
    const orig = fsp[name]!;
    fsp[name] = async function patched(...a: unknown[]) {
      const label = pick(a);
      if (label !== null) step(label);
      return orig.apply(this, a);
    };
  };
  const one = (op: string) => (a: unknown[]) => { const r = rel(a[0]); return r === null ? null : `${op} ${r}`; };
  const origOpen = fsp.open!;
  fsp.open = async function patchedOpen(...a: unknown[]) {
    const r = rel(a[0]);
    if (r !== null && isWrite(a[1])) step(`open ${r}`);
    const fh = (await origOpen.apply(this, a)) as object;
    if (typeof a[0] === 'string') paths.set(fh, resolve(a[0]));
    return fh;
  };
  wrap('rename', (a) => { const x = rel(a[0]); const y = rel(a[1]); return x === null && y === null ? null : `rename ${x} -> ${y}`; });
  for (const op of ['rm', 'unlink', 'mkdir', 'rmdir', 'writeFile', 'appendFile', 'truncate', 'utimes', 'chmod', 'symlink', 'copyFile', 'link']) {
    if (fsp[op]) wrap(op, op === 'symlink' || op === 'link' ? (a) => { const r = rel(a[1]); return r === null ? null : `${op} ${r}`; } : one(op));
  }
  // FileHandle methods: find the class from a real handle.
  const probe = (await origOpen(process.execPath, 'r')) as { close(): Promise<void> };
  const proto = Object.getPrototypeOf(probe) as Record<string, (...a: unknown[]) => Promise<unknown>>;
  await probe.close();
  for (const op of ['write', 'writev', 'writeFile', 'appendFile', 'sync', 'datasync', 'chmod', 'truncate']) {
    const orig = proto[op];
    if (!orig) continue;
    proto[op] = function patched(this: object, ...a: unknown[]) {
      const abs = paths.get(this);
      const r = abs === undefined ? null : rel(abs);
      if (r !== null) {
        try { step(`${op} ${r}`); } catch (err) { return Promise.reject(err); }
      }
      return orig.apply(this, a);
    };
  }
  syncBuiltinESMExports();
  installed = {
    steps,
    arm(o) { root = resolve(o.root); at = o.at; kind = o.kind; once = o.once ?? true; n = 0; steps.length = 0; },
    disarm() { root = null; at = 0; },
  };
  return installed;
}
