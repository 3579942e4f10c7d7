// The publish upload path: small files go up in bulk from one read each (the secret check's, or
// one read of the size the scan saw plus a byte); a file that grew or shrank between the scan and
// that read is not published with bytes that do not match its hash, and the next run publishes it.
import { appendFileSync, truncateSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from './createEngine.js';
import type { Engine } from './Engine.js';
import { silentLogger } from './log.js';
import { createMemoryNotifier } from './ports/Notifier.js';
import { nodeFileSystem, type FileSystem } from './ports/FileSystem.js';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createMemoryRemote } from './remote/MemoryRemote.js';
import { fetchAllChanges } from './remote/Remote.js';
import { readAll } from './apply/localFs.js';
import { Readable } from 'node:stream';
import { createMemoryStateStore } from './state/StateStore.js';
import { testConfig, tempDirs } from './testing/engineFixture.js';

const dirs = tempDirs();
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await dirs.cleanup();
});

describe.each([false, true])('publish uploads (blocking walk: %s)', (blockingWalk) => {
  it.each([['grew', (p: string) => appendFileSync(p, 'more')], ['shrank', (p: string) => truncateSync(p, 1000)]] as const)(
    'holds back a file that %s between the scan and the upload read, publishes the rest, and the next run publishes it',
    async (_how, change) => {
      const home = await dirs.make('dman-home-');
      const remote = createMemoryRemote();
      // Over the secret check's 64 KiB head, so the upload reads it again; under the bulk limit.
      const big = Buffer.alloc(100_000, 'a');
      await mkdir(join(home, 'd'));
      await writeFile(join(home, 'd/big.txt'), big);
      await writeFile(join(home, 'small.txt'), 'small\n');
      // The second open of big.txt is the upload's read (the first is the secret check's): change the file just before it.
      let opens = 0;
      const target = join(home, 'd/big.txt');
      const before = (p: string): void => { if (p === target && ++opens === 2) change(p); };
      const fs: FileSystem = {
        ...nodeFileSystem,
        open: (p, f) => { before(p); return nodeFileSystem.open(p, f); },
        openSync: (p, f) => { before(p); return nodeFileSystem.openSync(p, f); },
      };
      const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), blockingWalk, fs });
      engines.push(engine);
      const first = (await engine.sync({ direction: 'both' })).users[0]!;
      expect(opens).toBeGreaterThanOrEqual(2);
      expect(first.counts.published).toBe(1);
      expect(first.skipped).toEqual([{ path: 'd/big.txt', reason: expect.stringMatching(/changed on disk during the run/) }]);
      expect((await remote.changes('alice', 0)).entries.map((e) => e.path)).toEqual(['small.txt']);
      const second = (await engine.sync({ direction: 'both' })).users[0]!;
      expect(second.counts.published).toBe(1);
      const entries = (await remote.changes('alice', 0)).entries;
      const e = entries.find((x) => x.path === 'd/big.txt')!;
      expect(e.size).toBe(_how === 'grew' ? big.length + 4 : 1000);
    },
  );
});

