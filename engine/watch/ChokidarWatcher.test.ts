// Through a real watcher (chokidar, and the folder-level fs.watch one): deletes, renames (delete + add) and editor-style saves on one
// machine reach the other through scoped watch runs, and the other machine's installs never
// echo back as its own publishes.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../createEngine.js';
import type { Engine } from '../Engine.js';
import { silentLogger } from '../log.js';
import { createMemoryRemote } from '../remote/MemoryRemote.js';
import { createMemoryStateStore } from '../state/StateStore.js';
import { testConfig, tempDirs } from '../testing/engineFixture.js';
import { createChokidarWatcher } from './ChokidarWatcher.js';
import { createDirWatcher } from './DirWatcher.js';

const dirs = tempDirs();
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.allSettled(engines.splice(0).map((e) => e.close()));
  await dirs.cleanup();
});

async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  for (const t0 = Date.now(); !(await cond());) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const text = (p: string): Promise<string | null> => readFile(p, 'utf8').catch(() => null);

describe.each([['chokidar', createChokidarWatcher], ['folder watches (the Linux default)', createDirWatcher]] as const)('watch runs through %s', (_name, createWatcher) => {
  it('propagate deletes, renames and editor-style saves, with no echo', async () => {
    const remote = createMemoryRemote();
    const homeA = await dirs.make('dman-chok-a-');
    const homeB = await dirs.make('dman-chok-b-');
    await mkdir(join(homeA, '.config/app'), { recursive: true });
    for (const [p, t] of [['.zshrc', 'z\n'], ['.gitconfig', 'g\n'], ['.config/app/a.conf', 'a\n'], ['.config/app/b.conf', 'b\n']] as const) await writeFile(join(homeA, p), t);
    const mk = (home: string, device: string) => {
      const e = createEngine({ config: testConfig(home, { device }), remote, log: silentLogger(), stateDir: home, stateStore: createMemoryStateStore(), watcher: createWatcher(), rescanMs: 0 });
      engines.push(e);
      return e;
    };
    const a = mk(homeA, 'a');
    const b = mk(homeB, 'b');
    await a.sync({ direction: 'both', yes: true });
    await b.sync({ direction: 'both', yes: true });
    await a.watch();
    await b.watch();

    await rename(join(homeA, '.gitconfig'), join(homeA, '.gitconfig.bak'));
    await until('the rename reached B', async () => (await text(join(homeB, '.gitconfig.bak'))) === 'g\n' && (await text(join(homeB, '.gitconfig'))) === null);

    await rm(join(homeA, '.config/app'), { recursive: true });
    await until('the folder delete reached B', async () => (await text(join(homeB, '.config/app/a.conf'))) === null && (await text(join(homeB, '.config/app/b.conf'))) === null);

    await writeFile(join(homeA, '.zshrc.swp'), 'z2\n');
    await rename(join(homeA, '.zshrc.swp'), join(homeA, '.zshrc'));
    await until('the editor-style save reached B', async () => (await text(join(homeB, '.zshrc'))) === 'z2\n');

    // B's installs were seen by B's own watcher: none may come back as a publish from B.
    await b.sync({ direction: 'both', yes: true });
    expect(remote.entries('alice').filter((e) => e.device === 'b')).toEqual([]);
    expect(remote.entries('alice').filter((e) => !e.deleted).map((e) => e.path).sort()).toEqual(['.gitconfig.bak', '.zshrc']);
  }, 30_000);
});
