// The disk driver's write-ahead journal: one line per record, `<crc32> <json>\n`. A record is
// durable (fsynced) before the change it describes is applied or acknowledged, so after a crash
// the journal holds whole batches only; a torn last line was never acknowledged and is cut off.
import { crc32 } from 'node:zlib';
import { open, type FileHandle } from 'node:fs/promises';
import { DmanError } from '../../../shared/errors.js';

/** Encodes one record as a checksummed line (the CRC-32 of the JSON's UTF-8 bytes, a space, the JSON, a newline). */
export function encodeLine(rec: unknown): string {
  const json = JSON.stringify(rec);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** Encodes one record as a checksummed line. */
export function encodeRecord(rec: unknown): Buffer {
  return Buffer.from(encodeLine(rec));
}

/** Decodes one line, or returns undefined when its checksum or JSON is bad. */
export function decodeRecord(line: Buffer): unknown {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  const body = line.subarray(9);
  if (crc32(body).toString(16).padStart(8, '0') !== line.subarray(0, 8).toString('latin1')) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export interface JournalScan {
  records: unknown[];
  /** Bytes of whole, valid records; anything after was a torn write. */
  validBytes: number;
  /** Bytes cut from the tail (0 when the file ended cleanly). */
  tornBytes: number;
}

/**
 * Parses a journal buffer. A bad record followed only by garbage is a torn tail (reported in
 * tornBytes); a bad record followed by good ones is corruption: DmanError STORE_CORRUPT.
 */
export function scanJournal(buf: Buffer, file: string): JournalScan {
  const records: unknown[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    const rec = nl < 0 ? undefined : decodeRecord(buf.subarray(pos, nl));
    if (rec === undefined) {
      // Torn tail only if no valid record follows.
      let probe = nl < 0 ? buf.length : nl + 1;
      while (probe < buf.length) {
        const next = buf.indexOf(0x0a, probe);
        const end = next < 0 ? buf.length : next;
        if (next >= 0 && decodeRecord(buf.subarray(probe, end)) !== undefined) {
          throw new DmanError('STORE_CORRUPT', `The journal ${file} is damaged at byte ${pos}: a bad record is followed by valid ones, so this is not a torn write`, {
            hint: 'Restore the data dir from a backup, or move the journal aside to start from the last snapshot (recent commits are then lost).',
            context: { driver: 'disk', file, offset: pos },
          });
        }
        probe = end + 1;
      }
      return { records, validBytes: pos, tornBytes: buf.length - pos };
    }
    records.push(rec);
    pos = nl + 1;
  }
  return { records, validBytes: pos, tornBytes: 0 };
}

/** An append-only journal file written at a known offset, so a failed append can be undone. */
export class Journal {
  private size: number;
  private broken: unknown = null;
  private constructor(private readonly fh: FileHandle, readonly file: string, size: number, private readonly sync: boolean) {
    this.size = size;
  }

  /** Opens (creating) the journal, cutting it to `validBytes` so a torn tail is gone before appending. */
  static async open(file: string, validBytes: number, sync: boolean): Promise<Journal> {
    const fh = await open(file, 'a+', 0o600).then(async (h) => {
      await h.close();
      return open(file, 'r+');
    });
    const st = await fh.stat();
    if (st.size !== validBytes) {
      await fh.truncate(validBytes);
      if (sync) await fh.sync();
    }
    return new Journal(fh, file, validBytes, sync);
  }

  get bytes(): number {
    return this.size;
  }

  /** Appends records durably; on failure the file is cut back so no partial record stays. */
  async append(recs: unknown[], opts: { sync?: boolean } = {}): Promise<void> {
    if (this.broken) throw ioError(this.broken, this.file, 'The journal could not be repaired after a failed write; restart the server');
    const buf = Buffer.from(recs.map(encodeLine).join(''));
    try {
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, this.size + off);
        off += bytesWritten;
      }
      if (this.sync && opts.sync !== false) await this.fh.datasync();
    } catch (err) {
      try {
        await this.fh.truncate(this.size);
      } catch (e2) {
        this.broken = e2;
      }
      throw ioError(err, this.file, 'Could not write the journal');
    }
    this.size += buf.length;
  }

  /** Empties the journal (after a snapshot made its records redundant). */
  async reset(): Promise<void> {
    await this.fh.truncate(0);
    if (this.sync) await this.fh.sync();
    this.size = 0;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Wraps a filesystem error as DmanError DISK_FULL or IO with the file named. */
export function ioError(err: unknown, file: string, what: string): DmanError {
  if (err instanceof DmanError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DmanError('DISK_FULL', `${what}: the disk holding ${file} is full`, { hint: 'Free some space (or run retention and gc), then retry; nothing was half-written.', context: { driver: 'disk', file }, cause: err });
  }
  return new DmanError('IO', `${what}: ${(err as Error)?.message ?? String(err)} (${file})`, { context: { driver: 'disk', file }, cause: err });
}
