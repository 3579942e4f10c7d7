// What every route module receives: the store, limits, clock, and the auth/audit helpers.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { DmanError } from '../../shared/errors.js';
import { USER_RE } from '../../shared/protocol.js';
import type { Principal } from '../auth/authenticate.js';
import type { ServerLimits } from '../limits.js';
import type { AuditRecord, RetentionPolicy, Store } from '../store/Store.js';
import type { ServerMetrics } from './metrics.js';

/** Retention settings of the server. */
export interface RetentionSettings extends RetentionPolicy {
  /** Apply retention to a user right after each of their commits (default true). */
  afterCommit?: boolean;
  /** Period of the background retention + blob GC pass, ms (default 1 hour; 0 turns it off). */
  gcIntervalMs?: number;
  /** Unreferenced blobs uploaded less than this long ago survive the blob GC, so their commit still finds them (ms; default 1 hour). */
  blobGraceMs?: number;
}

/** Per-user facts the server tracks in memory for /status. */
export interface UserActivity { lastPublishAt: number | null; lastInstallAt: number | null }

/** Shared dependencies and helpers of the route modules. */
export interface RouteContext {
  store: Store;
  log: Logger;
  limits: ServerLimits;
  retention: RetentionSettings;
  now: () => number;
  version: string;
  metrics: ServerMetrics;
  /** Configured user names; undefined accepts any valid name. */
  users?: ReadonlySet<string>;
  /** Authenticates the request (throttled), or throws. */
  authenticate(req: FastifyRequest, reply: FastifyReply): Promise<Principal>;
  /** Throws unless the principal may reach `user`'s data; returns the checked name. */
  authorizeUser(p: Principal, user: unknown): string;
  /** Throws unless the principal is an admin. */
  requireAdmin(p: Principal): void;
  /** Writes an audit record for this request (never throws). */
  audit(req: FastifyRequest, p: Principal | null, rec: Pick<AuditRecord, 'action' | 'outcome'> & { user?: string | null; details?: Record<string, unknown> }): Promise<void>;
  activity: Map<string, UserActivity>;
  /** Commits and then applies retention (used by every writing route). */
  afterCommit(user: string, deletes: number, req: FastifyRequest, p: Principal): Promise<void>;
  /** Registers an open push stream so close() can end it. */
  trackStream(end: () => void): () => void;
}

/** The single message for any cross-user access, so a 403 reveals nothing about the other user. */
export const FORBIDDEN_MESSAGE = 'this token may not access that user\'s data';

/** Builds authorizeUser and requireAdmin for a set of configured users. */
export function createAccessRules(users: ReadonlySet<string> | undefined) {
  return {
    authorizeUser(p: Principal, raw: unknown): string {
      const user = typeof raw === 'string' ? raw : '';
      if (!p.admin) {
        // Checked before anything else so another user's name gets the same reply whether or not it exists.
        if (p.user === null || user !== p.user) throw new DmanError('FORBIDDEN', FORBIDDEN_MESSAGE, { hint: 'use a token created for this user (`dman token create --user USER`)' });
      }
      if (!USER_RE.test(user)) throw new DmanError('BAD_REQUEST', 'the user name is invalid: a user name is 1-64 letters, digits, "_", "." or "-" and never contains "/" or ".."', { hint: 'use a user name from the server\'s config (users.<name>)' });
      if (users && !users.has(user)) throw new DmanError('NOT_FOUND', `user "${user}" is not configured on this server`, { hint: 'add it under users: in the server\'s dman.yaml and restart the server' });
      return user;
    },
    requireAdmin(p: Principal): void {
      if (!p.admin) throw new DmanError('FORBIDDEN', 'this endpoint needs an admin token', { hint: 'use an admin token (`dman token create --admin`) or the config\'s auth_token' });
    },
  };
}
