// One sync run per (server, user) across processes (the CLI while the agent watches): a lock
// file created with O_EXCL holding the owner's pid; a lock whose process is gone is taken over.
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DmanError } from '../../shared/errors.js';

/** Releases a held lock. */
export type Release = () => Promise<void>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock at `file`, waiting up to `waitMs` for another live holder; throws DmanError IO when it stays held. */
export async function acquireRunLock(file: string, opts: { waitMs?: number; what?: string } = {}): Promise<Release> {
  const deadline = Date.now() + (opts.waitMs ?? 30_000);
  await mkdir(dirname(file), { recursive: true });
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => { await rm(file, { force: true }); };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
      // A crashed run left it behind (or it is being written right now: then retry shortly).
      if (Number.isInteger(owner) && owner > 0) await rm(file, { force: true });
      else await new Promise((r) => setTimeout(r, delay));
      continue;
    }
    if (Date.now() > deadline) {
      throw new DmanError('IO', `another dman process (pid ${owner}) is syncing ${opts.what ?? 'this user'} right now`, { hint: 'wait for it to finish (or stop `dman watch` / the agent) and run again', context: { file, pid: owner } });
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}
