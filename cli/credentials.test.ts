// The keychain adapters of credentials.ts against fake `security` and `secret-tool` scripts on PATH
// (real processes, real temp dirs): what reaches argv, and the 0600-file fallback in auto mode.
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCredentialStore, readStoredLoginSync, type StoredLogin } from './credentials.js';

let dir: string;
const login: StoredLogin = { token: 'dmt_SECRET_0123456789abcdef', user: 'alice', device: 'laptop', savedAt: 1 };
const URL = 'http://nas.lan:3626';

beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dman-cred-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

async function script(name: string, body: string): Promise<void> {
  await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
  await chmod(join(dir, name), 0o755);
}

const envFor = (store: string) => ({ PATH: `${dir}:/usr/bin:/bin`, DMAN_CREDENTIAL_STORE: store, DMAN_CREDENTIALS_FILE: join(dir, 'credentials.json') });

describe('macOS keychain (security)', () => {
  beforeEach(async () => {
    // A stand-in for `security`: logs argv and stdin; `-i` runs the add-generic-password line it reads.
    await script('security', `echo "$@" >> "${dir}/argv.log"
if [ "$1" = -i ]; then
  line=$(cat); echo "$line" >> "${dir}/stdin.log"
  set -- $line
fi
op=$1; shift
prev=; w=
for a in "$@"; do [ "$prev" = -w ] && w=$a; prev=$a; done
case $op in
  add-generic-password) printf %s "$w" > "${dir}/item" ;;
  find-generic-password) [ -f "${dir}/item" ] && cat "${dir}/item" && echo || exit 44 ;;
  delete-generic-password) [ -f "${dir}/item" ] && rm "${dir}/item" || exit 44 ;;
esac`);
  });

  it('stores through `security -i` on stdin, so the token never appears in any argv', async () => {
    const store = await createCredentialStore({ env: envFor('keychain'), platform: 'darwin' });
    await store.set(URL, login);
    const argv = await readFile(join(dir, 'argv.log'), 'utf8');
    expect(argv.split('\n')[0]).toBe('-i');
    expect(argv).not.toContain(login.token);
    expect(argv).not.toContain('-w');
    expect(await readFile(join(dir, 'stdin.log'), 'utf8')).toMatch(/^add-generic-password -U -s dman -a "http:\/\/nas\.lan:3626" -w [A-Za-z0-9+/=]+$/m);
    expect(await store.get(URL)).toEqual(login);
    expect(readStoredLoginSync(URL, { env: envFor('keychain'), platform: 'darwin' })).toEqual(login);
    expect(await store.delete(URL)).toBe(true);
    expect(await store.get(URL)).toBeNull();
  });

  it('still reads an item stored as plain JSON by an older dman', async () => {
    await writeFile(join(dir, 'item'), JSON.stringify(login));
    const store = await createCredentialStore({ env: envFor('keychain'), platform: 'darwin' });
    expect(await store.get(URL)).toEqual(login);
  });
});

describe('Linux keychain (secret-tool) without a Secret Service', () => {
  beforeEach(async () => {
    // What secret-tool does on a headless SSH box: on PATH, but no D-Bus session to talk to.
    await script('secret-tool', 'echo "secret-tool: Cannot autolaunch D-Bus without X11 $DISPLAY" >&2; exit 1');
  });

  it('in auto mode keeps the token in the 0600 file instead, says why, and finds it again', async () => {
    const store = await createCredentialStore({ env: envFor('auto'), platform: 'linux' });
    expect(store.kind).toBe('keychain');
    await store.set(URL, login);
    expect(store.kind).toBe('file');
    expect(store.where).toBe(join(dir, 'credentials.json'));
    expect(store.fellBack).toContain('Cannot autolaunch D-Bus');
    expect((await stat(join(dir, 'credentials.json'))).mode & 0o777).toBe(0o600);
    const again = await createCredentialStore({ env: envFor('auto'), platform: 'linux' });
    expect(await again.get(URL)).toEqual(login);
    expect(readStoredLoginSync(URL, { env: envFor('auto'), platform: 'linux' })).toEqual(login);
    expect(await again.delete(URL)).toBe(true);
    expect(await again.get(URL)).toBeNull();
  });

  it('with DMAN_CREDENTIAL_STORE=keychain fails with the keychain error and writes no file', async () => {
    const store = await createCredentialStore({ env: envFor('keychain'), platform: 'linux' });
    await expect(store.set(URL, login)).rejects.toThrow(/secret-tool could not store the token: secret-tool: Cannot autolaunch D-Bus/);
    await expect(stat(join(dir, 'credentials.json'))).rejects.toThrow();
  });
});

describe('readStoredLoginSync and the D-Bus session', () => {
  const keychainLogin: StoredLogin = { ...login, token: 'dmt_FROM_KEYCHAIN_0123456789' };
  const fileLogin: StoredLogin = { ...login, token: 'dmt_FROM_FILE_0123456789abcd' };
  beforeEach(async () => {
    // A secret-tool that answers (as with a Secret Service), logging each start.
    await script('secret-tool', `echo started >> "${dir}/spawned.log"; printf %s '${JSON.stringify(keychainLogin)}'`);
    await writeFile(join(dir, 'credentials.json'), JSON.stringify({ version: 1, logins: { [URL]: fileLogin } }), { mode: 0o600 });
  });
  const spawned = async () => (await readFile(join(dir, 'spawned.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  const noBus = (store: string) => ({ ...envFor(store), HOME: dir });

  it('does not start secret-tool when no session bus is reachable: the file answers in auto mode, nothing in keychain mode', async () => {
    expect(readStoredLoginSync(URL, { env: noBus('auto'), platform: 'linux' })).toEqual(fileLogin);
    expect(readStoredLoginSync(URL, { env: noBus('keychain'), platform: 'linux' })).toBeNull();
    expect(await spawned()).toBe(0);
  });

  it('asks secret-tool when $DBUS_SESSION_BUS_ADDRESS, $DISPLAY or a bus socket in the runtime directory says a session exists', async () => {
    expect(readStoredLoginSync(URL, { env: { ...noBus('auto'), DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nowhere' }, platform: 'linux' })).toEqual(keychainLogin);
    expect(readStoredLoginSync(URL, { env: { ...noBus('auto'), DISPLAY: ':0' }, platform: 'linux' })).toEqual(keychainLogin);
    await writeFile(join(dir, 'bus'), '');
    expect(readStoredLoginSync(URL, { env: { ...noBus('auto'), XDG_RUNTIME_DIR: dir }, platform: 'linux' })).toEqual(keychainLogin);
    expect(await spawned()).toBe(3);
  });
});
