import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSecretAllow, entropy, isTokenPlace, secretReason } from './secrets.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('secretReason', () => {
  it.each([
    ['.ssh/id_ed25519', 'anything', /SSH private key/],
    ['.ssh/id_rsa_work', null, /SSH private key/],
    ['notes/key.txt', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl', /private key block/],
    ['x.pem', '-----BEGIN EC PRIVATE KEY-----', /private key block/],
    ['x.pem', '-----BEGIN PRIVATE KEY-----', /private key block/],
    ['x.asc', '-----BEGIN PGP PRIVATE KEY BLOCK-----', /private key block/],
    ['.bashrc', 'export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE', /AWS/],
    ['.profile', 'AWS_ACCESS_KEY_ID=ASIAIOSFODNN7EXAMPLE # session', /AWS/],
    ['.zshrc', 'export GH=ghp_abcdefghijklmnopqrstuvwxyz0123456789AB', /GitHub/],
    ['.npmrc', '//registry.npmjs.org/:_authToken=npm_a8F3kQ9zL2mX7vB1nC5dR0tY4', /high-entropy/],
    ['.netrc', 'machine x login me password Zk8#pQ2@vL9!mR4$wT7&yN1', /high-entropy/],
  ])('%s', (path, text, expected) => {
    const r = secretReason(path, text === null ? null : b(text));
    if (expected === null) expect(r).toBeNull();
    else expect(r).toMatch(expected);
  });

  it('leaves ordinary dotfiles and public keys alone', () => {
    expect(secretReason('.ssh/id_ed25519.pub', b('ssh-ed25519 AAAAC3Nz'))).toBeNull();
    expect(secretReason('.ssh/config', b('Host *\n  IdentityFile ~/.ssh/id_ed25519\n'))).toBeNull();
    expect(secretReason('.gitconfig', b('[user]\n  name = Me\n  signingkey = ABCDEF\n'))).toBeNull();
    // A low-entropy value in a token place is not flagged.
    expect(secretReason('.npmrc', b('_authToken=aaaaaaaaaaaaaaaaaaaaaaaaaaaa'))).toBeNull();
  });

  it('measures entropy and compiles the allow list', () => {
    expect(entropy('aaaa')).toBe(0);
    expect(entropy('abcd')).toBe(2);
    const allowed = compileSecretAllow(['.ssh/id_*', 'work/**']);
    expect(allowed('.ssh/id_ed25519')).toBe(true);
    expect(allowed('work/a/key.pem')).toBe(true);
    expect(allowed('key.pem')).toBe(false);
    expect(compileSecretAllow([])('x')).toBe(false);
  });
});

/** The check as it was before the byte-level fast path: decode everything, run every pattern. */
function referenceReason(path: string, head: Uint8Array | null): string | null {
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (/(^|\/)\.ssh\/id_[^/]*$/.test(path) && !name.endsWith('.pub')) return 'an SSH private key (.ssh/id_* without .pub)';
  if (!head) return null;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head);
  if (/-----BEGIN ((?:OPENSSH|RSA|DSA|EC|ENCRYPTED) )?PRIVATE KEY-----|-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(text)) return 'it contains a private key block';
  if (/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/.test(text)) return 'it contains an AWS access key id (AKIA…)';
  const tokens: Array<[RegExp, string]> = [
    [/\bgh[pousr]_[A-Za-z0-9]{36,}\b/, 'a GitHub token'], [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/, 'a Slack token'],
    [/\bglpat-[A-Za-z0-9_-]{20,}\b/, 'a GitLab token'], [/\bsk_live_[A-Za-z0-9]{20,}\b/, 'a Stripe secret key'],
  ];
  for (const [re, what] of tokens) if (re.test(text)) return `it contains ${what}`;
  if (/(^|\/)(\.netrc|\.npmrc|\.pypirc|\.git-credentials|\.env(\..*)?|credentials|\.docker\/config\.json|\.config\/gh\/hosts\.yml|\.aws\/credentials|\.s3cfg|.*\.env)$/.test(path)) {
    const assigned = /(?:_authToken|auth_token|api[_-]?key|secret(?:_access)?_key|access[_-]?token|client[_-]?secret|password|passwd|token)["']?(?:\s*[:=]\s*|\s+)["']?([^\s"']{16,})/gi;
    for (const m of text.matchAll(assigned)) if (entropy(m[1]!) >= 3.5) return 'it assigns a high-entropy token or password';
  }
  return null;
}

