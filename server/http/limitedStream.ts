// Byte-counting and gunzip stages for request bodies, each failing with a clear 4xx error.
import { Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DmanError } from '../../shared/errors.js';

/** Returns a transform that fails with PAYLOAD_TOO_LARGE once more than `max` bytes pass. */
export function byteLimit(max: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(new DmanError('PAYLOAD_TOO_LARGE', `${what} is larger than the limit of ${max} bytes`, { hint: 'split the upload or raise the server limit' }));
      else cb(null, chunk);
    },
  });
}

/** Wraps a body stream: gunzips it when `gzip` is set and bounds the decompressed bytes. */
export function decodeBody(body: Readable, opts: { gzip: boolean; maxBytes: number; what: string }): Readable {
  const limit = byteLimit(opts.maxBytes, opts.what);
  // The consumer may have stopped reading (a refused archive, a failed hash) before the socket
  // aborts; an unheard 'error' would crash the process, so there is always one listener.
  limit.on('error', () => {});
  const fail = (err: unknown) => limit.destroy(toBodyError(err));
  body.on('error', fail);
  if (!opts.gzip) return body.pipe(limit);
  const gunzip = createGunzip();
  gunzip.on('error', fail);
  return body.pipe(gunzip).pipe(limit);
}

/** Maps stream failures (zlib, aborted sockets) to DmanErrors. */
export function toBodyError(err: unknown): DmanError {
  if (err instanceof DmanError) return err;
  const code = (err as { code?: string } | null)?.code ?? '';
  if (code.startsWith('Z_')) return new DmanError('BAD_REQUEST', 'the body is not valid gzip', { hint: 'send gzip data with "Content-Encoding: gzip", or drop the header', cause: err });
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error)?.message === 'aborted') {
    return new DmanError('BAD_REQUEST', 'the request body ended before Content-Length bytes arrived', { hint: 'retry the upload', cause: err });
  }
  return new DmanError('BAD_REQUEST', `the request body could not be read: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
