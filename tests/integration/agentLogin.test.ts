// The agent's DmanApi uses the token `dman login` stored (issue: it used only auth_token and got
// 401 after a working login): precedence DMAN_AUTH_TOKEN > stored login > config auth_token.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLoginSecretStore } from '../../cli/agent/createLoginSecretStore.js';
import { createCredentialStore } from '../../cli/credentials.js';
import { createMemorySettingsStore } from '../../engine/api/appSettings.js';
import { createDmanApi, type DmanApiHost } from '../../engine/api/createDmanApi.js';
import { silentLogger } from '../../engine/log.js';
import { startHarness, type Harness } from './serverHarness.js';

describe('agent API with a `dman login` token', () => {
  let dir: string;
  let home: string;
  let h: Harness;
  let api: DmanApiHost | null = null;
  const env = () => ({ DMAN_CREDENTIAL_STORE: 'file', DMAN_CREDENTIALS_FILE: join(dir, 'credentials.json') });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-agentlogin-'));
    home = join(dir, 'home');
    await mkdir(home);
    h = await startHarness();
  });
  afterEach(async () => {
    await api?.close();
    api = null;
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function boot(configToken: string | null, extraEnv: Record<string, string> = {}): Promise<DmanApiHost> {
    const cfg = join(dir, 'dman.yaml');
    await writeFile(cfg, `server_url: ${h.url}\n${configToken ? `auth_token: ${configToken}\n` : ''}track: [.bashrc]\nusers:\n  alice:\n    home: ${home}\n`, { mode: 0o600 });
    const e = { ...env(), ...extraEnv };
    api = createDmanApi({
      log: silentLogger(), configPath: cfg, dataDir: join(dir, 'data'), settings: createMemorySettingsStore(), env: e, homedir: home, hostname: 'laptop',
      secrets: createLoginSecretStore({ credentials: () => createCredentialStore({ env: e }), log: silentLogger() }),
    });
    await api.start();
    return api;
  }

  const serverPaths = async () => (await (await h.req('/v1/users/alice/changes?since=0', { token: h.tokens.alice })).json()).entries.map((x: { path: string }) => x.path);

  it('syncs with the stored login and no auth_token in dman.yaml', async () => {
    const creds = await createCredentialStore({ env: env() });
    await creds.set(h.url, { token: h.tokens.alice, user: 'alice', device: 'laptop', savedAt: 1 });
    await writeFile(join(home, '.bashrc'), 'export A=1\n');
    const a = await boot(null);
    const r = await a.syncNow();
    expect(r).toMatchObject({ ok: true });
    expect(await serverPaths()).toContain('.bashrc');
    await expect(a.getSettings()).resolves.toMatchObject({ ok: true, value: { hasToken: true } });
  });

  it('prefers the stored login to a stale auth_token, and DMAN_AUTH_TOKEN to both', async () => {
    const creds = await createCredentialStore({ env: env() });
    await creds.set(`${h.url}/`, { token: h.tokens.alice, user: 'alice', device: 'laptop', savedAt: 1 });
    await writeFile(join(home, '.bashrc'), 'export B=2\n');
    expect(await (await boot('dman_stale_token_0123456789')).syncNow()).toMatchObject({ ok: true });
    await api!.close();
    api = null;
    const withEnv = await boot(null, { DMAN_AUTH_TOKEN: 'dman_wrong_env_token_0123456789' });
    const r = await withEnv.syncNow();
    expect(JSON.stringify(r)).toMatch(/AUTH_/);
  });

  it('a token saved in Settings replaces the stored login for that server, so the two agree', async () => {
    const creds = await createCredentialStore({ env: env() });
    await creds.set(h.url, { token: 'dman_old_login_token_0123456789', user: 'alice', device: 'laptop', savedAt: 1 });
    const a = await boot(null);
    expect(await a.updateSettings({ token: h.tokens.alice })).toMatchObject({ ok: true });
    expect((await creds.get(h.url))?.token).toBe(h.tokens.alice);
    // The agent's store only mirrors logins: dman.yaml still gets the token (0600), as before.
    expect(await readFile(join(dir, 'dman.yaml'), 'utf8')).toContain(h.tokens.alice);
  });
});
