// The bug the real-engine simulation found first (seeds 1691, 3481, 4301): an edit saved while
// the engine downloaded a new version of the same file was overwritten by the rename, because
// the "still as scanned" check ran only before the download. Here the user saves while the
// download is in flight, batched (getBlobs) and one by one (getBlob): the edit must survive and
// the run must report the path as skipped, then publish it (or raise a conflict) next time.
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../../engine/createEngine.js';
import type { Engine } from '../../../engine/Engine.js';
import { silentLogger } from '../../../engine/log.js';
import { createMemoryRemote, type MemoryRemote } from '../../../engine/remote/MemoryRemote.js';
import type { Remote } from '../../../engine/remote/Remote.js';
import { createMemoryStateStore } from '../../../engine/state/StateStore.js';
import { testConfig } from '../../../engine/testing/engineFixture.js';
import { createMemoryFileSystem, type MemoryFileSystem } from '../../../engine/testing/memoryFileSystem.js';

const HOME = '/home/alice';

function machine(name: string, remote: Remote, fs: MemoryFileSystem): Engine {
  return createEngine({ config: testConfig(HOME, { device: name, policy: 'ask' }), log: silentLogger(), stateDir: '/state', stateStore: createMemoryStateStore(), remote, fs, rescanMs: 0 });
}

/** The server as machine B sees it: the user saves `a.txt` while a download is on its way. */
function racing(server: MemoryRemote, batched: boolean, save: () => void): Remote {
  let armed = false;
  const fire = (): void => { if (armed) { armed = false; save(); } };
  const remote: Remote & { arm(): void } = {
    ...server,
    withOp: () => remote,
    getBlob: async (user, hash) => { const r = await server.getBlob(user, hash); fire(); return r; },
    getBlobs: batched ? async function* (user, hashes) {
      const got = [];
      for await (const b of server.getBlobs!(user, hashes)) got.push(b);
      fire();
      yield* got;
    } : undefined,
    arm: () => { armed = true; },
  };
  return remote;
}

describe('an edit saved during the download of the same file (found by the engine simulation)', () => {
  for (const batched of [true, false]) {
    it(`is kept, not overwritten (${batched ? 'batched install' : 'one by one'})`, async () => {
      const server = createMemoryRemote();
      const fsA = createMemoryFileSystem({ files: { [`${HOME}/a.txt`]: 'v1\n' } });
      const fsB = createMemoryFileSystem({ files: { [HOME]: null } });
      const a = machine('a', server, fsA);
      const remoteB = racing(server, batched, () => fsB.vol.writeFileSync(`${HOME}/a.txt`, 'mine, saved during the download\n'));
      const b = machine('b', remoteB, fsB);
      await a.sync({ direction: 'both' });
      await b.sync({ direction: 'both' });
      expect(fsB.vol.readFileSync(`${HOME}/a.txt`, 'utf8')).toBe('v1\n');

      fsA.vol.writeFileSync(`${HOME}/a.txt`, 'v2 from a\n');
      await a.sync({ direction: 'both' });
      (remoteB as Remote & { arm(): void }).arm();
      const r = await b.sync({ direction: 'both' });
      expect(fsB.vol.readFileSync(`${HOME}/a.txt`, 'utf8')).toBe('mine, saved during the download\n');
      expect(r.users[0]!.skipped.map((s) => s.path)).toContain('a.txt');
      expect(r.users[0]!.actions.filter((x) => x.type === 'install')).toEqual([]);
      expect(fsB.vol.readdirSync(HOME)).toEqual(['a.txt']); // no temp file left behind

      // The next run sees both sides changed: a conflict to review, and nothing lost on either side.
      const next = await b.sync({ direction: 'both' });
      expect(next.users[0]!.conflicts.map((c) => c.path)).toEqual(['a.txt']);
      expect(fsB.vol.readFileSync(`${HOME}/a.txt`, 'utf8')).toBe('mine, saved during the download\n');
      expect(server.blobText(server.entries('alice').find((e) => e.path === 'a.txt')!.hash!)).toBe('v2 from a\n');
    });
  }
});
