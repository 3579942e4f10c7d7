// Conflicts made by a second machine, resolved in the review window with each of the four
// choices; the files on disk are checked afterwards.
import { readdir } from 'node:fs/promises';
import { completeWizard, expect, read, secondMachine, test, writeFiles } from './fixtures.js';

const BASE = {
  '.bashrc': 'alias ll="ls -l"\nexport EDITOR=vim\n',
  '.gitconfig': '[user]\n  name = Alice\n',
  '.tmux.conf': 'set -g mouse on\n',
  '.vimrc': 'set number\nset tabstop=4\nsyntax on\n',
};

test('each of the four choices settles a conflict and leaves the right files on disk', async ({ page, agent, tmp }, info) => {
  await writeFiles(agent.home, BASE);
  await completeWizard(page, agent);

  // Machine B gets the files, then both machines edit them while this one is paused.
  const b = await secondMachine(agent, tmp);
  try {
    await b.engine.sync({ direction: 'both' });
    expect(await read(b.home, '.vimrc')).toBe(BASE['.vimrc']);

    await page.getByRole('button', { name: 'Pause syncing' }).click();
    await expect(page.getByRole('button', { name: 'Resume syncing' })).toBeVisible();
    await writeFiles(agent.home, {
      '.bashrc': 'alias ll="ls -la"\nexport EDITOR=vim\n',
      '.gitconfig': '[user]\n  name = Alice A\n',
      '.tmux.conf': 'set -g mouse off\n',
      '.vimrc': 'set number\nset tabstop=2\nsyntax on\n',
    });
    await writeFiles(b.home, {
      '.bashrc': 'alias ll="ls -lh"\nexport EDITOR=vim\n',
      '.gitconfig': '[user]\n  name = Alice B\n',
      '.tmux.conf': 'set -g mouse on\nset -g history-limit 5000\n',
      '.vimrc': 'set number\nset tabstop=8\nsyntax on\n',
    });
    const rb = await b.engine.sync({ direction: 'both' });
    expect(rb.users[0]!.counts.published).toBe(4);

    await page.getByRole('button', { name: 'Resume syncing' }).click();
    await page.getByRole('link', { name: /Conflicts/ }).click();
    const list = page.getByRole('list', { name: 'Conflicts' });
    await expect(list.getByRole('link')).toHaveCount(4, { timeout: 30_000 });

    // Keep mine: .bashrc
    await list.getByRole('link', { name: /\.bashrc/ }).click();
    await expect(page.getByTestId('diff')).toContainText('ls -lh');
    await expect(page.getByTestId('diff')).toContainText('ls -la');
    const path = info.outputPath('review.png');
    await page.screenshot({ path, fullPage: true });
    await info.attach('review', { path, contentType: 'image/png' });
    await page.getByRole('radio', { name: 'Base → server\'s' }).click();
    await expect(page.getByTestId('diff')).toContainText('ls -l"');
    await page.getByRole('button', { name: 'Keep mine' }).click();
    await expect(page.getByText('.bashrc: kept your version.')).toBeVisible();
    await expect(list.getByRole('link')).toHaveCount(3);

    // Keep server's: .gitconfig
    await list.getByRole('link', { name: /\.gitconfig/ }).click();
    await page.getByRole('button', { name: 'Keep server\'s' }).click();
    await expect(page.getByText('.gitconfig: kept the server\'s version.')).toBeVisible();
    await expect(list.getByRole('link')).toHaveCount(2);

    // Keep both: .tmux.conf
    await list.getByRole('link', { name: /\.tmux\.conf/ }).click();
    await page.getByRole('button', { name: 'Keep both' }).click();
    await expect(page.getByText(/\.tmux\.conf: kept both/)).toBeVisible();
    await expect(list.getByRole('link')).toHaveCount(1);

    // Merge: .vimrc, the overlapping hunk is marked, then edited and saved.
    await list.getByRole('link', { name: /\.vimrc/ }).click();
    await page.getByRole('button', { name: 'Merge…' }).click();
    const editor = page.getByLabel(/Merged result/);
    await expect(editor).toHaveValue(/<<<<<<< mine\nset tabstop=2\n=======\nset tabstop=8\n>>>>>>> server\n/);
    const mergePath = info.outputPath('review-merge.png');
    await page.screenshot({ path: mergePath, fullPage: true });
    await info.attach('review-merge', { path: mergePath, contentType: 'image/png' });
    await editor.fill('set number\nset tabstop=4 shiftwidth=4\nsyntax on\n');
    await page.getByRole('button', { name: 'Save merged file' }).click();
    await expect(page.getByText('All clear')).toBeVisible();

    // On this machine's disk:
    expect(await read(agent.home, '.bashrc')).toBe('alias ll="ls -la"\nexport EDITOR=vim\n');
    expect(await read(agent.home, '.gitconfig')).toBe('[user]\n  name = Alice B\n');
    expect(await read(agent.home, '.vimrc')).toBe('set number\nset tabstop=4 shiftwidth=4\nsyntax on\n');
    const copies = (await readdir(agent.home)).filter((n) => n.startsWith('.tmux.conf.dman-conflict-'));
    expect(copies).toHaveLength(1);
    const both = [await read(agent.home, '.tmux.conf'), await read(agent.home, copies[0]!)].sort();
    expect(both).toEqual(['set -g mouse off\n', 'set -g mouse on\nset -g history-limit 5000\n'].sort());

    // And machine B converges on the resolutions.
    await b.engine.sync({ direction: 'both' });
    expect(await read(b.home, '.bashrc')).toBe('alias ll="ls -la"\nexport EDITOR=vim\n');
    expect(await read(b.home, '.gitconfig')).toBe('[user]\n  name = Alice B\n');
    expect(await read(b.home, '.vimrc')).toBe('set number\nset tabstop=4 shiftwidth=4\nsyntax on\n');
    expect(await read(b.home, '.tmux.conf')).toBe(await read(agent.home, '.tmux.conf'));
  } finally {
    await b.engine.close();
  }
});
