// The whole first-run wizard against a real agent hosting its server on disk, ending with the
// first file synced to the server.
import { agentConfig, completeWizard, expect, test, writeFiles } from './fixtures.js';

test('the wizard sets up a hosted server on disk and syncs the first file', async ({ page, agent }, info) => {
  await writeFiles(agent.home, {
    '.bashrc': 'export EDITOR=vim\n',
    '.gitconfig': '[user]\n  name = Alice\n',
    '.ssh/config': 'Host *\n  ServerAliveInterval 60\n',
    '.ssh/id_ed25519': 'PRIVATE KEY\n',
    '.bash_history': 'ls\n',
  });
  await completeWizard(page, agent, info, 'alice', async () => {
    // The preview names what stays out and why; its tabs work from the keyboard.
    const show = page.getByRole('radiogroup', { name: 'Show' });
    await show.getByRole('radio', { name: /Synced/ }).focus();
    await page.keyboard.press('ArrowRight');
    await expect(show.getByRole('radio', { name: /Excluded/ })).toBeChecked();
    const excluded = page.getByRole('list', { name: 'Files left out' });
    await expect(excluded).toContainText('.ssh/id_ed25519');
    await expect(excluded).toContainText('.bash_history');
    await page.getByRole('textbox', { name: /Patterns/ }).fill('.bashrc\n.ssh/\n!.ssh/id_*');
    await expect(excluded).toContainText('!.ssh/id_*');
    // Toggling a group puts its patterns back without losing the hand-written lines.
    const git = page.getByRole('checkbox', { name: /^git/ });
    await git.uncheck();
    await git.check();
    await expect(page.getByRole('textbox', { name: /Patterns/ })).toHaveValue('.bashrc\n.ssh/\n!.ssh/id_*\n.gitconfig\n.gitignore_global\n.config/git/');
  });

  // The config is valid and names the hosted server and this user.
  const cfg = await agentConfig(agent);
  expect(cfg.users.alice.home).toBe(agent.home);
  expect(cfg.server_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

  // The server holds the tracked files and nothing else (the first sync runs on after the
  // status page appears, so wait for it to land).
  const serverPaths = async () => {
    const res = await fetch(`${cfg.server_url}/v1/users/alice/changes?since=0`, { headers: { authorization: `Bearer ${cfg.auth_token}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { entries: Array<{ path: string; deleted: boolean }> }).entries.filter((e) => !e.deleted).map((e) => e.path).sort();
  };
  await expect.poll(serverPaths, { timeout: 30_000 }).toEqual(['.bashrc', '.gitconfig', '.ssh/config']);

  // The status page shows the user with its files and the sync in the activity log.
  const card = page.getByRole('article', { name: 'user alice' });
  await expect(card).toContainText('3');
  await expect(page.getByText(/Synced alice: 3 uploaded/)).toBeVisible();
  const path = info.outputPath('status.png');
  await page.screenshot({ path, fullPage: true });
  await info.attach('status', { path, contentType: 'image/png' });
});

test('the wizard explains a server that cannot be reached', async ({ page, agent }) => {
  await page.goto(agent.url);
  await page.getByRole('radio', { name: /Connect to a server/ }).check();
  await page.getByLabel('Server URL').fill('http://127.0.0.1:9');
  await page.getByRole('button', { name: 'Test connection' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('Could not connect');
  await expect(alert).toContainText('127.0.0.1:9');
});

test('the agent refuses a page load without the token', async ({ page, agent }) => {
  const bare = new URL(agent.url);
  bare.search = '';
  const res = await page.goto(bare.toString());
  expect(res?.status()).toBe(401);
  await expect(page.getByText(/missing or wrong token/)).toBeVisible();
});
