// An in-memory FileSystem (the port of engine/ports/FileSystem.ts) on memfs, for tests and the
// seeded simulation of the real engine (tests/proof/engineSim). Two things a plain memfs volume
// lacks, added here:
// - time: memfs stamps mtimes and ctimes with `new Date()`. Each call runs with `Date` bound to
//   the injected Clock, so file times follow the simulated (possibly skewed) machine clock and a
//   seed replays exactly.
// - faults: a `before(op, path)` hook runs ahead of every call (and of every call on an open
//   handle); it may throw (a crash of the process, ENOSPC or EIO at the k-th write).
// Calls run memfs's synchronous API inside async functions, so every call completes in a
// microtask: the simulation's scheduler sees each task park again after one turn of the loop.
// memfs writes are never torn (a crash between two calls leaves each call whole).
import type { Dirent, Stats } from 'node:fs';
import { Readable } from 'node:stream';
import { Volume } from 'memfs';
import type { FileHandle, FileSystem } from '../ports/FileSystem.js';
import type { Clock } from '../ports/Clock.js';

/** The kinds of call the hook sees. `write` kinds change the file system; the rest only read. */
export type FsOp =
  | 'lstat' | 'stat' | 'fstat' | 'readdir' | 'readFile' | 'readlink' | 'realpath' | 'open' | 'read' | 'createReadStream'
  | 'openWrite' | 'write' | 'chmod' | 'sync' | 'close' | 'mkdir' | 'rename' | 'rm' | 'rmdir' | 'unlink' | 'symlink';

const WRITE_OPS = new Set<FsOp>(['openWrite', 'write', 'chmod', 'sync', 'mkdir', 'rename', 'rm', 'rmdir', 'unlink', 'symlink']);

/** True for the calls that change the file system (where a crash or a full disk bites). */
export function isWriteOp(op: FsOp): boolean {
  return WRITE_OPS.has(op);
}

/** Runs before every call; throw to make the call fail (it then has no effect). */
export type FsHook = (op: FsOp, path: string) => void;

/** A FileSystem over one memfs volume. */
export interface MemoryFileSystem extends FileSystem {
  /** The memfs volume, for setting up and inspecting a home. */
  readonly vol: InstanceType<typeof Volume>;
  /** The fault hook (null: none). */
  before: FsHook | null;
  /** A view of the same volume whose calls first pass `hook` (then this file system's own hook). */
  withHook(hook: FsHook): FileSystem;
}

/** An errno-style error as node:fs throws it (for injected faults). */
export function errnoError(code: 'ENOSPC' | 'EIO' | 'EACCES' | 'ENOENT', op: string, path: string): NodeJS.ErrnoException {
  const text = { ENOSPC: 'no space left on device', EIO: 'i/o error', EACCES: 'permission denied', ENOENT: 'no such file or directory' }[code];
  return Object.assign(new Error(`${code}: ${text}, ${op} '${path}'`), { code, syscall: op, path });
}

const RealDate = Date;

/** Runs `fn` with `new Date()` and `Date.now()` reading `now` (memfs stamps file times that way). */
function atTime<T>(now: () => number, fn: () => T): T {
  const t = now();
  class FixedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(t);
      else super(...(args as [string]));
    }
    static override now(): number { return t; }
  }
  globalThis.Date = FixedDate as DateConstructor;
  try {
    return fn();
  } finally {
    globalThis.Date = RealDate;
  }
}

const WRITE_FLAGS = /[wa+]/;

