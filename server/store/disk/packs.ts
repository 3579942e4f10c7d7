// Pack files for the disk driver's small blobs: `packs/<n>.pack`, each a plain concatenation of
// blob bytes. A pack holds no index of its own: the journal (and the snapshot) record every
// blob's place (pack, offset, length), so the bytes of a pack are trusted only where a durable
// record points. An append is one positioned write per group of blobs and one fdatasync shared
// by every group written meanwhile; a crash mid-append leaves bytes that no record names, which
// the next open cuts off (the last pack is truncated to its last recorded byte) or a compaction
// drops.
//
// Who may delete what: DiskStore retires (unlinks) a pack only when no record points into it and
// no append into it waits for its journal record (`pending`); readers hold their own handle, so a
// read that started before the unlink finishes from the unlinked file.
import { mkdir, open, readdir, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DmanError } from '../../../shared/errors.js';
import { fsyncDir } from '../../../engine/fs/atomic.js';
import { ioError } from './journal.js';

/** Where one packed blob's bytes are. */
export interface PackLoc { pack: number; off: number; len: number }

/** A pack at least this big is not appended to any more (a new one is started). */
export const PACK_MAX_BYTES = 256 * 1024 * 1024;

const PACK_NAME = /^(\d{1,15})\.pack$/;

interface Writer {
  id: number;
  fh: FileHandle;
  /** Bytes reserved (written or being written). */
  size: number;
  syncing: Promise<void> | null;
  queued: Promise<void> | null;
  /**
   * The error of a failed fdatasync. Every later sync of this file fails with it: the kernel may
   * have dropped dirty pages written before it, and reports that only once per open file, so a
   * sync that follows could succeed without those bytes being on disk.
   */
  failed: unknown;
}

interface Reader { fh: Promise<FileHandle>; refs: number; retired: boolean }

/** Buffers per writev call (IOV_MAX is 1024 on Linux). */
const IOV_MAX = 1024;

/** Writes `bufs` back to back at `pos` with gathered writes (no copy into one big buffer). */
async function writeAt(fh: FileHandle, bufs: Buffer[], pos: number): Promise<void> {
  for (let i = 0; i < bufs.length; i += IOV_MAX) {
    const part = bufs.slice(i, i + IOV_MAX);
    const len = part.reduce((n, b) => n + b.length, 0);
    const done = (await fh.writev(part, pos)).bytesWritten;
    if (done < len) {
      // A short gathered write (rare on a regular file): finish the rest plainly.
      const rest = Buffer.concat(part).subarray(done);
      for (let off = 0; off < rest.length;) off += (await fh.write(rest, off, rest.length - off, pos + done + off)).bytesWritten;
    }
    pos += len;
  }
}

export class PackFiles {
  /** Size on disk of every pack file (for the writer's pack: bytes reserved so far). */
  private readonly sizes = new Map<number, number>();
  private readonly mtimes = new Map<number, number>();
  /** Appends whose journal record is not written yet, per pack: such a pack must not be retired. */
  private readonly pending = new Map<number, number>();
  private readonly readers = new Map<number, Reader>();
  /** Packs deleted by this process (numbers are never reused within it): a reader that opened one late closes after its read. */
  private readonly gone = new Set<number>();
  private writer: Writer | null = null;
  private readonly oldWriters: Writer[] = [];
  private writeChain: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private closed = false;

  constructor(readonly dir: string, private readonly sync: boolean, private readonly maxBytes = PACK_MAX_BYTES) {}

  path(id: number): string {
    return join(this.dir, `${id}.pack`);
  }

  /** Lists the pack files (removing anything else in packs/, e.g. debris of an outside copy). */
  async scan(): Promise<void> {
    const made = await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // A new packs/ must itself be durable before a journal record points into it.
    if (made !== undefined && this.sync) await fsyncDir(dirname(this.dir));
    for (const name of await readdir(this.dir)) {
      const m = PACK_NAME.exec(name);
      if (!m) {
        await rm(join(this.dir, name), { force: true, recursive: true });
        continue;
      }
      const id = Number(m[1]);
      const st = await stat(join(this.dir, name));
      this.sizes.set(id, st.size);
      this.mtimes.set(id, st.mtimeMs);
      this.nextId = Math.max(this.nextId, id + 1);
    }
  }

