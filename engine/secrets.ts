// The secret guard: private keys and tokens are not published unless the path is allowed
// (config `secrets.allow`). Detection reads only the start of small files.
import picomatch from 'picomatch';

const KEY_BLOCK = /-----BEGIN ((?:OPENSSH|RSA|DSA|EC|ENCRYPTED) )?PRIVATE KEY-----|-----BEGIN PGP PRIVATE KEY BLOCK-----/;
const AWS_KEY = /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/;
const KNOWN_TOKENS: Array<[RegExp, string]> = [
  [/\bgh[pousr]_[A-Za-z0-9]{36,}\b/, 'a GitHub token'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/, 'a Slack token'],
  [/\bglpat-[A-Za-z0-9_-]{20,}\b/, 'a GitLab token'],
  [/\bsk_live_[A-Za-z0-9]{20,}\b/, 'a Stripe secret key'],
];
const ASSIGNED = /(?:_authToken|auth_token|api[_-]?key|secret(?:_access)?_key|access[_-]?token|client[_-]?secret|password|passwd|token)["']?(?:\s*[:=]\s*|\s+)["']?([^\s"']{16,})/gi;
/** Files where tokens are usually kept; assignments of high-entropy values there are flagged. */
const TOKEN_PLACES = /(^|\/)(\.netrc|\.npmrc|\.pypirc|\.git-credentials|\.env(\..*)?|credentials|\.docker\/config\.json|\.config\/gh\/hosts\.yml|\.aws\/credentials|\.s3cfg|.*\.env)$/;

/**
 * Every match of KEY_BLOCK, AWS_KEY and KNOWN_TOKENS (all ASCII) holds one of these literal
 * anchors: "-----BEGIN ", "AKIA", "ASIA", "xox", "glpat-", "sk_live_" or "gh[pousr]_". A file
 * holding none cannot match, and most files hold none: a few native byte searches instead of
 * decoding the file and running every pattern. Each search looks for the part of its anchor
 * whose first byte is rare in text (a search runs at the speed of its first byte's hits), then
 * checks the bytes around each hit.
 */
const BEGIN = Buffer.from('BEGIN ', 'latin1');
const IA = Buffer.from('IA', 'latin1');
const XOX = Buffer.from('xox', 'latin1');
const GLPAT = Buffer.from('glpat-', 'latin1');
const K_LIVE = Buffer.from('k_live_', 'latin1');
const GH = Buffer.from('gh', 'latin1');
const GH_KIND = new Uint8Array(256);
for (const c of 'pousr') GH_KIND[c.charCodeAt(0)] = 1;
const [DASH, A, K, S, s_, UNDERSCORE] = [...'-AKSs_'].map((c) => c.charCodeAt(0)) as [number, number, number, number, number, number];
/** The shortest text any of those patterns matches ("xoxb-" and ten more characters). */
const MIN_MATCH = 15;

/** Whether `needle` occurs in `b` at a place `ok` accepts. */
function hasAt(b: Buffer, needle: Buffer, ok: (i: number) => boolean): boolean {
  for (let i = b.indexOf(needle); i !== -1; i = b.indexOf(needle, i + 1)) if (ok(i)) return true;
  return false;
}

/** Whether `b` holds an anchor of the content patterns (false: none of them can match). */
function mayHoldToken(b: Buffer): boolean {
  if (b.length < MIN_MATCH) return false;
  return hasAt(b, BEGIN, (i) => i >= 5 && b[i - 1] === DASH && b[i - 2] === DASH && b[i - 3] === DASH && b[i - 4] === DASH && b[i - 5] === DASH)
    || hasAt(b, IA, (i) => i >= 2 && b[i - 2] === A && (b[i - 1] === K || b[i - 1] === S))
    || b.indexOf(XOX) !== -1
    || b.indexOf(GLPAT) !== -1
    || hasAt(b, K_LIVE, (i) => i >= 1 && b[i - 1] === s_)
    || hasAt(b, GH, (i) => GH_KIND[b[i + 2]!] === 1 && b[i + 3] === UNDERSCORE);
}

/**
 * Whether TOKEN_PLACES matches `path`. Every path it matches holds ".env" or ends with "rc",
 * "credentials", ".json", ".yml" or ".s3cfg": those cheap tests go first, since the pattern (its
 * `.*` alternatives) costs a scan from every position of every path.
 */
export function isTokenPlace(path: string): boolean {
  if (!path.includes('.env') && !path.endsWith('rc') && !path.endsWith('credentials') && !path.endsWith('.json') && !path.endsWith('.yml') && !path.endsWith('.s3cfg')) return false;
  return TOKEN_PLACES.test(path);
}

/** Returns the Shannon entropy of `s` in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let e = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    e -= p * Math.log2(p);
  }
  return e;
}

/** Says why a file looks like a secret (a reason for the user), or null. `head` is the file's first bytes. */
export function secretReason(path: string, head: Uint8Array | null): string | null {
  if (path.includes('.ssh/id_') && /(^|\/)\.ssh\/id_[^/]*$/.test(path) && !path.endsWith('.pub')) return 'an SSH private key (.ssh/id_* without .pub)';
  if (!head) return null;
  const tokenPlace = isTokenPlace(path);
  // Outside the token places only the content patterns apply, and a file without their anchors
  // cannot match them: it needs no decoding at all (the common case, by far).
  if (!tokenPlace && !mayHoldToken(Buffer.isBuffer(head) ? head : Buffer.from(head.buffer, head.byteOffset, head.byteLength))) return null;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head);
  if (KEY_BLOCK.test(text)) return 'it contains a private key block';
  if (AWS_KEY.test(text)) return 'it contains an AWS access key id (AKIA…)';
  for (const [re, what] of KNOWN_TOKENS) if (re.test(text)) return `it contains ${what}`;
  if (tokenPlace) {
    for (const m of text.matchAll(ASSIGNED)) {
      if (entropy(m[1]!) >= 3.5) return 'it assigns a high-entropy token or password';
    }
  }
  return null;
}

/** Compiles `secrets.allow` into a predicate over home-relative paths. */
export function compileSecretAllow(allow: readonly string[]): (path: string) => boolean {
  if (allow.length === 0) return () => false;
  const m = picomatch(allow as string[], { dot: true });
  return (p) => m(p);
}
