// How HttpRemote sends a request: node:http with a keep-alive agent by default, or a given fetch
// (the test seam; it can inject any fault a fetch can). node:http loads in a third of the time
// undici's fetch does on a cold CLI start, and writes a request body made of many parts (a bulk
// upload: a header and the bytes of each blob) straight to the socket, where fetch copies it
// into a web stream and then again into its own buffers.
import type * as Http from 'node:http';
import type { Agent, ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import type * as Https from 'node:https';
import { Readable, pipeline } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/** A request body: text, bytes, bytes in parts (sent one after the other), or a stream. */
export type RequestBody = string | Uint8Array | readonly Uint8Array[] | Readable;

export interface TransportRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: RequestBody;
  /** Aborts the request, and the reply's body while it is read. */
  signal?: AbortSignal;
  /**
   * Safe to send twice (the server applies it once, or it changes nothing). Only such a request is
   * sent again when a kept-alive connection breaks under it: the server may have read and applied
   * it before the connection broke. Default: true for GET, HEAD, PUT, DELETE and OPTIONS.
   */
  idempotent?: boolean;
  /**
   * Fails the request (or its reply's body, with an error of code ETIMEDOUT) when the connection
   * carries nothing for this long while this side waits for the server: no reply yet, or a reply
   * body whose read bytes are all taken (a reader that leaves bytes unread is slow, not the server).
   * Honoured by the node:http transport.
   */
  idleTimeoutMs?: number;
}

/** A reply whose headers have arrived; its body streams. */
export interface TransportReply {
  status: number;
  statusText: string;
  header(name: string): string | null;
  body: Readable;
}

/** Sends one request; rejects when no reply arrives (the error says why: `code`, or a `cause` with one). */
export type Transport = (req: TransportRequest) => Promise<TransportReply>;

/** A transport over node:http(s) with keep-alive agents (one per transport: make one per Remote and its views). */
export function createNodeTransport(): Transport {
  let http: typeof Http | undefined;
  let https: typeof Https | undefined;
  const agents: { http?: Agent; https?: Agent } = {};
  const moduleFor = (secure: boolean): { request: (url: URL, o: RequestOptions) => ClientRequest; agent: Agent } => {
    if (secure) {
      // TLS loads only for an https server.
      https ??= process.getBuiltinModule('node:https');
      agents.https ??= new https.Agent({ keepAlive: true });
      return { request: https.request, agent: agents.https };
    }
    // Loaded on the first request: commands that never reach the server do not pay for it.
    http ??= process.getBuiltinModule('node:http');
    agents.http ??= new http.Agent({ keepAlive: true });
    return { request: http.request, agent: agents.http };
  };

  return (r) => {
    const url = new URL(r.url);
    const { request, agent } = moduleFor(url.protocol === 'https:');
    const replayable = !(r.body instanceof Readable) && (r.idempotent ?? IDEMPOTENT_METHODS.has(r.method.toUpperCase()));
    return new Promise<TransportReply>((resolve, reject) => {
      const attempt = (mayRetry: boolean): void => {
        let answered = false;
        let reply: IncomingMessage | undefined;
        const req = request(url, { method: r.method, headers: r.headers, agent, signal: r.signal });
        const idle = r.idleTimeoutMs;
        if (idle !== undefined && idle > 0) {
          req.once('socket', (sock) => {
            let readerBehind = false;
            const onIdle = (): void => {
              // All of the reply is here: nothing more to wait for from the server.
              if (reply?.complete) return;
              // Bytes of the reply nobody has read yet: the reader is slow, not the server. Wait again.
              if (reply && !reply.destroyed && reply.readableLength > 0) {
                readerBehind = true;
                sock.setTimeout(idle);
                return;
              }
              // The reader has just caught up (the socket was held back until now): the server gets a whole period.
              if (readerBehind) {
                readerBehind = false;
                sock.setTimeout(idle);
                return;
              }
              const err = Object.assign(new Error(`the server sent nothing for ${idle / 1000} s`), { code: 'ETIMEDOUT' });
              // The reply's reader sees this error, not the reset that destroying the socket causes.
              reply?.destroy(err);
              req.destroy(err);
            };
            // The socket's idle timer counts reads and writes (a streamed upload that moves is not idle).
            sock.setTimeout(idle);
            sock.on('timeout', onIdle);
            // Off before the agent hands the socket to another request (it resets the timer then).
            req.once('close', () => sock.removeListener('timeout', onIdle));
          });
        }
        req.once('response', (res: IncomingMessage) => {
          answered = true;
          reply = res;
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            header: (name) => {
              const v = res.headers[name.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
            },
            body: res,
          });
        });
        req.once('error', (err: NodeJS.ErrnoException) => {
          if (answered) return;
          // A kept-alive connection the server closed just as this request went out: it is sent once
          // more on a new connection (as node's docs advise), if it is safe to send twice — the
          // server may also have read and applied it before the connection broke.
          if (mayRetry && replayable && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) attempt(false);
          else reject(err);
        });
        writeBody(req, r.body);
      };
      attempt(true);
    });
  };
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

function writeBody(req: ClientRequest, body: RequestBody | undefined): void {
  if (body === undefined) req.end();
  else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
  else if (body instanceof Readable) pipeline(body, req, () => {});
  else {
    // Written before the connection is there (or in one tick once it is): node sends the parts
    // in one writev, without joining them first.
    for (const part of body) if (part.byteLength > 0) req.write(part);
    req.end();
  }
}

/** A transport over `fetch` (the test seam of HttpRemoteOptions.fetch). */
export function createFetchTransport(doFetch: typeof fetch): Transport {
  return async (r) => {
    let body: unknown = r.body;
    if (Array.isArray(body)) body = Buffer.concat(body as Uint8Array[]);
    const res = await doFetch(r.url, {
      method: r.method, headers: r.headers, body: body as RequestInit['body'], signal: r.signal,
      ...(r.body instanceof Readable ? { duplex: 'half' } : {}),
    } as RequestInit);
    return {
      status: res.status,
      statusText: res.statusText,
      header: (name) => res.headers.get(name),
      body: res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : Readable.from([]),
    };
  };
}