  /** Pack ids on disk. */
  ids(): number[] {
    return [...this.sizes.keys()].sort((a, b) => a - b);
  }
  size(id: number): number | undefined {
    return this.sizes.get(id);
  }
  mtime(id: number): number {
    return this.mtimes.get(id) ?? 0;
  }
  /** The pack new appends go to (null until the first append of this open). */
  get writerId(): number | null {
    return this.writer?.id ?? null;
  }
  isPending(id: number): boolean {
    return (this.pending.get(id) ?? 0) > 0;
  }
  /** Total bytes of all pack files. */
  totalBytes(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }

  /**
   * Picks up appending where the last run stopped: the newest pack, cut to `liveEnd` (its last
   * recorded byte; anything after it was never journaled), when it has room; else a new pack is
   * made at the first append.
   */
  async resume(id: number, liveEnd: number): Promise<void> {
    const size = this.sizes.get(id);
    if (size === undefined || liveEnd >= this.maxBytes) return;
    const fh = await open(this.path(id), 'r+');
    try {
      if (size !== liveEnd) {
        await fh.truncate(liveEnd);
        if (this.sync) await fh.sync();
        this.sizes.set(id, liveEnd);
      }
    } catch (err) {
      await fh.close().catch(() => {});
      throw ioError(err, this.path(id), 'Could not cut a torn pack tail');
    }
    this.writer = { id, fh, size: liveEnd, syncing: null, queued: null, failed: undefined };
  }

  /**
   * Appends blobs and makes them durable (when syncing); returns each one's place. The caller
   * must call settle() with those places once their journal record is written (or given up).
   */
  async append(bufs: Buffer[]): Promise<PackLoc[]> {
    if (this.closed) throw new DmanError('STORE_UNAVAILABLE', `The pack files in ${this.dir} are closed`, { context: { driver: 'disk', file: this.dir } });
    const step = this.writeChain.then(() => this.writeGroup(bufs));
    this.writeChain = step.catch(() => {});
    const { w, locs } = await step;
    try {
      if (this.sync) await this.flush(w);
    } catch (err) {
      this.settle(locs);
      // After a failed fsync the kernel may have dropped those pages: later appends go to a fresh pack.
      if (this.writer === w) this.roll();
      throw ioError(err, this.path(w.id), 'Could not write a pack file');
    }
    return locs;
  }

  /** Marks appended places as journaled (or abandoned): their pack may be retired again. */
  settle(locs: Iterable<PackLoc>): void {
    for (const l of locs) {
      const n = (this.pending.get(l.pack) ?? 1) - 1;
      if (n <= 0) this.pending.delete(l.pack);
      else this.pending.set(l.pack, n);
    }
  }

  /** Makes the next append start a new pack (so the current one can be compacted). */
  roll(): void {
    if (this.writer) this.oldWriters.push(this.writer);
    this.writer = null;
  }

  private async writeGroup(bufs: Buffer[]): Promise<{ w: Writer; locs: PackLoc[] }> {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    if (this.writer && this.writer.failed !== undefined) this.roll();
    if (this.writer && this.writer.size > 0 && this.writer.size + total > this.maxBytes) this.roll();
    if (!this.writer) {
      const id = this.nextId++;
      const file = this.path(id);
      const fh = await open(file, 'wx', 0o600).catch((err: unknown) => { throw ioError(err, file, 'Could not create a pack file'); });
      try {
        // The new name must be durable before any journal record points into it.
        if (this.sync) await fsyncDir(this.dir);
      } catch (err) {
        await fh.close().catch(() => {});
        await unlink(file).catch(() => {});
        throw ioError(err, this.dir, 'Could not create a pack file');
      }
      this.writer = { id, fh, size: 0, syncing: null, queued: null, failed: undefined };
      this.sizes.set(id, 0);
      this.mtimes.set(id, Date.now());
    }
    const w = this.writer;
    const start = w.size;
    const locs: PackLoc[] = [];
    let off = start;
    for (const b of bufs) {
      locs.push({ pack: w.id, off, len: b.length });
      off += b.length;
    }
    // Reserved before writing: a failed write leaves a hole no record names (dead bytes).
    w.size = off;
    this.sizes.set(w.id, off);
    this.mtimes.set(w.id, Date.now());
    this.pending.set(w.id, (this.pending.get(w.id) ?? 0) + locs.length);
    try {
      await writeAt(w.fh, bufs.filter((b) => b.length > 0), start);
    } catch (err) {
      this.settle(locs);
      throw ioError(err, this.path(w.id), 'Could not write a pack file');
    }
    return { w, locs };
  }

