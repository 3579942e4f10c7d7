// The publish upload path: files up to WHOLE_FILE (4 MiB) go up in bulk from the scan's one read each (the
// same bytes are hashed, secret-checked and uploaded), most while the scan still runs; a file
// that grew or shrank between its hash and the commit is not published with a hash of its old
// bytes, and the next run publishes it. Nothing is committed before the server stored its blob.
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
import { lstat, readFile } from 'node:fs/promises';
import { createMemoryRemote } from './remote/MemoryRemote.js';
import { fetchAllChanges } from './remote/Remote.js';
import { readAll } from './apply/localFs.js';
import { Readable } from 'node:stream';
import { createMemoryStateStore } from './state/StateStore.js';
import { testConfig, tempDirs } from './testing/engineFixture.js';
import { DmanError } from '../shared/errors.js';
import { WHOLE_FILE } from './scan/scan.js';
import { pino } from 'pino';

const dirs = tempDirs();
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await dirs.cleanup();
});

describe.each([false, true])('publish uploads (blocking walk: %s)', (blockingWalk) => {
  /** A file system that counts the reads of each file (whole reads and opens). */
  function countingFs(): { fs: FileSystem; reads: Map<string, number> } {
    const reads = new Map<string, number>();
    const count = (p: string): void => { reads.set(p, (reads.get(p) ?? 0) + 1); };
    const fs: FileSystem = {
      ...nodeFileSystem,
      open: (p, f, m) => { count(p); return nodeFileSystem.open(p, f, m); },
      openSync: (p, f) => { count(p); return nodeFileSystem.openSync(p, f); },
      readFile: (p) => { count(p); return nodeFileSystem.readFile(p); },
      readFileSync: (p) => { count(p); return nodeFileSystem.readFileSync(p); },
      createReadStream: (p, o) => { count(p); return nodeFileSystem.createReadStream(p, o); },
    };
    return { fs, reads };
  }

  it.each([['grew', (p: string) => appendFileSync(p, 'more')], ['shrank', (p: string) => truncateSync(p, 1000)]] as const)(
    'holds back a file that %s between its hash and the commit, publishes the rest, and the next run publishes it',
    async (_how, change) => {
      const home = await dirs.make('dman-home-');
      const remote = createMemoryRemote();
      // Over the secret check's 64 KiB head; under the bulk limit.
      const big = Buffer.alloc(100_000, 'a');
      await mkdir(join(home, 'd'));
      await writeFile(join(home, 'd/big.txt'), big);
      await writeFile(join(home, 'small.txt'), 'small\n');
      const target = join(home, 'd/big.txt');
      const { fs, reads } = countingFs();
      // The file changes once its (old) bytes went up: after the scan hashed it, before the commit.
      const putBlobs = remote.putBlobs!.bind(remote);
      let changed = false;
      remote.putBlobs = async (user, list) => {
        await putBlobs(user, list);
        if (!changed && list.some((b) => b.data.length === big.length)) { changed = true; change(target); }
      };
      const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), blockingWalk, fs });
      engines.push(engine);
      const first = (await engine.sync({ direction: 'both' })).users[0]!;
      expect(changed).toBe(true);
      // One read served the hash, the secret check and the upload.
      expect(reads.get(target)).toBe(1);
      expect(first.counts.published).toBe(1);
      expect(first.skipped).toEqual([{ path: 'd/big.txt', reason: expect.stringMatching(/changed on disk during the run/) }]);
      expect((await remote.changes('alice', 0)).entries.map((e) => e.path)).toEqual(['small.txt']);
      const second = (await engine.sync({ direction: 'both' })).users[0]!;
      expect(second.counts.published).toBe(1);
      const entries = (await remote.changes('alice', 0)).entries;
      const e = entries.find((x) => x.path === 'd/big.txt')!;
      expect(e.size).toBe(_how === 'grew' ? big.length + 4 : 1000);
      const blob = await readAll(await remote.getBlob('alice', e.hash!));
      expect(createHash('sha256').update(blob).digest('hex')).toBe(e.hash);
      expect(blob.equals(await readFile(target))).toBe(true);
    },
  );

  it('holds back a larger file that changed after it went up early, and the next run publishes what it holds', async () => {
    const home = await dirs.make('dman-home-');
    const remote = createMemoryRemote();
    const target = join(home, 'big.bin');
    await writeFile(target, Buffer.alloc(WHOLE_FILE + 1, 'z')); // streamed up once the scan is over
    await writeFile(join(home, 'small.txt'), 'small\n');
    const putBlob = remote.putBlob.bind(remote);
    let changed = false;
    remote.putBlob = async (user, hash, body, size) => {
      await putBlob(user, hash, body, size);
      if (!changed && size > WHOLE_FILE) { changed = true; appendFileSync(target, 'more'); }
    };
    const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), blockingWalk });
    engines.push(engine);
    const first = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(changed).toBe(true);
    expect(first.skipped).toEqual([{ path: 'big.bin', reason: expect.stringMatching(/changed on disk during the run/) }]);
    expect((await remote.changes('alice', 0)).entries.map((e) => e.path)).toEqual(['small.txt']);
    const second = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(second.counts.published).toBe(1);
    const e = (await remote.changes('alice', 0)).entries.find((x) => x.path === 'big.bin')!;
    expect(e.size).toBe(WHOLE_FILE + 5);
    expect((await readAll(await remote.getBlob('alice', e.hash!))).equals(await readFile(target))).toBe(true);
  });

  it('reads each file up to WHOLE_FILE once in a first publish, uploads each blob once, and commits only stored blobs', async () => {
    const home = await dirs.make('dman-home-');
    const remote = createMemoryRemote();
    await mkdir(join(home, 'd'));
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 40; i++) files.set(`d/f${i}.txt`, Buffer.alloc(1000 + i * 5000, String.fromCharCode(97 + (i % 26))));
    files.set('mid.bin', Buffer.alloc(1_500_000, 'y')); // over the bulk limit of a publish, still read whole by the scan
    files.set('big.bin', Buffer.alloc(WHOLE_FILE + 1, 'z')); // streamed: sent once the scan is over
    for (const [p, data] of files) await writeFile(join(home, p), data);
    const { fs, reads } = countingFs();
    const commits: number[] = [];
    const stored = new Set<string>();
    const putBlob = remote.putBlob.bind(remote);
    const sends = new Map<string, number>();
    remote.putBlob = async (user, hash, body, size) => {
      sends.set(hash, (sends.get(hash) ?? 0) + 1);
      await putBlob(user, hash, body, size);
      stored.add(hash);
    };
    const commit = remote.commit.bind(remote);
    remote.commit = async (user, ops, o) => {
      // Every file op names a blob the server already holds.
      for (const op of ops) if (op.hash) expect(stored.has(op.hash)).toBe(true);
      commits.push(ops.length);
      return commit(user, ops, o);
    };
    const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), blockingWalk, fs });
    engines.push(engine);
    const r = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(r.counts.published).toBe(files.size);
    expect(commits).toEqual([files.size]);
    expect([...sends.values()]).toEqual(Array(files.size).fill(1));
    for (const p of files.keys()) {
      if (p === 'big.bin') continue;
      expect(reads.get(join(home, p)), p).toBe(1);
    }
    for (const e of (await remote.changes('alice', 0)).entries) {
      // Buffer.equals: a deep equality of megabytes element by element takes seconds.
      expect((await readAll(await remote.getBlob('alice', e.hash!))).equals(files.get(e.path)!), e.path).toBe(true);
    }
  });

  it('sends no secret early and holds it back; a dry run and an install-only run send nothing', async () => {
    const home = await dirs.make('dman-home-');
    const remote = createMemoryRemote();
    await mkdir(join(home, '.ssh'));
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n-----END OPENSSH PRIVATE KEY-----\n';
    await writeFile(join(home, 'notes.txt'), `my key:\n${key}`);
    await writeFile(join(home, '.ssh/id_ed25519'), 'anything');
    await writeFile(join(home, 'plain.txt'), 'hello\n');
    const sent: Buffer[] = [];
    const putBlob = remote.putBlob.bind(remote);
    remote.putBlob = async (user, hash, body, size) => {
      if (Buffer.isBuffer(body) || body instanceof Uint8Array) sent.push(Buffer.from(body as Uint8Array));
      return putBlob(user, hash, body, size);
    };
    const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), blockingWalk });
    engines.push(engine);
    await engine.sync({ direction: 'both', dryRun: true });
    await engine.sync({ direction: 'install' });
    expect(sent).toEqual([]);
    const r = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(r.counts.published).toBe(1);
    expect(r.skipped.map((s) => s.path).sort()).toEqual(['.ssh/id_ed25519', 'notes.txt']);
    expect(sent.map((b) => b.toString())).toEqual(['hello\n']);
  });

  it('sends no early blob of a secret over the 64 KiB head or over WHOLE_FILE, and sends an allowed one', async () => {
    const home = await dirs.make('dman-home-');
    const remote = createMemoryRemote();
    await mkdir(join(home, '.ssh'));
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\n-----END OPENSSH PRIVATE KEY-----\n';
    await writeFile(join(home, '.ssh/id_big'), Buffer.alloc(WHOLE_FILE + 1, 'k')); // streamed: path rule
    await writeFile(join(home, '.ssh/id_mid'), Buffer.alloc(100_000, 'k')); // read whole, over the head
    await writeFile(join(home, 'mid.txt'), Buffer.concat([Buffer.from(key), Buffer.alloc(100_000, 'x')])); // a key block in the head
    await writeFile(join(home, 'big-key.txt'), Buffer.concat([Buffer.from(key), Buffer.alloc(WHOLE_FILE, 'x')])); // streamed, a key block in the head
    await writeFile(join(home, '.ssh/id_allowed'), 'allowed\n');
    const sent = new Set<string>();
    const putBlob = remote.putBlob.bind(remote);
    remote.putBlob = async (user, hash, body, size) => { sent.add(hash); return putBlob(user, hash, body, size); };
    const config = { ...testConfig(home), secrets: { allow: ['.ssh/id_allowed'] } };
    const engine = createEngine({ config, remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), blockingWalk });
    engines.push(engine);
    const r = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(r.skipped.map((x) => x.path).sort()).toEqual(['.ssh/id_big', '.ssh/id_mid', 'big-key.txt', 'mid.txt']);
    expect(r.counts.published).toBe(1);
    const allowed = createHash('sha256').update('allowed\n').digest('hex');
    expect([...sent]).toEqual([allowed]);
  });

  it('publishes all the same when the server refuses the early upload', async () => {
    const home = await dirs.make('dman-home-');
    const remote = createMemoryRemote();
    for (let i = 0; i < 5; i++) await writeFile(join(home, `f${i}`), `file ${i}\n`);
    const putBlobs = remote.putBlobs!.bind(remote);
    let refused = 0;
    remote.putBlobs = async (user, list) => {
      if (refused++ === 0) throw new DmanError('HASH_MISMATCH', 'refused once');
      return putBlobs(user, list);
    };
    const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: await dirs.make('dman-state-'), notifier: createMemoryNotifier(), stateStore: createMemoryStateStore(), blockingWalk });
    engines.push(engine);
    const r = (await engine.sync({ direction: 'both' })).users[0]!;
    expect(refused).toBeGreaterThanOrEqual(2);
    expect(r.counts.published).toBe(5);
    expect(r.errors).toEqual([]);
    for (const e of (await remote.changes('alice', 0)).entries) expect((await readAll(await remote.getBlob('alice', e.hash!))).toString()).toBe(`file ${e.path.slice(1)}\n`);
  });
});