describe('secretReason on bytes (the fast path)', () => {
  const GH_TOKEN = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789AB';
  const filler = (n: number): Buffer => Buffer.alloc(n, 'lorem ipsum dolor sit amet, consectetur adipiscing elit\n');

  it('finds a secret at the very end of a large head, and one cut off by the head is not a match', () => {
    const head = Buffer.concat([filler(64 * 1024 - GH_TOKEN.length - 1), Buffer.from(` ${GH_TOKEN}`)]);
    expect(head.length).toBe(64 * 1024);
    expect(secretReason('notes.md', head)).toMatch(/GitHub/);
    expect(secretReason('notes.md', head.subarray(0, head.length - 3))).toBeNull();
    expect(secretReason('notes.md', Buffer.concat([filler(200_000), Buffer.from('\nAKIAIOSFODNN7EXAMPLE\n')]))).toMatch(/AWS/);
  });

  it('finds secrets in files that are not UTF-8 (Latin-1 text, binary bytes around the token)', () => {
    const latin1 = Buffer.concat([Buffer.from('caf\xe9 na\xefve \xa0 ', 'latin1'), Buffer.from('sk_live_abcdefghijklmnopqrstuvwx'), Buffer.from('\xe9\xff', 'latin1')]);
    expect(secretReason('a.txt', latin1)).toMatch(/Stripe/);
    const binary = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xc3]), Buffer.from('-----BEGIN RSA PRIVATE KEY-----'), Buffer.from([0xff, 0xfe, 0x00])]);
    expect(secretReason('image.png', binary)).toMatch(/private key block/);
    // A token glued to a word character on either side is no match (\b), whatever the bytes.
    expect(secretReason('a.txt', Buffer.from(`x${GH_TOKEN}`))).toBeNull();
    expect(secretReason('a.txt', Buffer.concat([Buffer.from([0xe9]), Buffer.from(GH_TOKEN), Buffer.from([0xe9])]))).toMatch(/GitHub/);
  });

  it('reads a Uint8Array view into a larger buffer only within its bounds', () => {
    const whole = new TextEncoder().encode(`xoxb-1234567890abc and more text here`);
    expect(secretReason('a.txt', whole)).toMatch(/Slack/);
    expect(secretReason('a.txt', whole.subarray(20))).toBeNull();
    expect(secretReason('a.txt', whole.subarray(0, 14))).toBeNull();
    const arr = new Uint8Array(64);
    arr.set(new TextEncoder().encode('glpat-abcdefghij0123456789'), 30);
    expect(secretReason('a.txt', arr.subarray(30))).toMatch(/GitLab/);
    expect(secretReason('a.txt', arr.subarray(0, 40))).toBeNull();
  });

  it('agrees with the decode-everything check on files with near-misses, anchors and mixed bytes', () => {
    // A small deterministic generator: pieces that start or nearly make up every pattern, joined with odd bytes.
    let seed = 12345;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const pieces = [
      'gh', 'ghp_', 'gho_', 'ghx_', 'xox', 'xoxb-', 'xoxq-', 'glpat-', 'sk_live_', 'sk_test_', 'AKIA', 'ASIA', 'AKIB',
      '-----BEGIN ', '-----BEGIN PRIVATE KEY-----', '-----BEGIN PGP PRIVATE KEY BLOCK-----', 'OPENSSH ', 'PRIVATE KEY-----',
      'BEGIN ', '----', 'IA', 'AK', 'S', 'k_live_', 's', 'h', 'g', 'p_', 'IOSFODNN7EXAMPLE',
      'abcdefghij', 'ABCDEFGHIJKLMNOP', '0123456789', '_', '-', ' ', '\n', 'password = ', 'token: ', '"', 'é', '\u00a0', '€',
    ];
    const bytes = [[0xff], [0xc3], [0xe2, 0x82], [0xef, 0xbb, 0xbf], [0x00], [0x80]];
    const paths = ['a.txt', '.npmrc', '.env', 'x/.netrc', 'bin/tool'];
    let hits = 0;
    for (let n = 0; n < 3000; n++) {
      const parts: Buffer[] = [];
      const count = 1 + rnd(12);
      for (let k = 0; k < count; k++) {
        if (rnd(5) === 0) parts.push(Buffer.from(bytes[rnd(bytes.length)]!));
        else {
          const p = pieces[rnd(pieces.length)]!;
          parts.push(Buffer.from(p.repeat(1 + rnd(4))));
        }
      }
      const head = Buffer.concat(parts);
      const path = paths[rnd(paths.length)]!;
      const want = referenceReason(path, head);
      if (want) hits++;
      expect(secretReason(path, head), `${path}: ${JSON.stringify(head.toString('latin1'))}`).toBe(want);
    }
    // The generator does make matches, so both branches were compared.
    expect(hits).toBeGreaterThan(50);
  });
});

