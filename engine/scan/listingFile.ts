// The folder listings of a walk, saved between one-shot runs (`<state dir>/<server>/<user>.listings`),
// so a cold `dman sync` lstats the folders that did not change instead of reading them (readdir,
// sort and a matcher call per name): see ListingCache in walk.ts. A hint only: the file is
// versioned, checksummed and keyed by the home and the track patterns; a missing, short, damaged,
// foreign (another version, home, pattern list or owner, or writable by others) or malformed
// file is ignored and written again, and every folder it remembers is still checked by the walk
// as an in-memory memo is (device, inode, mtime and ctime as they were, not fresh when read, on a
// file system known to keep folder times). Written whole (temp file + rename, mode 0600, no
// fsync: a lost or stale file only costs the reads it would have saved).
//
// Layout: MAGIC, sha256 of the body, the body: UTF-8 fields separated by NUL (which no path
// holds): the format version, the home, the key of the patterns, the folder count, then ten
// fields per folder: dir, dev, ino, mtimeMs, ctimeMs, at, its subfolders' names, the names of
// its entries to lstat (both '/'-joined, as FolderMemo.names), the DT_UNKNOWN ones among them,
// and its special files (`code:name`, '/'-joined).
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readOwnedFile } from '../fs/readOwned.js';
import type { TrackMatcher } from '../../shared/patterns/compileTrack.js';
import { serverDirName } from '../state/StateStore.js';
import { specialSkipOf, type FolderMemo, type ListingCache, type WalkSkip } from './walk.js';

const MAGIC = Buffer.from('DMANLST1', 'latin1');
const HEADER = MAGIC.length + 32;
/** The body's format; bump it when the layout or what a memo means (the walk's classification) changes. */
const VERSION = '1';
const FIELDS = 10;
/** A '/'-joined list with an empty, '.' or '..' name: never written by saveListingFile (fields hold no NUL: they were split at it). */
const BAD_LIST = /(?:^|\/)\.{0,2}(?:\/|$)/;
const SPECIAL = new Set(['socket', 'fifo', 'device']);

/** Where the listings of `user`'s home are kept: beside the user's state file (StateStore: `<stateDir>/<server>/<user>.json`). */
export function listingFileOf(stateDir: string, serverUrl: string, user: string): string {
  return join(stateDir, serverDirName(serverUrl), `${user}.listings`);
}

/** The key of a pattern list: any change of the track patterns (order included) makes another key. */
export function matcherKey(matcher: TrackMatcher): string {
  return createHash('sha256').update(JSON.stringify(matcher.patterns)).digest('hex');
}

/** A list of names that is '' (none) or names without '/', '', '.' and '..'. */
const okList = (s: string): boolean => s === '' || !BAD_LIST.test(s);
const num = (s: string): number => (s === '' ? NaN : Number(s));
const childOf = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);

/**
 * Reads the listings saved for `home` walked with `matcher` into `cache` (its folders, root and
 * matcher), when the file is whole, ours and made for them; returns how many folders it holds
 * (0 when it was missing or refused: the cache is then left empty). Never throws.
 */
