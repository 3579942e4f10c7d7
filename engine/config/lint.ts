// Every check of dman.yaml in one pass, each problem placed at its line and column: YAML syntax,
// the schema (types, unknown keys), legacy keys, cross-key rules, patterns, and the checks that
// need the disk (tls_* files, a token in a world-readable file). `dman config lint` and the
// startup of every command run this same function.
import { access } from 'node:fs/promises';
import { hostname as osHostname, homedir as osHomedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { expandPath, type ExpandContext } from '../../shared/config/expand.js';
import { problem, type ConfigProblem, type KeyPath } from '../../shared/config/problem.js';
import type { EffectiveConfig, ModernConfig } from '../../shared/config/schema.js';
import { modernConfigSchema } from '../../shared/config/schema.js';
import { validateConfig } from '../../shared/config/validate.js';
import { DmanError } from '../../shared/errors.js';
import { findConfigFile, readConfigText, type FindOptions } from './find.js';

/** What a lint of one config text needs; machine facts default to the real process. */
export interface LintTextOptions {
  /** The file the text came from (null for "no file: defaults only"). */
  file?: string | null;
  /** The file's permission bits, to warn about a token in a world-readable file. */
  mode?: number;
  env?: Readonly<Record<string, string | undefined>>;
  homedir?: string;
  hostname?: string;
  /** Whether a path exists (injected so tests can fake a missing CA file). */
  exists?: (path: string) => Promise<boolean>;
}

/** The outcome of linting one config: the problems and, when there is no error, the config. */
export interface LintReport {
  file: string | null;
  problems: ConfigProblem[];
  errors: number;
  warnings: number;
  /** The parsed YAML document (for migrate), absent when the YAML itself is malformed. */
  document?: Document;
  modern?: ModernConfig;
  config?: EffectiveConfig;
}

const fileExists = async (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** Lints config text: parses it keeping positions, validates it, runs the disk checks, applies env overrides. */
export async function lintConfigText(text: string, opts: LintTextOptions = {}): Promise<LintReport> {
  const env = opts.env ?? process.env;
  const home = opts.homedir ?? env.HOME ?? osHomedir();
  const file = opts.file ?? null;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, keepSourceTokens: false });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const p = problem('error', [], `malformed YAML: ${e.message.split('\n')[0]}`, yamlHint(e.code));
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      p.line = pos.line;
      p.col = pos.col;
      return p;
    });
    return report(file, problems);
  }
  bareTildeHomes(doc, text);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // yaml refuses alias bombs ("billion laughs") here rather than at parse time.
    return report(file, [problem('error', [], `malformed YAML: ${(err as Error).message}`, 'use fewer aliases (*name); a config never needs this many')]);
  }
  const result = validateConfig(raw, { homedir: home, env, hostname: opts.hostname ?? osHostname() });
  const problems = result.problems;
  // The disk checks run even when the schema refused part of the file (on what it accepted and on
  // the raw value), so one lint lists every problem instead of revealing them one fix at a time.
  problems.push(...await diskProblems({
    modern: result.modern ?? result.partial ?? {}, raw, file, mode: opts.mode,
    expand: { homedir: home, env }, exists: opts.exists ?? fileExists,
  }));
  let config = result.config;
  if (config) {
    if (file) config = anchorRelativePaths(config, dirname(file));
    config = applyEnvOverrides(config, env, problems);
  }
  for (const p of problems) {
    if (p.path.length === 0 && p.key !== '') continue; // from the environment, not the file
    const pos = locate(doc, p.path, lineCounter);
    if (pos) { p.line = pos.line; p.col = pos.col; }
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  const rep = report(file, problems, doc);
  if (result.modern) rep.modern = result.modern;
  if (config && rep.errors === 0) rep.config = config;
  return rep;
}

