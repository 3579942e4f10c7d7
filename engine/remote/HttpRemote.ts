// The HTTP client of the /v1 protocol. Every response is parsed with the shared/protocol.ts
// schemas; failures become DmanErrors that name the URL and say how to fix them.
import { randomUUID } from 'node:crypto';
import { finished, type Readable } from 'node:stream';
import type { z } from 'zod';
import { DmanError, errorCodes, isDmanError, isRetryable, type ErrorCode } from '../../shared/errors.js';
import {
  BLOB_FETCH_MAX_BYTES, BLOB_FETCH_MAX_COUNT, BULK_BLOBS_CONTENT_TYPE, IDEMPOTENCY_HEADER, OP_HEADER, bulkBlobHeader, bulkBlobsReplySchema, changesReplySchema, commitConflictReplySchema, commitOkSchema, errorReplySchema, healthReplySchema,
  historyReplySchema, pushEventSchema, whoamiSchema, type CommitOpInput,
} from '../../shared/protocol.js';
import type { Logger } from '../log.js';
import { fastBulkBlobs, fastChanges, fastCommitOk } from './fastReplies.js';
import { readFetchFrames } from './fetchFrames.js';
import type { BlobSource, CommitResult, Remote } from './Remote.js';
import { createFetchTransport, createNodeTransport, type RequestBody, type Transport, type TransportReply } from './transport.js';

export interface HttpRemoteOptions {
  url: string;
  token?: string;
  log?: Logger;
  /** Retries of a retryable failure (default 2). */
  retries?: number;
  /** Per-request timeout in ms for non-streaming requests (default 30 s). */
  timeoutMs?: number;
  /** Reconnect delays of the push stream (ms), growing to the last value. */
  reconnectDelaysMs?: number[];
  /**
   * Sends requests through this fetch instead of node:http (the test seam: a wrapper can fail,
   * delay or alter any request or reply).
   */
  fetch?: typeof fetch;
  opId?: string;
  /** State shared by the views withOp makes (internal). */
  shared?: { noBlobFetch: boolean; transport?: Transport };
}

interface Req { method: string; path: string; body?: RequestBody; headers?: Record<string, string>; stream?: boolean; retry?: boolean }

/** A reply: `data` holds the whole body of a request that is not streamed; a streamed one reads `body`. */
interface Res { ok: boolean; status: number; statusText: string; header(name: string): string | null; body: Readable; data?: Buffer }

/**
 * Reads a whole reply body. With 'data' events and stream.finished rather than an async iterator:
 * the same errors (a reset or a premature close rejects), without the iterator's machinery, which
 * was ~3 ms of a one-shot `dman sync`'s CPU for its one small reply.
 */
