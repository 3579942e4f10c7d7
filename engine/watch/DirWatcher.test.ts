// The folder-level watcher on real folders: what it reports, what it leaves out, how many inotify
// watches it takes, and (in a user namespace with a tiny inotify budget) what it does when the
// system has no watch left.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compileTrack } from '../../shared/patterns/index.js';
import { tempDirs } from '../testing/engineFixture.js';
import { createDirWatcher } from './DirWatcher.js';
import type { Watcher } from './Watcher.js';

const mkdirP = (p: string) => mkdir(p, { recursive: true });
const write = writeFile;
const dirs = tempDirs();
const watchers: Watcher[] = [];
afterEach(async () => {
  await Promise.allSettled(watchers.splice(0).map((w) => w.close()));
  await dirs.cleanup();
});

/** Inotify watches this process holds, from /proc/self/fdinfo. */
function inotifyWatches(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try { n += (readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/^inotify /gm) ?? []).length; } catch { /* closed meanwhile */ }
  }
  return n;
}

/** Starts a watcher on `home` that tracks `track`; returns the reported paths, gathered. */
async function watching(home: string, track: string[]): Promise<{ seen: Set<string>; w: Watcher; until(path: string): Promise<void> }> {
  const w = createDirWatcher({ debounceMs: 10, trailingMs: 20 });
  watchers.push(w);
  const seen = new Set<string>();
  await w.start([{ user: 'alice', home, matcher: compileTrack(track) }], (_u, paths) => { for (const p of paths ?? ['*whole home*']) seen.add(p); });
  return {
    seen, w,
    async until(path) {
      for (const t0 = Date.now(); !seen.has(path);) {
        if (Date.now() - t0 > 10_000) throw new Error(`${path} was not reported; got ${[...seen].join(', ') || 'nothing'}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

describe('the folder watcher', () => {
  it('watches a home again after it was moved away and made anew, asking for a look at the whole home', async () => {
    const parent = await dirs.make('dman-dirw-home-');
    const home = join(parent, 'home');
    await mkdirP(join(home, '.config'));
    await write(join(home, '.zshrc'), 'z');
    const { seen, until, w } = await watching(home, ['.config/**', '.zshrc']);
    await rename(home, join(parent, 'old-home'));
    await until('*whole home*');
    expect(seen.has('home')).toBe(false); // not the home's own name as a path
    seen.clear();
    await mkdirP(join(home, '.config'));
    // The new home is picked up (within the 1 s retry) and asked about as a whole...
    await until('*whole home*');
    expect(w.status?.()).toMatchObject({ unwatched: 0 });
    // ...and changes in it are reported again, in new folders too.
    await new Promise((r) => setTimeout(r, 50));
    await write(join(home, '.zshrc'), 'new');
    await until('.zshrc');
    await mkdirP(join(home, '.config/app'));
    await new Promise((r) => setTimeout(r, 50));
    await write(join(home, '.config/app/a.conf'), 'a');
    await until('.config/app/a.conf');
  });

  it('reports tracked files in old and new folders, deleted and renamed folders, and nothing untracked', async () => {
    const home = await dirs.make('dman-dirw-');
    await mkdirP(join(home, '.config/app'));
    await mkdirP(join(home, 'junk/deep'));
    await write(join(home, '.config/app/a.conf'), 'a');
    const { seen, until, w } = await watching(home, ['.config/**', '.zshrc']);
    // Only folders that can hold tracked files are watched: home, .config, .config/app.
    expect(w.status?.()).toEqual({ folders: 3, unwatched: 0 });

    await write(join(home, 'junk/deep/x'), 'x');
    await write(join(home, 'notes.txt'), 'n');
    await write(join(home, '.zshrc'), 'z');
    await until('.zshrc');
    await write(join(home, '.config/app/a.conf'), 'a2');
    await until('.config/app/a.conf');
    await write(join(home, `.config/app/b.conf.dman-tmp-123-0123abcd`), 't');

    // A new folder tree: its files are reported, and it is watched from then on.
    await mkdirP(join(home, '.config/new/sub'));
    await write(join(home, '.config/new/sub/n.conf'), 'n');
    await until('.config/new/sub/n.conf');
    await write(join(home, '.config/new/sub/m.conf'), 'm');
    await until('.config/new/sub/m.conf');

    // A renamed folder: the old name is reported (the engine expands it to the files it knew), the new files too.
    await rename(join(home, '.config/new'), join(home, '.config/moved'));
    await until('.config/new');
    await until('.config/moved/sub/m.conf');
    // Its old watch is gone: a write under the new name is reported under the new name only.
    seen.clear();
    await write(join(home, '.config/moved/sub/m.conf'), 'm2');
    await until('.config/moved/sub/m.conf');
    expect([...seen].filter((p) => p.startsWith('.config/new'))).toEqual([]);

    await rm(join(home, '.config/app'), { recursive: true });
    await until('.config/app');
    await until('.config/app/a.conf');

    expect([...seen].filter((p) => p.startsWith('junk') || p === 'notes.txt' || p.includes('dman-tmp'))).toEqual([]);
    expect(w.status?.()).toEqual({ folders: 4, unwatched: 0 }); // home, .config, .config/moved, .config/moved/sub
  });

  it('takes one inotify watch per folder, not per file', async () => {
    const home = await dirs.make('dman-dirw-n-');
    for (let d = 0; d < 20; d++) {
      await mkdirP(join(home, `d${d}`));
      await Promise.all(Array.from({ length: 50 }, (_, f) => write(join(home, `d${d}/f${f}`), 'x')));
    }
    const before = inotifyWatches();
    await watching(home, ['**']);
    expect(inotifyWatches() - before).toBe(21);
  });
});

const canUnshare = spawnSync('unshare', ['-U', '-r', 'sh', '-c', 'echo 5 > /proc/sys/user/max_inotify_watches'], { encoding: 'utf8' }).status === 0;

describe('the folder watcher out of inotify watches', () => {
  // A user namespace gets its own inotify budget (/proc/sys/user/max_inotify_watches): the real
  // ENOSPC, without touching the machine's limit. Containers that forbid user namespaces say so here.
  it.skipIf(!canUnshare)('says so once, reports the limit, and still reports changes in the folders it watches', async () => {
    if (!canUnshare) console.warn('unshare -U is not allowed here: the inotify-limit test did not run');
    const home = await dirs.make('dman-dirw-lim-');
    for (let d = 0; d < 30; d++) await mkdirP(join(home, `d${d}`));
    const probe = join(import.meta.dirname, 'testing/limitProbe.ts');
    const r = spawnSync('unshare', ['-U', '-r', 'sh', '-c', `echo 10 > /proc/sys/user/max_inotify_watches && exec "${process.execPath}" --import tsx "${probe}" "${home}"`],
      { encoding: 'utf8', timeout: 60_000, cwd: join(import.meta.dirname, '../..') });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { status: { folders: number; unwatched: number; limit?: string }; warnings: Array<{ msg: string; hint: string }>; reported: string[] };
    expect(out.status.folders).toBe(10);
    expect(out.status.unwatched).toBe(21);
    expect(out.status.limit).toBe('ENOSPC');
    expect(out.warnings).toHaveLength(1);
    expect(out.warnings[0]!.msg).toMatch(/no more file watches \(ENOSPC\).*periodic full rescan/);
    expect(out.warnings[0]!.hint).toMatch(/max_user_watches/);
    expect(out.reported).toEqual(['top.conf']);
  }, 60_000);
});
