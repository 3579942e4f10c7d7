// One sync run per (server, user) across processes (the CLI while the agent watches): a lock
// file created with O_EXCL holding the owner's pid; a lock whose process is gone is taken over.
import { link, mkdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DmanError } from '../../shared/errors.js';
import { processAlive as alive } from '../util/processAlive.js';

/** How old a lock without a pid must be before it counts as left behind by a crash. */
const STALE_EMPTY_LOCK_MS = 5_000;

/** Releases a held lock. */
export type Release = () => Promise<void>;


/** Removes a file; one syscall where rm({ force }) makes three (it is called on every run). */
async function unlinkIfThere(file: string): Promise<void> {
  await unlink(file).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
}

/** Takes the lock at `file`, waiting up to `waitMs` for another live holder; throws DmanError IO when it stays held. */
export async function acquireRunLock(file: string, opts: { waitMs?: number; what?: string } = {}): Promise<Release> {
  const deadline = Date.now() + (opts.waitMs ?? 30_000);
  await mkdir(dirname(file), { recursive: true });
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    // The lock appears with its pid already in it (written to a temp file, then hard-linked into
    // place, which fails with EEXIST when held), so a crash can never leave an empty lock behind.
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    try {
      await writeFile(tmp, String(process.pid), { mode: 0o600 });
      await link(tmp, file);
      return async () => { await unlinkIfThere(file); };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlinkIfThere(tmp);
    }
    const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    const hasOwner = Number.isInteger(owner) && owner > 0;
    if (!hasOwner || !alive(owner)) {
      // The holder is gone, or the lock holds no pid (an older dman that crashed while writing it):
      // take it over. A pid-less lock younger than a few seconds may still be being written.
      const age = Date.now() - ((await stat(file).catch(() => null))?.mtimeMs ?? 0);
      if (hasOwner || age > STALE_EMPTY_LOCK_MS) await rm(file, { force: true });
      else await new Promise((r) => setTimeout(r, delay));
      continue;
    }
    if (Date.now() > deadline) {
      throw new DmanError('IO', `another dman process (pid ${owner}) is syncing ${opts.what ?? 'this user'} right now`, { hint: 'wait for it to finish (or stop `dman watch` / the agent) and run again', context: { file, pid: owner } });
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}
