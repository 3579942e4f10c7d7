// Reads a cache file only when no other user could have written it: owned by this process's user
// and not writable by group or others. The V8 code cache (cli/codeCache.ts, run as bytecode) and
// the folder listing file (engine/scan/listingFile.ts, trusted as a hint) both read this way.
// node: imports only (dist/boot.cjs bundles it).
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';

/** The bytes of `file` when it is a regular file this user owns and only this user may write; undefined otherwise (never throws). */
export function readOwnedFile(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile() || (uid !== undefined && (st.uid !== uid || (st.mode & 0o022) !== 0))) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) try { closeSync(fd); } catch { /* read already */ }
  }
}
