// The /v1 protocol: whoami, change feed, push stream, manifest, blobs, commit, history, restore.
import type { FastifyInstance } from 'fastify';
import { createGzip } from 'node:zlib';
import { Readable, pipeline } from 'node:stream';
import { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import {
  BLOB_FETCH_MAX_BYTES, BULK_BLOBS_CONTENT_TYPE, IDEMPOTENCY_HEADER, MAX_BULK_BLOBS, blobFetchRequestSchema, bulkBlobHeader, missingBlobHeader, PROTOCOL_VERSION, changesQuerySchema, commitRequestSchema, relPath, restoreRequestSchema, sha256Hex,
  type CommitOp,
} from '../../shared/protocol.js';
import type { RouteContext } from '../http/context.js';
import type { Store } from '../store/Store.js';
import { decodeBody } from '../http/limitedStream.js';
import { isStream, jsonBody, parseWith } from '../http/parse.js';
import { putBlobsWith } from '../store/blobStream.js';
import { fastCommitRequest } from './fastCommit.js';
import { parseBlobFrames } from './blobFrames.js';

const userParams = z.object({ user: z.string() });
const blobParams = z.object({ user: z.string(), hash: z.string() });
const historyQuery = z.object({ path: relPath, limit: z.coerce.number().int().min(1).max(10_000).optional() });

/** Returns true when the client accepts a gzip response. */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const v = Array.isArray(header) ? header.join(',') : header ?? '';
  return /(^|,)\s*gzip\s*(;\s*q=(?!0(\.0*)?\s*(,|$))[\d.]+)?\s*(,|$)/i.test(v);
}