export function loadListingFile(file: string, cache: ListingCache, home: string, matcher: TrackMatcher): number {
  const root = resolve(home);
  // Trusted only when no other user could have written it (as cli/codeCache.ts).
  const buf = readOwnedFile(file);
  if (buf === undefined) return 0;
  if (buf.length <= HEADER || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return 0;
  const body = buf.subarray(HEADER);
  if (!createHash('sha256').update(body).digest().equals(buf.subarray(MAGIC.length, HEADER))) return 0;
  // Most homes name everything in ASCII: latin1 decodes it as UTF-8 would, at a third of the cost.
  const f = (isAscii(body) ? body.toString('latin1') : body.toString('utf8')).split('\0');
  if (f[0] !== VERSION || f[1] !== root || f[2] !== matcherKey(matcher)) return 0;
  const count = num(f[3]!);
  if (!Number.isSafeInteger(count) || count < 0 || f.length !== 4 + count * FIELDS) return 0;
  const folders = new Map<string, FolderMemo>();
  const now = Date.now();
  for (let i = 4; i < f.length; i += FIELDS) {
    const memo = decodeFolder(f, i, root);
    if (!memo) return 0;
    // Read "in the future": the clock went back since. On a file system with whole-second times,
    // a change in the same second as a listing's read could then look like no change: start over.
    if (memo.at > now) return 0;
    folders.set(memo.dir, memo);
  }
  cache.root = root;
  cache.matcher = matcher;
  cache.folders = folders;
  cache.changed = false;
  return folders.size;
}

/** One folder's fields from f[i], or null when any is malformed. */
function decodeFolder(f: string[], i: number, root: string): FolderMemo | null {
  const dir = f[i]!;
  const dev = num(f[i + 1]!), ino = num(f[i + 2]!), mtimeMs = num(f[i + 3]!), ctimeMs = num(f[i + 4]!), at = num(f[i + 5]!);
  const subdirNames = f[i + 6]!, names = f[i + 7]!, unknownNames = f[i + 8]!, skipList = f[i + 9]!;
  if (!okList(dir) || !okList(subdirNames) || !okList(names) || !okList(unknownNames)) return null;
  if (!Number.isFinite(dev) || !Number.isFinite(ino) || !Number.isFinite(mtimeMs) || !Number.isFinite(ctimeMs) || !Number.isFinite(at)) return null;
  const subdirs = subdirNames === '' ? [] : subdirNames.split('/').map((n) => childOf(dir, n));
  const unknown = unknownNames === '' ? null : new Set(unknownNames.split('/'));
  const skips: WalkSkip[] = [];
  if (skipList !== '') {
    for (const s of skipList.split('/')) {
      const j = s.indexOf(':');
      const code = s.slice(0, j), name = s.slice(j + 1);
      if (j < 1 || !SPECIAL.has(code) || !okList(name) || name === '') return null;
      const path = childOf(dir, name);
      skips.push(specialSkipOf(path, root.endsWith('/') ? root + path : `${root}/${path}`, code as 'socket' | 'fifo' | 'device'));
    }
  }
  return { dir, dev, ino, mtimeMs, ctimeMs, at, gen: 0, subdirs, names, unknown, skips };
}

/**
 * Writes `cache` to `file` when a walk changed it since it was loaded or saved (and it belongs to
 * a home and matcher); returns whether it wrote. Never throws: a cache is never worth a failed run.
 */
export function saveListingFile(file: string, cache: ListingCache): boolean {
  if (!cache.changed || cache.root === null || cache.matcher === null) return false;
  const root = cache.root;
  const parts: string[] = [VERSION, root, matcherKey(cache.matcher), String(cache.folders.size)];
  for (const m of cache.folders.values()) {
    const cut = m.dir === '' ? 0 : m.dir.length + 1;
    let subdirs = '';
    for (let k = 0; k < m.subdirs.length; k++) subdirs += (k === 0 ? '' : '/') + m.subdirs[k]!.slice(cut);
    let skips = '';
    for (let k = 0; k < m.skips.length; k++) skips += `${k === 0 ? '' : '/'}${m.skips[k]!.code}:${m.skips[k]!.path.slice(cut)}`;
    parts.push(m.dir, String(m.dev), String(m.ino), String(m.mtimeMs), String(m.ctimeMs), String(m.at), subdirs, m.names, m.unknown ? [...m.unknown].join('/') : '', skips);
  }
  const text = parts.join('\0');
  // One buffer, the body encoded into it once: the header's checksum is filled in after.
  const buf = Buffer.allocUnsafe(HEADER + Buffer.byteLength(text, 'utf8'));
  MAGIC.copy(buf, 0);
  buf.write(text, HEADER, 'utf8');
  createHash('sha256').update(buf.subarray(HEADER)).digest().copy(buf, MAGIC.length);
  // One temp name, so a process that died while writing leaves no litter for long. Runs of a user
  // take turns (the run lock); were two to write at once, a torn file fails its checksum.
  const tmp = `${file}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Created afresh (O_EXCL), so it has our owner and mode even if a temp file was left behind.
    try { unlinkSync(tmp); } catch { /* none left */ }
    writeFileSync(tmp, buf, { mode: 0o600, flag: 'wx' });
    // The old file goes first: on ext4 a rename over a file starts writing the new one out at once
    // (auto_da_alloc), ~0.3-1.4 ms here. A reader in between finds no file, which is only a miss.
    try { unlinkSync(file); } catch { /* none yet */ }
    renameSync(tmp, file);
  } catch {
    try { unlinkSync(tmp); } catch { /* the folder is not there either */ }
    return false;
  }
  cache.changed = false;
  return true;
}
