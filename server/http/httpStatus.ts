// One place that maps error codes to HTTP statuses and to the `{ error }` reply body.
import type { DmanError} from '../../shared/errors.js';
import { type ErrorCode } from '../../shared/errors.js';
import type { ErrorReply } from '../../shared/protocol.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  AUTH_REQUIRED: 401, AUTH_INVALID: 401, FORBIDDEN: 403, RATE_LIMITED: 429,
  NOT_FOUND: 404, CONFLICT: 409, PRECONDITION_FAILED: 412,
  BAD_REQUEST: 400, USAGE: 400, PAYLOAD_TOO_LARGE: 413, HASH_MISMATCH: 400, UNSAFE_PATH: 400,
  STORE_UNAVAILABLE: 503, SCHEMA_TOO_NEW: 503, STORE_CORRUPT: 500, DISK_FULL: 507,
};

/** Returns the HTTP status for an error code. */
export function statusFor(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/** Builds the error reply body; internal errors keep their details out of the reply. */
export function errorBody(err: DmanError): ErrorReply {
  const status = statusFor(err.code);
  const message = status >= 500 && err.code === 'INTERNAL' ? 'internal server error; see the server log' : err.message;
  return { error: { code: err.code, message, ...(err.hint ? { hint: err.hint } : {}) } };
}
