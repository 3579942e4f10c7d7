// One writer per disk data dir: a lock file naming the owning process. The disk driver keeps
// its index in memory, so a second server process on the same dir would corrupt it.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DmanError } from '../../../shared/errors.js';

/** Lock files this process holds; a lock naming our pid but absent here is a stale one from a previous process that had the same pid (containers). */
const heldHere = new Set<string>();

interface LockInfo { pid: number; host: string; since: number; id: string }

/** Releases a held data-dir lock. */
export type ReleaseLock = () => Promise<void>;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(path: string): Promise<LockInfo | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockInfo;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { pid: -1, host: '', since: 0, id: 'unreadable' }; // a torn lock file is stale
  }
}

/**
 * Takes the lock `dir/lock` or throws DmanError STORE_UNAVAILABLE naming the process that holds
 * it. A lock left by a dead process (kill -9, power cut) is taken over.
 */
export async function lockDataDir(dir: string): Promise<ReleaseLock> {
  const path = join(dir, 'lock');
  const me: LockInfo = { pid: process.pid, host: hostname(), since: Date.now(), id: randomBytes(8).toString('hex') };
  for (let attempt = 0; attempt < 5; attempt++) {
    const tmp = join(dir, `.lock.${me.id}`);
    await writeFile(tmp, JSON.stringify(me));
    try {
      await link(tmp, path); // atomic: fails when a lock exists
      heldHere.add(path);
      await rm(tmp, { force: true });
      return async () => {
        heldHere.delete(path);
        const cur = await readLock(path);
        if (cur?.id === me.id) await rm(path, { force: true });
      };
    } catch (err) {
      await rm(tmp, { force: true });
      // ENOENT: the holder's open swept our temp file away; look at the lock it holds.
      if (!['EEXIST', 'ENOENT'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
    const cur = await readLock(path);
    if (!cur) continue;
    const sameHost = cur.host === me.host;
    const live = sameHost && (cur.pid === process.pid ? heldHere.has(path) : isAlive(cur.pid));
    if (live || !sameHost) {
      throw new DmanError('STORE_UNAVAILABLE', `The data dir ${dir} is already in use by process ${cur.pid} on ${cur.host || 'this host'} (since ${new Date(cur.since).toISOString()})`, {
        hint: sameHost
          ? 'The disk driver allows one server per data dir: stop the other `dman serve`, use another --data-dir, or use Redis/MariaDB to run several servers.'
          : `The lock was taken on another host; if that server is gone for good, delete ${path}.`,
        context: { driver: 'disk', file: path, pid: cur.pid },
      });
    }
    // Stale: move it aside (atomic), then try again; a racing opener fails the link above.
    await rename(path, join(dir, `.lock.stale.${me.id}`)).catch(() => {});
    await rm(join(dir, `.lock.stale.${me.id}`), { force: true });
  }
  throw new DmanError('STORE_UNAVAILABLE', `Could not take the lock of data dir ${dir} after 5 attempts`, { context: { driver: 'disk', file: path } });
}
