// History: a file's versions with device and time, view one, restore it.
import { agentConfig, completeWizard, expect, read, test, writeFiles } from './fixtures.js';

test('an old version can be viewed and restored from the history page', async ({ page, agent }) => {
  await writeFiles(agent.home, { '.bashrc': 'v1: first\n' });
  await completeWizard(page, agent);
  const cfg = await agentConfig(agent);
  /** The sizes of .bashrc's versions on the server, newest first. */
  const sizes = async (): Promise<number[]> => {
    const r = await fetch(`${cfg.server_url}/v1/users/alice/history?path=.bashrc`, { headers: { authorization: `Bearer ${cfg.auth_token}` } });
    if (r.status === 404) return [];
    return ((await r.json()) as { versions: Array<{ size: number }> }).versions.map((v) => v.size);
  };
  // The wizard's first sync publishes v1 (10 bytes). The status page may show before that sync
  // is over: the app leaves the wizard as soon as the setup is saved (state.configured), and the
  // wizard's "Start syncing" saves it first, then syncs.
  await expect.poll(sizes).toEqual([10]);

  // Each save is published once, whichever comes first: the agent's watcher or "Sync now".
  for (const [i, v] of ['v2: second\n', 'v3: third\n'].entries()) {
    await writeFiles(agent.home, { '.bashrc': v });
    await page.getByRole('button', { name: 'Sync now' }).click();
    await expect.poll(async () => (await sizes()).length).toBe(i + 2);
  }
  expect(await sizes()).toEqual([10, 11, 10]);

  await page.getByRole('link', { name: 'History' }).click();
  await page.getByRole('link', { name: '.bashrc' }).click();
  const rows = page.getByRole('row', { name: /^version/ });
  await expect(rows).toHaveCount(3);
  const oldest = rows.last();
  // Each version names the device that wrote it.
  await expect(oldest.getByRole('cell').nth(2)).not.toBeEmpty();

  await oldest.getByRole('button', { name: 'View' }).click();
  await expect(page.getByLabel(/content of version/)).toHaveText('v1: first');

  await oldest.getByRole('button', { name: 'Restore' }).click();
  await expect(page.getByText(/Restored \.bashrc to version/)).toBeVisible();
  await expect.poll(() => read(agent.home, '.bashrc')).toBe('v1: first\n');
  await expect(rows).toHaveCount(4);
});
