// Paths reach the matcher from many places (walk, watcher, CLI arguments, Windows clients);
// they all become one canonical form: '/'-separated, relative, no './', no trailing '/', NFC.

// One test decides whether a path needs any work, so the common case costs one regex.
const needsWork = /\\|\/\/|(?:^|\/)\.(?:\/|$)|\/$|[\u0080-\uffff]/;

/**
 * Converts a path to the matcher's form: '\\' becomes '/', '.' segments, repeated and trailing
 * '/' go, and the result is NFC. A backslash is always a separator here (paths use '/' on every
 * OS), so a POSIX file name containing '\\' cannot be tracked.
 */
export function normalizeInputPath(p: string): string {
  if (!needsWork.test(p)) return p;
  const s = p.replace(/\\/g, '/');
  const segs = s.split('/').filter((seg) => seg !== '' && seg !== '.');
  const out = (s.startsWith('/') ? '/' : '') + segs.join('/');
  // macOS file systems hand out NFD names; patterns are stored NFC, so compare in NFC.
  return /[\u0080-\uffff]/.test(out) ? out.normalize('NFC') : out;
}
