import { describe, expect, it } from 'vitest';
import { compileSecretAllow, entropy, secretReason } from './secrets.js';

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
