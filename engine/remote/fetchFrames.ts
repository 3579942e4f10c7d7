// Reads the reply of a blob fetch (shared/protocol.ts, POST /v1/users/:user/blobs/fetch): frames
// `<sha256> <size>\n` + bytes, or `<sha256> -\n` for a blob the server does not have for the user.
// Each blob is handed on whole (the engine fetches only small blobs this way).
import { DmanError } from '../../shared/errors.js';

const MAX_HEADER_BYTES = 81;
const HEADER_RE = /^([0-9a-f]{64}) (\d{1,15}|-)$/;

/** One frame of a fetch reply: the blob's bytes, or null when the server does not have it. */
export interface FetchedBlob { hash: string; data: Buffer | null }

/**
 * Yields each frame of `body` in order. `wanted` holds the hashes asked for; a frame for any other
 * hash, a hash sent twice, a blob over `maxBlobBytes`, a malformed header or a body that ends inside
 * a frame is a DmanError PROTOCOL naming `url`.
 */
export async function* readFetchFrames(body: AsyncIterable<Uint8Array>, wanted: ReadonlySet<string>, maxBlobBytes: number, url: string): AsyncGenerator<FetchedBlob> {
  const it = body[Symbol.asyncIterator]();
  try {
    yield* framesOf(it, wanted, maxBlobBytes, url);
  } finally {
    // A reply refused part way, or left by the reader: ending its iteration destroys it (nothing once it
    // has ended). An open reply would hold its kept-alive connection, and with it the process.
    await it.return?.();
  }
}

async function* framesOf(it: AsyncIterator<Uint8Array>, wanted: ReadonlySet<string>, maxBlobBytes: number, url: string): AsyncGenerator<FetchedBlob> {
  const bad = (what: string): DmanError => new DmanError('PROTOCOL', `the blob fetch reply from ${url} is malformed: ${what}`, {
    hint: 'update dman on this machine or on the server so both speak the same protocol', context: { url },
  });
  const seen = new Set<string>();
  let buf: Buffer = Buffer.alloc(0);
  const pull = async (): Promise<boolean> => {
    const r = await it.next();
    if (r.done) return false;
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    return true;
  };
  for (;;) {
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) < 0) {
      if (buf.length > MAX_HEADER_BYTES) throw bad('a header line longer than "<sha256> <size>"');
      if (!(await pull())) {
        if (buf.length === 0) return;
        throw bad('the body ends inside a header line');
      }
    }
    const m = nl <= MAX_HEADER_BYTES ? HEADER_RE.exec(buf.subarray(0, nl).toString('latin1')) : null;
    if (!m) throw bad('a header that is not "<sha256> <size>" or "<sha256> -"');
    const hash = m[1]!;
    if (!wanted.has(hash)) throw bad(`blob ${hash.slice(0, 12)}… was not asked for`);
    if (seen.has(hash)) throw bad(`blob ${hash.slice(0, 12)}… came twice`);
    seen.add(hash);
    buf = buf.subarray(nl + 1);
    if (m[2] === '-') {
      yield { hash, data: null };
      continue;
    }
    const size = Number(m[2]);
    if (size > maxBlobBytes) throw bad(`blob ${hash.slice(0, 12)}… declares ${size} bytes, more than the ${maxBlobBytes} asked for`);
    const parts: Buffer[] = [];
    let need = size;
    for (;;) {
      const take = Math.min(need, buf.length);
      parts.push(buf.subarray(0, take));
      buf = buf.subarray(take);
      need -= take;
      if (need === 0) break;
      const r = await it.next();
      if (r.done) throw bad(`the body ends ${need} bytes before the end of blob ${hash.slice(0, 12)}…`);
      buf = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
    // A copy (concat always allocates), so the blob does not pin the larger receive buffers.
    const data = Buffer.concat(parts, size);
    yield { hash, data };
  }
}
