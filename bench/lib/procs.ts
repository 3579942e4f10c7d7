// Child processes of a bench: every one is tracked by PID and stopped at the end (never by name),
// and peak memory is read from the kernel (VmHWM, or GNU time's %M for short-lived commands).
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

/** Returns the peak resident set size of a running process in MB (VmHWM), or NaN when it is gone. */
export function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Returns the PIDs of every descendant of `pid` (children first), read from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let kids: number[] = [];
    try {
      kids = readdirSync(`/proc/${p}/task`).flatMap((t) => {
        try { return readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
      });
    } catch { /* gone */ }
    for (const k of kids) { out.push(k); visit(k); }
  };
  visit(pid);
  return out;
}

/** Returns the summed peak RSS in MB of a process and its descendants (a supervisor that forks its worker counts both). */
export function treePeakRssMb(pid: number): number {
  return [pid, ...descendants(pid)].map(peakRssMb).filter(Number.isFinite).reduce((a, b) => a + b, 0) || NaN;
}

/** Runs a command to completion under GNU time and returns its wall ms, its peak RSS in MB and its stdout. */
export function runMeasured(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; okCodes?: number[] } = {}): { ms: number; rssMb: number; stdout: string } {
  const out = join(tmpdir(), `dman-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', out, cmd, ...args], { env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 256 << 20, timeout: opts.timeoutMs ?? 600_000 });
  const ms = performance.now() - t;
  let rssMb = NaN;
  try { rssMb = Number(readFileSync(out, 'utf8').trim().split('\n').pop()) / 1024; } catch { /* time wrote nothing: killed */ }
  rmSync(out, { force: true });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')} did not finish: ${r.error.message}`);
  if (!(opts.okCodes ?? [0]).includes(r.status ?? -1)) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).slice(0, 2000)}`);
  }
  return { ms, rssMb, stdout: r.stdout };
}

/** Tracks the long-running children of a bench so that one call stops them all, each by its PID. */
export interface ChildSet {
  /** Spawns and tracks a child. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Stops one child: SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(child: ChildProcess, graceMs?: number): Promise<void>;
  /** Stops every child still running. */
  stopAll(): Promise<void>;
}

/** Creates an empty ChildSet. */
export function createChildSet(): ChildSet {
  const children = new Set<ChildProcess>();
  const stop = async (c: ChildProcess, graceMs = 10_000): Promise<void> => {
    children.delete(c);
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
    // A supervisor (syncthing's monitor) may leave its worker behind: stop those by PID too.
    const orphans = descendants(c.pid);
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
    for (const pid of orphans) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    }
  };
  return {
    spawn(cmd, args, opts = {}) {
      const c = spawn(cmd, args, opts);
      children.add(c);
      c.once('exit', () => children.delete(c));
      return c;
    },
    stop,
    async stopAll() { await Promise.all([...children].map((c) => stop(c))); },
  };
}
