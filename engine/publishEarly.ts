// The bytes a full run's scan read whole, kept for the rest of the run (one read per small file
// serves the hash, the secret check and the upload), and the early upload: while the scan is
// still hashing, the blobs of files that passed the secret check go up in bulk batches, so the
// server stores them while the client walks and hashes the rest. Nothing is committed here: the
// commit (after the plan) uses a blob only once the server acknowledged it (`stored`).
import type { StatCacheEntry } from './scan/scan.js';
import { releaseBuffers } from './util/releaseBuffer.js';

/** What the run does with the bytes of a file the scan read whole. */
export type ContentUse =
  /** Keep them for the secret check and the upload, and send them now (they passed the secret check). */
  | 'upload'
  /** Keep them for the secret check and the upload only (a secret, or a run that may not upload yet). */
  | 'keep'
  /** Not needed (the file is as the last sync left it). */
  | 'drop';

export interface ScanContents {
  /** Takes the bytes the scan read of `path` (they hash to `entry.hash`), or (null) learns of a larger file the scan streamed. */
  offer(path: string, data: Buffer | null, entry: StatCacheEntry): void;
  /**
   * Asked by the scan between its slices: while the bytes held are past `pauseBytes` and uploads
   * are in flight, a promise that resolves when the next one is answered (the scan waits for it,
   * and asks again), so the bytes read ahead of the server stay bounded; null: go on.
   */
  wait(): Promise<void> | null;
  /** Sends the batch still being filled (the scan is over). */
  flush(): void;
  /** Resolves once every early upload was answered (never rejects: a refused batch goes up again the usual way). */
  settle(): Promise<void>;
  /**
   * The run will not publish (it stopped, or it is over): sends nothing more (the batch being
   * filled, queued batches and larger files are dropped) and resolves once the uploads in flight
   * were answered, so nothing goes up after the run returned.
   */
  stop(): Promise<void>;
  /** Whole bytes kept for `path` (matching the scan's hash), if any. */
  take(path: string): Buffer | undefined;
  /** Whole bytes kept for `path`, left in place. */
  peek(path: string): Buffer | undefined;
  /** Hashes the server acknowledged storing; once settled, the publish adds what it uploads itself (one set, not a copy per run). */
  readonly stored: Set<string>;
  /** Path → hash of files whose bytes passed the secret check (their bytes are let go once the server stored them). */
  readonly cleared: ReadonlyMap<string, string>;
  /**
   * Path → the hash the scan saw of every file whose kept bytes this run may publish, or that goes
   * up early from disk (re-checked before the commit against the stat cache, which holds the rest
   * of what the scan saw). A hash, not the entry: at 100,000 files the entries cost ~15 MB.
   */
  readonly seen: ReadonlyMap<string, string>;
  /** Bytes held now (kept plus in flight). */
  readonly heldBytes: number;
}

export interface ScanContentsOptions {
  /** What to do with a file's bytes (null: a larger file the scan streamed, checked by putLarge). */
  use(path: string, data: Buffer | null, hash: string): ContentUse;
  /** Sends one bulk batch; resolves once the server stored every blob of it. Undefined: no early upload. */
  put?: (blobs: Array<{ hash: string; data: Uint8Array }>) => Promise<void>;
  /**
   * Sends a larger file from disk (after its own secret check); resolves true once the server
   * stored it under `entry.hash` (it verifies the hash), false when it was not sent or not stored.
   */
  putLarge?: (path: string, entry: StatCacheEntry) => Promise<boolean>;
  /** Bytes held at most (kept and in flight); past it the run reads a file again when it needs it. */
  maxBytes: number;
  /** Bytes held past which the scan waits for an upload in flight to be answered (see wait; default maxBytes). */
  pauseBytes?: number;
  batchFiles: number;
  /**
   * Files in the first batch (default batchFiles); each next batch holds twice as many, up to
   * batchFiles. A run with a few changes sends them while it still walks (the server stores them
   * meanwhile) instead of in one batch when the scan is over.
   */
  firstBatchFiles?: number;
  batchBytes: number;
  /** Batches in flight at most. */
  concurrency: number;
  /** A batch the server refused (its blobs go up again with the publish). */
  onRefused?: (err: unknown, blobs: number) => void;
}

interface Pending { path: string; hash: string; data: Buffer }
type Job = Pending[] | { path: string; entry: StatCacheEntry };

