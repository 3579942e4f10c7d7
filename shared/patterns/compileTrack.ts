// The one track-pattern matcher: the scanner, the watcher, the wizard preview and the server's
// selective install all ask it. Semantics (ARCHITECTURE.md, "The config file"):
// - patterns are relative to the home; `*`, `?`, `[…]`, `{a,b}`, `**`; `*` and `**` match dotfiles;
// - a pattern that matches a directory matches everything below it; a trailing `/` matches only below;
// - a leading `!` excludes; the last matching pattern wins.
// Each pattern is compiled once (picomatch for globs, plain string compares for literals), and
// the include/exclude order is ours, because picomatch's own negation does not exclude.
import picomatch from 'picomatch/posix.js';
import { DmanError } from '../errors.js';
import { normalizeInputPath } from './normalizeInputPath.js';
import { PICOMATCH_OPTIONS, globSource, parsePattern, type ParsedPattern } from './parsePattern.js';

/** Why a path is or is not tracked. */
export interface TrackExplanation {
  tracked: boolean;
  /** The entry that decided (as written), or null when no pattern matches. */
  pattern: string | null;
  /** Its position in the track list, or null. */
  index: number | null;
  /** The ancestor directory through which the deciding pattern matched, or null when it matched the path itself. */
  dir: string | null;
}

/** A compiled track list. Every method takes a home-relative path ('\\' and './' are tolerated). */
export interface TrackMatcher {
  /** The entries as given, in order. */
  readonly patterns: readonly string[];
  /** Returns true when the file at `path` is tracked. */
  isTracked(path: string): boolean;
  /** Says whether `path` is tracked and which pattern decided. */
  explain(path: string): TrackExplanation;
  /** Returns false when no file below directory `dir` can be tracked, so a walk may skip it. */
  shouldDescend(dir: string): boolean;
  /** Names the last pattern that matches `dir` or an ancestor, and so decides everything below `dir` unless a later pattern says otherwise. */
  explainDir(dir: string): TrackExplanation;
}

type Segment = RegExp | '**';

interface Compiled extends ParsedPattern {
  index: number;
  /** literal + '/', for prefix tests. */
  literalSlash: string;
  /** The body alone (globs). */
  self: RegExp | null;
  /** body + '/**': the body or any path below a match (globs). */
  full: RegExp | null;
  /** The static leading directories of a glob ('' when it starts with glob syntax), + '/'. */
  baseSlash: string;
  /** Per-segment regexes for partial matching, or null when braces or brackets span a '/'. */
  segments: Segment[] | null;
}

/** Compiles a track list; throws DmanError PATTERN_INVALID naming the first unusable entry. */
export function compileTrack(patterns: readonly string[]): TrackMatcher {
  const compiled = patterns.map((p, index) => compileOne(p, index));
  // Patterns grouped by a literal first segment: most paths in a home (.cache/…, projects/…)
  // share a first segment with no pattern, and are then decided by one Map lookup.
  const wildcard = compiled.filter((c) => firstSegment(c) === null);
  const byFirst = new Map<string, Compiled[]>();
  for (const c of compiled) {
    const f = firstSegment(c);
    if (f !== null) byFirst.set(f, [...(byFirst.get(f) ?? []), c]);
  }
  const deciders = new Map<string, (path: string) => number>();
  for (const [f, cs] of byFirst) deciders.set(f, makeDecider([...cs, ...wildcard].sort((a, b) => a.index - b.index)));
  const fallback = makeDecider(wildcard);
  const decide = (path: string): number => {
    const j = path.indexOf('/');
    return (deciders.get(j === -1 ? path : path.slice(0, j)) ?? fallback)(path);
  };

  return {
    patterns: Object.freeze([...patterns]),
    isTracked(path) {
      const p = normalizeInputPath(path);
      if (p === '' || p.startsWith('/')) return false;
      const i = decide(p);
      return i >= 0 && !compiled[i].negated;
    },
    explain(path) {
      const p = normalizeInputPath(path);
      if (p !== '' && !p.startsWith('/')) {
        for (let i = compiled.length - 1; i >= 0; i--) {
          const how = matchDetail(compiled[i], p);
          if (how.matched) return { tracked: !compiled[i].negated, pattern: compiled[i].source, index: i, dir: how.dir };
        }
      }
      return { tracked: false, pattern: null, index: null, dir: null };
    },
    explainDir(dir) {
      const d = normalizeInputPath(dir);
      if (d !== '' && !d.startsWith('/')) {
        for (let i = compiled.length - 1; i >= 0; i--) {
          if (covers(compiled[i], d)) return { tracked: !compiled[i].negated, pattern: compiled[i].source, index: i, dir: coveringDir(compiled[i], d) };
        }
      }
      return { tracked: false, pattern: null, index: null, dir: null };
    },
    shouldDescend(dir) {
      const d = normalizeInputPath(dir);
      if (d.startsWith('/')) return false;
      let from = 0;
      if (d !== '') {
        for (let i = compiled.length - 1; i >= 0; i--) {
          if (covers(compiled[i], d)) {
            if (!compiled[i].negated) return true;
            from = i + 1;
            break;
          }
        }
      }
      for (let i = compiled.length - 1; i >= from; i--) {
        if (!compiled[i].negated && mayMatchBelow(compiled[i], d)) return true;
      }
      return false;
    },
  };
}

