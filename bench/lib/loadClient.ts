// One simulated device for the load bench: it speaks the real /v1 protocol through the engine's
// own HTTP client (createHttpRemote, with retries off so that every failure counts) and does what
// a syncing machine does: uploads new versions of its files (1–64 KiB, seeded sizes and bytes),
// commits them in batches with compare-and-swap base revs, polls the change feed, downloads what
// other devices of its user changed, and asks for a no-op compare (changes since the head it has).
import { createHash, randomUUID } from 'node:crypto';
import { createHttpRemote } from '../../engine/remote/HttpRemote.js';
import type { Remote } from '../../engine/remote/Remote.js';
import type { CommitOpInput, Entry } from '../../shared/protocol.js';

/** The kinds of request the load bench times separately. */
export const opKinds = ['upload', 'commit', 'changes', 'download', 'noop'] as const;
export type OpKind = (typeof opKinds)[number];

/** What a client measured: latencies (ms) per kind, errors with their first messages, and what it committed. */
export interface ClientResult {
  latencies: Record<OpKind, number[]>;
  errors: Record<OpKind, number>;
  /** Up to 5 error messages, for the report. */
  firstErrors: string[];
  /** path → hash of every file this client committed last (to check against the server afterwards). */
  committed: Map<string, string>;
  bytesUp: number;
  bytesDown: number;
}

export interface LoadClientOptions {
  url: string;
  token: string;
  user: string;
  device: string;
  seed: number;
  /** Stop starting new steps after this time (ms since the epoch). */
  deadline: number;
  /** Stop after this many steps even before the deadline. */
  maxSteps: number;
  /** Files this client owns (its paths never collide with another client's, so a 409 is an error). */
  files?: number;
  /** Per-request timeout, downloads included. */
  timeoutMs?: number;
}

const KiB = 1024;

/** A small, fast seeded PRNG (mulberry32): the same seed gives the same sizes, paths and bytes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns `n` pseudo-random bytes from `rand`. */
function bytes(rand: () => number, n: number): Buffer {
  const words = new Uint32Array(Math.ceil(n / 4));
  for (let i = 0; i < words.length; i++) words[i] = (rand() * 4294967296) >>> 0;
  return Buffer.from(words.buffer, 0, n);
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => { t = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(t));
}

/** Runs one client until its deadline or step limit and returns what it measured. Never throws: failures are counted. */
export async function runLoadClient(o: LoadClientOptions): Promise<ClientResult> {
  const rand = prng(o.seed);
  const timeoutMs = o.timeoutMs ?? 30_000;
  const remote: Remote = createHttpRemote({ url: o.url, token: o.token, retries: 0, timeoutMs });
  const nFiles = o.files ?? 40;
  const latencies = Object.fromEntries(opKinds.map((k) => [k, [] as number[]])) as Record<OpKind, number[]>;
  const errors = Object.fromEntries(opKinds.map((k) => [k, 0])) as Record<OpKind, number>;
  const res: ClientResult = { latencies, errors, firstErrors: [], committed: new Map(), bytesUp: 0, bytesDown: 0 };
  /** This client's files: path → the rev it last committed (its base for the next change). */
  const revs = new Map<string, number>();
  /** Other devices' newest entries seen in the feed, to download (path → entry). */
  const toFetch = new Map<string, Entry>();
  let cursor = 0;
  let head = 0;
  let version = 0;

  const timed = async <T>(kind: OpKind, fn: () => Promise<T>): Promise<T | undefined> => {
    const t = performance.now();
    try {
      const out = await fn();
      latencies[kind].push(performance.now() - t);
      return out;
    } catch (err) {
      errors[kind] += 1;
      if (res.firstErrors.length < 5) res.firstErrors.push(`${o.user}/${o.device} ${kind}: ${(err as Error).message}`);
      return undefined;
    }
  };

  /** Uploads new versions of 1–4 of this client's files (each its own PUT), then commits them as one batch. */
  async function edit(): Promise<void> {
    const n = 1 + Math.floor(rand() * 4);
    const ops: CommitOpInput[] = [];
    const picked = new Set<string>();
    for (let i = 0; i < n; i++) {
      const path = `.config/load/${o.device}/f${Math.floor(rand() * nFiles)}.conf`;
      if (picked.has(path)) continue;
      picked.add(path);
      const size = KiB + Math.floor(rand() * 63 * KiB); // 1–64 KiB
      const data = bytes(rand, size);
      data.write(`${o.user}/${o.device} v${version++}\n`, 0, 'latin1'); // never the same bytes twice
      const hash = sha256(data);
      // A failed upload is counted; the batch is then dropped (committing it would only fail again).
      if (!(await timed('upload', async () => { await remote.putBlob(o.user, hash, data, size); return true; }))) return;
      res.bytesUp += size;
      ops.push({ path, baseRev: revs.get(path) ?? 0, kind: 'file', hash, size, mode: 0o644, mtime: Date.now() });
    }
    const out = await timed('commit', async () => {
      const r = await remote.commit(o.user, ops, { idempotencyKey: randomUUID(), device: o.device });
      if (!r.ok) throw new Error(`commit conflicted on ${r.conflicts.map((c) => c.path).join(', ')} although only this client writes these paths`);
      return r;
    });
    if (!out) return;
    for (const e of out.entries) {
      revs.set(e.path, e.rev);
      if (e.hash) res.committed.set(e.path, e.hash);
    }
  }

  /** Reads the change feed since the last rev it saw (every page), keeping other devices' newest entries to download. */
  async function poll(): Promise<void> {
    await timed('changes', async () => {
      for (let page = 0; page < 100; page++) {
        const r = await remote.changes(o.user, cursor, 1000);
        for (const e of r.entries) {
          if (e.device !== o.device && !e.deleted && e.hash) toFetch.set(e.path, e);
          cursor = Math.max(cursor, e.rev);
        }
        head = Math.max(head, r.headRev);
        if (!r.more || r.entries.length === 0) break;
      }
    });
    // A real client installs at most what it can hold: keep the newest 200.
    while (toFetch.size > 200) toFetch.delete(toFetch.keys().next().value!);
  }

  /** Downloads one changed file of another device and checks its bytes against the hash in the feed. */
  async function download(): Promise<void> {
    const [path, e] = toFetch.entries().next().value!;
    toFetch.delete(path);
    await timed('download', () => withTimeout((async () => {
      const h = createHash('sha256');
      let n = 0;
      for await (const c of await remote.getBlob(o.user, e.hash!)) { h.update(c as Buffer); n += (c as Buffer).length; }
      if (h.digest('hex') !== e.hash) throw new Error(`the blob of ${path} (rev ${e.rev}) came back with other bytes`);
      res.bytesDown += n;
    })(), timeoutMs, `download of ${path}`));
  }

  /** A no-op compare: the changes since the head it already has (what an idle synced machine asks). */
  async function noop(): Promise<void> {
    await timed('noop', async () => { head = Math.max(head, (await remote.changes(o.user, head, 1000)).headRev); });
  }

  for (let step = 0; step < o.maxSteps && Date.now() < o.deadline; step++) {
    const r = rand();
    if (r < 0.35) await edit();
    else if (r < 0.6) await poll();
    else if (r < 0.85 && toFetch.size > 0) await download();
    else await noop();
  }
  return res;
}
