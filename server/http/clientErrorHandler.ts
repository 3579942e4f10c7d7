// Answers requests that never became requests (cut-off bodies, oversized headers, garbage) with
// dman's `{ error: { code, message, hint } }` shape instead of Node's or fastify's raw replies,
// so every client error names what went wrong and how to fix it.
import { STATUS_CODES, maxHeaderSize as nodeMaxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { DmanError } from '../../shared/errors.js';
import { errorBody } from './httpStatus.js';

/** Returns the status and error for a Node HTTP parser error (by its code). */
export function describeClientError(code: string | undefined, maxHeaderBytes = nodeMaxHeaderSize): { status: number; error: DmanError } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, error: new DmanError('BAD_REQUEST', `request headers are too large (limit ${maxHeaderBytes} bytes)`, { hint: 'send fewer or shorter headers (a proxy may be adding large cookies)' }) };
    case 'HPE_INVALID_EOF_STATE':
      return { status: 400, error: new DmanError('BAD_REQUEST', 'the request body ended before Content-Length bytes arrived', { hint: 'the connection was cut mid-upload or Content-Length is wrong; send the request again' }) };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_REQUEST_HEADERS_TIMEOUT':
      return { status: 408, error: new DmanError('BAD_REQUEST', 'the request did not arrive in time', { hint: 'check the network between client and server, then retry' }) };
    default:
      return { status: 400, error: new DmanError('BAD_REQUEST', `malformed HTTP request${code ? ` (${code})` : ''}`, { hint: 'send a well-formed HTTP/1.1 request' }) };
  }
}

/** Creates fastify's clientErrorHandler: writes a dman error reply and closes the connection. */
export function createClientErrorHandler(log: Logger, maxHeaderBytes = nodeMaxHeaderSize): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    // A reset connection has nobody left to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const { status, error } = describeClientError(err.code, maxHeaderBytes);
    log.debug({ code: err.code, status, source: socket.remoteAddress }, 'client error');
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(errorBody(error));
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  };
}
