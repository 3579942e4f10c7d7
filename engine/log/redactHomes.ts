// Home directories name people ("/home/alice"); by default logs show them as "~user".

/** A function that rewrites home paths inside a string. */
export type HomeRedactor = (s: string) => string;

/** Builds a redactor that replaces each home dir prefix with "~" (or "~name" for /home/name-style homes). */
export function createHomeRedactor(homes: string[]): HomeRedactor {
  const list = [...new Set(homes.map((h) => h.replace(/[/\\]+$/, '')).filter((h) => h.length > 1))].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (s) => s;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A home matches only as a whole path segment: "/home/al" must not eat "/home/alice".
  const re = new RegExp(`(${list.map(esc).join('|')})(?=$|[/\\\\\\s"':,)])`, 'g');
  const label = (h: string) => {
    const last = h.split(/[/\\]/).pop() ?? '';
    return /^[A-Za-z0-9._-]{1,64}$/.test(last) ? `~${last}` : '~';
  };
  return (s) => (s.length < 2 ? s : s.replace(re, (m) => label(m)));
}

/** Returns a copy of a log value with every string passed through `redact` (errors become plain objects). */
export function redactValue(value: unknown, redact: HomeRedactor, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object' || depth > 6) return value;
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown };
    return { type: e.name, message: redact(e.message), ...(e.stack ? { stack: redact(e.stack) } : {}), ...(e.code !== undefined ? { code: e.code } : {}) };
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redact, depth + 1));
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value) || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, redact, depth + 1);
  return out;
}