/** Creates an in-memory FileSystem; `clock` stamps file times (default: the system clock). */
export function createMemoryFileSystem(opts: { clock?: Clock; files?: Record<string, string | null> } = {}): MemoryFileSystem {
  const vol = Volume.fromJSON(opts.files ?? {}, '/');
  const now = opts.clock ? () => opts.clock!.now() : () => RealDate.now();
  const run = <T>(fn: () => T): T => atTime(now, fn);

  const build = (hook: () => FsHook | null): FileSystem => {
    const check = (op: FsOp, path: string): void => { hook()?.(op, path); };
    /** An async call: the hook, then the synchronous memfs call under the simulated time. */
    const call = <T>(op: FsOp, path: string, fn: () => T): Promise<T> => {
      try {
        check(op, path);
        return Promise.resolve(run(fn));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    const handle = (path: string, fd: number): FileHandle => {
      let closed = false;
      const onFd = <T>(op: FsOp, fn: () => T): Promise<T> => (closed ? Promise.reject(errnoError('EIO', op, path)) : call(op, path, fn));
      return {
        read: (buf, offset, length, position) => onFd('read', () => ({ bytesRead: vol.readSync(fd, buf, offset, length, position) })),
        write: (data) => onFd('write', () => vol.writeSync(fd, data)),
        writeFile: (data) => onFd('write', () => { vol.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data); }),
        chmod: (mode) => onFd('chmod', () => vol.fchmodSync(fd, mode)),
        sync: () => onFd('sync', () => vol.fsyncSync(fd)),
        close: () => {
          if (closed) return Promise.resolve();
          // Closing never fails on a crash hook: the descriptor is released either way.
          closed = true;
          vol.closeSync(fd);
          return Promise.resolve();
        },
      };
    };
    return {
      lstat: (p) => call('lstat', p, () => vol.lstatSync(p) as unknown as Stats),
      stat: (p) => call('stat', p, () => vol.statSync(p) as unknown as Stats),
      readdir: (p) => call('readdir', p, () => vol.readdirSync(p) as string[]),
      readdirTypes: (p) => call('readdir', p, () => vol.readdirSync(p, { withFileTypes: true }) as unknown as Dirent[]),
      readFile: (p) => call('readFile', p, () => vol.readFileSync(p) as Buffer),
      readlink: (p) => call('readlink', p, () => String(vol.readlinkSync(p))),
      realpath: (p) => call('realpath', p, () => String(vol.realpathSync(p))),
      open: (p, flags, mode) => {
        const writes = typeof flags === 'string' ? WRITE_FLAGS.test(flags) : (flags & 3) !== 0;
        return call(writes ? 'openWrite' : 'open', p, () => handle(p, vol.openSync(p, flags, mode)));
      },
      mkdir: (p, o) => call('mkdir', p, () => vol.mkdirSync(p, o)),
      rename: (a, b) => call('rename', a, () => vol.renameSync(a, b)),
      rm: (p, o) => call('rm', p, () => vol.rmSync(p, o)),
      rmdir: (p) => call('rmdir', p, () => vol.rmdirSync(p)),
      unlink: (p) => call('unlink', p, () => vol.unlinkSync(p)),
      symlink: (target, p) => call('symlink', p, () => vol.symlinkSync(target, p)),
      createReadStream: (p, o) => {
        const size = o?.highWaterMark ?? 64 * 1024;
        // Read when first pulled, like a real stream: the hook runs then, and errors surface on the stream.
        return Readable.from((async function* () {
          const data = await call('createReadStream', p, () => vol.readFileSync(p) as Buffer);
          for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
        })(), { objectMode: false });
      },
      readdirTypesSync: (p) => { check('readdir', p); return run(() => vol.readdirSync(p, { withFileTypes: true }) as unknown as Dirent[]); },
      lstatSync: (p) => { check('lstat', p); return run(() => vol.lstatSync(p) as unknown as Stats); },
      statSync: (p) => { check('stat', p); return run(() => vol.statSync(p) as unknown as Stats); },
      readFileSync: (p) => { check('readFile', p); return run(() => vol.readFileSync(p) as Buffer); },
      readlinkSync: (p) => { check('readlink', p); return run(() => String(vol.readlinkSync(p))); },
      openSync: (p, flags) => { check(WRITE_FLAGS.test(flags) ? 'openWrite' : 'open', p); return run(() => vol.openSync(p, flags)); },
      readSync: (fd, buf, offset, length, position) => { check('read', `fd ${fd}`); return run(() => vol.readSync(fd, buf, offset, length, position)); },
      fstatSync: (fd) => { check('fstat', `fd ${fd}`); return run(() => vol.fstatSync(fd) as unknown as Stats); },
      closeSync: (fd) => vol.closeSync(fd),
    };
  };

  const self = build(() => mfs.before) as MemoryFileSystem;
  const mfs = Object.assign(self, {
    vol,
    before: null as FsHook | null,
    withHook(hook: FsHook): FileSystem {
      return build(() => (op, path) => { hook(op, path); mfs.before?.(op, path); });
    },
  });
  return mfs;
}
