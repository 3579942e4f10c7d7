// The production single-server driver: everything under one data dir.
//
//   lock               one writer per data dir (disk/dataDirLock.ts)
//   format.json        layout version (2: packs; a format-1 dir is upgraded in place at open)
//   packs/<n>.pack     small blobs (up to HELD_BLOB_BYTES), appended back to back: one write and
//                      one fdatasync per group of uploads, then one journal record `pack` names
//                      each blob's place (pack, offset, length). Bytes no record names (a torn
//                      append, a copy that lost a race) are never read: the newest pack is cut to
//                      its last recorded byte at open, packs nothing points into are deleted, and
//                      gc compacts a pack once more than half of it is dead (live blobs copied to
//                      the current pack and fsynced, the move journaled, then the old pack deleted;
//                      a crash at any step leaves either the old places or the new ones recorded).
//   blobs/ab/cdef…     large blobs, one file each: written to tmp/, hash-verified, fsynced, renamed.
//                      Data dirs from before packs hold every blob here; they are read as they are
//                      (no migration), and new small uploads go to packs.
//   journal.log        write-ahead journal: one checksummed line per commit / upload / retention /
//                      gc / token change, fsynced before the change is applied or acknowledged
//   snapshot.jsonl     the whole metadata state as of journal seq N (written atomically when the
//                      journal grows past `compactBytes` or the last snapshot's size, whichever is
//                      larger, and at close; then the journal is emptied)
//   audit.jsonl        append-only audit trail (checksummed lines)
//   tmp/               uploads in flight; emptied at open
//
// The metadata (manifests, history, ownership, tokens) lives in memory, loaded at open from the
// snapshot plus the journal, so reads never touch the disk and never rehash content, and a commit
// costs one journal append (O(batch), not O(manifest)). A kill -9 at any point leaves each batch
// either wholly in the journal (applied at the next open) or absent: a torn last line was never
// acknowledged and is cut off; a damaged line followed by good ones is STORE_CORRUPT.
//
// A packed blob is read whole (it is small) and its hash checked before it is served: unlike a
// blob file, a pack is shared by many blobs, so a wrong place would otherwise serve another blob's
// bytes. A mismatch is STORE_CORRUPT.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, type FileHandle, readdir, readFile, rename, rm, stat, statfs, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DmanError } from '../../shared/errors.js';
import type { Entry } from '../../shared/protocol.js';
import { fsyncDir, isTempName, writeFileAtomic } from '../../engine/fs/atomic.js';
import { silentLogger, type Logger } from '../../engine/log.js';
import { mapLimit } from '../../engine/util/mapLimit.js';
import { consumeVerified } from './blobStream.js';
import { assertHash, assertSameBatch, assertUserName, batchDigest, blobsNamedBy, entryFromOp, findConflicts, gcCutoff, missingBlobsError, validateCommit, versionsToDrop, liveTotals, revokedToken } from './commitRules.js';
import { lockDataDir, type ReleaseLock } from './disk/dataDirLock.js';
import { encodeRecord, ioError, Journal, scanJournal } from './disk/journal.js';
import { PackFiles, type PackLoc } from './disk/packs.js';
import { filterAudit } from './MemoryStore.js';
import { createNotifier } from './notifier.js';
import type {
  AuditQuery, AuditRecord, BlobUpload, ChangesPage, CommitInput, CommitOutcome, GcOptions, PutBlobResult, RetentionPolicy, RetentionScope, Store, StoreHealth, TokenRecord, Unsubscribe, UserStats,
} from './Store.js';

/** Layout version of the data dir; a newer one is refused (SCHEMA_TOO_NEW). */
export const DISK_FORMAT = 2;
/** Free space below which health() warns. */
const LOW_DISK_BYTES = 256 * 1024 * 1024;
/** Idempotency keys remembered per user (oldest forgotten first). */
export const IDEMPOTENCY_KEYS_PER_USER = 256;

export interface DiskStoreOptions {
  dataDir: string;
  log?: Logger;
  /** fsync journal, blobs and snapshots (default true; false only for speed tests). */
  fsync?: boolean;
  /**
   * Journal size that triggers a snapshot (default 16 MiB), or the last snapshot's size when that
   * is larger: each snapshot rewrites the whole state, so a fixed threshold made a growing store
   * (a first publish of 100,000 files) write one every 16 MiB of journal, each larger than the last.
   */
  compactBytes?: number;
}

type CommitRec = { t: 'commit'; s: number; user: string; now: number; key?: string; digest?: string; entries: Entry[] };
type JournalRec =
  | CommitRec
  | { t: 'own'; s: number; user: string; hash: string; size: number }
  /** Packed blobs stored (or moved by a compaction): [hash, offset, length] in pack `pack`. */
  | { t: 'pack'; s: number; pack: number; blobs: Array<[string, number, number]> }
  | { t: 'ret'; s: number; user: string; drop: Array<[string, number]> }
  | { t: 'gc'; s: number; hashes: string[] }
  | { t: 'tok'; s: number; rec: TokenRecord }
  | { t: 'revoke'; s: number; id: string; now: number };
type NewRec = JournalRec extends infer R ? (R extends { s: number } ? Omit<R, 's'> : never) : never;

interface UserState {
  head: number;
  /** Current entry per path, kept in rev order (a rewritten path is deleted and re-inserted). */
  entries: Map<string, Entry>;
  /** Kept versions per path, oldest first; the last is the current entry. */
  versions: Map<string, Entry[]>;
  lastCommitAt: number | null;
  idempotent: Map<string, { rev: number; entries: Entry[]; digest?: string }>;
  sorted: Entry[] | null;
}

const HEX62 = /^[0-9a-f]{62}$/;

/** An upload streamed into tmp/ (or appended to a pack: `loc`, and tmp is ''), waiting to be moved into blobs/ and journaled. */
interface Staged { user: string; hash: string; size: number; tmp: string; seq: number; loc?: PackLoc }
/** A small blob putBlobs received into memory (verified), not yet written. */
interface Held { hash: string; seq: number; data: Buffer }

/**
 * Blobs up to this size are received into memory and stored in packs (as large as the engine's
 * bulk uploads, so a first publish writes no blob file below it; read back whole and hash-checked,
 * like the MariaDB driver's one-chunk blobs).
 */
const HELD_BLOB_BYTES = 1024 * 1024;
/** Bytes of small blobs putBlobs holds before appending them to a pack. */
const HELD_BYTES = 8 * 1024 * 1024;
/** A pack is compacted by gc when more than this share of it is dead. */
const PACK_DEAD_SHARE = 0.5;
/** Bytes read and re-appended at once by a compaction. */
const COMPACT_GROUP_BYTES = 8 * 1024 * 1024;
/** Blobs per `pack` record (snapshot and compaction), so that no line grows without bound. */
const PACK_RECORD_BLOBS = 4096;

