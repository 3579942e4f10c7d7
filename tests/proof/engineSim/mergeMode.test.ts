// Found by the real-engine simulation (seed 17719 of the 20,000-seed soak): under the merge
// policy, a text merge published the local mode, so a chmod made on another machine was dropped
// without a conflict. The mode now merges three ways like the text.
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../../engine/createEngine.js';
import type { Engine } from '../../../engine/Engine.js';
import { silentLogger } from '../../../engine/log.js';
import { createMemoryRemote } from '../../../engine/remote/MemoryRemote.js';
import { createMemoryStateStore } from '../../../engine/state/StateStore.js';
import { testConfig } from '../../../engine/testing/engineFixture.js';
import { createMemoryFileSystem, type MemoryFileSystem } from '../../../engine/testing/memoryFileSystem.js';

const HOME = '/home/alice';
const modeOf = (fs: MemoryFileSystem): number => Number(fs.vol.statSync(`${HOME}/a.txt`).mode) & 0o777;

describe('a merge keeps the other side\'s chmod (found by the engine simulation)', () => {
  it('publishes the merged text with the mode the other machine set', async () => {
    const server = createMemoryRemote();
    const machine = (name: string, fs: MemoryFileSystem): Engine => createEngine({ config: testConfig(HOME, { device: name, policy: 'merge' }), log: silentLogger(), stateDir: '/state', stateStore: createMemoryStateStore(), remote: server, fs, rescanMs: 0 });
    const fsA = createMemoryFileSystem({ files: { [`${HOME}/a.txt`]: 'one\ntwo\nthree\n' } });
    const fsB = createMemoryFileSystem({ files: { [HOME]: null } });
    fsA.vol.chmodSync(`${HOME}/a.txt`, 0o644);
    const a = machine('a', fsA);
    const b = machine('b', fsB);
    await a.sync({ direction: 'both' });
    await b.sync({ direction: 'both' });
    fsB.vol.chmodSync(`${HOME}/a.txt`, 0o600);
    await b.sync({ direction: 'both' });
    fsA.vol.writeFileSync(`${HOME}/a.txt`, 'one\ntwo, edited on a\nthree\n');
    const r = await a.sync({ direction: 'both' });
    expect(r.users[0]!.actions.map((x) => `${x.type}${x.conflict ? `(${x.conflict})` : ''} ${x.path}`)).toEqual(['publish(merge) a.txt']);
    const entry = server.entries('alice').find((e) => e.path === 'a.txt')!;
    expect(server.blobText(entry.hash!)).toBe('one\ntwo, edited on a\nthree\n');
    expect(entry.mode).toBe(0o600);
    expect(modeOf(fsA)).toBe(0o600);
    await b.sync({ direction: 'both' });
    expect(fsB.vol.readFileSync(`${HOME}/a.txt`, 'utf8')).toBe('one\ntwo, edited on a\nthree\n');
    expect(modeOf(fsB)).toBe(0o600);
  });
});
