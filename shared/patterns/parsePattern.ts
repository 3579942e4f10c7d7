// Turns one `track` entry into its parts, or says why it is unusable. validatePattern and
// compileTrack share this so the config linter and the matcher can never disagree.
import picomatch from 'picomatch/posix.js';

/**
 * picomatch options for every pattern. `dot`: `*` and `**` match dotfiles (this is a dotfile
 * tool). `nonegate`: we handle a leading `!` ourselves, because picomatch's own negation does
 * not exclude (TOOLCHAIN.md). `noextglob`: only the documented syntax. `strictBrackets`: an
 * unbalanced `[`, `{` or `(` is an error, not a literal. `posix`: without it picomatch 4.0.7
 * reads `[!a]` as "`!` or `a`" (https://github.com/micromatch/picomatch/issues/187).
 * `fastpaths: false`: the fast paths return some sources already anchored (`?` gives `^(?:[^/])$`),
 * and compileTrack appends to the source. The posix entry point keeps '/' the only separator in
 * the browser and on Windows.
 */
export const PICOMATCH_OPTIONS = Object.freeze({ dot: true, nonegate: true, noextglob: true, strictBrackets: true, posix: true, fastpaths: false });

/** One track entry, split into what the matcher needs. */
export interface ParsedPattern {
  /** The entry as written. */
  source: string;
  /** A leading `!`: the entry excludes. */
  negated: boolean;
  /** The glob without `!`, leading `./` and trailing `/`, in NFC. */
  body: string;
  /** A trailing `/`: only paths below a matching directory match, not a file of that name. */
  dirOnly: boolean;
  /** The body as plain text when it has no glob syntax at all (matched by string compare). */
  literal: string | null;
  /** The body as handed to picomatch (characters that are plain to us escaped); null for a literal. */
  glob: string | null;
}

// Characters that make a body more than plain text (the documented glob syntax and escapes).
const GLOB_CHARS = /[*?[\]{}\\]/;
// Outside a bracket these are plain characters to us, though picomatch reads `(a|b)` as a regex
// group and `+(`/`@(`/`!(` as extglobs; escaping them makes "notes (old).txt" match itself.
const PLAIN_FOR_US = new Set(['(', ')', '|', '+', '@', '!']);
// A backslash escapes a glob character; before anything else it is most likely a Windows separator.
const SUSPECT_BACKSLASH = /\\(?![*?[\]{}()!\\,^$+@|])/;

/** Splits and checks one track entry: a ParsedPattern, or a problem that says what to write instead. */
export function parsePattern(raw: unknown): ParsedPattern | { problem: string } {
  if (typeof raw !== 'string') return { problem: `must be a string, not ${raw === null ? 'null' : typeof raw}` };
  if (raw.includes('\0')) return { problem: 'contains a NUL character' };
  const negated = raw.startsWith('!');
  let body = (negated ? raw.slice(1) : raw).normalize('NFC');
  if (body.trim() === '') return { problem: 'is empty: write a path relative to your home, e.g. .bashrc or .config/nvim/' };
  if (body.startsWith('/') || /^[A-Za-z]:[\\/]/.test(body) || body.startsWith('\\\\')) {
    return { problem: `is absolute: patterns are relative to the home directory, so write e.g. ".bashrc" instead of "/home/me/.bashrc"` };
  }
  if (body === '~' || body.startsWith('~/')) return { problem: `starts with "~": patterns are already relative to the home directory, so write "${body.slice(2) || '**'}"` };
  if (body.endsWith('\\') && !body.endsWith('\\\\')) return { problem: 'ends with a lone "\\": use "/" between directories ("\\" only escapes a glob character)' };
  if (SUSPECT_BACKSLASH.test(body)) return { problem: `uses "\\" as a separator: write "${body.replace(/\\/g, '/')}" ("\\" only escapes glob characters such as \\* or \\[)` };
  while (body.startsWith('./')) body = body.slice(2);
  body = body.replace(/\/{2,}/g, '/').replace(/\/\.(?=\/|$)/g, '');
  const dirOnly = body.endsWith('/');
  if (dirOnly) body = body.replace(/\/+$/, '');
  if (body === '' || body === '.') return { problem: 'names the home directory itself: to track everything below it write "**"' };
  if (body.split('/').includes('..')) return { problem: 'contains a ".." segment: a pattern cannot reach outside the home directory' };
  if (!GLOB_CHARS.test(body)) return { source: raw, negated, body, dirOnly, literal: body, glob: null };
  const glob = escapePlain(body);
  try {
    picomatch.makeRe(glob, PICOMATCH_OPTIONS);
  } catch (err) {
    return { problem: `is not a valid glob: ${err instanceof Error ? err.message : String(err)}` };
  }
  return { source: raw, negated, body, dirOnly, literal: null, glob };
}

/** Returns the regex source (without anchors) that picomatch builds for an escaped glob body. */
export function globSource(glob: string): string {
  // makeRe's third argument asks for the source instead of a RegExp (not in @types/picomatch).
  const makeRe = picomatch.makeRe as unknown as (g: string, o: object, returnOutput: true) => string;
  return makeRe(glob, PICOMATCH_OPTIONS, true);
}

function escapePlain(body: string): string {
  let out = '', inBracket = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '\\') { out += ch + (body[i + 1] ?? ''); i++; continue; }
    if (inBracket) {
      if (ch === ']') inBracket = false;
      out += ch;
      continue;
    }
    if (ch === '[') {
      inBracket = true;
      out += ch;
      if (body[i + 1] === '!' || body[i + 1] === '^') out += body[++i];
      if (body[i + 1] === ']') out += body[++i];
      continue;
    }
    out += PLAIN_FOR_US.has(ch) ? `\\${ch}` : ch;
  }
  return out;
}
