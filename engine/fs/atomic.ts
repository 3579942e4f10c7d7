// Crash-safe writes (STYLE.md rule 6): temp file in the same directory, fsync, rename over the
// target, fsync of the directory. A reader sees the old content or the new one, never a torn file.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { nodeFileSystem, type FileHandle, type FileSystem } from '../ports/FileSystem.js';

export interface AtomicWriteOptions {
  /** Permission bits of the new file (default 0o644; 0o600 for secrets). */
  mode?: number;
  /** Create missing parent directories (default true). */
  mkdirs?: boolean;
  /** Skip the fsyncs (tests of speed only; never for data we own). */
  noSync?: boolean;
  /** File-system calls (default node:fs). */
  fs?: FileSystem;
  /** Runs once the temp file is durable, right before the rename; a throw keeps the target as it is. */
  beforeRename?: () => Promise<void>;
}

/** A random start and a counter: unique names without a random draw per file (an install makes thousands). */
let tempSeq = randomBytes(4).readUInt32BE(0);

/** Returns a temp path beside `target` that cleanup code can recognise. */
export function tempPathFor(target: string): string {
  tempSeq = (tempSeq + 1) >>> 0;
  return join(dirname(target), `.${basename(target)}.dman-tmp-${process.pid}-${tempSeq.toString(16).padStart(8, '0')}`);
}

/** The end of every name tempPathFor gives: the writer's pid (captured) and a sequence number. */
const TEMP_NAME = /\.dman-tmp-(\d+)-[0-9a-f]{8}$/;

/** Returns true when `name` is one of our temp files (left behind by a crash). */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** The pid of the process that wrote one of our temp files (from its name), or null for any other name. */
export function tempOwner(name: string): number | null {
  const m = TEMP_NAME.exec(name);
  return m ? Number(m[1]) : null;
}

/** Fsyncs a directory so a rename inside it survives a power cut. */
export async function fsyncDir(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await fs.open(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
    await fh.sync();
  } catch (err) {
    // Some filesystems (and Windows) refuse fsync on a directory; the rename is still atomic there.
    if (!['EISDIR', 'EINVAL', 'EPERM', 'EBADF'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await fh?.close();
  }
}

/** Writes `data` to `target` atomically: temp + fsync + rename + directory fsync. */
export async function writeFileAtomic(target: string, data: string | Uint8Array | Readable, opts: AtomicWriteOptions = {}): Promise<void> {
  const fs = opts.fs ?? nodeFileSystem;
  const dir = dirname(target);
  if (opts.mkdirs !== false) await fs.mkdir(dir, { recursive: true });
  const tmp = tempPathFor(target);
  const fh = await fs.open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) {
      await fh.writeFile(data);
    } else {
      for await (const chunk of data) await fh.write(chunk as Uint8Array);
    }
    if (opts.mode !== undefined) await fh.chmod(opts.mode); // umask may have narrowed the create mode
    if (!opts.noSync) await fh.sync();
    await fh.close();
    await opts.beforeRename?.();
    await fs.rename(tmp, target);
    if (!opts.noSync) await fsyncDir(dir, fs);
  } catch (err) {
    await fh.close().catch(() => {});
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
}
