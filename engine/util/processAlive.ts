// Whether a pid names a running process on this machine (a lock's owner, a temp file's writer).

/** True when a process with this pid runs here (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
