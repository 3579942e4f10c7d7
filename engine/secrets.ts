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
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (/(^|\/)\.ssh\/id_[^/]*$/.test(path) && !name.endsWith('.pub')) return 'an SSH private key (.ssh/id_* without .pub)';
  if (!head) return null;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head);
  if (KEY_BLOCK.test(text)) return 'it contains a private key block';
  if (AWS_KEY.test(text)) return 'it contains an AWS access key id (AKIA…)';
  for (const [re, what] of KNOWN_TOKENS) if (re.test(text)) return `it contains ${what}`;
  if (TOKEN_PLACES.test(path)) {
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