async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
}
interface FinalQueueItem { item: Staged; resolve: (r: PutBlobResult) => void; reject: (err: unknown) => void }

/** Stores everything under one data dir; single writer, crash-safe. */
export class DiskStore implements Store {
  readonly driver = 'disk' as const;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly sync: boolean;
  private readonly compactBytes: number;
  /** Bytes of the snapshot last written or loaded (0: none): the journal may grow as large before the next. */
  private snapshotBytes = 0;
  /** A compaction is queued (compactSoon). */
  private compactQueued = false;
  private readonly notifier;

  private users = new Map<string, UserState>();
  private owned = new Map<string, Set<string>>();
  private blobs = new Map<string, number>();
  /** Where each packed blob is; a blob not in here (but in `blobs`) is a file under blobs/. */
  private packed = new Map<string, PackLoc>();
  private packs: PackFiles | null = null;
  /** Last upload time per blob (ms; the file's mtime after a restart), for the gc grace. */
  private uploadedAt = new Map<string, number>();
  private finalQueue: FinalQueueItem[] = [];
  private finalScheduled = false;
  private stageSeq = 0;
  private tokens = new Map<string, TokenRecord>();
  private audit: AuditRecord[] = [];
  private seq = 0;
  private journal: Journal | null = null;
  private auditLog: Journal | null = null;
  private release: ReleaseLock | null = null;
  private dirty = false;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: DiskStoreOptions) {
    this.dir = opts.dataDir;
    this.log = (opts.log ?? silentLogger()).child({ mod: 'store.disk' });
    this.sync = opts.fsync ?? true;
    this.compactBytes = opts.compactBytes ?? 16 * 1024 * 1024;
    this.notifier = createNotifier((err) => this.log.warn({ err }, 'subscriber threw'));
  }

  private get journalPath(): string { return join(this.dir, 'journal.log'); }
  private get snapshotPath(): string { return join(this.dir, 'snapshot.jsonl'); }
  private get auditPath(): string { return join(this.dir, 'audit.jsonl'); }
  private blobPath(hash: string): string { return join(this.dir, 'blobs', hash.slice(0, 2), hash.slice(2)); }
  private get packDir(): string { return join(this.dir, 'packs'); }

  // ---------------------------------------------------------------- lifecycle

  async open(): Promise<void> {
    if (this.journal) return;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw ioError(err, this.dir, 'Could not create the data dir');
    }
    this.release = await lockDataDir(this.dir);
    try {
      this.resetState();
      await this.checkFormat();
      await this.cleanTemps();
      const loose = await this.scanBlobs();
      this.packs = new PackFiles(this.packDir, this.sync);
      await this.packs.scan();
      const snapSeq = await this.loadSnapshot();
      await this.replayJournal(snapSeq);
      // Blob files collected by a gc that crashed before its unlinks, or superseded by a packed copy.
      for (const hash of loose) if (!this.blobs.has(hash) || this.packed.has(hash)) await unlink(this.blobPath(hash)).catch(() => {});
      await this.openPacks();
      await this.loadAudit();
      this.log.info({ dataDir: this.dir, users: this.users.size, blobs: this.blobs.size, seq: this.seq }, 'disk store opened');
    } catch (err) {
      await (this.journal as Journal | null)?.close().catch(() => {});
      await (this.auditLog as Journal | null)?.close().catch(() => {});
      await (this.packs as PackFiles | null)?.close().catch(() => {});
      this.journal = null;
      this.auditLog = null;
      this.packs = null;
      await this.release?.();
      this.release = null;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (!this.journal) return;
    await this.exclusive(async () => {
      if (this.journal && (this.journal.bytes > 0 || this.dirty)) await this.snapshot().catch((err) => this.log.warn({ err }, 'snapshot at close failed; the journal still holds everything'));
      await this.journal?.close();
      await this.auditLog?.close();
      await this.packs?.close();
      this.journal = null;
      this.auditLog = null;
      this.packs = null;
    }, false);
    this.notifier.clear();
    await this.release?.();
    this.release = null;
  }

  async health(): Promise<StoreHealth> {
    const t0 = performance.now();
    try {
      if (!this.journal) throw new Error('the store is not open');
      await stat(this.journalPath);
      const fs = await statfs(this.dir);
      const freeBytes = fs.bavail * fs.bsize;
      const totalBytes = fs.blocks * fs.bsize;
      const warnings: string[] = [];
      if (freeBytes < LOW_DISK_BYTES || freeBytes < totalBytes * 0.02) {
        warnings.push(`Only ${Math.round(freeBytes / 1048576)} MiB free on the disk holding ${this.dir}: commits will fail with DISK_FULL when it runs out; free space or lower retention.`);
      }
      return {
        ok: true,
        latencyMs: performance.now() - t0,
        details: {
          dataDir: this.dir, journalBytes: this.journal.bytes, blobs: this.blobs.size, packedBlobs: this.packed.size,
          packs: this.packs!.ids().length, packBytes: this.packs!.totalBytes(), users: this.users.size, freeBytes, totalBytes,
        },
        ...(warnings.length ? { warnings } : {}),
      };
    } catch (err) {
      return { ok: false, latencyMs: performance.now() - t0, error: (err as Error).message };
    }
  }

  // ---------------------------------------------------------------- blobs

  async putBlob(user: string, hash: string, data: Readable | AsyncIterable<Buffer>, maxBytes: number): Promise<{ size: number; created: boolean }> {
    assertUserName(user);
    assertHash(hash);
    this.assertOpen();
    const got = await this.receive(user, hash, data, maxBytes);
    let staged: Staged;
    if ('data' in got) {
      [staged] = await this.packHeld(user, [got]);
    } else {
      try {
        if (this.sync) await this.syncFile(got.tmp);
      } catch (err) {
        await rm(got.tmp, { force: true });
        throw ioError(err, got.tmp, `Could not store blob ${hash}`);
      }
      staged = got;
    }
    const [r] = await this.finalize([staged!]);
    return { size: r!.size, created: r!.created };
  }

  /**
   * Stores a stream of blobs, paying for durability once per batch instead of once per blob:
   * small blobs are received into memory and appended to a pack in groups (one write and one
   * fdatasync per group), large ones stream into tmp/ and are fsynced in parallel, renamed, their
   * directories fsynced; then one journal append records every upload.
   */
  async putBlobs(user: string, blobs: AsyncIterable<BlobUpload>, maxBytes: number): Promise<PutBlobResult[]> {
    assertUserName(user);
    this.assertOpen();
    const staged: Staged[] = [];
    const unsynced: Staged[] = [];
    let held: Held[] = [];
    let heldBytes = 0;
    // A full group of held blobs is appended (and fdatasynced) while the next one is received: at
    // most one group writing at a time, so memory stays near 2 x HELD_BYTES.
    let writing: Promise<void> = Promise.resolve();
    let writeError: unknown = null;
    const writeHeld = async (): Promise<void> => {
      const list = held;
      held = [];
      heldBytes = 0;
      await writing;
      if (list.length === 0) return;
      writing = this.packHeld(user, list).then((got) => { staged.push(...got); }, (err: unknown) => { writeError ??= err; });
    };
    let failure: unknown = null;
    try {
      for await (const b of blobs) {
        assertHash(b.hash);
        const got = await this.receive(user, b.hash, b.data, maxBytes);
        if ('data' in got) {
          held.push(got);
          heldBytes += got.data.length;
          if (heldBytes >= HELD_BYTES) await writeHeld();
        } else {
          unsynced.push(got);
        }
      }
    } catch (err) {
      failure = err; // keep what arrived whole before the failure
    }
    try {
      await writeHeld();
      await writing;
      if (writeError) throw writeError;
      if (this.sync) await mapLimit(unsynced, 32, (st) => this.syncFile(st.tmp));
    } catch (err) {
      await this.discard([...staged, ...unsynced]);
      throw ioError(err, join(this.dir, 'tmp'), 'Could not store the uploaded blobs');
    }
    staged.push(...unsynced);
    const results = await this.finalize(staged);
    if (failure) throw failure;
    // In upload order; a hash sent twice reports created on its first copy only.
    const createdHashes = new Set(results.filter((r) => r.created).map((r) => r.hash));
    const seqs = staged.map((st) => st.seq);
    return results.map((r, i) => ({ r, seq: seqs[i]! })).sort((x, y) => x.seq - y.seq).map(({ r }) => {
      const created = createdHashes.delete(r.hash);
      return { hash: r.hash, size: r.size, created };
    });
  }

  /** Gives up staged uploads: removes their tmp/ files; packed bytes stay as dead bytes no record names. */
  private async discard(items: Staged[]): Promise<void> {
    this.packs?.settle(items.flatMap((st) => (st.loc ? [st.loc] : [])));
    await Promise.all(items.map((st) => (st.tmp ? rm(st.tmp, { force: true }) : undefined)));
  }

  /** Receives one verified blob: small ones into memory, large ones streamed into an unsynced tmp/ file. */
  private async receive(user: string, hash: string, data: Readable | AsyncIterable<Buffer>, maxBytes: number): Promise<Held | Staged> {
    const seq = this.stageSeq++;
    let parts: Buffer[] | null = [];
    let bytes = 0;
    let fh: FileHandle | null = null;
    let tmp = '';
    try {
      const size = await consumeVerified(data, hash, maxBytes, async (chunk) => {
        if (parts) {
          parts.push(chunk);
          bytes += chunk.length;
          if (bytes <= HELD_BLOB_BYTES) return;
          tmp = this.tmpName(hash);
          fh = await open(tmp, 'wx', 0o600);
          const first = Buffer.concat(parts);
          parts = null;
          await writeAll(fh, first);
          return;
        }
        await writeAll(fh!, chunk);
      }, { user, driver: 'disk' });
      if (parts) return { hash, seq, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
      await (fh as FileHandle | null)?.close();
      return { user, hash, size, tmp, seq };
    } catch (err) {
      if (fh) {
        await (fh as FileHandle).close().catch(() => {});
        await rm(tmp, { force: true });
      }
      throw ioError(err, tmp || join(this.dir, 'tmp'), `Could not store blob ${hash}`);
    }
  }

  /** Appends received blobs to the current pack with one write and one (shared) fdatasync. */
  private async packHeld(user: string, list: Held[]): Promise<Staged[]> {
    if (!this.packs) this.assertOpen();
    const locs = await this.packs!.append(list.map((b) => b.data));
    return list.map((b, i) => ({ user, hash: b.hash, size: b.data.length, tmp: '', seq: b.seq, loc: locs[i]! }));
  }

  /** Upload file names: a random prefix per store and a counter (a random draw per blob cost 0.24 s of CPU per 10,000 blobs). */
  private tmpPrefix = randomBytes(4).toString('hex');
  private tmpSeq = 0;
  private tmpName(hash: string): string {
    return join(this.dir, 'tmp', `${hash.slice(0, 16)}-${this.tmpPrefix}${(this.tmpSeq++).toString(16).padStart(4, '0')}`);
  }

  private async syncFile(file: string): Promise<void> {
    const fh = await open(file, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /**
   * Moves fsynced uploads into blobs/ (packed ones are already in place) and journals them.
   * Concurrent callers share one pass (group commit): whatever queued while the lock was busy is
   * renamed, dir-fsynced and journaled together.
   */
  private finalize(items: Staged[]): Promise<PutBlobResult[]> {
    if (items.length === 0) return Promise.resolve([]);
    const each = items.map((item) => new Promise<PutBlobResult>((resolve, reject) => this.finalQueue.push({ item, resolve, reject })));
    // Packed places stay pending (their pack is never deleted) until their record is written or given up.
    void Promise.allSettled(each).then(() => this.packs?.settle(items.flatMap((st) => (st.loc ? [st.loc] : []))));
    const done = Promise.all(each);
    if (!this.finalScheduled) {
      this.finalScheduled = true;
      this.exclusive(async () => {
        this.finalScheduled = false;
        await this.finalizeBatch(this.finalQueue.splice(0));
      }).catch(async (err: unknown) => {
        // e.g. the store closed while the uploads streamed
        this.finalScheduled = false;
        for (const q of this.finalQueue.splice(0)) {
          if (q.item.tmp) await rm(q.item.tmp, { force: true });
          q.reject(err);
        }
      });
    }
    return done;
  }

  private async finalizeBatch(batch: FinalQueueItem[]): Promise<void> {
    const ok: Array<FinalQueueItem & { created: boolean }> = [];
    const renamed = new Set<string>();
    const dirs = new Set<string>();
    const now = Date.now();
    const lost = new Set<string>();
    // `stored`: these bytes become the blob (file or packed place). `created` (what the uploader is told) says whether
    // this user had the blob before, never whether anyone had: that would leak other users' content.
    const had = new Set<string>();
    const plan = batch.map((q) => {
      const stored = !this.blobs.has(q.item.hash) && !renamed.has(q.item.hash);
      if (stored) renamed.add(q.item.hash);
      const key = `${q.item.user}\0${q.item.hash}`;
      const created = !had.has(key) && !(this.blobs.has(q.item.hash) && (this.owned.get(q.item.user)?.has(q.item.hash) ?? false));
      had.add(key);
      return { q, stored, created };
    });
    const packRecs = new Map<number, Array<[string, number, number]>>();
    // Uploaded again: restart its gc grace, also across a restart (best effort, no fsync needed;
    // for a packed blob the pack's mtime, which only ever makes the grace longer).
    const touch = new Set<string>();
    const again = (hash: string): void => {
      if (!this.blobs.has(hash)) return;
      const at = this.packed.get(hash);
      touch.add(at ? this.packs!.path(at.pack) : this.blobPath(hash));
    };
    const files: typeof plan = [];
    for (const p of plan) {
      const { q, stored, created: reported } = p;
      const { hash, loc } = q.item;
      if (!loc) {
        files.push(p);
        continue;
      }
      // Packed: already durable in place; a copy not kept stays dead bytes until a compaction.
      if (stored) {
        let list = packRecs.get(loc.pack);
        if (!list) packRecs.set(loc.pack, (list = []));
        list.push([hash, loc.off, loc.len]);
      } else again(hash);
      ok.push({ ...q, created: reported });
    }
    await mapLimit(files, 32, async ({ q, stored, created: reported }) => {
      const { hash, tmp } = q.item;
      try {
        if (stored) {
          await rename(tmp, this.blobPath(hash));
          dirs.add(hash.slice(0, 2));
        } else {
          await rm(tmp, { force: true });
          again(hash);
        }
        ok.push({ ...q, created: reported });
      } catch (err) {
        await rm(tmp, { force: true });
        if (stored) lost.add(hash);
        q.reject(ioError(err, this.blobPath(hash), `Could not store blob ${hash}`));
      }
    });
    await Promise.all([...touch].map((f) => utimes(f, now / 1000, now / 1000).catch(() => {})));
    // A copy that was dropped as a duplicate of one whose rename failed is not stored either.
    for (const q of ok.filter((x) => lost.has(x.item.hash))) q.reject(new DmanError('IO', `Could not store blob ${q.item.hash}`, { context: { driver: 'disk', hash: q.item.hash } }));
    const kept = ok.filter((x) => !lost.has(x.item.hash));
    // Places first: a torn append keeps a prefix of the records, so an `own` never names a blob whose place is lost.
    const recs: NewRec[] = [];
    for (const [pack, list] of packRecs) for (let i = 0; i < list.length; i += PACK_RECORD_BLOBS) recs.push({ t: 'pack', pack, blobs: list.slice(i, i + PACK_RECORD_BLOBS) });
    const owning = new Set<string>();
    for (const q of kept) {
      const key = `${q.item.user}\0${q.item.hash}`;
      if (!this.owned.get(q.item.user)?.has(q.item.hash) && !owning.has(key)) {
        owning.add(key);
        recs.push({ t: 'own', user: q.item.user, hash: q.item.hash, size: q.item.size });
      }
    }
    try {
      if (this.sync) await Promise.all([...dirs].map((d) => fsyncDir(join(this.dir, 'blobs', d))));
      await this.writeMany(recs);
    } catch (err) {
      for (const q of kept) q.reject(ioError(err, this.journalPath, `Could not store blob ${q.item.hash}`));
      return;
    }
    for (const q of kept) {
      this.blobs.set(q.item.hash, q.item.size);
      this.uploadedAt.set(q.item.hash, now);
      q.resolve({ hash: q.item.hash, size: q.item.size, created: q.created });
    }
  }

  async hasBlob(user: string, hash: string): Promise<boolean> {
    assertUserName(user);
    return this.blobs.has(hash) && (this.owned.get(user)?.has(hash) ?? false);
  }

  async getBlob(user: string, hash: string): Promise<{ size: number; stream: Readable } | null> {
    if (!(await this.hasBlob(user, hash))) return null;
    if (this.packed.has(hash)) return this.readPacked(hash);
    try {
      // Open now: a gc after this point unlinks the name, not the bytes we are reading.
      const fh = await open(this.blobPath(hash), 'r');
      const size = await fh.stat().then((st) => st.size, async (err: unknown) => {
        await fh.close();
        throw err;
      });
      if (size === 0) {
        await fh.close();
        return { size, stream: Readable.from([]) };
      }
      // Buffers sized to the blob and `end` set, so a small blob is one read (no EOF probe) into
      // one right-sized buffer: a bulk fetch of thousands of small blobs made 256 KiB each before.
      return { size, stream: fh.createReadStream({ start: 0, end: size - 1, highWaterMark: Math.min(size, 256 * 1024) }) as unknown as Readable };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw ioError(err, this.blobPath(hash), `Could not read blob ${hash}`);
    }
  }

  /** Reads a packed blob whole and checks its hash; null when a gc collected it meanwhile. */
  private async readPacked(hash: string): Promise<{ size: number; stream: Readable } | null> {
    // A compaction may move the blob and delete its old pack between the lookup and the open: look again.
    if (!this.packs) this.assertOpen();
    for (let attempt = 0; ; attempt++) {
      const loc = this.packed.get(hash);
      if (!loc) return null;
      if (loc.len === 0) return { size: 0, stream: Readable.from([], { objectMode: false }) };
      let buf: Buffer;
      try {
        buf = await this.packs!.read(loc);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 3 && this.packed.get(hash) !== loc) continue;
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !this.packed.has(hash)) return null;
        throw ioError(err, this.packs!.path(loc.pack), `Could not read blob ${hash}`);
      }
      if (createHash('sha256').update(buf).digest('hex') !== hash) {
        throw new DmanError('STORE_CORRUPT', `The blob ${hash} read from ${this.packs!.path(loc.pack)} at byte ${loc.off} does not match its hash`, {
          hint: 'Restore the data dir from a backup; the pack was changed on disk after it was written.',
          context: { driver: 'disk', file: this.packs!.path(loc.pack), hash, offset: loc.off },
        });
      }
      return { size: loc.len, stream: Readable.from([buf], { objectMode: false }) };
    }
  }

  // ---------------------------------------------------------------- manifest

  async headRev(user: string): Promise<number> {
    assertUserName(user);
    return this.users.get(user)?.head ?? 0;
  }

  async getEntry(user: string, path: string): Promise<Entry | null> {
    assertUserName(user);
    const e = this.users.get(user)?.entries.get(path);
    return e ? { ...e } : null;
  }

  async listEntries(user: string, opts: { live?: boolean } = {}): Promise<Entry[]> {
    assertUserName(user);
    const u = this.users.get(user);
    if (!u) return [];
    u.sorted ??= [...u.entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const out: Entry[] = [];
    for (const e of u.sorted) if (!opts.live || !e.deleted) out.push({ ...e });
    return out;
  }

  async changes(user: string, since: number, limit: number): Promise<ChangesPage> {
    assertUserName(user);
    const u = this.users.get(user);
    if (!u) return { entries: [], headRev: 0, more: false };
    const entries: Entry[] = [];
    let more = false;
    if (since < u.head) {
      for (const e of u.entries.values()) {
        if (e.rev <= since) continue;
        if (entries.length >= limit) {
          more = true;
          break;
        }
        entries.push({ ...e });
      }
    }
    return { entries, headRev: u.head, more };
  }

  async commit(input: CommitInput): Promise<CommitOutcome> {
    validateCommit(input);
    return this.exclusive(async () => {
      const u = this.users.get(input.user);
      if (input.idempotencyKey !== undefined) {
        const prior = u?.idempotent.get(input.idempotencyKey);
        if (prior) assertSameBatch(input, prior.digest);
        if (prior) return { ok: true, rev: prior.rev, entries: prior.entries.map((e) => ({ ...e })), replayed: true };
      }
      const conflicts = findConflicts(input.ops, (p) => {
        const e = u?.entries.get(p);
        return e ? { ...e } : null;
      });
      if (conflicts.length > 0) return { ok: false, conflicts };
      const owned = this.owned.get(input.user);
      const missing = blobsNamedBy(input.ops).filter((h) => !this.blobs.has(h) || !owned?.has(h));
      if (missing.length > 0) throw missingBlobsError(input.user, missing);
      const head = u?.head ?? 0;
      const entries = input.ops.map((op, i) => entryFromOp(op, head + i + 1, input.device, input.now));
      await this.write({ t: 'commit', user: input.user, now: input.now, ...(input.idempotencyKey !== undefined ? { key: input.idempotencyKey, digest: batchDigest(input) } : {}), entries });
      const rev = head + entries.length;
      this.notifier.emit(input.user, rev);
      this.compactSoon();
      return { ok: true, rev, entries: entries.map((e) => ({ ...e })), replayed: false };
    });
  }

  async history(user: string, path: string, limit?: number): Promise<Entry[]> {
    assertUserName(user);
    const list = this.users.get(user)?.versions.get(path) ?? [];
    const out: Entry[] = [];
    for (let i = list.length - 1; i >= 0 && (limit === undefined || out.length < limit); i--) out.push({ ...list[i]! });
    return out;
  }

  async applyRetention(user: string, policy: RetentionPolicy, now: number, opts: RetentionScope = {}): Promise<{ versionsRemoved: number }> {
    assertUserName(user);
    return this.exclusive(async () => {
      const u = this.users.get(user);
      if (!u) return { versionsRemoved: 0 };
      const drop: Array<[string, number]> = [];
      const paths = opts.paths ? [...new Set(opts.paths)] : [...u.versions.keys()];
      for (const path of paths) {
        const list = u.versions.get(path);
        if (list) for (const v of versionsToDrop([...list].reverse(), policy, now)) drop.push([path, v.rev]);
      }
      if (drop.length > 0) await this.write({ t: 'ret', user, drop });
      return { versionsRemoved: drop.length };
    });
  }

  async gcBlobs(opts: GcOptions = {}): Promise<{ blobsRemoved: number; bytesFreed: number }> {
    const cutoff = gcCutoff(opts);
    return this.exclusive(async () => {
      const referenced = new Set<string>();
      for (const u of this.users.values()) for (const list of u.versions.values()) for (const v of list) if (v.kind === 'file' && v.hash !== null) referenced.add(v.hash);
      const victims = [...this.blobs.keys()].filter((h) => !referenced.has(h) && (this.uploadedAt.get(h) ?? 0) <= cutoff);
      if (victims.length === 0) {
        await this.compactPacks(); // one an earlier gc could not finish
        return { blobsRemoved: 0, bytesFreed: 0 };
      }
      const bytesFreed = victims.reduce((n, h) => n + (this.blobs.get(h) ?? 0), 0);
      const looseVictims = victims.filter((h) => !this.packed.has(h));
      // Journal first: a crash before the unlinks leaves files that the next open removes (and
      // packed bytes no record names, which the compaction below or a later one drops).
      await this.write({ t: 'gc', hashes: victims });
      const dirs = new Set<string>();
      for (const h of looseVictims) {
        await unlink(this.blobPath(h)).catch((err) => {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, hash: h }, 'could not remove a collected blob');
        });
        dirs.add(h.slice(0, 2));
      }
      if (this.sync) for (const d of dirs) await fsyncDir(join(this.dir, 'blobs', d));
      await this.compactPacks();
      return { blobsRemoved: victims.length, bytesFreed };
    });
  }

  /**
   * Deletes packs no record points into, and rewrites those more than PACK_DEAD_SHARE dead: their
   * live blobs are read (hash-checked), appended to the current pack and fsynced, the new places
   * journaled, and only then is the old pack deleted. Runs under the lock (from gcBlobs); a pack
   * that uploads in flight are appending to is left alone.
   */
  private async compactPacks(): Promise<void> {
    const packs = this.packs!;
    const live = new Map<number, { bytes: number; hashes: string[] }>();
    for (const [h, loc] of this.packed) {
      let l = live.get(loc.pack);
      if (!l) live.set(loc.pack, (l = { bytes: 0, hashes: [] }));
      l.bytes += loc.len;
      l.hashes.push(h);
    }
    const dead = (id: number): boolean => {
      const size = packs.size(id) ?? 0;
      const l = live.get(id);
      return !l || size - l.bytes > size * PACK_DEAD_SHARE;
    };
    const wid = packs.writerId;
    // The current pack is compacted too (an idle server would else keep its dead bytes): new appends go to a fresh one.
    if (wid !== null && !packs.isPending(wid) && dead(wid)) packs.roll();
    let retired = 0;
    for (const id of packs.ids()) {
      if (id === packs.writerId || packs.isPending(id) || !dead(id)) continue;
      const l = live.get(id);
      if (l) {
        const hashes = l.hashes.sort((a, b) => this.packed.get(a)!.off - this.packed.get(b)!.off);
        const moved: Array<[string, PackLoc]> = [];
        try {
          for (let i = 0; i < hashes.length;) {
            const group: string[] = [];
            let bytes = 0;
            while (i < hashes.length && (group.length === 0 || bytes < COMPACT_GROUP_BYTES)) {
              bytes += this.packed.get(hashes[i]!)!.len;
              group.push(hashes[i++]!);
            }
            const bufs = await Promise.all(group.map(async (h) => {
              const got = await this.readPacked(h);
              const parts: Buffer[] = [];
              for await (const c of got!.stream) parts.push(c as Buffer);
              return Buffer.concat(parts);
            }));
            const locs = await packs.append(bufs);
            group.forEach((h, k) => moved.push([h, locs[k]!]));
          }
          const byPack = new Map<number, Array<[string, number, number]>>();
          for (const [h, loc] of moved) {
            let list = byPack.get(loc.pack);
            if (!list) byPack.set(loc.pack, (list = []));
            list.push([h, loc.off, loc.len]);
          }
          const recs: NewRec[] = [];
          for (const [pack, list] of byPack) for (let i = 0; i < list.length; i += PACK_RECORD_BLOBS) recs.push({ t: 'pack', pack, blobs: list.slice(i, i + PACK_RECORD_BLOBS) });
          await this.writeMany(recs);
        } catch (err) {
          // The old places stay recorded; the copies made so far are dead bytes.
          this.log.warn({ err, pack: packs.path(id) }, 'could not compact a pack; it is kept as it is');
          continue;
        } finally {
          packs.settle(moved.map(([, loc]) => loc));
        }
      }
      if (l?.hashes.some((h) => this.packed.get(h)?.pack === id)) continue; // not expected: every live blob moved
      await packs.retire(id);
      retired++;
      this.log.info({ pack: packs.path(id), liveBytes: l?.bytes ?? 0 }, l ? 'compacted a pack' : 'removed an empty pack');
    }
    if (retired > 0) await packs.syncDir().catch((err: unknown) => this.log.warn({ err }, 'could not fsync the pack directory'));
  }

  async listUsers(): Promise<string[]> {
    return [...this.users.keys()].filter((u) => this.users.get(u)!.head > 0).sort();
  }

  async stats(user: string): Promise<UserStats> {
    assertUserName(user);
    const u = this.users.get(user);
    if (!u) return { files: 0, bytes: 0, headRev: 0, lastCommitAt: null };
    return { ...liveTotals(u.entries.values()), headRev: u.head, lastCommitAt: u.lastCommitAt };
  }

  subscribe(user: string, onRev: (user: string, rev: number) => void): Unsubscribe {
    return this.notifier.subscribe(user, onRev);
  }

  // ---------------------------------------------------------------- tokens

  async putToken(rec: TokenRecord): Promise<void> {
    await this.exclusive(() => this.write({ t: 'tok', rec: { ...rec } }));
  }
  async getTokenByHash(hash: string): Promise<TokenRecord | null> {
    for (const t of this.tokens.values()) if (t.hash === hash) return { ...t };
    return null;
  }
  async listTokens(): Promise<TokenRecord[]> {
    return [...this.tokens.values()].map((t) => ({ ...t }));
  }
  async revokeToken(id: string, now: number): Promise<boolean> {
    return this.exclusive(async () => {
      if (!this.tokens.has(id)) return false;
      await this.write({ t: 'revoke', id, now });
      return true;
    });
  }
  async touchToken(id: string, now: number): Promise<void> {
    // Advisory, written on every request: kept in memory and saved with the next snapshot
    // rather than fsynced each time (a crash may lose the last few lastUsedAt values).
    const t = this.tokens.get(id);
    if (!t) return;
    t.lastUsedAt = now;
    this.dirty = true;
  }

  // ---------------------------------------------------------------- audit

  async appendAudit(rec: AuditRecord): Promise<void> {
    await this.exclusive(async () => {
      await this.auditLog!.append([rec]);
      this.audit.push(structuredClone(rec));
    });
  }
  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    return filterAudit(this.audit, q);
  }

  // ---------------------------------------------------------------- internals

  private resetState(): void {
    this.users = new Map();
    this.owned = new Map();
    this.blobs = new Map();
    this.packed = new Map();
    this.uploadedAt = new Map();
    this.tokens = new Map();
    this.audit = [];
    this.seq = 0;
    this.dirty = false;
  }

  private assertOpen(): void {
    if (!this.journal) throw new DmanError('STORE_UNAVAILABLE', `The disk store at ${this.dir} is not open`, { context: { driver: 'disk', file: this.dir } });
  }

  /** Runs `fn` after every earlier mutation finished: one writer at a time, in call order. */
  private exclusive<T>(fn: () => Promise<T>, needsOpen = true): Promise<T> {
    const run = async (): Promise<T> => {
      if (needsOpen) this.assertOpen();
      return fn();
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Makes a record durable in the journal, then applies it to memory. */
  private async write(rec: NewRec): Promise<void> {
    await this.writeMany([rec]);
  }

  /** Makes records durable with one journal append (one fsync), then applies them in order. */
  private async writeMany(recs: NewRec[]): Promise<void> {
    if (recs.length === 0) return;
    const full = recs.map((rec, i) => ({ ...rec, s: this.seq + 1 + i }) as JournalRec);
    await this.journal!.append(full);
    for (const r of full) {
      this.seq = r.s;
      this.apply(r);
    }
  }

  private userState(user: string): UserState {
    let u = this.users.get(user);
    if (!u) this.users.set(user, (u = { head: 0, entries: new Map(), versions: new Map(), lastCommitAt: null, idempotent: new Map(), sorted: null }));
    return u;
  }

  private apply(rec: JournalRec): void {
    switch (rec.t) {
      case 'commit': {
        const u = this.userState(rec.user);
        for (const e of rec.entries) {
          u.entries.delete(e.path);
          u.entries.set(e.path, e);
          const list = u.versions.get(e.path);
          if (list) list.push(e);
          else u.versions.set(e.path, [e]);
          u.head = e.rev;
        }
        u.lastCommitAt = rec.now;
        u.sorted = null;
        if (rec.key !== undefined) {
          u.idempotent.set(rec.key, { rev: u.head, entries: rec.entries, ...(rec.digest !== undefined ? { digest: rec.digest } : {}) });
          if (u.idempotent.size > IDEMPOTENCY_KEYS_PER_USER) u.idempotent.delete(u.idempotent.keys().next().value!);
        }
        break;
      }
      case 'own': {
        let set = this.owned.get(rec.user);
        if (!set) this.owned.set(rec.user, (set = new Set()));
        set.add(rec.hash);
        this.blobs.set(rec.hash, rec.size);
        break;
      }
      case 'pack':
        for (const [hash, off, len] of rec.blobs) {
          this.packed.set(hash, { pack: rec.pack, off, len });
          this.blobs.set(hash, len);
        }
        break;
      case 'ret': {
        const u = this.users.get(rec.user);
        if (!u) break;
        const byPath = new Map<string, Set<number>>();
        for (const [p, r] of rec.drop) {
          let s = byPath.get(p);
          if (!s) byPath.set(p, (s = new Set()));
          s.add(r);
        }
        for (const [p, revs] of byPath) {
          const list = u.versions.get(p);
          if (list) u.versions.set(p, list.filter((v) => !revs.has(v.rev) || v === u.entries.get(p)));
        }
        break;
      }
      case 'gc':
        for (const h of rec.hashes) {
          this.blobs.delete(h);
          this.packed.delete(h);
          for (const set of this.owned.values()) set.delete(h);
        }
        break;
      case 'tok':
        this.tokens.set(rec.rec.id, { ...rec.rec });
        break;
      case 'revoke': {
        const t = this.tokens.get(rec.id);
        if (t) this.tokens.set(rec.id, revokedToken(t, rec.now));
        break;
      }
    }
  }

  /**
   * Compacts once the journal grew past compactBytes, as the next exclusive step: the commit that
   * grew it answers first (its record is durable in the journal already) instead of waiting for a
   * snapshot of the whole store (~100 ms at 10,000 files); the next write waits behind it.
   */
  private compactSoon(): void {
    if (this.compactQueued || this.journal!.bytes < this.compactAt()) return;
    this.compactQueued = true;
    this.exclusive(async () => {
      this.compactQueued = false;
      await this.maybeCompact();
    }).catch(() => { this.compactQueued = false; /* closed meanwhile: close() snapshots */ });
  }

  /**
   * The journal size at which to snapshot: compactBytes, or the last snapshot's size when larger.
   * Snapshots then cost O(1) per journaled byte however large the store grows, and an open replays
   * at most a snapshot's worth of journal.
   */
  private compactAt(): number {
    return Math.max(this.compactBytes, this.snapshotBytes);
  }

  private async maybeCompact(): Promise<void> {
    if (this.journal!.bytes < this.compactAt()) return;
    await this.snapshot().catch((err) => this.log.warn({ err }, 'snapshot failed; the journal keeps growing until the next try'));
  }

  /** Writes the whole state atomically as of the current seq, then empties the journal. */
  private async snapshot(): Promise<void> {
    const seq = this.seq;
    const { users, owned, tokens } = this;
    const byPack = new Map<number, Array<[string, number, number]>>();
    for (const [h, loc] of this.packed) {
      let list = byPack.get(loc.pack);
      if (!list) byPack.set(loc.pack, (list = []));
      list.push([h, loc.off, loc.len]);
    }
    function* records(): Generator<unknown> {
      yield { t: 'snap', format: DISK_FORMAT, seq };
      let n = 1;
      for (const [user, u] of users) {
        yield { t: 'user', user, head: u.head, lastCommitAt: u.lastCommitAt };
        n++;
        for (const [path, versions] of u.versions) {
          yield { t: 'vers', user, path, versions };
          n++;
        }
        for (const [key, v] of u.idempotent) {
          yield { t: 'idem', user, key, rev: v.rev, entries: v.entries, ...(v.digest !== undefined ? { digest: v.digest } : {}) };
          n++;
        }
      }
      for (const [user, set] of owned) {
        yield { t: 'owned', user, hashes: [...set] };
        n++;
      }
      for (const rec of tokens.values()) {
        yield { t: 'tok', rec };
        n++;
      }
      for (const [pack, list] of byPack) {
        for (let i = 0; i < list.length; i += PACK_RECORD_BLOBS) {
          yield { t: 'packed', pack, blobs: list.slice(i, i + PACK_RECORD_BLOBS) };
          n++;
        }
      }
      yield { t: 'end', count: n };
    }
    let written = 0;
    async function* chunks(): AsyncGenerator<Buffer> {
      let buf: Buffer[] = [];
      let size = 0;
      for (const r of records()) {
        const line = encodeRecord(r);
        buf.push(line);
        size += line.length;
        written += line.length;
        if (size >= 256 * 1024) {
          yield Buffer.concat(buf);
          buf = [];
          size = 0;
        }
      }
      if (buf.length) yield Buffer.concat(buf);
    }
    await writeFileAtomic(this.snapshotPath, Readable.from(chunks()), { noSync: !this.sync, mode: 0o600 });
    this.snapshotBytes = written;
    await this.journal!.reset();
    this.dirty = false;
    this.log.debug({ seq }, 'snapshot written');
  }

  private async checkFormat(): Promise<void> {
    const file = join(this.dir, 'format.json');
    let text: string | null = null;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, file, 'Could not read the data dir format');
    }
    if (text === null) {
      await writeFileAtomic(file, JSON.stringify({ format: DISK_FORMAT, app: 'dman' }) + '\n', { noSync: !this.sync });
      return;
    }
    let format: unknown;
    try {
      format = (JSON.parse(text) as { format?: unknown }).format;
    } catch {
      format = undefined;
    }
    if (typeof format !== 'number') throw new DmanError('STORE_CORRUPT', `${file} is not a dman data dir format file`, { hint: 'Point --data-dir at a dman data dir, or an empty directory.', context: { driver: 'disk', file } });
    if (format > DISK_FORMAT) {
      throw new DmanError('SCHEMA_TOO_NEW', `The data dir ${this.dir} has format ${format}; this dman understands up to ${DISK_FORMAT}`, { hint: 'Upgrade dman to the version that wrote this data dir.', context: { driver: 'disk', file } });
    }
    // Format 1 (every blob a file) reads as it is; marking it 2 before any pack is written makes an
    // older dman refuse it rather than miss the packed blobs.
    if (format < DISK_FORMAT) await writeFileAtomic(file, JSON.stringify({ format: DISK_FORMAT, app: 'dman' }) + '\n', { noSync: !this.sync });
  }

  private async cleanTemps(): Promise<void> {
    await rm(join(this.dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(this.dir, 'tmp'), { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) {
      if (isTempName(name) || name.startsWith('.lock.')) {
        await rm(join(this.dir, name), { force: true });
        this.log.info({ file: name }, 'removed a temp file left by a crash');
      }
    }
  }

  /** Lists the blob files (large blobs, and every blob of a data dir from before packs). */
  private async scanBlobs(): Promise<Set<string>> {
    const root = join(this.dir, 'blobs');
    await mkdir(root, { recursive: true, mode: 0o700 });
    const have = new Set(await readdir(root));
    for (let i = 0; i < 256; i++) {
      const d = i.toString(16).padStart(2, '0');
      if (!have.has(d)) await mkdir(join(root, d));
    }
    if (this.sync && have.size < 256) await fsyncDir(root);
    this.blobs.clear();
    const loose = new Set<string>();
    for (const d of await readdir(root)) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const name of await readdir(join(root, d))) {
        const p = join(root, d, name);
        if (!HEX62.test(name)) {
          await rm(p, { force: true });
          continue;
        }
        const st = await stat(p);
        this.blobs.set(d + name, st.size);
        this.uploadedAt.set(d + name, st.mtimeMs);
        loose.add(d + name);
      }
    }
    return loose;
  }

  private async loadSnapshot(): Promise<number> {
    let buf: Buffer;
    try {
      buf = await readFile(this.snapshotPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw ioError(err, this.snapshotPath, 'Could not read the snapshot');
    }
    const corrupt = (why: string): DmanError => new DmanError('STORE_CORRUPT', `The snapshot ${this.snapshotPath} is damaged: ${why}`, {
      hint: 'Restore the data dir from a backup; the snapshot is written atomically, so this is disk damage or an outside edit.',
      context: { driver: 'disk', file: this.snapshotPath },
    });
    const scan = scanJournal(buf, this.snapshotPath);
    if (scan.tornBytes > 0) throw corrupt(`a bad record at byte ${scan.validBytes}`);
    this.snapshotBytes = buf.length;
    const recs = scan.records as Array<Record<string, unknown> & { t: string }>;
    const head = recs[0] as { t: string; seq?: number; format?: number } | undefined;
    const end = recs[recs.length - 1] as { t: string; count?: number } | undefined;
    if (head?.t !== 'snap' || typeof head.seq !== 'number') throw corrupt('no header');
    if (end?.t !== 'end' || end.count !== recs.length - 1) throw corrupt('it ends early');
    const currents = new Map<string, Entry[]>();
    for (const r of recs.slice(1, -1)) {
      switch (r.t) {
        case 'user': {
          const u = this.userState(r.user as string);
          u.head = r.head as number;
          u.lastCommitAt = r.lastCommitAt as number | null;
          break;
        }
        case 'vers': {
          const versions = r.versions as Entry[];
          this.userState(r.user as string).versions.set(r.path as string, versions);
          let c = currents.get(r.user as string);
          if (!c) currents.set(r.user as string, (c = []));
          c.push(versions[versions.length - 1]!);
          break;
        }
        case 'idem':
          this.userState(r.user as string).idempotent.set(r.key as string, { rev: r.rev as number, entries: r.entries as Entry[], ...(typeof r.digest === 'string' ? { digest: r.digest } : {}) });
          break;
        case 'owned':
          this.owned.set(r.user as string, new Set(r.hashes as string[]));
          break;
        case 'tok':
          this.tokens.set((r.rec as TokenRecord).id, r.rec as TokenRecord);
          break;
        case 'packed':
          for (const [hash, off, len] of r.blobs as Array<[string, number, number]>) {
            this.packed.set(hash, { pack: r.pack as number, off, len });
            this.blobs.set(hash, len);
          }
          break;
        default:
          throw corrupt(`unknown record type ${JSON.stringify(r.t)}`);
      }
    }
    for (const [user, list] of currents) {
      const u = this.userState(user);
      for (const e of list.sort((a, b) => a.rev - b.rev)) u.entries.set(e.path, e);
    }
    this.seq = head.seq;
    return head.seq;
  }

  private async replayJournal(snapSeq: number): Promise<void> {
    let buf: Buffer = Buffer.alloc(0);
    try {
      buf = await readFile(this.journalPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, this.journalPath, 'Could not read the journal');
    }
    const scan = scanJournal(buf, this.journalPath);
    if (scan.tornBytes > 0) this.log.warn({ file: this.journalPath, offset: scan.validBytes, bytes: scan.tornBytes }, 'cut a torn journal tail left by a crash (that write was never acknowledged)');
    for (const r of scan.records as JournalRec[]) {
      if (typeof r?.s !== 'number' || typeof r.t !== 'string') {
        throw new DmanError('STORE_CORRUPT', `The journal ${this.journalPath} holds a record without a sequence number`, { context: { driver: 'disk', file: this.journalPath } });
      }
      if (r.s <= snapSeq) continue; // already in the snapshot (crash between snapshot and journal reset)
      if (r.s !== this.seq + 1) {
        throw new DmanError('STORE_CORRUPT', `The journal ${this.journalPath} skips from record ${this.seq} to ${r.s}`, { hint: 'Restore the data dir from a backup.', context: { driver: 'disk', file: this.journalPath } });
      }
      this.apply(r);
      this.seq = r.s;
    }
    this.journal = await Journal.open(this.journalPath, scan.validBytes, this.sync);
  }

  /**
   * Checks that every recorded place lies inside its pack, deletes packs nothing points into (an
   * append or a compaction that crashed before its record, a compaction that crashed before its
   * delete), and resumes appending to the newest pack, cut to its last recorded byte.
   */
  private async openPacks(): Promise<void> {
    const packs = this.packs!;
    const liveEnd = new Map<number, number>();
    for (const [hash, loc] of this.packed) {
      const size = packs.size(loc.pack);
      // An empty blob needs no bytes: its offset may lie past the end of the file (a failed write
      // before it reserved a range that no later write filled), so only its pack has to exist.
      const end = loc.len > 0 ? loc.off + loc.len : 0;
      if (size === undefined || end > size) {
        const file = packs.path(loc.pack);
        throw new DmanError('STORE_CORRUPT', `The blob ${hash} is recorded at bytes ${loc.off}+${loc.len} of ${file}, but ${size === undefined ? 'that pack is missing' : `it ends at byte ${size}`}`, {
          hint: 'Restore the data dir from a backup (pack files are only deleted once nothing points into them).',
          context: { driver: 'disk', file, hash },
        });
      }
      liveEnd.set(loc.pack, Math.max(liveEnd.get(loc.pack) ?? 0, end));
      this.uploadedAt.set(hash, packs.mtime(loc.pack));
    }
    let removed = 0;
    for (const id of packs.ids()) {
      if (liveEnd.has(id)) continue;
      await packs.retire(id);
      removed++;
      this.log.info({ file: packs.path(id) }, 'removed a pack no record points into (left by a crash or a compaction)');
    }
    if (removed > 0) await packs.syncDir();
    const newest = Math.max(...liveEnd.keys());
    if (Number.isFinite(newest)) {
      if (packs.size(newest)! > liveEnd.get(newest)!) this.log.warn({ file: packs.path(newest), offset: liveEnd.get(newest) }, 'cut a pack tail no record points into (a torn or unacknowledged append)');
      await packs.resume(newest, liveEnd.get(newest)!);
    }
  }

  private async loadAudit(): Promise<void> {
    let buf: Buffer = Buffer.alloc(0);
    try {
      buf = await readFile(this.auditPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, this.auditPath, 'Could not read the audit trail');
    }
    const scan = scanJournal(buf, this.auditPath);
    if (scan.tornBytes > 0) this.log.warn({ file: this.auditPath, bytes: scan.tornBytes }, 'cut a torn audit tail left by a crash');
    this.audit = scan.records as AuditRecord[];
    this.auditLog = await Journal.open(this.auditPath, scan.validBytes, this.sync);
  }
}