describe('the feed cursor after a publish', () => {
  async function setup() {
    const home = await dirs.make('dman-home-');
    const remote = createMemoryRemote();
    const asked: number[] = [];
    const changes = remote.changes.bind(remote);
    remote.changes = (user, since, limit) => { asked.push(since); return changes(user, since, limit); };
    const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), blockingWalk: true });
    engines.push(engine);
    return { home, remote, asked, engine };
  }

  it('moves past our own commit, so the next run does not read our entries back', async () => {
    const { home, asked, engine } = await setup();
    await writeFile(join(home, 'f'), '1');
    await writeFile(join(home, 'g'), '2');
    expect((await engine.sync({ direction: 'both' })).users[0]!.counts.published).toBe(2);
    asked.length = 0;
    const again = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(again.counts.unchanged).toBe(2);
    expect(asked).toEqual([2]);
  });

  it('stays put when another commit landed between ours and what we had seen, and the next run fetches it', async () => {
    const { home, remote, asked, engine } = await setup();
    await writeFile(join(home, 'f'), '1');
    // Another device commits just before ours reaches the server.
    const commit = remote.commit.bind(remote);
    remote.commit = async (user, ops, o) => {
      remote.commit = commit;
      const data = Buffer.from('from b\n');
      const hash = createHash('sha256').update(data).digest('hex');
      await remote.putBlob(user, hash, data, data.length);
      await commit(user, [{ path: 'other', baseRev: 0, kind: 'file', hash, size: data.length, mode: 0o644, mtime: 1 }], { idempotencyKey: 'other-device-1', device: 'b' });
      return commit(user, ops, o);
    };
    expect((await engine.sync({ direction: 'both' })).users[0]!.counts.published).toBe(1);
    asked.length = 0;
    const next = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(asked[0]).toBe(0);
    expect(next.counts.installed).toBe(1);
    expect(await readFile(join(home, 'other'), 'utf8')).toBe('from b\n');
  });

  it('stays put on a replayed commit (a resend after a lost reply), and the next run reads the feed from what it had seen', async () => {
    const { home, remote, asked, engine } = await setup();
    await writeFile(join(home, 'f'), '1');
    // The first reply is lost and the same request goes again: the server answers with the replay.
    const commit = remote.commit.bind(remote);
    let replayed: boolean | undefined;
    remote.commit = async (user, ops, o) => {
      await commit(user, ops, o);
      const again = await commit(user, ops, o);
      if (again.ok) replayed = again.replayed;
      return again;
    };
    expect((await engine.sync({ direction: 'both' })).users[0]!.counts.published).toBe(1);
    expect(replayed).toBe(true);
    remote.commit = commit;
    asked.length = 0;
    const next = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(asked[0]).toBe(0);
    expect(next.counts.unchanged).toBe(1);
    expect(next.counts.published + next.counts.installed).toBe(0);
  });

  it('reports a server head below the cursor as it is (a server that lost its history)', async () => {
    const remote = createMemoryRemote();
    expect((await fetchAllChanges(remote, 'alice', 5)).headRev).toBe(0);
  });
});

describe('a download the install could not write', () => {
  it('is not left open (a kept-alive connection would keep the process from exiting)', async () => {
    const home = await dirs.make('dman-home-');
    const remote = createMemoryRemote();
    // Over the batched install's limit, so it lands through the one-file path.
    const data = Buffer.alloc(1024 * 1024 + 1, 'b');
    const hash = createHash('sha256').update(data).digest('hex');
    await remote.putBlob('alice', hash, data, data.length);
    await remote.commit('alice', [{ path: 'big.bin', baseRev: 0, kind: 'file', hash, size: data.length, mode: 0o644, mtime: 1 }], { idempotencyKey: 'other-device-1', device: 'b' });
    const bodies: Array<{ destroyed: boolean; readableEnded: boolean }> = [];
    const getBlob = remote.getBlob.bind(remote);
    remote.getBlob = async (user, h) => {
      const whole = await readAll(await getBlob(user, h));
      // In slices, as a reply from the network arrives: a reader that stops leaves the rest unread.
      const body = Readable.from((function* () { for (let i = 0; i < whole.length; i += 16384) yield whole.subarray(i, i + 16384); })());
      bodies.push(body);
      return body;
    };
    // The temp file beside the target cannot be made (a read-only folder, a full disk).
    const fs: FileSystem = {
      ...nodeFileSystem,
      open: (p, f, m) => (f === 'wx' && p.includes('big.bin') ? Promise.reject(Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' })) : nodeFileSystem.open(p, f, m)),
    };
    const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), fs });
    engines.push(engine);
    const report = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(report.counts.installed).toBe(0);
    expect(report.errors.length + report.counts.errors).toBeGreaterThan(0);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.destroyed || bodies[0]!.readableEnded).toBe(true);
  });
});