/** Registers the /v1 routes. */
export function registerV1Routes(app: FastifyInstance, ctx: RouteContext): void {
  const { store, limits } = ctx;

  app.get('/v1/whoami', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    return { user: p.user, device: p.device, admin: p.admin, tokenId: p.tokenId, serverVersion: ctx.version, protocol: PROTOCOL_VERSION };
  });

  // A device revokes its own token (`dman logout --revoke`) without needing an admin token.
  app.delete('/v1/whoami', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    if (!p.tokenId || p.tokenId === 'config') throw new DmanError('BAD_REQUEST', 'the shared auth_token from the server config cannot be revoked', { hint: "remove auth_token from the server's dman.yaml instead" });
    const ok = await store.revokeToken(p.tokenId, ctx.now());
    await ctx.audit(req, p, { action: 'token.revoke', outcome: ok ? 'ok' : 'failed', details: { id: p.tokenId, self: true } });
    return { id: p.tokenId, revoked: ok };
  });

  app.get('/v1/users/:user/changes', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const user = ctx.authorizeUser(p, parseWith(userParams, req.params, 'params').user);
    const q = parseWith(changesQuerySchema(), req.query, 'query');
    return store.changes(user, q.since, q.limit);
  });

  app.get('/v1/users/:user/manifest', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const user = ctx.authorizeUser(p, parseWith(userParams, req.params, 'params').user);
    const headRev = await store.headRev(user);
    const entries = await store.listEntries(user);
    return { user, headRev, entries };
  });

  app.get('/v1/users/:user/events', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const user = ctx.authorizeUser(p, parseWith(userParams, req.params, 'params').user);
    const head = await store.headRev(user);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    const send = (rev: number) => res.write(`event: rev\ndata: ${JSON.stringify({ user, rev })}\n\n`);
    send(head);
    const unsubscribe = store.subscribe(user, (_u, rev) => send(rev));
    const heartbeat = setInterval(() => res.write(': ping\n\n'), limits.heartbeatMs);
    heartbeat.unref();
    ctx.metrics.sseSubscribers.inc();
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      ctx.metrics.sseSubscribers.dec();
      untrack();
      res.end();
    };
    const untrack = ctx.trackStream(close);
    req.raw.on('close', close);
    res.on('close', close);
  });

  app.put('/v1/users/:user/blobs/:hash', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const params = parseWith(blobParams, req.params, 'params');
    const user = ctx.authorizeUser(p, params.user);
    const hash = parseWith(sha256Hex, params.hash, 'params.hash');
    const length = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(length) && length > limits.bodyBytes) throw new DmanError('PAYLOAD_TOO_LARGE', `the blob body is ${length} bytes, over the limit of ${limits.bodyBytes}`);
    if (!isStream(req.body)) throw new DmanError('BAD_REQUEST', 'a blob upload needs a binary body ("Content-Type: application/octet-stream")');
    const gzip = /gzip/i.test(String(req.headers['content-encoding'] ?? ''));
    const data = decodeBody(req.body, { gzip, maxBytes: Math.min(limits.blobBytes, limits.decompressedBytes), what: 'the blob' });
    const r = await store.putBlob(user, hash, data, limits.blobBytes);
    ctx.metrics.bytesIn.inc(r.size);
    reply.code(r.created ? 201 : 200);
    return { hash, size: r.size, created: r.created };
  });

  // Many small blobs in one request: one round trip, and the store groups their fsyncs.
  app.post('/v1/users/:user/blobs', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const user = ctx.authorizeUser(p, parseWith(userParams, req.params, 'params').user);
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== BULK_BLOBS_CONTENT_TYPE) throw new DmanError('BAD_REQUEST', `a bulk blob upload needs "Content-Type: ${BULK_BLOBS_CONTENT_TYPE}", not "${type || '(none)'}"`, { hint: 'frame each blob as "<sha256 hex> <size>\\n" followed by its bytes' });
    const length = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(length) && length > limits.bodyBytes) throw new DmanError('PAYLOAD_TOO_LARGE', `the bulk upload body is ${length} bytes, over the limit of ${limits.bodyBytes}`, { hint: 'send the blobs in smaller batches' });
    if (!isStream(req.body)) throw new DmanError('BAD_REQUEST', 'a bulk blob upload needs a binary body');
    const gzip = /gzip/i.test(String(req.headers['content-encoding'] ?? ''));
    const data = decodeBody(req.body, { gzip, maxBytes: Math.min(limits.bodyBytes, limits.decompressedBytes), what: 'the bulk upload' });
    const frames = parseBlobFrames(data, { maxBlobs: Math.min(MAX_BULK_BLOBS, limits.entries), maxBlobBytes: limits.blobBytes });
    const blobs = await putBlobsWith(store, user, frames, limits.blobBytes);
    ctx.metrics.bytesIn.inc(blobs.reduce((n, b) => n + b.size, 0));
    return { blobs };
  });

  // Many blobs in one reply (the install of a new machine): one round trip per few thousand
  // files instead of one per file. Each blob is looked up for this user exactly like the GET above.
  app.post('/v1/users/:user/blobs/fetch', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const user = ctx.authorizeUser(p, parseWith(userParams, req.params, 'params').user);
    const body = parseWith(blobFetchRequestSchema(), await jsonBody(req.body, limits.jsonBytes), 'body');
    const hashes = [...new Set(body.hashes)];
    const maxBytes = Math.min(limits.bodyBytes, BLOB_FETCH_MAX_BYTES);
    // The first lookup before the 200, so that a store that is down gets a clean error reply.
    const first = await store.getBlob(user, hashes[0]!);
    reply.header('content-type', BULK_BLOBS_CONTENT_TYPE).header('cache-control', 'no-store');
    return reply.send(Readable.from(fetchFrames(store, user, hashes, first, maxBytes, (n) => ctx.metrics.bytesOut.inc(n)), { objectMode: false }));
  });

  app.head('/v1/users/:user/blobs/:hash', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const params = parseWith(blobParams, req.params, 'params');
    const user = ctx.authorizeUser(p, params.user);
    const hash = parseWith(sha256Hex, params.hash, 'params.hash');
    if (!(await store.hasBlob(user, hash))) return reply.code(404).send();
    return reply.code(200).send();
  });

  app.get('/v1/users/:user/blobs/:hash', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const params = parseWith(blobParams, req.params, 'params');
    const user = ctx.authorizeUser(p, params.user);
    const hash = parseWith(sha256Hex, params.hash, 'params.hash');
    const blob = await store.getBlob(user, hash);
    if (!blob) throw new DmanError('NOT_FOUND', `no blob ${hash} for this user`, { hint: 'upload it first (PUT) or check the hash' });
    ctx.metrics.bytesOut.inc(blob.size);
    reply.header('content-type', 'application/octet-stream').header('x-dman-size', String(blob.size));
    if (acceptsGzip(req.headers['accept-encoding'])) {
      reply.header('content-encoding', 'gzip');
      const gz = createGzip();
      pipeline(blob.stream, gz, () => {});
      return reply.send(gz);
    }
    reply.header('content-length', String(blob.size));
    return reply.send(blob.stream);
  });

  app.post('/v1/users/:user/commit', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const user = ctx.authorizeUser(p, parseWith(userParams, req.params, 'params').user);
    const raw = await jsonBody(req.body, limits.jsonBytes);
    const body = fastCommitRequest(raw) ?? parseWith(commitRequestSchema(), raw, 'body');
    const headerKey = parseWith(z.string().min(8).max(128).optional(), req.headers[IDEMPOTENCY_HEADER], `header.${IDEMPOTENCY_HEADER}`);
    const idempotencyKey = headerKey ?? body.idempotencyKey;
    const device = body.device ?? p.device ?? 'unknown';
    const out = await store.commit({ user, device, ops: body.ops, idempotencyKey, now: ctx.now() });
    if (!out.ok) {
      reply.code(409);
      return { error: { code: 'CONFLICT', message: `${out.conflicts.length} path(s) changed on the server since your base revision; nothing was written` }, conflicts: out.conflicts };
    }
    if (!out.replayed) await ctx.afterCommit(user, body.ops.filter((o) => o.deleted).length, req, p);
    return { rev: out.rev, entries: out.entries, replayed: out.replayed };
  });

  app.get('/v1/users/:user/history', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const user = ctx.authorizeUser(p, parseWith(userParams, req.params, 'params').user);
    const q = parseWith(historyQuery, req.query, 'query');
    const versions = await store.history(user, q.path, q.limit);
    return { path: q.path, versions };
  });

  app.post('/v1/users/:user/restore', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const user = ctx.authorizeUser(p, parseWith(userParams, req.params, 'params').user);
    const body = parseWith(restoreRequestSchema(), await jsonBody(req.body, limits.jsonBytes), 'body');
    const versions = await store.history(user, body.path);
    const v = versions.find((e) => e.rev === body.rev);
    if (!v) throw new DmanError('NOT_FOUND', `no version ${body.rev} of "${body.path}" is kept`, { hint: 'list the kept versions with `dman history PATH`' });
    const op: CommitOp = { path: body.path, baseRev: body.baseRev, deleted: v.deleted, kind: v.kind, hash: v.hash, size: v.size, mode: v.mode, mtime: v.mtime, ...(v.target !== undefined ? { target: v.target } : {}) };
    const out = await store.commit({ user, device: body.device ?? p.device ?? 'restore', ops: [op], now: ctx.now() });
    if (!out.ok) {
      await ctx.audit(req, p, { action: 'restore', outcome: 'failed', user, details: { path: body.path, rev: body.rev, reason: 'conflict' } });
      reply.code(409);
      return { error: { code: 'CONFLICT', message: `"${body.path}" changed on the server since your base revision; nothing was restored` }, conflicts: out.conflicts };
    }
    await ctx.audit(req, p, { action: 'restore', outcome: 'ok', user, details: { path: body.path, rev: body.rev, newRev: out.rev } });
    await ctx.afterCommit(user, 0, req, p);
    return { rev: out.rev, entries: out.entries, replayed: out.replayed };
  });
}

