// The HTTP client of the /v1 protocol. Every response is parsed with the shared/protocol.ts
// schemas; failures become DmanErrors that name the URL and say how to fix them.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { z } from 'zod';
import { DmanError, errorCodes, isDmanError, isRetryable, type ErrorCode } from '../../shared/errors.js';
import {
  BLOB_FETCH_MAX_BYTES, BLOB_FETCH_MAX_COUNT, BULK_BLOBS_CONTENT_TYPE, IDEMPOTENCY_HEADER, OP_HEADER, bulkBlobHeader, bulkBlobsReplySchema, changesReplySchema, commitConflictReplySchema, commitOkSchema, errorReplySchema, healthReplySchema,
  historyReplySchema, pushEventSchema, whoamiSchema, type CommitOpInput,
} from '../../shared/protocol.js';
import type { Logger } from '../log.js';
import { readFetchFrames } from './fetchFrames.js';
import type { BlobSource, CommitResult, Remote } from './Remote.js';

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
  fetch?: typeof fetch;
  opId?: string;
  /** State shared by the views withOp makes (internal). */
  shared?: { noBlobFetch: boolean };
}

interface Req { method: string; path: string; body?: RequestInit['body']; headers?: Record<string, string>; stream?: boolean; retry?: boolean }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Creates a Remote that talks to a dman server over HTTP. */
export function createHttpRemote(opts: HttpRemoteOptions): Remote {
  const base = opts.url.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const retries = opts.retries ?? 2;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const opId = opts.opId ?? randomUUID();
  const shared = (opts.shared ??= { noBlobFetch: false });
  const u = (user: string): string => `/v1/users/${encodeURIComponent(user)}`;

  async function send(r: Req): Promise<Response> {
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

  async function sendOnce(r: Req): Promise<Response> {
    const url = base + r.path;
    const headers: Record<string, string> = { [OP_HEADER]: opId, 'accept-encoding': 'identity', ...r.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const t0 = performance.now();
    let res: Response;
    try {
      res = await doFetch(url, {
        method: r.method, headers, body: r.body,
        ...(r.body && typeof (r.body as { pipe?: unknown }).pipe === 'function' ? { duplex: 'half' } : {}),
        signal: r.stream ? undefined : AbortSignal.timeout(timeoutMs),
      } as RequestInit);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new DmanError('SERVER_UNREACHABLE', `cannot reach the dman server at ${base} (${why})`, {
        hint: 'check that the server runs (`dman serve`) and that server_url in your config is right; local changes stay pending until it is back',
        context: { url }, cause: err,
      });
    }
    // The op id is the one the server logs this request under: one grep follows a run across both sides.
    opts.log?.debug({ op: opId, method: r.method, path: r.path, status: res.status, ms: Math.round((performance.now() - t0) * 10) / 10 }, 'server request');
    if (res.ok || res.status === 409 || (r.method === 'HEAD' && res.status === 404)) return res;
    throw await errorFrom(res, url);
  }

  async function errorFrom(res: Response, url: string): Promise<DmanError> {
    const text = await res.text().catch(() => '');
    let code: ErrorCode | undefined;
    let message = `the server at ${base} answered ${res.status} ${res.statusText}`;
    let hint: string | undefined;
    try {
      const body = errorReplySchema.parse(JSON.parse(text));
      if ((errorCodes as readonly string[]).includes(body.error.code)) code = body.error.code as ErrorCode;
      message = `${body.error.message} (${res.status} from ${url})`;
      hint = body.error.hint;
    } catch {}
    const retryAfter = Number(res.headers.get('retry-after'));
    const retryAfterMs = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined;
    if (res.status === 401) return new DmanError(code === 'AUTH_REQUIRED' ? 'AUTH_REQUIRED' : 'AUTH_INVALID', message, { hint: hint ?? 'set a valid auth_token in your config (`dman login`), or create one with `dman token create`', context: { url } });
    if (res.status === 403) return new DmanError('FORBIDDEN', message, { hint: hint ?? 'this token belongs to another user or lacks the right; use a token made for this user', context: { url } });
    if (res.status === 429) return new DmanError('RATE_LIMITED', message, { hint: hint ?? 'wait a moment and run again', context: { url, retryAfterMs } });
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      return new DmanError(code === 'STORE_UNAVAILABLE' ? 'STORE_UNAVAILABLE' : 'SERVER_UNREACHABLE', message, { hint: hint ?? 'the server or its storage is down for now; run again shortly (local changes stay pending)', context: { url, retryAfterMs } });
    }
    return new DmanError(code ?? (res.status >= 500 ? 'SERVER_ERROR' : 'PROTOCOL'), message, { hint, context: { url, status: res.status } });
  }

  async function json<S extends z.ZodType>(res: Response, schema: S, url: string): Promise<z.infer<S>> {
    let raw: unknown;
    try {
      raw = await res.json();
    } catch (err) {
      throw new DmanError('PROTOCOL', `the server at ${base} sent a reply that is not JSON (${url})`, { hint: 'check that server_url points at a dman server', context: { url }, cause: err });
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new DmanError('PROTOCOL', `the server at ${base} sent a reply this client does not understand (${url}): ${parsed.error.issues[0]?.message ?? 'invalid'}`, { hint: 'update dman on this machine or on the server so both speak the same protocol', context: { url } });
    }
    return parsed.data;
  }

  async function getJson<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S>> {
    return json(await send({ method: 'GET', path }), schema, base + path);
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
    const ok = await json(res, commitOkSchema, base + path);
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
    changes: (user, since, limit = 1000) => getJson(`${u(user)}/changes?since=${since}&limit=${limit}`, changesReplySchema),
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
          const res = await sendOnce({ method: 'PUT', path, body: data as RequestInit['body'], headers, stream: !(body instanceof Uint8Array) });
          await res.arrayBuffer();
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
      const parts: Uint8Array[] = [];
      for (const b of blobs) parts.push(Buffer.from(bulkBlobHeader(b.hash, b.data.length), 'latin1'), b.data);
      const body = Buffer.concat(parts);
      // Safe to resend: storing a blob twice is a no-op.
      const res = await send({ method: 'POST', path, body, headers: { 'content-type': BULK_BLOBS_CONTENT_TYPE, 'content-length': String(body.length) } });
      const reply = await json(res, bulkBlobsReplySchema, base + path);
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
          let res: Response;
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
          if (!res.body) throw new DmanError('PROTOCOL', `the server at ${base} sent an empty blob fetch reply`, { context: { url: base + path } });
          try {
            for await (const b of readFetchFrames(res.body as unknown as AsyncIterable<Uint8Array>, left, BLOB_FETCH_MAX_BYTES + 1, base + path)) {
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
      if (!res.body) throw new DmanError('PROTOCOL', `the server at ${base} sent an empty blob body for ${hash}`, { context: { url: base, user } });
      return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
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
            const res = await doFetch(`${base}${u(user)}/events`, { headers, signal: ctrl.signal });
            if (!res.ok || !res.body) throw await errorFrom(res, `${base}${u(user)}/events`);
            failures = 0;
            onState?.(true);
            let buf = '';
            const dec = new TextDecoder();
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
              buf += dec.decode(chunk, { stream: true });
              let idx: number;
              while ((idx = buf.indexOf('\n\n')) !== -1) {
                const block = buf.slice(0, idx);
                buf = buf.slice(idx + 2);
                const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
                if (!data) continue;
                try {
                  const ev = pushEventSchema.parse(JSON.parse(data));
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
