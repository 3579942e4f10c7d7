// Reads a seed-format tar (entries named `user/path`) with strict filters: no `..`, no absolute
// names, no hard links, no device files, no symlinks that leave the home, bounded sizes and counts.
// Nothing is written here; the caller stores the items only after the whole archive checked out.
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { DmanError } from '../../shared/errors.js';
import { pathProblem } from '../../shared/protocol.js';

/** One accepted tar entry. */
export interface TarItem {
  user: string;
  path: string;
  kind: 'file' | 'symlink';
  /** File content (empty for symlinks). */
  data: Buffer;
  target?: string;
  mode: number;
  /** ms since the epoch */
  mtime: number;
}

export interface ReadTarOptions {
  maxEntries: number;
  /** Largest single file. */
  maxEntryBytes: number;
  /** Largest total of entry bytes (the decompressed-bytes budget of the request). */
  maxTotalBytes: number;
}

/** Splits a tar entry name into user and path (the user still to be authorized), or says why it is unacceptable. */
export function splitEntryName(raw: string): { user: string; path: string } | string {
  if (raw.includes('\0')) return 'the name contains a NUL byte';
  if (raw.startsWith('/') || /^[a-zA-Z]:/.test(raw)) return 'the name is absolute';
  const name = raw.replace(/^\.\//, '');
  const slash = name.indexOf('/');
  if (slash <= 0) return 'the name is not "user/path"';
  const user = name.slice(0, slash);
  const path = name.slice(slash + 1);
  if (user === '..' || user === '.') return 'the name has a ".." segment';
  // The user name itself is checked by the caller's authorization (so another user's name,
  // valid or not, gets the same 403 as any cross-user request).
  if (user.length > 256) return 'the user part of the name is too long';
  const problem = pathProblem(path);
  return problem ?? { user, path };
}

/** Says why a symlink target escapes the user's home, or null when it stays inside. */
export function symlinkTargetProblem(path: string, target: string): string | null {
  if (target.length === 0) return 'the symlink target is empty';
  if (target.includes('\0')) return 'the symlink target contains a NUL byte';
  if (posix.isAbsolute(target)) return 'the symlink points to an absolute path outside the home directory';
  const resolved = posix.normalize(posix.join(posix.dirname(path), target));
  if (resolved === '..' || resolved.startsWith('../')) return 'the symlink points outside the home directory';
  return null;
}

const bad = (name: string, why: string, hint = 'entries must be regular files or symlinks named "user/path" inside the home directory') =>
  new DmanError('UNSAFE_PATH', `tar entry "${printable(name)}" was refused: ${why}`, { hint, context: { path: printable(name) } });

/** A name as it can be shown in an error: at most 200 characters, control bytes written as \xNN. */
function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.slice(0, 200).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const REMAKE = 're-create the archive with tar (GNU tar or bsdtar) from the real files; this one is corrupt or hand-made';

/**
 * Checks the raw body of a meta entry (a PAX extended header, or a GNU long name or long link
 * target) before node-tar applies it. node-tar cuts a value at its first NUL byte and silently
 * ignores a PAX `size` it cannot use, so an archive could say one thing and be read as another:
 * both are refused instead. Lines are split as node-tar splits them, so every record it applies
 * is checked. Returns why the header is unacceptable, or null.
 */
export function metaProblem(raw: string): string | null {
  for (const line of raw.replace(/\n$/, '').split('\n')) {
    const record = paxRecord(line);
    if (record) {
      const [key, value] = record;
      if ((key === 'path' || key === 'linkpath') && value.includes('\0')) {
        return `its PAX extended header sets "${key}" to "${printable(value)}", which contains a NUL byte (the name would be cut to "${printable(value.replace(/\0.*/s, ''))}")`;
      }
      if (key === 'size' && !/^\d{1,15}$/.test(value)) {
        return `its PAX extended header sets "size" to "${printable(value)}", which is not a size in bytes (a whole number, not negative)`;
      }
      // Other records (xattrs, comments) may hold binary values: node-tar never makes a name of them.
      continue;
    }
    // A GNU long name or link target is the name, then NUL padding: anything after a NUL would be hidden.
    if (/\0[^\0]/.test(line)) {
      return `its extended header (a GNU long name or a PAX record) holds "${printable(line.replace(/\0+$/, ''))}", which contains a NUL byte (the name would be cut to "${printable(line.replace(/\0.*/s, ''))}")`;
    }
  }
  return null;
}

/** Reads one PAX record line ("LEN key=value", LEN counting the line and its newline) as node-tar does, or null when it is not one. */
function paxRecord(line: string): [string, string] | null {
  const n = parseInt(line, 10);
  if (n !== Buffer.byteLength(line) + 1) return null;
  const kv = line.slice(`${n} `.length);
  const eq = kv.indexOf('=');
  if (eq <= 0) return null;
  return [kv.slice(0, eq).replace(/^SCHILY\.(dev|ino|nlink)/, '$1'), kv.slice(eq + 1)];
}

/** Parses a tar stream into checked items; throws a DmanError (4xx) at the first bad entry. */
export function readTar(body: Readable, opts: ReadTarOptions): Promise<TarItem[]> {
  return new Promise<TarItem[]>((resolve, reject) => {
    const items: TarItem[] = [];
    const seen = new Set<string>();
    let total = 0;
    let count = 0;
    let settled = false;
    // A bad meta header is reported with the entry it applies to (the next one), or at the end.
    let metaBad: string | null = null;
    const parser = new Parser({ strict: true, maxMetaEntrySize: 64 * 1024 });
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      body.unpipe(parser as unknown as NodeJS.WritableStream);
      body.resume();
      body.destroy();
      reject(err instanceof DmanError ? err : new DmanError('BAD_REQUEST', `the tar archive is malformed: ${(err as Error)?.message ?? String(err)}`, { hint: 'send an uncompressed tar (or gzip with "Content-Encoding: gzip")', cause: err }));
    };
    const done = () => {
      if (settled) return;
      if (metaBad) { fail(new DmanError('UNSAFE_PATH', `the tar archive ends with an extended header that was refused: ${metaBad}`, { hint: REMAKE })); return; }
      settled = true;
      resolve(items);
    };
    parser.on('error', fail);
    parser.on('warn', (code: string, message: string | Error) => fail(new DmanError('BAD_REQUEST', `the tar archive is malformed (${code}): ${String((message as Error)?.message ?? message)}`, { hint: 'the body may be truncated; send the whole archive again' })));
    parser.on('meta', (raw: string) => { metaBad ??= metaProblem(raw); });
    parser.on('entry', (entry: ReadEntry) => {
      if (settled) { entry.resume(); return; }
      count += 1;
      if (count > opts.maxEntries) { entry.resume(); fail(new DmanError('PAYLOAD_TOO_LARGE', `the tar archive has more than ${opts.maxEntries} entries`, { hint: 'publish in smaller batches' })); return; }
      const rawName = entry.path;
      // The name as node-tar read it (already cut at a NUL): the reason shows the whole value.
      if (metaBad) { entry.resume(); fail(bad(rawName, metaBad, REMAKE)); return; }
      // node-tar reads a negative (base-256), empty or non-octal size field as "no size" and then
      // as 0 bytes; a PAX "size" record (checked above) stands in for the field when present.
      const size = entry.header.size;
      if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
        entry.resume();
        fail(new DmanError('BAD_REQUEST', `tar entry "${printable(rawName)}" was refused: its header has no valid size (the size field is negative in base-256, empty or not an octal number)`, { hint: REMAKE, context: { path: printable(rawName) } }));
        return;
      }
      if (entry.type === 'Directory') { entry.resume(); return; }
      const split = splitEntryName(rawName);
      if (typeof split === 'string') { entry.resume(); fail(bad(rawName, split)); return; }
      const key = `${split.user}/${split.path}`;
      if (seen.has(key)) { entry.resume(); fail(bad(rawName, 'the archive names this path twice')); return; }
      seen.add(key);
      const mode = (entry.mode ?? 0o644) & 0o7777;
      const mtime = entry.mtime ? entry.mtime.getTime() : 0;
      if (entry.type === 'SymbolicLink') {
        const target = entry.linkpath ?? '';
        const problem = symlinkTargetProblem(split.path, target);
        entry.resume();
        if (problem) { fail(bad(rawName, problem)); return; }
        items.push({ ...split, kind: 'symlink', data: Buffer.alloc(0), target, mode: 0, mtime });
        return;
      }
      if (entry.type === 'Link') { entry.resume(); fail(bad(rawName, 'hard links are not accepted')); return; }
      if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
        entry.resume(); fail(bad(rawName, `entries of type ${entry.type} (devices, FIFOs, …) are not accepted`)); return;
      }
      if ((entry.size ?? 0) > opts.maxEntryBytes) { entry.resume(); fail(new DmanError('PAYLOAD_TOO_LARGE', `tar entry "${rawName.slice(0, 200)}" is ${entry.size} bytes, over the limit of ${opts.maxEntryBytes}`)); return; }
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => {
        if (settled) return;
        total += c.length;
        if (total > opts.maxTotalBytes) { fail(new DmanError('PAYLOAD_TOO_LARGE', `the tar archive holds more than ${opts.maxTotalBytes} bytes`, { hint: 'publish in smaller batches' })); return; }
        chunks.push(c);
      });
      entry.on('end', () => {
        if (settled) return;
        items.push({ ...split, kind: 'file', data: Buffer.concat(chunks), mode, mtime });
      });
    });
    parser.on('end', done);
    parser.on('close', done);
    body.on('error', fail);
    body.pipe(parser as unknown as NodeJS.WritableStream);
  });
}