  /** One fdatasync covers every write finished before it starts; callers arriving meanwhile share the next one. */
  private flush(w: Writer): Promise<void> {
    if (w.failed !== undefined) return Promise.reject(w.failed);
    if (w.queued) return w.queued;
    const start = (): Promise<void> => {
      // A sync failed while this one waited: these writes may be among the dropped pages.
      if (w.failed !== undefined) return Promise.reject(w.failed);
      const p: Promise<void> = w.fh.datasync()
        .catch((err: unknown) => {
          if (w.failed === undefined) w.failed = err ?? new Error('fdatasync failed');
          throw err;
        })
        .finally(() => { if (w.syncing === p) w.syncing = null; });
      w.syncing = p;
      return p;
    };
    if (!w.syncing) return start();
    const q = w.syncing.catch(() => {}).then(() => {
      w.queued = null;
      return start();
    });
    w.queued = q;
    return q;
  }

  /** Reads one packed blob whole. A missing pack is ENOENT (the caller looks the place up again: a compaction may have moved it). */
  async read(loc: PackLoc): Promise<Buffer> {
    let r = this.readers.get(loc.pack);
    if (!r) {
      const fresh: Reader = { fh: open(this.path(loc.pack), 'r'), refs: 0, retired: false };
      fresh.fh.catch(() => { if (this.readers.get(loc.pack) === fresh) this.readers.delete(loc.pack); });
      this.readers.set(loc.pack, fresh);
      r = fresh;
    }
    r.refs++;
    try {
      const fh = await r.fh;
      const buf = Buffer.allocUnsafe(loc.len);
      let got = 0;
      while (got < loc.len) {
        const { bytesRead } = await fh.read(buf, got, loc.len - got, loc.off + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got !== loc.len) {
        throw new DmanError('STORE_CORRUPT', `The pack ${this.path(loc.pack)} ends at byte ${loc.off + got}, before the blob recorded at ${loc.off}+${loc.len}`, {
          hint: 'Restore the data dir from a backup.',
          context: { driver: 'disk', file: this.path(loc.pack), offset: loc.off },
        });
      }
      return buf;
    } finally {
      r.refs--;
      if ((r.retired || this.gone.has(loc.pack)) && r.refs === 0) {
        r.retired = true;
        if (this.readers.get(loc.pack) === r) this.readers.delete(loc.pack);
        void r.fh.then((fh) => fh.close()).catch(() => {});
      }
    }
  }

  /** Deletes a pack nothing points into any more (its open readers finish first). */
  async retire(id: number): Promise<void> {
    if (this.writer?.id === id || this.isPending(id)) throw new Error(`pack ${id} is still being written`);
    const i = this.oldWriters.findIndex((w) => w.id === id);
    if (i >= 0) {
      const [w] = this.oldWriters.splice(i, 1);
      await w!.syncing?.catch(() => {});
      await w!.queued?.catch(() => {});
      await w!.fh.close().catch(() => {});
    }
    const r = this.readers.get(id);
    if (r) {
      this.readers.delete(id);
      r.retired = true;
      if (r.refs === 0) await r.fh.then((fh) => fh.close()).catch(() => {});
    }
    await unlink(this.path(id)).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, this.path(id), 'Could not remove a pack file');
    });
    this.sizes.delete(id);
    this.mtimes.delete(id);
    this.gone.add(id);
  }

  /** Makes retirements durable (best effort: a pack whose unlink is lost holds no live blob and goes at the next open). */
  async syncDir(): Promise<void> {
    if (this.sync) await fsyncDir(this.dir);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writeChain;
    const all = [...this.oldWriters, ...(this.writer ? [this.writer] : [])];
    this.writer = null;
    this.oldWriters.length = 0;
    for (const w of all) {
      await w.syncing?.catch(() => {});
      await w.queued?.catch(() => {});
      await w.fh.close().catch(() => {});
    }
    for (const r of this.readers.values()) await r.fh.then((fh) => fh.close()).catch(() => {});
    this.readers.clear();
  }
}
