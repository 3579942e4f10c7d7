// zod parsing at the HTTP edge: a failed parse becomes a 400 naming the field and the problem.
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import { byteLimit, toBodyError } from './limitedStream.js';

/** Parses `value` with `schema` or throws BAD_REQUEST naming where (`body`, `query`, …) and which field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 5).map((i) => `${[where, ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new DmanError('BAD_REQUEST', `invalid request: ${issues.join('; ')}`, { hint: 'see docs/protocol.schema.json for the request shapes' });
}

/** Returns true when the value is a readable stream (a body the catch-all parser passed through). */
export function isStream(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function' && typeof (v as Readable).on === 'function';
}

/** Reads a JSON body that arrived either parsed (application/json) or as a raw stream. */
export async function jsonBody(body: unknown, maxBytes: number): Promise<unknown> {
  // fastify's text/plain parser hands over a string; scripts often send JSON that way.
  if (typeof body === 'string') return parseJsonText(body);
  if (!isStream(body)) return body;
  const chunks: Buffer[] = [];
  const limited = body.pipe(byteLimit(maxBytes, 'the JSON body'));
  limited.on('error', () => {}); // the iterator below reports it; this keeps a late one from crashing the process
  body.on('error', (e) => limited.destroy(toBodyError(e)));
  try {
    for await (const c of limited) chunks.push(c as Buffer);
  } catch (err) {
    throw toBodyError(err);
  }
  return parseJsonText(Buffer.concat(chunks).toString('utf8'));
}

function parseJsonText(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DmanError('BAD_REQUEST', `the body is not valid JSON: ${(err as Error).message}`, { hint: 'send a JSON document with "Content-Type: application/json"' });
  }
}

/** Reads a whole (bounded) body into memory. */
export async function bufferBody(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(c as Buffer);
  } catch (err) {
    throw toBodyError(err);
  }
  return Buffer.concat(chunks);
}