describe('secretReason against the decode-everything check (property)', () => {
  it('gives the same finding for any bytes, any view of them and any path', () => {
    // Pieces of every pattern and of its anchors, random bytes (invalid UTF-8, BOMs, NULs) between them.
    const piece = fc.constantFrom(
      'gh', 'ghp_', 'ghs_', 'ghx_', 'xox', 'xoxp-', 'xoxz-', 'glpat-', 'sk_live_', 'k_live_', 'AKIA', 'ASIA', 'AKI', 'SIA', 'IA',
      '-----BEGIN ', '----BEGIN ', '-----BEGIN PRIVATE KEY-----', '-----BEGIN DSA PRIVATE KEY-----', '-----BEGIN PGP PRIVATE KEY BLOCK-----',
      'PRIVATE KEY-----', 'IOSFODNN7EXAMPLE', 'abcdefghijklmnopqrstuvwxyz0123456789', 'ABCDEFGHIJ0123456789', 'Zq9_x-Y',
      'password=', 'api-key: "', 'token ', "'", '\n', ' ', '_', '-', 'é', '\u00a0', '\ufeff', '€',
    ).map((p) => Buffer.from(p));
    const junk = fc.uint8Array({ minLength: 1, maxLength: 6 }).map((a) => Buffer.from(a));
    const head = fc.array(fc.oneof({ arbitrary: piece, weight: 4 }, { arbitrary: junk, weight: 1 }), { maxLength: 16 }).map((parts) => Buffer.concat(parts));
    const path = fc.array(fc.constantFrom('a', '.ssh', 'id_rsa', 'id_x.pub', '.env', '.env.local', 'x.env', '.npmrc', 'rc', 'credentials', '.aws', '.docker', 'config.json', '.s3cfg', 'notes.txt', '.yml', '\n', 'é'), { minLength: 1, maxLength: 4 })
      .map((segs) => segs.join('/'));
    let hits = 0;
    fc.assert(fc.property(path, head, fc.nat(8), fc.nat(8), (p, bytes, cutStart, cutEnd) => {
      // A view into a larger buffer: only the view's bytes count.
      const view = new Uint8Array(bytes.buffer, bytes.byteOffset + Math.min(cutStart, bytes.length), Math.max(0, bytes.length - Math.min(cutStart, bytes.length) - cutEnd));
      const want = referenceReason(p, view);
      if (want) hits++;
      expect(secretReason(p, view)).toBe(want);
      expect(secretReason(p, Buffer.from(view))).toBe(want);
    }), { numRuns: 5000 });
    expect(hits).toBeGreaterThan(100);
  });
});

describe('isTokenPlace', () => {
  it('agrees with the token-places pattern on paths built from its parts', () => {
    const re = /(^|\/)(\.netrc|\.npmrc|\.pypirc|\.git-credentials|\.env(\..*)?|credentials|\.docker\/config\.json|\.config\/gh\/hosts\.yml|\.aws\/credentials|\.s3cfg|.*\.env)$/;
    const parts = ['', 'a', '/', '.', '.netrc', '.npmrc', 'npmrc', '.pypirc', '.git-credentials', 'credentials', 'x-credentials', '.env', 'env', '.env.local', '.envrc', 'prod.env', '.docker', 'config.json', '.config', 'gh', 'hosts.yml',
      '.aws', '.s3cfg', 's3cfg', 'rc', '.json', '.yml', 'x'];
    let seed = 7;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    let hits = 0;
    for (let n = 0; n < 5000; n++) {
      let p = '';
      for (let k = 1 + rnd(4); k > 0; k--) p += (p && rnd(2) ? '/' : '') + parts[rnd(parts.length)]!;
      const want = re.test(p);
      if (want) hits++;
      expect(isTokenPlace(p), p).toBe(want);
    }
    expect(hits).toBeGreaterThan(200);
    for (const p of ['.docker/config.json', '.config/gh/hosts.yml', '.aws/credentials', 'a/.env.x/y', 'x.env', '.s3cfg']) expect(isTokenPlace(p), p).toBe(true);
  });

  it('flags SSH private keys by path only under .ssh/ and never a .pub', () => {
    expect(secretReason('a/.ssh/id_rsa', null)).toMatch(/SSH/);
    expect(secretReason('.ssh/id_rsa.pub', null)).toBeNull();
    expect(secretReason('x.ssh/id_rsa', null)).toBeNull();
    expect(secretReason('.ssh/id_rsa/x', null)).toBeNull();
    expect(secretReason('.ssh/known_hosts', null)).toBeNull();
  });
});
