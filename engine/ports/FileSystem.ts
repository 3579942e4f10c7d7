// The FileSystem port: every file-system call the engine makes on a home (scan, walk, statPaths,
// apply, the atomic writes), so a test or the simulation can run the real engine on an
// in-memory file system with injected faults (engine/testing/memoryFileSystem.ts). The default,
// nodeFileSystem, is a plain pass-through to node:fs: the same calls with the same arguments, but
// for lstatSync, which answers through lstatLight (the same numbers without building an fs.Stats).
// The state store and the run lock keep their own node:fs calls (they have ports of their own).
import { closeSync, createReadStream, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync, type Dirent, type Stats } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, readlink, realpath, rename, rm, rmdir, stat, symlink, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { lstatLight, type StatLike } from '../fs/lstatLight.js';

/** An open file: the calls the engine makes on one (a secret probe reads its head; atomic writes fill, chmod and fsync a temp). */
export interface FileHandle {
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  write(data: Uint8Array): Promise<unknown>;
  writeFile(data: string | Uint8Array): Promise<void>;
  chmod(mode: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file-system calls of the engine. Errors carry node's errno `code` (ENOENT, EACCES, ENOSPC, …). */
export interface FileSystem {
  lstat(path: string): Promise<Stats>;
  stat(path: string): Promise<Stats>;
  /** Names in a directory. */
  readdir(path: string): Promise<string[]>;
  /** Entries of a directory with their types (readdir withFileTypes). */
  readdirTypes(path: string): Promise<Dirent[]>;
  readFile(path: string): Promise<Buffer>;
  readlink(path: string): Promise<string>;
  realpath(path: string): Promise<string>;
  /** Opens a file (flags 'r', 'wx', or numeric flags such as O_RDONLY|O_DIRECTORY for a directory fsync). */
  open(path: string, flags: string | number, mode?: number): Promise<FileHandle>;
  mkdir(path: string, opts: { recursive: true }): Promise<unknown>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, opts: { force: true }): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  /** Streams a file (large uploads and hashes). */
  createReadStream(path: string, opts?: { highWaterMark?: number }): Readable;
  /** The blocking calls of one-shot commands (the blocking walk, small-file hashes, secret probes). */
  readdirTypesSync(path: string): Dirent[];
  /** What the walk and the scan read of an lstat (node:fs gives an fs.Stats, the default lstatLight's numbers). */
  lstatSync(path: string): StatLike;
  statSync(path: string): Stats;
  readFileSync(path: string): Buffer;
  readlinkSync(path: string): string;
  openSync(path: string, flags: string): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number;
  /** The stat of an open file (the scan's check after a read, on the descriptor it read). */
  fstatSync(fd: number): Stats;
  closeSync(fd: number): void;
}

/** The engine's default: node:fs, call for call. */
export const nodeFileSystem: FileSystem = {
  lstat: (p) => lstat(p),
  stat: (p) => stat(p),
  readdir: (p) => readdir(p),
  readdirTypes: (p) => readdir(p, { withFileTypes: true }),
  readFile: (p) => readFile(p),
  readlink: (p) => readlink(p),
  realpath: (p) => realpath(p),
  open: (p, flags, mode) => open(p, flags, mode),
  mkdir: (p, opts) => mkdir(p, opts),
  rename: (a, b) => rename(a, b),
  rm: (p, opts) => rm(p, opts),
  rmdir: (p) => rmdir(p),
  unlink: (p) => unlink(p),
  symlink: (target, p) => symlink(target, p),
  createReadStream: (p, opts) => createReadStream(p, opts),
  readdirTypesSync: (p) => readdirSync(p, { withFileTypes: true }),
  lstatSync: lstatLight,
  statSync: (p) => statSync(p),
  readFileSync: (p) => readFileSync(p),
  readlinkSync: (p) => readlinkSync(p),
  openSync: (p, flags) => openSync(p, flags),
  readSync: (fd, buf, offset, length, position) => readSync(fd, buf, offset, length, position),
  fstatSync: (fd) => fstatSync(fd),
  closeSync: (fd) => closeSync(fd),
};