describe('a run the mass-change guard stops', () => {
  it('starts no early upload after it stopped, and has none in flight when it returns', async () => {
    const home = await dirs.make('dman-home-');
    const remote = createMemoryRemote();
    // A first run syncs 12 files; another machine then deletes them all on the server.
    for (let i = 0; i < 12; i++) await writeFile(join(home, `f${i}`), `file ${i}\n`);
    const stateStore = createMemoryStateStore();
    const stateDir = await dirs.make('dman-state-');
    const first = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir, notifier: createMemoryNotifier(), stateStore, blockingWalk: true });
    engines.push(first);
    expect((await first.sync({ direction: 'both' })).users[0]!.counts.published).toBe(12);
    await first.close();
    const live = (await remote.changes('alice', 0)).entries;
    await remote.commit('alice', live.map((e) => ({ path: e.path, baseRev: e.rev, deleted: true })), { idempotencyKey: 'other-device-1', device: 'b' });
    // New large files here (streamed up once the scan is over, four at a time): more than fit in flight.
    for (let i = 0; i < 6; i++) await writeFile(join(home, `big${i}.bin`), Buffer.alloc(WHOLE_FILE + 1, String.fromCharCode(97 + i)));
    // The large uploads wait until the engine says it stops its early upload (the run will not publish).
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const log = pino({ level: 'debug' }, { write(line: string) { if (line.includes('early upload stopped')) release(); } });
    let active = 0;
    let started = 0;
    const putBlob = remote.putBlob.bind(remote);
    remote.putBlob = async (user, hash, body, size) => {
      if (size <= WHOLE_FILE) return putBlob(user, hash, body, size);
      started++;
      active++;
      try {
        await gate;
        return await putBlob(user, hash, body, size);
      } finally {
        active--;
      }
    };
    const engine = createEngine({ config: testConfig(home), remote, log, stateDir, notifier: createMemoryNotifier(), stateStore, blockingWalk: true });
    engines.push(engine);
    const err = await engine.sync({ direction: 'both' }).then(() => null, (e: unknown) => e);
    expect((err as DmanError | null)?.code).toBe('MASS_CHANGE');
    // Nothing in flight once the run returned, the queued large files never went up, and none starts later.
    expect(active).toBe(0);
    expect(started).toBeLessThanOrEqual(4);
    const atReturn = started;
    release();
    for (let i = 0; i < 20; i++) {
      await lstat(join(home, 'big0.bin'));
      await new Promise((r) => setImmediate(r));
    }
    expect(started).toBe(atReturn);
    expect(active).toBe(0);
  });
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