/** Finds, reads and lints the config file; throws CONFIG_NOT_FOUND / CONFIG_UNREADABLE when there is nothing to lint. */
export async function lintConfigFile(opts: FindOptions & Omit<LintTextOptions, 'file' | 'mode'> = {}): Promise<LintReport & { searched: string[] }> {
  const env = opts.env ?? process.env;
  const homedir = opts.homedir ?? env.HOME ?? osHomedir();
  const found = await findConfigFile({ configPath: opts.configPath, env, cwd: opts.cwd ?? process.cwd(), homedir });
  if (!found.file) {
    throw notFound(found.searched);
  }
  const { text, mode } = await readConfigText(found.file);
  const rep = await lintConfigText(text, { ...opts, env, homedir, file: found.file, mode });
  return { ...rep, searched: found.searched };
}

/** Builds the CONFIG_NOT_FOUND error that lists every place searched. */
export function notFound(searched: string[]): DmanError {
  return new DmanError('CONFIG_NOT_FOUND', `no config file found; looked in ${searched.join(', ')}`, {
    hint: 'run `dman init` to create one, or pass --config FILE (or set DMAN_CONFIG)',
    context: { searched },
  });
}

// In YAML a bare `~` is null, but `home: ~` obviously means "my home": read it as the string.
function bareTildeHomes(doc: Document, text: string): void {
  const users = isMap(doc.contents) ? doc.contents.get('users', true) : undefined;
  if (!isMap(users)) return;
  for (const u of users.items) {
    if (!isMap(u.value)) continue;
    const home = u.value.get('home', true);
    if (isScalar(home) && home.value === null && home.range && text.slice(home.range[0], home.range[1]).trim() === '~') home.value = '~';
  }
}

function report(file: string | null, problems: ConfigProblem[], document?: Document): LintReport {
  const errors = problems.filter((p) => p.severity === 'error').length;
  const rep: LintReport = { file, problems, errors, warnings: problems.length - errors };
  if (document) rep.document = document;
  return rep;
}

function yamlHint(code: string): string {
  if (code === 'DUPLICATE_KEY') return 'keep one of the two entries with the same key';
  if (code === 'TAB_AS_INDENT') return 'indent with spaces, not tabs';
  if (code === 'BAD_INDENT' || code === 'MISSING_CHAR') return 'check the indentation and the `key: value` form of that line';
  if (code === 'BLOCK_AS_IMPLICIT_KEY' || code === 'MULTILINE_IMPLICIT_KEY') return 'put a space after each colon and keep every `key: value` on its own line';
  return 'fix the YAML syntax at that position (quote values that hold `: ` or start with `*`, `&`, `!`, `{`, `[`)';
}

// Returns the position of the deepest node of `path` that exists: the key of a mapping entry, or a list item.
function locate(doc: Document, path: KeyPath, lc: LineCounter): { line: number; col: number } | undefined {
  let node: unknown = doc.contents;
  let range: [number, number, number] | undefined = (doc.contents as YamlNode | null)?.range ?? undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (isScalar(it.key) ? it.key.value : it.key) === seg);
      if (!pair) break;
      range = (pair.key as YamlNode | null)?.range ?? range;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
      const item = node.items[seg] as YamlNode;
      range = item.range ?? range;
      node = item;
    } else break;
  }
  return range ? lc.linePos(range[0]) : undefined;
}

// Relative paths in dman.yaml mean "beside the config file", as in most tools' configs.
function anchorRelativePaths(c: EffectiveConfig, dir: string): EffectiveConfig {
  const abs = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(dir, p));
  const out = structuredClone(c);
  if (out.data_dir !== undefined) out.data_dir = abs(out.data_dir);
  if (out.state_dir !== undefined) out.state_dir = abs(out.state_dir);
  for (const b of [out.redis, out.db]) {
    for (const k of ['tls_ca', 'tls_cert', 'tls_key', 'socket'] as const) if (b[k] !== undefined) b[k] = abs(b[k]);
  }
  return out;
}

interface DiskCheckInput {
  /** The modern form: the whole file, or the part the schema accepted. */
  modern: ModernConfig;
  /** The parsed YAML value, so a secret is found even where the schema refused the file. */
  raw: unknown;
  file: string | null;
  mode: number | undefined;
  expand: ExpandContext;
  exists: (p: string) => Promise<boolean>;
}