type Got = { size: number; stream: Readable } | null;

/**
 * Yields the frames of a blob fetch reply: looks a few blobs ahead (each lookup opens the blob, so
 * the store's latency overlaps the sending), stops after the frame that passes `maxBytes`, and
 * closes every blob it opened but did not send.
 */
async function* fetchFrames(store: Store, user: string, hashes: string[], first: Got, maxBytes: number, sent: (n: number) => void): AsyncGenerator<Buffer> {
  const BATCH = 64;
  const LOOKAHEAD = store.getBlobs ? 2 * BATCH : 8;
  const batches = new Map<number, Promise<Got[]>>();
  const lookup = (i: number): Promise<Got> => {
    if (!store.getBlobs) return store.getBlob(user, hashes[i]!);
    const b = Math.floor((i - 1) / BATCH);
    let p = batches.get(b);
    if (!p) { p = store.getBlobs(user, hashes.slice(1 + b * BATCH, 1 + (b + 1) * BATCH)); batches.set(b, p); }
    // The last index of a batch is asked for last (in order): the batch's list is dropped then.
    if (i - 1 - b * BATCH === BATCH - 1 || i === hashes.length - 1) batches.delete(b);
    return p.then((list) => list[i - 1 - b * BATCH]!);
  };
  const ahead: Array<Promise<Got>> = [Promise.resolve(first)];
  let next = 1;
  const fill = (): void => {
    while (ahead.length < LOOKAHEAD && next < hashes.length) {
      const p = lookup(next++);
      p.catch(() => {}); // awaited in order below; this keeps an early rejection from being unhandled
      ahead.push(p);
    }
  };
  let bytes = 0;
  try {
    for (let i = 0; i < hashes.length; i++) {
      fill();
      const blob = await ahead.shift()!;
      const hash = hashes[i]!;
      if (!blob) {
        yield Buffer.from(missingBlobHeader(hash), 'latin1');
        continue;
      }
      if (bytes > 0 && bytes + blob.size > maxBytes) {
        blob.stream.destroy();
        return; // the client asks again for the rest
      }
      bytes += blob.size;
      yield Buffer.from(bulkBlobHeader(hash, blob.size), 'latin1');
      let got = 0;
      for await (const chunk of blob.stream) {
        const c = chunk as Buffer;
        got += c.length;
        if (got > blob.size) break;
        yield c;
      }
      // A blob that changed size under us would corrupt the framing: end the reply (the client sees a cut body).
      if (got !== blob.size) throw new DmanError('STORE_CORRUPT', `blob ${hash} holds ${got} bytes, not the ${blob.size} its record says`, { context: { hash } });
      sent(blob.size);
    }
  } finally {
    for (const p of ahead) void p.then((b) => b?.stream.destroy(), () => {});
  }
}
