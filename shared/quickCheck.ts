// Building blocks of the hand checks that stand in for zod on bodies with thousands of items
// (engine/remote/fastReplies.ts on the client, server/routes/fastCommit.ts on the server). Each is
// at least as strict as the protocol.ts schema it stands in for: false sends the value to the
// schema, which says what is wrong.

export type Obj = Record<string, unknown>;
export const SHA256 = /^[0-9a-f]{64}$/;
/** No path of this many UTF-16 units or fewer is over MAX_PATH_BYTES (4096) in UTF-8 (3 bytes a unit at most). */
const SURELY_SHORT_PATH = 1365;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isNat = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** True only for a path pathProblem accepts (a stricter test: false sends it to the schema). */
export function quickPathOk(p: unknown): p is string {
  if (typeof p !== 'string' || p.length === 0 || p.length > SURELY_SHORT_PATH) return false;
  if (p.includes('\0') || p.includes('\\') || p.includes('//')) return false;
  const c0 = p.charCodeAt(0);
  if (c0 === 0x2f || p.charCodeAt(p.length - 1) === 0x2f) return false;
  if (p.charCodeAt(1) === 0x3a && ((c0 >= 0x41 && c0 <= 0x5a) || (c0 >= 0x61 && c0 <= 0x7a))) return false;
  if (c0 === 0x2e && (p === '.' || p === '..' || p.startsWith('./') || p.startsWith('../'))) return false;
  if (p.includes('/./') || p.includes('/../') || p.endsWith('/.') || p.endsWith('/..')) return false;
  return true;
}
