// Track-pattern speed: paths per second through compileTrack's isTracked for 100,000 generated
// home-relative paths against DEFAULT_TRACK, next to explain() and a naive picomatch loop (every
// pattern tested against the path and each ancestor, last match wins) measured in the same run.
// Bounded time. Run: node --import tsx bench/patterns.bench.ts [--quick] [--json]  (or `npm run bench -- patterns`)
import picomatch from 'picomatch/posix.js';
import { DEFAULT_TRACK } from '../shared/config/defaults.js';
import { compileTrack } from '../shared/patterns/compileTrack.js';
import { PICOMATCH_OPTIONS } from '../shared/patterns/parsePattern.js';

interface Row { metric: string; value: number; unit: string }

const PATHS = 100_000;
const BUDGET_MS = Number(process.env.DMAN_BENCH_MS ?? (process.argv.includes('--quick') ? 300 : 2000));
const MAX_PASSES = 50;

// A small seeded PRNG so every run matches the same paths.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32; };
}

/** Generates paths shaped like a real home: a few dotfiles, editor and shell trees, caches, projects. */
function generatePaths(n: number): string[] {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const word = () => pick(['git', 'docker', 'node', 'python', 'rust', 'lib', 'util', 'core', 'test', 'src', 'main', 'index', 'config', 'data', 'x', 'résumé', 'My Files']);
  const ext = () => pick(['.js', '.ts', '.json', '.md', '.zsh', '.lua', '.vim', '.txt', '.conf', '.yaml', '', '.png']);
  const shapes: (() => string)[] = [
    () => pick(DEFAULT_TRACK.filter((p) => !/[*/!]/.test(p))), // top-level dotfiles
    () => pick(['.viminfo', '.lesshst', '.bash_history', '.zsh_history', '.wget-hsts', '.python_history']),
    () => `.oh-my-zsh/plugins/${word()}/${word()}${pick(['.plugin.zsh', '.zsh', '.md', '.sh'])}`,
    () => `.oh-my-zsh/themes/${word()}.zsh-theme`,
    () => `.oh-my-zsh/lib/${word()}.zsh`,
    () => `.oh-my-zsh/.git/objects/${Math.floor(r() * 256).toString(16)}/${Math.floor(r() * 1e12).toString(16)}`,
    () => `.config/nvim/lua/${word()}/${word()}.lua`,
    () => `.config/${word()}/${word()}${ext()}`,
    () => `.vim/pack/${word()}/start/${word()}/plugin/${word()}.vim`,
    () => `.nano/${word()}.nanorc`,
    () => `.cache/${word()}/${Math.floor(r() * 1e9).toString(36)}/${word()}${ext()}`,
    () => `.local/share/${word()}/${word()}/${word()}${ext()}`,
    () => `projects/${word()}/node_modules/${word()}/${word()}/${word()}${ext()}`,
    () => `projects/${word()}/src/${word()}/${word()}${ext()}`,
    () => `docs/${word()}/${word()}${ext()}`,
    () => pick(['docs/config.yaml', '.ssh/config', '.ssh/known_hosts', '.ssh/id_ed25519']),
    () => `Downloads/${word()} ${Math.floor(r() * 100)}${ext()}`,
  ];
  const weights = [2, 1, 6, 2, 3, 8, 5, 8, 5, 1, 20, 10, 15, 8, 3, 1, 2];
  const table = weights.flatMap((w, i) => Array<number>(w).fill(i));
  return Array.from({ length: n }, () => shapes[pick(table)]());
}

/** Times fn over the paths, whole passes only, until the budget; returns paths per second. */
function measure(paths: readonly string[], fn: (p: string) => boolean): { perSec: number; passes: number; hits: number } {
  let passes = 0, hits: number;
  const start = performance.now();
  do {
    hits = 0;
    for (const p of paths) if (fn(p)) hits++;
    passes++;
  } while (passes < MAX_PASSES && performance.now() - start < BUDGET_MS);
  return { perSec: (passes * paths.length) / ((performance.now() - start) / 1000), passes, hits };
}

// The reference the matcher must beat: one picomatch regex per pattern, tested on the path and every ancestor.
function naiveMatcher(patterns: readonly string[]): (p: string) => boolean {
  const compiled = patterns.map((raw) => {
    const negated = raw.startsWith('!');
    let body = negated ? raw.slice(1) : raw;
    const dirOnly = body.endsWith('/');
    if (dirOnly) body = body.slice(0, -1);
    return { negated, dirOnly, re: picomatch.makeRe(body, PICOMATCH_OPTIONS) };
  }).reverse();
  return (p) => {
    const parts = p.split('/');
    const prefixes = parts.map((_, k) => parts.slice(0, k + 1).join('/'));
    for (const c of compiled) {
      const cands = c.dirOnly ? prefixes.slice(0, -1) : prefixes;
      if (cands.some((a) => c.re.test(a))) return !c.negated;
    }
    return false;
  };
}

const t0 = performance.now();
const paths = generatePaths(PATHS);
const genMs = performance.now() - t0;
const t1 = performance.now();
const m = compileTrack(DEFAULT_TRACK);
const compileMs = performance.now() - t1;
const naive = naiveMatcher(DEFAULT_TRACK);

const fast = measure(paths, (p) => m.isTracked(p));
const slow = measure(paths, naive);
const explained = measure(paths.slice(0, 20_000), (p) => m.explain(p).tracked);
const dirs = [...new Set(paths.map((p) => p.slice(0, p.lastIndexOf('/'))).filter(Boolean))];
const descend = measure(dirs, (d) => m.shouldDescend(d));

// The fast path must agree with the reference, or its speed means nothing.
const disagree = paths.filter((p) => m.isTracked(p) !== naive(p));
if (disagree.length > 0) {
  console.error(`bench: isTracked disagrees with the naive reference on ${disagree.length} paths, e.g. ${disagree.slice(0, 3).join(', ')}`);
  process.exit(1);
}

const rows: Row[] = [
  { metric: `isTracked, ${PATHS.toLocaleString('en')} paths vs DEFAULT_TRACK (${DEFAULT_TRACK.length} patterns)`, value: fast.perSec, unit: 'paths/s' },
  { metric: 'naive picomatch loop (peer, same paths)', value: slow.perSec, unit: 'paths/s' },
  { metric: 'explain()', value: explained.perSec, unit: 'paths/s' },
  { metric: `shouldDescend(), ${dirs.length.toLocaleString('en')} distinct dirs`, value: descend.perSec, unit: 'dirs/s' },
  { metric: 'compileTrack(DEFAULT_TRACK)', value: compileMs, unit: 'ms' },
  { metric: 'tracked among the paths', value: fast.hits, unit: 'paths' },
];

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ bench: 'patterns', budgetMs: BUDGET_MS, generateMs: genMs, rows }));
} else {
  const fmt = (r: Row) => `${r.unit === 'ms' ? r.value.toFixed(2) : Math.round(r.value).toLocaleString('en')} ${r.unit}`;
  for (const r of rows) console.log(`${r.metric.padEnd(64)}${fmt(r).padStart(22)}`);
  console.log(`${'speed-up over the naive loop'.padEnd(64)}${`${(fast.perSec / slow.perSec).toFixed(1)}x`.padStart(22)}`);
}
