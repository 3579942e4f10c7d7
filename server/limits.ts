// Request limits of the server: every body, entry count and decompressed size is bounded.

/** Limits applied to every request. */
export interface ServerLimits {
  /** Largest JSON body (bytes). */
  jsonBytes: number;
  /** Largest single blob (bytes, after decompression). */
  blobBytes: number;
  /** Largest request body on the wire (bytes). */
  bodyBytes: number;
  /** Largest total of decompressed bytes per request (gzip bombs stop here). */
  decompressedBytes: number;
  /** Most entries in one tar or compare request. */
  entries: number;
  /** Milliseconds between SSE heartbeats. */
  heartbeatMs: number;
}

/** The default limits: generous for dotfiles, tight enough to keep one request from hurting the others. */
export const DEFAULT_LIMITS: ServerLimits = {
  jsonBytes: 16 * 1024 * 1024,
  blobBytes: 64 * 1024 * 1024,
  bodyBytes: 256 * 1024 * 1024,
  decompressedBytes: 256 * 1024 * 1024,
  entries: 20_000,
  heartbeatMs: 15_000,
};