export function createScanContents(opts: ScanContentsOptions): ScanContents {
  const kept = new Map<string, Buffer>();
  const stored = new Set<string>();
  const cleared = new Map<string, string>();
  const seen = new Map<string, string>();
  let held = 0;
  let batch: Pending[] = [];
  let batchBytes = 0;
  let batchFiles = Math.max(1, Math.min(opts.batchFiles, opts.firstBatchFiles ?? opts.batchFiles));
  const queue: Job[] = [];
  /** Larger files wait for the end of the scan: their streams (and the HEAD before) need the event loop, which a blocking scan holds. */
  const large: Job[] = [];
  let scanning = true;
  let stopped = false;
  let inFlight = 0;
  let idle: Promise<void> = Promise.resolve();
  let wake: (() => void) | null = null;
  /** What wait() hands out: resolved when the next job in flight is answered. */
  let answered: Promise<void> | null = null;
  let answer: (() => void) | null = null;
  const pauseBytes = opts.pauseBytes ?? opts.maxBytes;

  const start = (job: Job): void => {
    inFlight++;
    if (!wake) idle = new Promise<void>((r) => { wake = r; });
    (Array.isArray(job) ? sendBatch(job) : sendLarge(job)).finally(() => {
      inFlight--;
      if (answer) { const a = answer; answer = null; answered = null; a(); }
      const next = queue.shift();
      if (next) start(next);
      else if (inFlight === 0) { const w = wake; wake = null; w?.(); }
    });
  };
  const run = (job: Job): void => {
    if (inFlight < opts.concurrency) start(job); else queue.push(job);
  };
  const sendLarge = (job: { path: string; entry: StatCacheEntry }): Promise<void> =>
    opts.putLarge!(job.path, job.entry).then((ok) => { if (ok) stored.add(job.entry.hash); }, (err: unknown) => opts.onRefused?.(err, 1));
  const sendBatch = (list: Pending[]): Promise<void> =>
    opts.put!(list.map((p) => ({ hash: p.hash, data: p.data }))).then(() => {
      const done: Buffer[] = [];
      for (const p of list) {
        stored.add(p.hash);
        // The bytes passed the secret check and the server holds them: the verdict is all the run needs now.
        if (kept.get(p.path) === p.data) {
          kept.delete(p.path);
          held -= p.data.length;
          done.push(p.data);
        }
      }
      // Nothing reads them any more: their memory goes now, not at V8's next full GC (they lived
      // through scavenges while the batch was in flight, so only a mark-compact would find them).
      // A first publish of 100,000 files otherwise carried 50-70 MB of such bytes at its peak.
      releaseBuffers(done);
    }, (err: unknown) => opts.onRefused?.(err, list.length));
  const send = (): void => {
    if (batch.length === 0) return;
    const list = batch;
    batch = [];
    batchBytes = 0;
    batchFiles = Math.min(opts.batchFiles, batchFiles * 2);
    run(list);
  };

  return {
    offer(path, data, entry) {
      if (stopped) return;
      if (data === null) {
        if (opts.putLarge && opts.use(path, null, entry.hash) === 'upload') {
          // Its blob may go up long before the commit: the file is lstat-ed again before that too.
          seen.set(path, entry.hash);
          if (scanning) large.push({ path, entry }); else run({ path, entry });
        }
        return;
      }
      if (held + data.length > opts.maxBytes) return;
      const use = opts.use(path, data, entry.hash);
      if (use === 'drop') return;
      kept.set(path, data);
      held += data.length;
      seen.set(path, entry.hash);
      if (use !== 'upload' || !opts.put) return;
      cleared.set(path, entry.hash);
      batch.push({ path, hash: entry.hash, data });
      batchBytes += data.length;
      if (batch.length >= batchFiles || batchBytes >= opts.batchBytes) send();
    },
    wait: () => {
      if (stopped || held < pauseBytes) return null;
      // The batch being filled goes up now: its bytes are what the answer frees.
      send();
      // Nothing in flight or queued would free any (bytes kept for a secret, or a run that does
      // not upload early): go on; past maxBytes offer keeps no more.
      if (inFlight === 0) return null;
      return (answered ??= new Promise<void>((r) => { answer = r; }));
    },
    flush: () => {
      if (stopped) return;
      scanning = false;
      send();
      for (const job of large.splice(0)) run(job);
    },
    settle: async () => {
      send();
      while (inFlight > 0 || queue.length > 0) await idle;
    },
    stop: async () => {
      stopped = true;
      batch = [];
      batchBytes = 0;
      queue.length = 0;
      large.length = 0;
      while (inFlight > 0) await idle;
    },
    take(path) {
      const data = kept.get(path);
      if (data) { kept.delete(path); held -= data.length; }
      return data;
    },
    peek: (path) => kept.get(path),
    stored,
    cleared,
    seen,
    get heldBytes() { return held; },
  };
}
