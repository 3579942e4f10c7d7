// A crashed dman's temp files go once their writer is gone and they sat untouched a while; a live
// writer's, a recent one and anything that is not our temp file stay.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempOwner, tempPathFor } from './atomic.js';
import { processAlive } from '../util/processAlive.js';
import { removeStaleTemps, STALE_TEMP_MS } from './staleTemps.js';

let home: string;
beforeEach(async () => { home = await mkdtemp(join(tmpdir(), 'dman-temps-')); });
afterEach(async () => { await rm(home, { recursive: true, force: true }); });

const old = new Date(Date.now() - STALE_TEMP_MS - 60_000);
/** A pid that ran and is gone. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid!;

describe('tempOwner', () => {
  it('reads the writer\'s pid from a temp file\'s name, and nothing from other names', () => {
    expect(tempOwner('.zshrc.dman-tmp-4242-0000abcd')).toBe(4242);
    expect(tempOwner(tempPathFor('/h/.config/x.toml').split('/').pop()!)).toBe(process.pid);
    expect(tempOwner('.zshrc')).toBeNull();
    expect(tempOwner('f.dman-conflict-b-20261125T080000Z')).toBeNull();
    expect(tempOwner('.x.dman-tmp-12-nothex!!')).toBeNull();
  });
});

describe('processAlive', () => {
  it('tells a running process from one that is gone', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(deadPid())).toBe(false);
  });
});

describe('removeStaleTemps', () => {
  it('removes an untouched temp file whose writer is gone, and keeps a live writer\'s, its own, a recent one and other files', async () => {
    const dead = deadPid();
    await mkdir(join(home, 'd'));
    const files = {
      stale: `d/.a.dman-tmp-${dead}-0000abcd`,
      staleLink: `.l.dman-tmp-${dead}-0000abce`,
      recent: `.b.dman-tmp-${dead}-0000abcf`,
      live: `.c.dman-tmp-${process.ppid}-0000abd0`,
      own: `.e.dman-tmp-${process.pid}-0000abd1`,
      other: '.zshrc',
    };
    for (const [k, p] of Object.entries(files)) {
      if (k === 'staleLink') await symlink('nowhere', join(home, p));
      else await writeFile(join(home, p), k);
      if (k !== 'recent') await utimes(join(home, p), old, old).catch(() => {});
    }
    // A symlink's own times: lutimes is what counts (lstat).
    const { lutimes } = await import('node:fs/promises');
    await lutimes(join(home, files.staleLink), old, old);
    const removed = await removeStaleTemps(home, Object.values(files));
    expect(removed.sort()).toEqual([files.staleLink, files.stale].sort());
    expect((await readdir(home)).sort()).toEqual([files.recent, files.live, files.own, files.other, 'd'].sort());
    expect(await readdir(join(home, 'd'))).toEqual([]);
  });

  it('leaves a folder with a temp file\'s name, skips what vanished, and reports what it cannot remove', async () => {
    const dead = deadPid();
    const dir = `.f.dman-tmp-${dead}-0000abcd`;
    await mkdir(join(home, dir));
    await utimes(join(home, dir), old, old);
    await writeFile(join(home, 'plain'), 'x');
    const errors: string[] = [];
    const removed = await removeStaleTemps(home, [dir, `.gone.dman-tmp-${dead}-0000abce`, `plain/.x.dman-tmp-${dead}-0000abcf`], { onError: (p) => errors.push(p) });
    expect(removed).toEqual([]);
    expect(errors).toEqual([`plain/.x.dman-tmp-${dead}-0000abcf`]); // ENOTDIR: reported, not thrown
    expect((await readdir(home)).sort()).toEqual([dir, 'plain'].sort());
  });

  it('asks `alive` and `now` as given', async () => {
    await writeFile(join(home, '.a.dman-tmp-77-0000abcd'), 'x');
    expect(await removeStaleTemps(home, ['.a.dman-tmp-77-0000abcd'], { alive: () => true, now: () => Date.now() + 2 * STALE_TEMP_MS })).toEqual([]);
    expect(await removeStaleTemps(home, ['.a.dman-tmp-77-0000abcd'], { alive: () => false, now: () => Date.now() })).toEqual([]);
    expect(await removeStaleTemps(home, ['.a.dman-tmp-77-0000abcd'], { alive: () => false, now: () => Date.now() + 2 * STALE_TEMP_MS })).toEqual(['.a.dman-tmp-77-0000abcd']);
  });
});
