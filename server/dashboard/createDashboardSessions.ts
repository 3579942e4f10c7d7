// Dashboard logins: a `?token=` admin token is exchanged once for a random session id kept in an
// HttpOnly cookie, so the token leaves the address bar (and the browser history) at once. The
// token stays in server memory and is checked again on every request, so revoking it ends the session.
import { randomBytes } from 'node:crypto';

/** The cookie that carries a dashboard session. */
export const SESSION_COOKIE = 'dman_dash';

/** In-memory dashboard sessions of one server process. */
export interface DashboardSessions {
  /** Starts a session for an admin token and returns its id. */
  create(token: string): string;
  /** The token of a live session, or null. */
  check(id: string | undefined): string | null;
  readonly ttlMs: number;
}

/** Creates the session table (sessions expire after `ttlMs`, default 12 h). */
export function createDashboardSessions(opts: { now: () => number; ttlMs?: number; max?: number }): DashboardSessions {
  const ttlMs = opts.ttlMs ?? 12 * 3_600_000;
  const max = opts.max ?? 1000;
  const sessions = new Map<string, { token: string; expires: number }>();
  return {
    ttlMs,
    create(token) {
      if (sessions.size >= max) sessions.delete(sessions.keys().next().value!);
      const id = randomBytes(32).toString('base64url');
      sessions.set(id, { token, expires: opts.now() + ttlMs });
      return id;
    },
    check(id) {
      if (!id) return null;
      const s = sessions.get(id);
      if (!s) return null;
      if (s.expires <= opts.now()) { sessions.delete(id); return null; }
      return s.token;
    },
  };
}

/** Reads one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
