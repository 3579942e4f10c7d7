// A second machine joins through the wizard's "Connect to a server": it tests the URL and the
// pasted token, previews, plans the download of the first machine's files, and syncs them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentConfig, completeWizard, expect, read, startAgent, test, writeFiles } from './fixtures.js';

test('a second machine connects with a pasted token and receives the files', async ({ page, agent, browser }, info) => {
  await writeFiles(agent.home, { '.bashrc': 'from machine A\n', '.gitconfig': '[user]\n  name = Alice\n' });
  await completeWizard(page, agent);
  const cfg = await agentConfig(agent);

  const dirB = await mkdtemp(join(tmpdir(), 'dman-e2e-b-'));
  const b = await startAgent(dirB);
  const ctx = await browser.newContext();
  try {
    const pb = await ctx.newPage();
    await pb.goto(b.url);
    await pb.getByRole('radio', { name: /Connect to a server/ }).check();
    await pb.getByLabel('Server URL').fill(cfg.server_url);
    await pb.getByRole('button', { name: 'Test connection' }).click();
    await expect(pb.getByText(/Connected: dman server/)).toBeVisible();
    await pb.getByRole('button', { name: 'Continue' }).click();

    await expect(pb.getByRole('heading', { name: 'Pair this machine' })).toBeVisible();
    await pb.getByLabel('User name').fill('alice');
    await pb.getByLabel('Device token').fill('not-a-token');
    await pb.getByRole('button', { name: 'Test token' }).click();
    await expect(pb.getByRole('alert')).toContainText('Pairing failed');
    await pb.getByLabel('Device token').fill(cfg.auth_token);
    await pb.getByRole('button', { name: 'Test token' }).click();
    await expect(pb.getByText(/The server accepts this token/)).toBeVisible();
    await pb.screenshot({ path: info.outputPath('connect-pairing.png'), fullPage: true });
    await pb.getByRole('button', { name: 'Continue' }).click();

    await expect(pb.getByRole('heading', { name: 'What should dman sync?' })).toBeVisible();
    await pb.getByRole('button', { name: 'Continue' }).click();
    const plan = pb.getByRole('list', { name: 'Planned changes' });
    await expect(plan).toContainText('Download');
    await expect(plan).toContainText('.bashrc');
    await pb.screenshot({ path: info.outputPath('connect-plan.png'), fullPage: true });
    await pb.getByRole('button', { name: 'Start syncing' }).click();
    await expect(pb.getByRole('heading', { name: 'Status', exact: true })).toBeVisible({ timeout: 30_000 });

    // The status page shows as soon as the setup is saved; the first sync lands while it does.
    await expect(pb.getByText(/Synced alice: 0 uploaded, 2 downloaded/)).toBeVisible({ timeout: 30_000 });
    await expect.poll(() => read(b.home, '.bashrc'), { timeout: 10_000 }).toBe('from machine A\n');
    expect(await read(b.home, '.gitconfig')).toBe('[user]\n  name = Alice\n');

    // And a change on B reaches A through the live sync of both agents.
    await writeFiles(b.home, { '.bashrc': 'edited on B\n' });
    await expect.poll(() => read(agent.home, '.bashrc'), { timeout: 30_000 }).toBe('edited on B\n');
  } finally {
    await ctx.close();
    await b.stop();
    await rm(dirB, { recursive: true, force: true });
  }
});
