// Timing helpers for the benches: wall time of a child command, waits with a deadline, medians.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Returns the median of `xs` (NaN for none). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Returns the p-th percentile of `xs` by the nearest-rank method (NaN for none). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Runs a command to completion and returns its wall time in ms; a failure throws with its stderr. */
export function timedRun(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; okCodes?: number[] } = {}): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, encoding: 'utf8', maxBuffer: 256 << 20, timeout: opts.timeoutMs ?? 600_000 });
  const ms = performance.now() - t;
  if (r.error) throw new Error(`${cmd} ${args.join(' ')} did not finish: ${r.error.message}`);
  if (!(opts.okCodes ?? [0]).includes(r.status ?? -1)) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).slice(0, 2000)}`);
  }
  return ms;
}

/** Runs `fn` `runs` times (after `warmup` unmeasured runs) and returns the median ms. */
export async function medianOf(runs: number, fn: () => number | Promise<number>, warmup = 1): Promise<{ median: number; all: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const all: number[] = [];
  for (let i = 0; i < runs; i++) all.push(await fn());
  return { median: median(all), all };
}

/** Polls `cond` until it holds, or throws after `ms` naming `what`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Busy and total CPU time of all cores so far (jiffies, /proc/stat); null where there is none. */
export function cpuTimes(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
  } catch {
    return null;
  }
}

/**
 * Waits until the machine is quiet: busy CPU (all cores) under `maxBusy` of the time in two
 * windows of `windowMs` in a row, or until `timeoutMs`. After a bulk write (a first publish, an
 * install, unison's first copy) a database flushes and purges and the kernel writes back for
 * seconds: a no-op measured then measures their housekeeping. Returns how long it waited and the
 * busy share of the last window (NaN and at once where /proc/stat is missing).
 */
export async function settle(opts: { maxBusy?: number; windowMs?: number; timeoutMs?: number; read?: typeof cpuTimes } = {}): Promise<{ waitedMs: number; busy: number }> {
  const maxBusy = opts.maxBusy ?? 0.1, windowMs = opts.windowMs ?? 300, timeoutMs = opts.timeoutMs ?? 20_000, read = opts.read ?? cpuTimes;
  const t0 = performance.now();
  let prev = read();
  if (prev === null) return { waitedMs: 0, busy: NaN };
  let quiet = 0, busy = NaN;
  while (performance.now() - t0 < timeoutMs) {
    await new Promise((r) => setTimeout(r, windowMs));
    const now = read();
    if (now === null) break;
    busy = (now.busy - prev.busy) / Math.max(1, now.total - prev.total);
    prev = now;
    quiet = busy < maxBusy ? quiet + 1 : 0;
    if (quiet >= 2) break;
  }
  return { waitedMs: performance.now() - t0, busy };
}

/** Dirty and under-writeback page cache in MB from the text of /proc/meminfo; null when it names neither. */
export function unwrittenMb(meminfo: string): number | null {
  let kb = 0, seen = false;
  for (const m of meminfo.matchAll(/^(Dirty|Writeback):\s+(\d+) kB$/gm)) { kb += Number(m[2]); seen = true; }
  return seen ? kb / 1024 : null;
}

/**
 * Writes the page cache's dirty data out (`sync`) before a measured step, so that the bench's own
 * earlier writes (a 100,000-file home is 1.4 GB, and a publish, an install and unison's copy write
 * it again) are not flushed in the middle of a no-op and of its peer's run. Returns how many MB
 * were waiting (null where /proc/meminfo is not there) and how long the flush took.
 */
export function flushWrites(read: () => string | null = () => { try { return readFileSync('/proc/meminfo', 'utf8'); } catch { return null; } }): { unwrittenMb: number | null; ms: number } {
  const text = read();
  const t = performance.now();
  if (text !== null) spawnSync('sync', [], { stdio: 'ignore', timeout: 300_000 });
  return { unwrittenMb: text === null ? null : unwrittenMb(text), ms: performance.now() - t };
}
