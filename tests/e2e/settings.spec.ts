// Settings: a change lands in dman.yaml (and keeps the previous file), groups switch off and
// on, and the wizard can be run again.
import { readFile } from 'node:fs/promises';
import { completeWizard, expect, test, writeFiles } from './fixtures.js';

test('settings change dman.yaml, switch groups, and re-open the wizard', async ({ page, agent }) => {
  await writeFiles(agent.home, { '.bashrc': 'x\n' });
  await completeWizard(page, agent);

  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByLabel('When a file changed on two machines').selectOption('keep-both');
  await expect(page.getByText('Saved: conflict policy.')).toBeVisible();
  expect(await readFile(agent.configFile, 'utf8')).toContain('conflict_policy: keep-both');
  expect(await readFile(`${agent.configFile}.bak`, 'utf8')).toContain('conflict_policy: ask');

  // The agent cannot update itself: no auto-update checkbox (the tray app shows one).
  await expect(page.getByText('Start dman at login')).toBeVisible();
  await expect(page.getByRole('checkbox', { name: 'Update dman automatically' })).toHaveCount(0);

  const ssh = page.getByRole('checkbox', { name: /^ssh/ });
  await ssh.uncheck();
  await expect(ssh).not.toBeChecked();
  await page.getByRole('link', { name: 'Status' }).click();
  await expect(page.getByRole('switch').nth(2)).not.toBeChecked();
  await expect(page.getByText('paused', { exact: true })).toBeVisible();

  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('button', { name: 'Re-run setup wizard' }).click();
  await expect(page.getByRole('heading', { name: 'Where is your sync server?' })).toBeVisible();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
});