// Keys that hold a secret (modern and legacy spellings) and how to get each out of a shared file.
// The token has other homes (`dman login`, DMAN_AUTH_TOKEN); the passwords have none in dman.yaml's
// schema (no env variable, no *_file key), so for them the only fix is a private file.
const tokenHint = (chmod: string) => `${chmod}, or delete auth_token from the file and run \`dman login\` (keeps the token outside it) or set DMAN_AUTH_TOKEN in the environment`;
const passwordHint = (key: string) => (chmod: string) => `${chmod}; ${key} can only be set in this file, so the file must stay private`;
const SECRET_KEYS: ReadonlyArray<{ path: KeyPath; hint: (chmod: string) => string }> = [
  { path: ['auth_token'], hint: tokenHint },
  { path: ['redis', 'password'], hint: passwordHint('redis.password') },
  { path: ['redis_password'], hint: passwordHint('redis_password (redis.password)') },
  { path: ['db', 'password'], hint: passwordHint('db.password') },
  { path: ['maria_password'], hint: passwordHint('maria_password (db.password)') },
];

async function diskProblems(input: DiskCheckInput): Promise<ConfigProblem[]> {
  const { modern, raw, file, mode, exists } = input;
  const out: ConfigProblem[] = [];
  const driver = modern.storage_driver ?? 'disk';
  for (const name of ['redis', 'db'] as const) {
    const isUsed = (name === 'redis' && driver === 'redis') || (name === 'db' && driver === 'mariadb');
    const block = modern[name];
    for (const k of ['tls_ca', 'tls_cert', 'tls_key'] as const) {
      const given = block?.[k];
      if (given === undefined) continue;
      const expanded = expandPath(given, input.expand);
      if (!expanded.ok) continue; // validation already reported the unexpandable path
      const p = file && !isAbsolute(expanded.value) ? resolve(dirname(file), expanded.value) : expanded.value;
      if (await exists(p)) continue;
      out.push(problem(isUsed ? 'error' : 'warning', sourcePath(raw, name, k), `${name}.${k} file ${p} does not exist`,
        isUsed ? 'fix the path or copy the file there' : `fix the path (only used with storage_driver ${name === 'db' ? 'mariadb' : 'redis'})`, given));
    }
    if (block?.tls_cert && !block.tls_key) out.push(problem('error', [name, 'tls_key'], `${name}.tls_cert is set without ${name}.tls_key`, `add ${name}.tls_key (the private key of the client certificate)`));
  }
  if (mode !== undefined && (mode & 0o004) !== 0 && process.platform !== 'win32') { // Windows has no such mode bits
    const chmod = `run \`chmod 600 ${file ?? 'dman.yaml'}\` so only you can read it`;
    for (const { path, hint } of SECRET_KEYS) {
      if (!isSet(valueAt(raw, path))) continue;
      out.push(problem('warning', path, 'a secret is stored in a world-readable config file: any user of this machine can read it', hint(chmod)));
    }
  }
  return out;
}

// Where the user wrote a tls_* key: the nested block, or the legacy flat key it was migrated from.
function sourcePath(raw: unknown, name: 'redis' | 'db', k: string): KeyPath {
  if (valueAt(raw, [name, k]) !== undefined) return [name, k];
  const legacy = `${name === 'redis' ? 'redis' : 'maria'}_${k}`;
  return valueAt(raw, [legacy]) !== undefined ? [legacy] : [name, k];
}

function valueAt(root: unknown, path: KeyPath): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function isSet(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function applyEnvOverrides(c: EffectiveConfig, env: Readonly<Record<string, string | undefined>>, problems: ConfigProblem[]): EffectiveConfig {
  const out = { ...c };
  if (env.DMAN_AUTH_TOKEN) out.auth_token = env.DMAN_AUTH_TOKEN;
  if (env.DMAN_SERVER_URL) {
    const r = modernConfigSchema().shape.server_url.safeParse(env.DMAN_SERVER_URL);
    if (r.success && r.data) out.server_url = r.data;
    else {
      const p = problem('error', [], 'DMAN_SERVER_URL is not an http(s) URL', 'set it like http://192.168.1.10:3626, or unset it to use server_url from the file', env.DMAN_SERVER_URL);
      p.key = 'DMAN_SERVER_URL (environment)';
      problems.push(p);
    }
  }
  return out;
}
