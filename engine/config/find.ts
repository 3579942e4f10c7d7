// Where dman.yaml is looked for, and reading it with errors that say what to do.
import { readFile, stat } from 'node:fs/promises';
import { configCandidates } from './candidates.js';
import { DmanError } from '../../shared/errors.js';

/** Where to look and what the machine looks like; every field defaults to the real process. */
export interface FindOptions {
  /** `--config FILE`: used as is, never falls back to the search. */
  configPath?: string;
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  homedir?: string;
}

/** The file found (or null) and every place that was searched, in order. */
export interface FindResult {
  file: string | null;
  searched: string[];
  /** True when the file came from --config or DMAN_CONFIG, so a missing file is an error. */
  isExplicit: boolean;
}

export { configCandidates };

/** Finds the config file; an explicit path (--config, DMAN_CONFIG) is returned even when missing so the read reports it. */
export async function findConfigFile(opts: Required<Pick<FindOptions, 'env' | 'cwd' | 'homedir'>> & { configPath?: string }): Promise<FindResult> {
  const candidates = configCandidates(opts);
  const searched: string[] = [];
  for (const c of candidates) {
    searched.push(c.path);
    if (c.isExplicit) return { file: c.path, searched, isExplicit: true };
    try {
      await stat(c.path);
      return { file: c.path, searched, isExplicit: false };
    } catch (err) {
      // Anything but "not there" (EACCES on a parent, ENOTDIR…) means the file is there but unusable: report it.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return { file: c.path, searched, isExplicit: false };
    }
  }
  return { file: null, searched, isExplicit: false };
}

/** The largest config file dman reads (a typo'd --config pointing at a disk image should fail fast). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** The config file's text and permission bits. */
export interface ConfigText { text: string; mode: number }

/** Reads the config file, turning every failure into CONFIG_NOT_FOUND or CONFIG_UNREADABLE naming the file. */
export async function readConfigText(file: string): Promise<ConfigText> {
  let mode: number;
  try {
    const st = await stat(file);
    if (st.isDirectory()) {
      throw new DmanError('CONFIG_UNREADABLE', `${file} is a directory, not a config file`, { hint: 'point --config (or DMAN_CONFIG) at the dman.yaml file inside it', context: { file } });
    }
    if (st.size > MAX_CONFIG_BYTES) {
      throw new DmanError('CONFIG_INVALID', `${file} is ${st.size} bytes; a config file is at most ${MAX_CONFIG_BYTES} bytes`, { hint: 'point --config at your dman.yaml', context: { file } });
    }
    mode = st.mode;
  } catch (err) {
    if (err instanceof DmanError) throw err;
    throw readError(file, err);
  }
  try {
    const text = await readFile(file, 'utf8');
    if (text.includes('\u0000')) {
      throw new DmanError('CONFIG_INVALID', `${file} is not a text file (it holds NUL bytes)`, { hint: 'point --config at your dman.yaml', context: { file } });
    }
    return { text, mode };
  } catch (err) {
    if (err instanceof DmanError) throw err;
    throw readError(file, err);
  }
}

function readError(file: string, err: unknown): DmanError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new DmanError('CONFIG_NOT_FOUND', `config file ${file} does not exist`, { hint: 'check the path, or run `dman init` to create one', context: { file }, cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new DmanError('CONFIG_UNREADABLE', `cannot read config file ${file}: permission denied`, { hint: `make it readable by this user (chmod 600 ${file} as its owner)`, context: { file }, cause: err });
  }
  if (code === 'EISDIR') {
    return new DmanError('CONFIG_UNREADABLE', `${file} is a directory, not a config file`, { hint: 'point --config at the dman.yaml file inside it', context: { file }, cause: err });
  }
  return new DmanError('CONFIG_UNREADABLE', `cannot read config file ${file}: ${(err as Error).message}`, { hint: 'check the file and its permissions', context: { file }, cause: err });
}
