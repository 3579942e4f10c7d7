// One problem found in a config file: where (key path, line, column), what, and how to fix it.

/** A path of keys and list indexes into the config, e.g. ['users', 'alice', 'track', 3]. */
export type KeyPath = ReadonlyArray<string | number>;

/** One finding of validation or lint; errors stop every command, warnings are printed. */
export interface ConfigProblem {
  severity: 'error' | 'warning';
  /** The key path as text, e.g. `users.alice.track[3]` (empty for the whole file). */
  key: string;
  path: Array<string | number>;
  /** What is wrong, in one sentence. */
  message: string;
  /** How to fix it. */
  hint: string;
  /** The offending value, when there is one. */
  value?: unknown;
  /** 1-based position in the file, when the problem comes from the file. */
  line?: number;
  col?: number;
}

/** Formats a key path the way users read it: `users.alice.track[3]`, quoting odd keys. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Builds a problem from its parts, filling in the textual key. */
export function problem(severity: ConfigProblem['severity'], path: KeyPath, message: string, hint: string, value?: unknown): ConfigProblem {
  const p: ConfigProblem = { severity, key: formatKeyPath(path), path: [...path], message, hint };
  // A mistyped token is still a token: problems are printed and logged, so never carry it.
  if (value !== undefined && !isSecretKey(path[path.length - 1])) p.value = value;
  return p;
}

/** Returns true for keys whose values are secrets (tokens, passwords) that must never be printed. */
export function isSecretKey(key: string | number | undefined): boolean {
  return typeof key === 'string' && /(^|_)(token|password)$/.test(key);
}

/** Formats one problem as a single line: `file:line:col: key: message (got X); fix`. */
export function formatProblem(p: ConfigProblem, file?: string | null): string {
  const where = [file ?? '', p.line !== undefined ? `${p.line}:${p.col ?? 1}` : ''].filter(Boolean).join(':');
  const got = p.value !== undefined ? ` (got ${shortValue(p.value)})` : '';
  const sev = p.severity === 'warning' ? 'warning: ' : '';
  return `${where ? `${where}: ` : ''}${sev}${p.key ? `${p.key}: ` : ''}${p.message}${got}; fix: ${p.hint}`;
}

function shortValue(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Returns the keys of `known` closest to `key` (edit distance at most 2 or a shared prefix), best first. */
export function didYouMean(key: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const k = key.toLowerCase();
  for (const cand of known) {
    const c = cand.toLowerCase();
    const d = c === k ? 0 : levenshtein(k, c);
    const limit = Math.max(1, Math.min(3, Math.floor(c.length / 3)));
    if (d <= limit && d < bestD) { best = cand; bestD = d; }
  }
  return best;
}

// Ten lines of textbook DP: not worth a dependency in browser-safe shared/.
function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
