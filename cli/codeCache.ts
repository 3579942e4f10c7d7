// dist/boot.cjs: runs the CommonJS build of the CLI (dist/cli.cjs) with a V8 code cache, so a
// one-shot `dman` does not parse and compile ~2 MB of JavaScript on every start (Node 20 has no
// module.enableCompileCache, and ESM modules take no cached data). node: imports only (and engine/fs/readOwned.ts and engine/util/v8Flags.ts, which have only those).
//
// The cache is one file per bundle and Node build under the user's cache dir
// (`$XDG_CACHE_HOME/dman/v8/`, `~/Library/Caches/dman/v8/`, `%LOCALAPPDATA%\dman\Cache\v8\`):
// a header (magic, the key: sha256 of the bundle, node version, arch and V8 version; sha256 of the
// rest), the commands whose runs made it, and V8's cached data. A missing, short, corrupt, foreign
// or rejected cache is ignored and written again when the process exits (temp file + rename, so a
// reader never sees half of one). V8 checks only the source's length, so the key must name the
// bundle's bytes.
//
// V8's data holds the functions compiled when it was made: the first command after an install
// (often `dman init` or `dman status`) would leave every later `dman sync` compiling the engine
// again (~30 ms of CPU per run). So a run of a command the cache has not seen writes it again at
// exit, with what that command compiled added; after each command ran once, no run writes.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, renameSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import { readOwnedFile } from '../engine/fs/readOwned.js';
import { restoreV8Flags } from '../engine/util/v8Flags.js';
import { notedCommand } from './codeCacheCommand.js';

const MAGIC = Buffer.from('DMANV8C2', 'latin1');
/** Magic, key, checksum, and the byte length of the command list. */
const HEADER = MAGIC.length + 32 + 32 + 2;
/** Commands a cache lists at most (dman has fewer): past that, no run writes it again. */
const MAX_COMMANDS = 64;

type Env = Readonly<Record<string, string | undefined>>;

/** The folder the code caches live in (env-paths' cache dir for "dman", plus v8/). */
export function codeCacheDir(env: Env = process.env, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'dman', 'v8');
  if (platform === 'win32') return join(env.LOCALAPPDATA || join(home, 'AppData', 'Local'), 'dman', 'Cache', 'v8');
  return join(env.XDG_CACHE_HOME || join(home, '.cache'), 'dman', 'v8');
}

/** Whether this Node can run the CommonJS bundle: require() of ESM-only packages (chokidar) needs Node ≥ 20.19. */
export function canRunCjsBundle(): boolean {
  return (process.features as { require_module?: boolean }).require_module === true;
}

/**
 * The bundle's dynamic import() of external packages (the wizard's prompts, the store drivers),
 * rewritten by the build to call this: an import() inside a vm.Script needs
 * importModuleDynamically, which on Node 20 is experimental (a warning on use) and is lost when
 * the script comes from cached data ("A dynamic import callback was not specified"). Resolved
 * from this file, which sits beside the bundle.
 */
const dynamicImport = (spec: string): Promise<unknown> => import(spec);

/** The cache key of a bundle's bytes on this Node build. */
export function cacheKey(bundle: Buffer): Buffer {
  return createHash('sha256').update(bundle).update(`\0${process.version}\0${process.arch}\0${process.versions.v8}`).digest();
}

/** The cache file for a key. */
export function cacheFileFor(dir: string, key: Buffer): string {
  return join(dir, `cli-${key.toString('hex').slice(0, 24)}.bin`);
}

/** A cache read back: V8's data and the commands whose runs compiled what it holds. */
export interface CodeCache {
  data: Buffer;
  commands: string[];
}

