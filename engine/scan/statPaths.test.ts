import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compileTrack } from '../../shared/patterns/index.js';
import { tempDirs } from '../testing/engineFixture.js';
import { statPaths } from './statPaths.js';
import { walkTracked } from './walk.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('statPaths', () => {
  it('finds for the given paths exactly what the walk finds', async () => {
    const home = await dirs.make('dman-statpaths-');
    await mkdir(join(home, '.config/app'), { recursive: true });
    await mkdir(join(home, 'real/sub'), { recursive: true });
    await mkdir(join(home, 'skipped'), { recursive: true });
    await writeFile(join(home, '.zshrc'), 'z');
    await writeFile(join(home, '.config/app/a.conf'), 'a');
    await writeFile(join(home, 'real/sub/f'), 'f');
    await writeFile(join(home, 'skipped/x'), 'x');
    await writeFile(join(home, '.zshrc.tmp-123'), 't');
    await symlink('real', join(home, 'linked')); // a symlinked folder is an entry, never a way in
    await symlink('.zshrc', join(home, '.zlink'));
    const matcher = compileTrack(['**', '!skipped/']);
    const asked = ['.zshrc', '.config/app/a.conf', 'real/sub/f', 'linked', 'linked/sub/f', '.zlink', 'skipped/x', '.zshrc.tmp-123', 'gone', 'gone/deeper', '.zshrc/under-a-file'];
    const walked = new Map<string, number>();
    for await (const e of walkTracked(home, matcher)) walked.set(e.path, e.stat.ino);
    const got = await statPaths(home, asked, matcher);
    expect(got.needsWalk).toBeNull();
    expect(got.skipped).toEqual([]);
    expect(new Map(got.files.map((f) => [f.path, f.stats.ino]))).toEqual(new Map([...walked].filter(([p]) => asked.includes(p))));
  });

  it('asks for a full walk when a path is now a folder or is spelled differently on disk', async () => {
    const home = await dirs.make('dman-statpaths-');
    await mkdir(join(home, '.vim'), { recursive: true });
    await writeFile(join(home, 'cafe\u0301'), 'nfd'); // NFD on disk, NFC in the engine's keys
    const matcher = compileTrack(['**']);
    expect((await statPaths(home, ['.vim'], matcher)).needsWalk).toBe('.vim');
    expect((await statPaths(home, ['caf\u00e9'], matcher)).needsWalk).toBe('caf\u00e9');
    expect((await statPaths(home, ['cafe\u0301'], matcher)).needsWalk).toBe('cafe\u0301');
  });
});
