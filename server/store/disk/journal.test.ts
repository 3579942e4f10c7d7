import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDmanError } from '../../../shared/errors.js';
import { decodeRecord, encodeRecord, Journal, scanJournal } from './journal.js';

describe('journal records', () => {
  it('round-trips records, including paths with newlines and non-ASCII', () => {
    const rec = { t: 'commit', s: 1, path: 'a\nb/ünï/🙂' };
    const line = encodeRecord(rec);
    expect(line[line.length - 1]).toBe(0x0a);
    expect(line.subarray(0, -1).includes(0x0a)).toBe(false);
    expect(decodeRecord(line.subarray(0, -1))).toEqual(rec);
  });

  it('rejects a record whose checksum does not match', () => {
    const line = encodeRecord({ x: 1 });
    line[12] = line[12]! ^ 1;
    expect(decodeRecord(line.subarray(0, -1))).toBeUndefined();
  });

  it('treats damage at the end as a torn tail and damage before good records as corruption', () => {
    const a = encodeRecord({ n: 1 });
    const b = encodeRecord({ n: 2 });
    const c = encodeRecord({ n: 3 });
    const torn = Buffer.concat([a, b, c.subarray(0, 7)]);
    expect(scanJournal(torn, 'j')).toEqual({ records: [{ n: 1 }, { n: 2 }], validBytes: a.length + b.length, tornBytes: 7 });
    const noNewline = Buffer.concat([a, c.subarray(0, -1)]);
    expect(scanJournal(noNewline, 'j').records).toEqual([{ n: 1 }]);
    const bad = Buffer.concat([a, Buffer.from(b).fill(0x41, 0, 8), c]);
    let err: unknown;
    try {
      scanJournal(bad, '/data/journal.log');
    } catch (e) {
      err = e;
    }
    expect(isDmanError(err, 'STORE_CORRUPT')).toBe(true);
    expect((err as Error).message).toContain(`/data/journal.log is damaged at byte ${a.length}`);
  });
});

describe('Journal file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-journal-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('appends, cuts a torn tail at open, and undoes a failed append so no partial record stays', async () => {
    const file = join(dir, 'journal.log');
    await writeFile(file, Buffer.concat([encodeRecord({ n: 1 }), encodeRecord({ n: 2 }).subarray(0, 5)]));
    const scan = scanJournal(await readFile(file), file);
    const j = await Journal.open(file, scan.validBytes, true);
    expect(j.bytes).toBe(encodeRecord({ n: 1 }).length);
    await j.append([{ n: 3 }]);
    // a disk that accepts part of the write and then fails (ENOSPC)
    const inner = j as unknown as { fh: { write: (...a: unknown[]) => Promise<{ bytesWritten: number }> } };
    const realWrite = inner.fh.write.bind(inner.fh);
    let calls = 0;
    inner.fh.write = async (buf: unknown, off: unknown, _len: unknown, pos: unknown) => {
      if (calls++ === 0) return realWrite(buf, off, 10, pos);
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    let err: unknown;
    try {
      await j.append([{ n: 4, pad: 'x'.repeat(100) }]);
    } catch (e) {
      err = e;
    }
    expect(isDmanError(err, 'DISK_FULL')).toBe(true);
    inner.fh.write = realWrite;
    await j.append([{ n: 5 }]);
    await j.close();
    expect(scanJournal(await readFile(file), file)).toMatchObject({ records: [{ n: 1 }, { n: 3 }, { n: 5 }], tornBytes: 0 });
  });
});
