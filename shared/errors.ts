// Errors that carry a code from a closed union, the context, a fix, and a cause (STYLE.md, rule 3).

/** The closed set of error codes used across dman. */
export const errorCodes = [
  'CONFIG_NOT_FOUND', 'CONFIG_INVALID', 'CONFIG_UNREADABLE',
  'USAGE',
  'PATTERN_INVALID',
  'AUTH_REQUIRED', 'AUTH_INVALID', 'FORBIDDEN', 'RATE_LIMITED',
  'NOT_FOUND', 'CONFLICT', 'PRECONDITION_FAILED',
  'BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'HASH_MISMATCH', 'UNSAFE_PATH',
  'STORE_UNAVAILABLE', 'STORE_CORRUPT', 'SCHEMA_TOO_NEW',
  'SERVER_UNREACHABLE', 'SERVER_ERROR', 'PROTOCOL',
  'IO', 'DISK_FULL',
  'MASS_CHANGE', 'SECRET_BLOCKED', 'CONFLICTS_LEFT',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

/** Describes where an error happened; every field optional. */
export interface ErrorContext {
  file?: string;
  key?: string;
  path?: string;
  user?: string;
  url?: string;
  driver?: string;
  [k: string]: unknown;
}

/** An error with a code, a fix for the user, and context. */
export class DmanError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly context: ErrorContext;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; context?: ErrorContext; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'DmanError';
    this.code = code;
    this.hint = opts.hint;
    this.context = opts.context ?? {};
  }
}

/** Returns true when err is a DmanError (optionally with the given code). */
export function isDmanError(err: unknown, code?: ErrorCode): err is DmanError {
  return err instanceof DmanError && (code === undefined || err.code === code);
}

/** Decides whether an operation that failed with err may be retried as is. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof DmanError) return err.code === 'STORE_UNAVAILABLE' || err.code === 'SERVER_UNREACHABLE' || err.code === 'RATE_LIMITED';
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'].includes(code);
}

/** A failure that crosses a process boundary as a value. */
export interface ErrorValue { code: ErrorCode; message: string; hint?: string; context?: ErrorContext }
export type Result<T> = { ok: true; value: T } | { ok: false; error: ErrorValue };

/** Turns any thrown value into an ErrorValue fit to send across a process boundary. */
export function toErrorValue(err: unknown): ErrorValue {
  if (err instanceof DmanError) return { code: err.code, message: err.message, hint: err.hint, context: err.context };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}