function readAll(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    body.on('data', (c: Uint8Array) => { parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength)); });
    finished(body, (err) => {
      if (err) reject(err);
      else resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Creates a Remote that talks to a dman server over HTTP. */
export function createHttpRemote(opts: HttpRemoteOptions): Remote {
  const base = opts.url.replace(/\/+$/, '');
  // One transport (and its keep-alive connections) for this remote and every view withOp makes.
  const transport = (shared_(opts).transport ??= opts.fetch ? createFetchTransport(opts.fetch) : createNodeTransport());
  const retries = opts.retries ?? 2;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const opId = opts.opId ?? randomUUID();
  const shared = shared_(opts);
  const u = (user: string): string => `/v1/users/${encodeURIComponent(user)}`;

  async function send(r: Req): Promise<Res> {
    let attempt = 0;
    for (;;) {
      try {
        return await sendOnce(r);
      } catch (err) {
        if (r.retry === false || attempt >= retries || !isRetryable(err)) throw err;
        const after = (err as DmanError).context?.retryAfterMs as number | undefined;
        await sleep(Math.min(after ?? 150 * 3 ** attempt, 3000));
        attempt++;
      }
    }
  }

  async function sendOnce(r: Req): Promise<Res> {
    const url = base + r.path;
    const headers: Record<string, string> = { [OP_HEADER]: opId, 'accept-encoding': 'identity', ...r.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const t0 = performance.now();
    // A request that is not streamed has timeoutMs for all of it, its reply's body included.
    const ctrl = r.stream ? undefined : new AbortController();
    const timer = ctrl ? setTimeout(() => ctrl.abort(), timeoutMs) : undefined;
    timer?.unref();
    let res: Res;
    try {
      // What may be sent twice is what send may repeat; a streamed request has timeoutMs of silence from the server.
      const reply: TransportReply = await transport({ url, method: r.method, headers, body: r.body, signal: ctrl?.signal, idempotent: r.retry !== false, ...(r.stream ? { idleTimeoutMs: timeoutMs } : {}) });
      res = { ...reply, ok: reply.status >= 200 && reply.status < 300, header: reply.header };
      if (!r.stream) res.data = await readAll(reply.body);
    } catch (err) {
      const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
      const why = ctrl?.signal.aborted ? `no reply within ${timeoutMs / 1000} s` : e.code === 'ETIMEDOUT' ? e.message : e.code ?? e.cause?.code ?? e.cause?.message ?? e.message;
      throw new DmanError('SERVER_UNREACHABLE', `cannot reach the dman server at ${base} (${why})`, {
        hint: 'check that the server runs (`dman serve`) and that server_url in your config is right; local changes stay pending until it is back',
        context: { url }, cause: err,
      });
    } finally {
      clearTimeout(timer);
    }
    // The op id is the one the server logs this request under: one grep follows a run across both sides.
    opts.log?.debug({ op: opId, method: r.method, path: r.path, status: res.status, ms: Math.round((performance.now() - t0) * 10) / 10 }, 'server request');
    if (res.ok || res.status === 409 || (r.method === 'HEAD' && res.status === 404)) return res;
    throw await errorFrom(res, url);
  }

  async function errorFrom(res: Res, url: string): Promise<DmanError> {
    const text = (res.data ?? await readAll(res.body).catch(() => Buffer.alloc(0))).toString('utf8');
    let code: ErrorCode | undefined;
    let message = `the server at ${base} answered ${res.status} ${res.statusText}`;
    let hint: string | undefined;
    try {
      const body = errorReplySchema().parse(JSON.parse(text));
      if ((errorCodes as readonly string[]).includes(body.error.code)) code = body.error.code as ErrorCode;
      message = `${body.error.message} (${res.status} from ${url})`;
      hint = body.error.hint;
    } catch {}
    const retryAfter = Number(res.header('retry-after'));
    const retryAfterMs = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined;
    if (res.status === 401) return new DmanError(code === 'AUTH_REQUIRED' ? 'AUTH_REQUIRED' : 'AUTH_INVALID', message, { hint: hint ?? 'set a valid auth_token in your config (`dman login`), or create one with `dman token create`', context: { url } });
    if (res.status === 403) return new DmanError('FORBIDDEN', message, { hint: hint ?? 'this token belongs to another user or lacks the right; use a token made for this user', context: { url } });
    if (res.status === 429) return new DmanError('RATE_LIMITED', message, { hint: hint ?? 'wait a moment and run again', context: { url, retryAfterMs } });
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      return new DmanError(code === 'STORE_UNAVAILABLE' ? 'STORE_UNAVAILABLE' : 'SERVER_UNREACHABLE', message, { hint: hint ?? 'the server or its storage is down for now; run again shortly (local changes stay pending)', context: { url, retryAfterMs } });
    }
    return new DmanError(code ?? (res.status >= 500 ? 'SERVER_ERROR' : 'PROTOCOL'), message, { hint, context: { url, status: res.status } });
  }

  /**
   * Parses a reply with `schema`; `fast`, when given, checks it first (fastReplies.ts) and the
   * schema runs only when it declines. `schema` is the getter (shared/lazySchema.ts): a reply the
   * fast check takes never builds it.
   */
  async function json<S extends z.ZodType>(res: Res, schema: () => S, url: string, fast?: (raw: unknown) => z.infer<S> | null): Promise<z.infer<S>> {
    let raw: unknown;
    try {
      raw = JSON.parse((res.data ?? await readAll(res.body)).toString('utf8'));
    } catch (err) {
      throw new DmanError('PROTOCOL', `the server at ${base} sent a reply that is not JSON (${url})`, { hint: 'check that server_url points at a dman server', context: { url }, cause: err });
    }
    const quick = fast?.(raw);
    if (quick) return quick;
    const parsed = schema().safeParse(raw);
    if (!parsed.success) {
      throw new DmanError('PROTOCOL', `the server at ${base} sent a reply this client does not understand (${url}): ${parsed.error.issues[0]?.message ?? 'invalid'}`, { hint: 'update dman on this machine or on the server so both speak the same protocol', context: { url } });
    }
    return parsed.data;
  }

  async function getJson<S extends z.ZodType>(path: string, schema: () => S, fast?: (raw: unknown) => z.infer<S> | null): Promise<z.infer<S>> {
    return json(await send({ method: 'GET', path }), schema, base + path, fast);
  }

  async function commitLike(path: string, payload: unknown, idempotencyKey?: string): Promise<CommitResult> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (idempotencyKey) headers[IDEMPOTENCY_HEADER] = idempotencyKey;
    // Only a commit with an idempotency key is safe to send twice.
    const res = await send({ method: 'POST', path, body: JSON.stringify(payload), headers, retry: idempotencyKey !== undefined });
    if (res.status === 409) {
      const body = await json(res, commitConflictReplySchema, base + path);
      return { ok: false, conflicts: body.conflicts };
    }
    const ok = await json(res, commitOkSchema, base + path, fastCommitOk);
    return { ok: true, ...ok };
  }

  /** The fallback for a server without the fetch endpoint: 8 GETs at once, yielded as they finish. */
  async function* blobByBlob(user: string, hashes: string[]): AsyncGenerator<{ hash: string; data: Buffer | null }> {
    const one = async (hash: string): Promise<{ hash: string; data: Buffer | null }> => {
      try {
        const parts: Buffer[] = [];
        for await (const c of await remote.getBlob(user, hash)) parts.push(c as Buffer);
        return { hash, data: Buffer.concat(parts) };
      } catch (err) {
        if (isDmanError(err, 'NOT_FOUND')) return { hash, data: null };
        throw err;
      }
    };
    const running = new Map<number, Promise<{ i: number; r: { hash: string; data: Buffer | null } }>>();
    let next = 0;
    const start = (): void => {
      while (running.size < 8 && next < hashes.length) {
        const i = next++;
        const p = one(hashes[i]!).then((r) => ({ i, r }));
        p.catch(() => {});
        running.set(i, p);
      }
    };
    start();
    while (running.size > 0) {
      const { i, r } = await Promise.race(running.values());
      running.delete(i);
      start();
      yield r;
    }
  }

  const remote: Remote = {
    url: base,
    withOp: (id) => createHttpRemote({ ...opts, opId: id }),
    health: () => getJson('/health', healthReplySchema),
    whoami: () => getJson('/v1/whoami', whoamiSchema),
    changes: (user, since, limit = 1000) => getJson(`${u(user)}/changes?since=${since}&limit=${limit}`, changesReplySchema, fastChanges),
    async hasBlob(user, hash) {
      const res = await send({ method: 'HEAD', path: `${u(user)}/blobs/${hash}` });
      return res.status === 200;
    },
    async putBlob(user, hash, body: BlobSource, size) {
      const path = `${u(user)}/blobs/${hash}`;
      const headers = { 'content-type': 'application/octet-stream', 'content-length': String(size) };
      let attempt = 0;
      for (;;) {
        try {
          const data = body instanceof Uint8Array ? body : body();
          const res = await sendOnce({ method: 'PUT', path, body: data, headers, stream: !(body instanceof Uint8Array) });
          if (!res.data) await readAll(res.body);
          return;
        } catch (err) {
          if (attempt >= retries || !isRetryable(err)) throw err;
          await sleep(150 * 3 ** attempt++);
        }
      }
    },
    async putBlobs(user, blobs) {
      if (blobs.length === 0) return;
      const path = `${u(user)}/blobs`;
      // The parts go to the socket as they are: no copy of the whole batch.
      const parts: Uint8Array[] = [];
      let length = 0;
      for (const b of blobs) {
        const header = Buffer.from(bulkBlobHeader(b.hash, b.data.length), 'latin1');
        parts.push(header, b.data);
        length += header.length + b.data.length;
      }
      // Safe to resend: storing a blob twice is a no-op.
      const res = await send({ method: 'POST', path, body: parts, headers: { 'content-type': BULK_BLOBS_CONTENT_TYPE, 'content-length': String(length) } });
      const reply = await json(res, bulkBlobsReplySchema, base + path, fastBulkBlobs);
      if (reply.blobs.length !== blobs.length) {
        throw new DmanError('PROTOCOL', `the server at ${base} stored ${reply.blobs.length} of ${blobs.length} blobs of a bulk upload without saying why (${base + path})`, { hint: 'update dman on this machine or on the server so both speak the same protocol', context: { url: base + path } });
      }
    },
    async *getBlobs(user, hashes) {
      let pending = [...new Set(hashes)];
      let failures = 0;
      while (pending.length > 0) {
        if (shared.noBlobFetch) {
          yield* blobByBlob(user, pending);
          return;
        }
        const batch = pending.slice(0, BLOB_FETCH_MAX_COUNT);
        const left = new Set(batch);
        const path = `${u(user)}/blobs/fetch`;
        try {
          let res: Res;
          try {
            res = await send({ method: 'POST', path, body: JSON.stringify({ hashes: batch }), headers: { 'content-type': 'application/json' }, stream: true });
          } catch (err) {
            // A server older than the fetch endpoint: blob by blob from now on.
            const status = (err as DmanError).context?.status;
            if (isDmanError(err, 'NOT_FOUND') || status === 404 || status === 405) {
              shared.noBlobFetch = true;
              opts.log?.debug({ status }, 'the server has no blob fetch endpoint; fetching blob by blob');
              continue;
            }
            throw err;
          }
          try {
            for await (const b of readFetchFrames(res.body, left, BLOB_FETCH_MAX_BYTES + 1, base + path)) {
              left.delete(b.hash);
              yield b;
            }
          } catch (err) {
            if (isDmanError(err)) throw err;
            // The connection broke mid-reply: what arrived is kept, the rest is asked for again.
            throw new DmanError('SERVER_UNREACHABLE', `the blob fetch reply from ${base} broke off (${(err as Error).message})`, {
              hint: 'check that the server runs; run again to fetch the rest', context: { url: base + path }, cause: err,
            });
          }
          if (left.size === batch.length) {
            throw new DmanError('PROTOCOL', `the server at ${base} answered a fetch of ${batch.length} blobs with none of them`, { hint: 'update dman on this machine or on the server so both speak the same protocol', context: { url: base + path } });
          }
          failures = 0;
        } catch (err) {
          if (!isRetryable(err) || failures >= retries) throw err;
          await sleep(150 * 3 ** failures++);
        }
        pending = [...left, ...pending.slice(batch.length)];
      }
    },
    async getBlob(user, hash) {
      const res = await send({ method: 'GET', path: `${u(user)}/blobs/${hash}`, stream: true });
      return res.body;
    },
    commit: (user, ops: CommitOpInput[], o) => commitLike(`${u(user)}/commit`, { ops, device: o.device, idempotencyKey: o.idempotencyKey }, o.idempotencyKey),
    async history(user, path) {
      const r = await getJson(`${u(user)}/history?path=${encodeURIComponent(path)}`, historyReplySchema);
      return r.versions;
    },
    restore: (user, path, rev, baseRev, device) => commitLike(`${u(user)}/restore`, { path, rev, baseRev, device }),
    subscribe(user, onRev, onState) {
      const delays = opts.reconnectDelaysMs ?? [100, 250, 500, 1000, 2000, 5000];
      let stopped = false;
      let ctrl: AbortController | undefined;
      let failures = 0;
      const loop = async (): Promise<void> => {
        while (!stopped) {
          ctrl = new AbortController();
          try {
            const headers: Record<string, string> = { [OP_HEADER]: opId, accept: 'text/event-stream' };
            if (opts.token) headers.authorization = `Bearer ${opts.token}`;
            const reply = await transport({ url: `${base}${u(user)}/events`, method: 'GET', headers, signal: ctrl.signal });
            const res: Res = { ...reply, ok: reply.status >= 200 && reply.status < 300, header: reply.header };
            if (!res.ok) throw await errorFrom(res, `${base}${u(user)}/events`);
            failures = 0;
            onState?.(true);
            let buf = '';
            const dec = new TextDecoder();
            for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
              buf += dec.decode(chunk, { stream: true });
              let idx: number;
              while ((idx = buf.indexOf('\n\n')) !== -1) {
                const block = buf.slice(0, idx);
                buf = buf.slice(idx + 2);
                const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
                if (!data) continue;
                try {
                  const ev = pushEventSchema().parse(JSON.parse(data));
                  onRev(ev.rev);
                } catch (err) {
                  opts.log?.warn({ err: (err as Error).message }, 'bad push event ignored');
                }
              }
            }
          } catch (err) {
            if (stopped) return;
            opts.log?.debug({ err: (err as Error).message }, 'push stream failed; reconnecting');
          }
          if (stopped) return;
          onState?.(false);
          await sleep(delays[Math.min(failures++, delays.length - 1)]!);
        }
      };
      void loop();
      return () => {
        stopped = true;
        ctrl?.abort();
      };
    },
  };
  return remote;
}

function shared_(opts: HttpRemoteOptions): NonNullable<HttpRemoteOptions['shared']> {
  return (opts.shared ??= { noBlobFetch: false });
}