// Decides a path against some patterns (in list order): the index of the last one that matches, or -1.
function makeDecider(cs: Compiled[]): (path: string) => number {
  const exact = new Map<string, number>(); // literal, non-dirOnly: the path itself or an ancestor
  const dirs = new Map<string, number>(); // literal, dirOnly: an ancestor only
  for (const c of cs) if (c.literal !== null) (c.dirOnly ? dirs : exact).set(c.literal, c.index);
  const globsLastFirst = cs.filter((c) => c.literal === null).reverse();
  const hasLiterals = exact.size > 0 || dirs.size > 0;
  return (path) => {
    let best = -1;
    if (hasLiterals) {
      best = exact.get(path) ?? -1;
      for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
        const a = path.slice(0, i);
        const e = exact.get(a), d = dirs.get(a);
        if (e !== undefined && e > best) best = e;
        if (d !== undefined && d > best) best = d;
      }
    }
    for (const g of globsLastFirst) {
      if (g.index < best) break;
      if (matchesGlob(g, path)) return g.index;
    }
    return best;
  };
}

// The first path segment every match of c starts with, or null when it is not plain text.
function firstSegment(c: Compiled): string | null {
  const text = c.literal ?? (c.baseSlash === '' ? null : c.baseSlash);
  return text === null ? null : text.split('/')[0];
}

function compileOne(raw: string, index: number): Compiled {
  const parsed = parsePattern(raw);
  if ('problem' in parsed) {
    throw new DmanError('PATTERN_INVALID', `track pattern ${index + 1} (${JSON.stringify(raw)}) ${parsed.problem}`, {
      hint: 'fix or remove the entry; `dman config lint` lists every problem',
      context: { key: `track[${index}]`, pattern: raw },
    });
  }
  const c: Compiled = { ...parsed, index, literalSlash: `${parsed.literal ?? ''}/`, self: null, full: null, baseSlash: '', segments: null };
  if (parsed.glob !== null) {
    const src = globSource(parsed.glob);
    c.self = new RegExp(`^(?:${src})$`);
    // Not picomatch(`${glob}/**`): that matches `a` for `a/**` but not `a` for `*/**`.
    c.full = new RegExp(`^(?:${src})(?:/.+)?$`);
    const { base } = picomatch.scan(parsed.glob);
    // A base with an escape is not plain text; skip the prefix filter rather than guess.
    c.baseSlash = base && !/[\\]/.test(base) && base !== parsed.body ? `${base.replace(/\/+$/, '')}/` : '';
    c.segments = splitSegments(parsed.glob);
  }
  return c;
}

// The hot path: does glob g match path p, by itself or through an ancestor?
function matchesGlob(g: Compiled, p: string): boolean {
  if (g.baseSlash !== '' && !p.startsWith(g.baseSlash) && `${p}/` !== g.baseSlash) return false;
  if (!g.full!.test(p)) return false;
  if (!g.dirOnly) return true;
  // `dir/` matches below a matching directory only; p matched `dir/**` but maybe only as itself.
  return !g.self!.test(p) || ancestorMatching(g, p) !== null;
}

function ancestorMatching(c: Compiled, p: string): string | null {
  for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) {
    const a = p.slice(0, i);
    if (c.literal !== null ? a === c.literal : c.self!.test(a)) return a;
  }
  return null;
}

function matchDetail(c: Compiled, p: string): { matched: boolean; dir: string | null } {
  if (!c.dirOnly && (c.literal !== null ? p === c.literal : c.self!.test(p))) return { matched: true, dir: null };
  const dir = ancestorMatching(c, p);
  return { matched: dir !== null, dir };
}

// Does c match directory d (or an ancestor of d), so that it matches every path below d?
function covers(c: Compiled, d: string): boolean {
  if (c.literal !== null) return d === c.literal || d.startsWith(c.literalSlash);
  return c.full!.test(d);
}

// The shallowest of d and its ancestors that c matches (c covers d).
function coveringDir(c: Compiled, d: string): string {
  const parts = d.split('/');
  for (let k = 1; k <= parts.length; k++) {
    const a = parts.slice(0, k).join('/');
    if (c.literal !== null ? a === c.literal : c.self!.test(a)) return a;
  }
  return d;
}

// Could c match some path strictly below directory d? Errs towards true: descending is always safe.
function mayMatchBelow(c: Compiled, d: string): boolean {
  if (d === '') return true;
  if (c.literal !== null) return c.literal.startsWith(`${d}/`) || covers(c, d);
  if (c.segments === null) {
    const base = c.baseSlash;
    return base === '' || base.startsWith(`${d}/`) || d.startsWith(base) || covers(c, d);
  }
  const parts = d.split('/');
  for (let i = 0; i < parts.length; i++) {
    if (i >= c.segments.length) return true; // c matched an ancestor of d
    const s = c.segments[i];
    if (s === '**') return true;
    if (!s.test(parts[i])) return false;
  }
  return true;
}

// Splits a glob into per-segment regexes; null when a brace set or bracket spans a '/'.
function splitSegments(body: string): Segment[] | null {
  const out: string[] = [];
  let cur = '', depth = 0, inBracket = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '\\') { cur += ch + (body[i + 1] ?? ''); i++; continue; }
    if (inBracket) {
      if (ch === '[' && body[i + 1] === ':') {
        const end = body.indexOf(':]', i + 2);
        if (end !== -1) { cur += body.slice(i, end + 2); i = end + 1; continue; }
      }
      if (ch === '/') return null;
      if (ch === ']') inBracket = false;
      cur += ch;
      continue;
    }
    if (ch === '[') {
      inBracket = true;
      cur += ch;
      // A ']' right after '[' or '[!' / '[^' is a member, not the end.
      if (body[i + 1] === '!' || body[i + 1] === '^') { cur += body[++i]; }
      if (body[i + 1] === ']') { cur += body[++i]; }
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}') depth = Math.max(0, depth - 1);
    else if (ch === '/') {
      if (depth > 0) return null;
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.map((s) => (s === '**' ? '**' : picomatch.makeRe(s, PICOMATCH_OPTIONS)));
}
