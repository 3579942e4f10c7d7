// Streams a blob through SHA-256 and a size limit, handing each chunk to the driver as it
// arrives, so no driver holds a large blob whole in memory or stores unverified bytes.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DmanError } from '../../shared/errors.js';
import { sha256Hex } from '../../engine/util/sha256.js';
import type { BlobUpload, PutBlobResult, Store } from './Store.js';

/**
 * A blob whose bytes already arrived whole (most blobs of a bulk upload sit inside one socket
 * read): iterable like a stream of one chunk, and consumeVerified takes it without the async
 * iteration (a promise per step) and with a one-shot hash.
 */
export class HeldBlob implements AsyncIterable<Buffer> {
  constructor(readonly bytes: Buffer) {}
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    yield this.bytes;
  }
}

/**
 * Consumes `data`, calling `onChunk` for each chunk, and resolves with the byte count once the
 * content's SHA-256 equals `hash`. Throws DmanError PAYLOAD_TOO_LARGE past `maxBytes` and
 * HASH_MISMATCH at the end; the caller then discards whatever it wrote.
 */
export async function consumeVerified(
  data: Readable | AsyncIterable<Buffer>,
  hash: string,
  maxBytes: number,
  onChunk: (chunk: Buffer) => Promise<void> | void,
  context: { user?: string; driver?: string } = {},
): Promise<number> {
  if (data instanceof HeldBlob) {
    const size = data.bytes.length;
    if (size > maxBytes) throw tooLarge(hash, maxBytes, context);
    const actual = sha256Hex(data.bytes);
    if (actual !== hash) throw mismatch(hash, actual, size, context);
    // The driver gets the bytes only once they hash right (the streamed path hands them on first, and the driver discards them on a mismatch).
    await onChunk(data.bytes);
    return size;
  }
  const h = createHash('sha256');
  let size = 0;
  for await (const raw of data) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : (raw as Buffer);
    size += chunk.length;
    if (size > maxBytes) {
      if (typeof (data as Readable).destroy === 'function') (data as Readable).destroy();
      throw tooLarge(hash, maxBytes, context);
    }
    h.update(chunk);
    await onChunk(chunk);
  }
  const actual = h.digest('hex');
  if (actual !== hash) throw mismatch(hash, actual, size, context);
  return size;
}

function tooLarge(hash: string, maxBytes: number, context: { user?: string; driver?: string }): DmanError {
  return new DmanError('PAYLOAD_TOO_LARGE', `Blob ${hash.slice(0, 12)}… is larger than the limit of ${maxBytes} bytes`, {
    hint: 'Raise the server\'s blob size limit or stop tracking this file.',
    context: { ...context, hash, maxBytes },
  });
}

function mismatch(hash: string, actual: string, size: number, context: { user?: string; driver?: string }): DmanError {
  return new DmanError('HASH_MISMATCH', `Blob content does not match its name: expected SHA-256 ${hash}, got ${actual} (${size} bytes); nothing was stored`, {
    hint: 'The upload was corrupted or the file changed while uploading; hash it again and retry.',
    context: { ...context, hash, actual, size },
  });
}

/** Stores a bulk upload through putBlob, one blob after the other (for drivers without putBlobs). */
export async function putBlobsOneByOne(store: Store, user: string, blobs: AsyncIterable<BlobUpload>, maxBytes: number): Promise<PutBlobResult[]> {
  const out: PutBlobResult[] = [];
  for await (const b of blobs) out.push({ hash: b.hash, ...(await store.putBlob(user, b.hash, b.data, maxBytes)) });
  return out;
}

/** Stores a bulk upload with the driver's putBlobs when it has one, else blob by blob. */
export function putBlobsWith(store: Store, user: string, blobs: AsyncIterable<BlobUpload>, maxBytes: number): Promise<PutBlobResult[]> {
  return store.putBlobs ? store.putBlobs(user, blobs, maxBytes) : putBlobsOneByOne(store, user, blobs, maxBytes);
}

/** Regroups a stream's pieces into fixed-size chunks for drivers that store a blob as chunks. */
export interface Chunker {
  /** Adds a piece; writes every chunk it completes. */
  push(piece: Buffer): Promise<void>;
  /** Writes the last, partial chunk (if any). */
  flush(): Promise<void>;
  /** How many chunks were written so far. */
  readonly count: number;
}