/** The cache in `file` when it is whole and made for `key`; undefined otherwise (never throws). */
export function readCodeCache(file: string, key: Buffer): CodeCache | undefined {
  // V8 runs cached data as it is: only a file no other user could have written is trusted
  // (root under sudo with the user's HOME must not run bytecode the user put there).
  const buf = readOwnedFile(file);
  if (buf === undefined) return undefined;
  if (buf.length <= HEADER || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  if (!buf.subarray(MAGIC.length, MAGIC.length + 32).equals(key)) return undefined;
  const rest = buf.subarray(MAGIC.length + 64);
  const sum = createHash('sha256').update(rest).digest();
  if (!sum.equals(buf.subarray(MAGIC.length + 32, MAGIC.length + 64))) return undefined;
  const listed = rest.readUInt16LE(0);
  if (HEADER + listed >= buf.length) return undefined;
  const text = rest.subarray(2, 2 + listed).toString('latin1');
  return { data: buf.subarray(HEADER + listed), commands: text === '' ? [] : text.split('\n') };
}

/** Writes `data` as the cache for `key`, made by runs of `commands` (temp file + rename), and drops the dir's other caches; false when it could not. */
export function writeCodeCache(file: string, key: Buffer, data: Buffer, commands: readonly string[] = []): boolean {
  const dir = dirname(file);
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const list = Buffer.from(commands.join('\n'), 'latin1');
    const length = Buffer.alloc(2);
    length.writeUInt16LE(list.length);
    const rest = Buffer.concat([length, list, data]);
    const sum = createHash('sha256').update(rest).digest();
    writeFileSync(tmp, Buffer.concat([MAGIC, key, sum, rest]), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    try { rmSync(tmp, { force: true }); } catch { /* the folder is not there either */ }
    return false;
  }
  // Caches of other builds (and temp files of processes that died while writing) go: one file per install at a time.
  try {
    const mine = file.slice(dir.length + 1);
    for (const f of readdirSync(dir)) if (f !== mine && f.startsWith('cli-') && !f.startsWith(`${mine}.`)) rmSync(join(dir, f), { force: true });
  } catch { /* best effort */ }
  return true;
}

/** What prepareCjsBundle found: run() evaluates the bundle (its errors are the CLI's own). */
export interface PreparedBundle {
  /** Whether V8 took a cached compile. */
  cached: boolean;
  run(): void;
  /** Writes the cache from what V8 compiled so far, listing `command` (noted by the CLI) too. */
  saveCache(command?: string): boolean;
  /**
   * What runs at exit (unless saveAtExit is false): writes the cache when there was none to use, or
   * when `command` is not among those it lists; false when it wrote nothing.
   */
  finish(command?: string): boolean;
}

/** Options of prepareCjsBundle. */
export interface PrepareOptions {
  /** Where the caches live (default codeCacheDir()). */
  cacheDir?: string;
  /** Call finish() with the noted command when the process exits (default true; tests call it themselves). */
  saveAtExit?: boolean;
}

/**
 * Compiles `bundleFile` (a CommonJS bundle, ASCII as esbuild writes it) with the code cache of
 * `cacheDir`, and arranges for the cache to be written at exit when there was none (or V8
 * rejected it) or when the command the CLI noted is not among those it lists, after the run, so
 * it holds the functions the command compiled. Returns null when the bundle cannot be read or
 * compiled: the caller then loads the ESM build.
 */
export function prepareCjsBundle(bundleFile: string, opts: PrepareOptions = {}): PreparedBundle | null {
  let script: vm.Script;
  let file: string;
  let key: Buffer;
  let got: CodeCache | undefined;
  try {
    const bytes = readFileSync(bundleFile);
    key = cacheKey(bytes);
    file = cacheFileFor(opts.cacheDir ?? codeCacheDir(), key);
    got = readCodeCache(file, key);
    const wrapped = `(function (exports, require, module, __filename, __dirname, __dimp) {${bytes.toString('latin1')}\n})`;
    script = new vm.Script(wrapped, { filename: bundleFile, ...(got ? { cachedData: got.data } : {}) });
  } catch {
    return null;
  }
  const cached = got !== undefined && script.cachedDataRejected !== true;
  const known = cached ? got!.commands : [];
  const saveCache = (command?: string): boolean => {
    try {
      // V8's data carries its flag hash, which a start must match: flags the engine set (GC
      // tuning, engine/util/v8Flags.ts) go back to their defaults first.
      restoreV8Flags();
      // V8's data covers every function compiled so far: those the cache held and this run's.
      return writeCodeCache(file, key, script.createCachedData(), command === undefined || known.includes(command) ? known : [...known, command]);
    } catch {
      return false; // a cache is never worth a failed exit
    }
  };
  const finish = (command?: string): boolean => {
    if (cached && (command === undefined || known.includes(command) || known.length >= MAX_COMMANDS)) return false;
    return saveCache(command);
  };
  if (opts.saveAtExit !== false) process.once('exit', () => { finish(notedCommand()); });
  return {
    cached,
    saveCache,
    finish,
    run() {
      const fn = script.runInThisContext() as (e: object, r: NodeJS.Require, m: object, f: string, d: string, i: typeof dynamicImport) => void;
      const module = { exports: {} };
      fn.call(module.exports, module.exports, createRequire(bundleFile), module, bundleFile, dirname(bundleFile), dynamicImport);
    },
  };
}
