// The server dashboard in Chromium: an admin logs in with ?token=, the token leaves the URL,
// the charts draw, the panels refresh on their own, and a screenshot is kept as an artifact.
import { mkdtemp, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { silentLogger } from '../../engine/log.js';
import { createServer, type DmanServer } from '../../server/app.js';
import { mintToken } from '../../server/auth/tokens.js';
import { DiskStore } from '../../server/store/DiskStore.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let dir: string;
let store: DiskStore;
let server: DmanServer;
let url: string;
let admin: string;
let tokens: Record<string, string>;
// The server's clock starts five minutes back and moves forward as the traffic below is made,
// so the charts show a few minutes of history without the test waiting for them.
let offset = -295_000;

test.beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dman-dash-'));
  store = new DiskStore({ dataDir: join(dir, 'data'), fsync: false });
  await store.open();
  const now = Date.now();
  const a = mintToken({ user: null, device: 'ops', admin: true, now });
  admin = a.token;
  await store.putToken(a.record);
  tokens = {};
  for (const user of ['alice', 'bob', 'carol']) {
    const t = mintToken({ user, device: `${user}-laptop`, admin: false, now });
    tokens[user] = t.token;
    await store.putToken(t.record);
  }
  server = createServer({ store, log: silentLogger(), users: ['alice', 'bob', 'carol'], retention: { versions: 20, days: 30, gcIntervalMs: 0 }, version: '0.1.0', commit: '6dff5ca1e2b3', now: () => Date.now() + offset });
  url = await server.listen('127.0.0.1:0');

  const req = (path: string, token: string, init: RequestInit = {}) => fetch(url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } });
  const revs: Record<string, Record<string, number>> = { alice: {}, bob: {}, carol: {} };
  async function put(user: string, path: string, body: Buffer) {
    await req(`/v1/users/${user}/blobs/${sha(body)}`, tokens[user]!, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
    const r = await req(`/v1/users/${user}/commit`, tokens[user]!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ops: [{ path, baseRev: revs[user]![path] ?? 0, hash: sha(body), size: body.length }] }) });
    const j = (await r.json()) as { rev: number };
    revs[user]![path] = j.rev;
  }
  const files = ['.bashrc', '.zshrc', '.gitconfig', '.vimrc', '.config/nvim/init.lua', '.ssh/config', '.tmux.conf'];
  for (let step = 0; step < 29; step++) {
    const burst = 3 + Math.round(6 * (1 + Math.sin(step / 3)));
    for (let i = 0; i < burst; i++) {
      const user = ['alice', 'bob', 'carol'][(step + i) % 3]!;
      await req(`/v1/users/${user}/changes?since=0`, tokens[user]!);
      if (i % 3 === 0) await put(user, files[(step + i) % files.length]!, Buffer.alloc(200 + ((step * 997 + i * 131) % 40_000), String.fromCharCode(97 + (step % 26))));
    }
    if (step % 7 === 3) await fetch(`${url}/v1/whoami`, { headers: { authorization: 'Bearer dman_stolen-or-mistyped-0000000000000000000000000000' } });
    offset += 10_000;
  }
  await req('/prune', tokens.carol!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'carol', keep: ['.bashrc', '.zshrc'] }) });
});

test.afterAll(async () => {
  await server?.close();
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the dashboard logs an admin in, drops the token from the URL, draws and refreshes', async ({ page }, info) => {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));

  await page.goto(`${url}/dashboard`);
  await expect(page.getByText('This page needs an admin token.')).toBeVisible();
  errors.length = 0; // the 401 of that sign-in page is expected

  await page.goto(`${url}/dashboard?token=${encodeURIComponent(admin)}`);
  await expect(page).toHaveURL(`${url}/dashboard`);
  expect(page.url()).not.toContain(admin);
  const cookies = await page.context().cookies(url);
  expect(cookies.find((c) => c.name === 'dman_dash')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

  await expect(page.getByRole('heading', { name: /dman server dashboard/ })).toBeVisible();
  await expect(page.locator('#chart-rate canvas')).toHaveCount(1);
  await expect(page.locator('#chart-latency canvas')).toHaveCount(1);
  await expect(page.locator('#users')).toContainText('alice');
  await expect(page.locator('#users')).toContainText('carol');
  await expect(page.locator('#audit')).toContainText('prune');
  await expect(page.locator('#audit')).toContainText('denied');
  await expect(page.locator('#storage .pill')).toHaveText('up');

  // The page refreshes itself: a new request shows up in the totals without a reload.
  const before = await page.locator('#kpi-auth .value').textContent();
  await fetch(`${url}/v1/whoami`, { headers: { authorization: 'Bearer dman_another-bad-token-000000000000000000000000000000' } });
  await expect(page.locator('#kpi-auth .value')).not.toHaveText(before!, { timeout: 12_000 });

  const path = info.outputPath('dashboard.png');
  await page.screenshot({ path, fullPage: true });
  await info.attach('dashboard', { path, contentType: 'image/png' });
  expect(errors).toEqual([]);
});