/** Creates a Chunker that hands each full `chunkBytes` chunk (and the last one) to `write`, numbered from 0. */
export function createChunker(chunkBytes: number, write: (chunk: Buffer, seq: number) => Promise<void>): Chunker {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let count = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    await write(buf, count);
    count++;
  };
  return {
    async push(piece) {
      let rest = piece;
      while (rest.length > 0) {
        const take = Math.min(rest.length, chunkBytes - pendingBytes);
        pending.push(rest.subarray(0, take));
        pendingBytes += take;
        rest = rest.subarray(take);
        if (pendingBytes === chunkBytes) await flush();
      }
    },
    flush,
    get count() { return count; },
  };
}

/** Where receiveHeldOrChunked stands: `large` once the blob outgrew one chunk, `exists` if the store had it then. */
export interface ReceiveState { large: boolean; exists: boolean }

/**
 * Receives one verified blob for a bulk upload: whole into memory while it fits in one chunk;
 * past that, `startLarge` says whether the store already has the content (then the rest is only
 * verified, as putBlob does) and otherwise the bytes go through `chunker`. `state` tells the
 * caller, also when this throws, whether it went large (what to clean up). Resolves with the
 * size and the held bytes (null for a large blob).
 */
export async function receiveHeldOrChunked(
  data: Readable | AsyncIterable<Buffer>,
  hash: string,
  maxBytes: number,
  opts: { chunkBytes: number; chunker: Chunker; startLarge(): Promise<boolean>; state: ReceiveState; context?: { user?: string; driver?: string } },
): Promise<{ size: number; data: Buffer | null }> {
  const { chunker, state } = opts;
  let parts: Buffer[] = [];
  let bytes = 0;
  const size = await consumeVerified(data, hash, maxBytes, async (chunk) => {
    if (!state.large) {
      parts.push(chunk);
      bytes += chunk.length;
      if (bytes <= opts.chunkBytes) return;
      const held = parts;
      parts = [];
      state.large = true;
      state.exists = await opts.startLarge();
      if (!state.exists) for (const p of held) await chunker.push(p);
      return;
    }
    if (!state.exists) await chunker.push(chunk);
  }, opts.context);
  if (!state.large) return { size, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
  if (!state.exists) await chunker.flush();
  return { size, data: null };
}

/** What uploadInGroups hands back: the results of the groups written, and what stopped it. */
export interface GroupedUpload {
  results: PutBlobResult[];
  /** The error receiving a blob threw (the blobs before it were still written). */
  receiveError: unknown;
  /** The first error writing a group threw (receiving stopped there). */
  writeError: unknown;
}

/**
 * The bulk-upload loop of the database drivers: receives blobs one by one (`receive`), holds them
 * in a group until it holds `maxBytes` (as counted by `heldBytes`) or `maxCount` of them, and
 * writes a group while the next is received (one write in flight, so memory stays near twice
 * `maxBytes`). After a write fails nothing more is received or written; `discard` then gets each
 * group that will not be written (and the one that failed) to release what its blobs hold.
 */
export async function uploadInGroups<R>(blobs: AsyncIterable<BlobUpload>, opts: {
  receive(blob: BlobUpload): Promise<R>;
  heldBytes(received: R): number;
  maxBytes: number;
  maxCount: number;
  write(group: R[]): Promise<PutBlobResult[]>;
  discard?(group: R[]): Promise<void>;
}): Promise<GroupedUpload> {
  const results: PutBlobResult[] = [];
  let group: R[] = [];
  let groupBytes = 0;
  let writing: Promise<void> = Promise.resolve();
  let writeError: unknown = null;
  let receiveError: unknown = null;
  const flush = async (): Promise<void> => {
    const list = group;
    group = [];
    groupBytes = 0;
    await writing;
    if (list.length === 0) return;
    if (writeError) { await opts.discard?.(list); return; }
    writing = opts.write(list).then((r) => { results.push(...r); }, async (err: unknown) => { writeError ??= err; await opts.discard?.(list); });
  };
  try {
    for await (const b of blobs) {
      const got = await opts.receive(b);
      group.push(got);
      groupBytes += opts.heldBytes(got);
      if (groupBytes >= opts.maxBytes || group.length >= opts.maxCount) await flush();
      if (writeError) break;
    }
  } catch (err) {
    receiveError = err; // keep what arrived whole before the failure
  }
  await flush();
  await writing;
  return { results, receiveError, writeError };
}
