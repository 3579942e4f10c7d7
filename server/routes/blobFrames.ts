// Reads the body of a bulk blob upload (shared/protocol.ts BULK_BLOBS_CONTENT_TYPE) as a stream
// of blobs, each handed on as it arrives, so a large body is never held whole in memory.
import { DmanError } from '../../shared/errors.js';
import { HeldBlob } from '../store/blobStream.js';
import type { BlobUpload } from '../store/Store.js';

/** Longest header line: 64 hex digits, a space, up to 15 digits, a newline. */
const MAX_HEADER_BYTES = 81;
const HEADER_RE = /^([0-9a-f]{64}) (\d{1,15})$/;

/**
 * Yields one BlobUpload per framed blob. Each blob's data must be read (or is skipped) before the
 * next one is parsed. Throws DmanError BAD_REQUEST on a malformed header or a body that ends inside
 * a blob, PAYLOAD_TOO_LARGE past `maxBlobs` blobs or a declared size over `maxBlobBytes`.
 */
export async function* parseBlobFrames(body: AsyncIterable<Buffer>, limits: { maxBlobs: number; maxBlobBytes: number }): AsyncGenerator<BlobUpload> {
  const it = body[Symbol.asyncIterator]();
  let buf: Buffer = Buffer.alloc(0);
  const pull = async (): Promise<boolean> => {
    const r = await it.next();
    if (r.done) return false;
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    return true;
  };
  for (let count = 0; ; ) {
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) < 0) {
      if (buf.length > MAX_HEADER_BYTES) throw badFrame(count, 'a header line longer than a "<sha256> <size>" line');
      if (!(await pull())) {
        if (buf.length === 0) return;
        throw badFrame(count, 'a header line cut off by the end of the body');
      }
    }
    const m = nl <= MAX_HEADER_BYTES ? HEADER_RE.exec(buf.subarray(0, nl).toString('latin1')) : null;
    if (!m) throw badFrame(count, 'a header that is not "<lowercase sha256 hex> <size>"');
    if (++count > limits.maxBlobs) {
      throw new DmanError('PAYLOAD_TOO_LARGE', `the bulk upload holds more than ${limits.maxBlobs} blobs`, { hint: 'send the blobs in smaller batches' });
    }
    const hash = m[1]!;
    const size = Number(m[2]);
    if (size > limits.maxBlobBytes) {
      throw new DmanError('PAYLOAD_TOO_LARGE', `blob ${hash.slice(0, 12)}… of the bulk upload declares ${size} bytes, over the limit of ${limits.maxBlobBytes}`, { hint: 'stop tracking this file or raise the server\'s blob size limit', context: { hash } });
    }
    buf = buf.subarray(nl + 1);
    if (buf.length >= size) {
      // The whole blob already arrived (the common case: most blobs sit inside one socket read).
      const bytes = buf.subarray(0, size);
      buf = buf.subarray(size);
      yield { hash, data: new HeldBlob(bytes) };
      continue;
    }
    let remaining = size;
    const data = async function* (): AsyncGenerator<Buffer> {
      while (remaining > 0) {
        if (buf.length === 0 && !(await pull())) throw badFrame(count - 1, `a body that ends ${remaining} bytes before the end of blob ${hash.slice(0, 12)}…`);
        const take = Math.min(remaining, buf.length);
        const chunk = buf.subarray(0, take);
        buf = buf.subarray(take);
        remaining -= take;
        yield chunk;
      }
    };
    yield { hash, data: data() };
    for await (const _ of data()) {
      // skip what the consumer left unread, to reach the next header
    }
  }
}

function badFrame(index: number, what: string): DmanError {
  return new DmanError('BAD_REQUEST', `the bulk blob upload is malformed at blob ${index + 1}: ${what}`, {
    hint: 'frame each blob as "<sha256 hex> <size>\\n" followed by exactly size bytes',
    context: { blob: index + 1 },
  });
}
