// The blob path end to end: bulk uploads over HTTP (framing, limits, bad input), and an engine
// that publishes through them and recovers when the server lost blobs before the commit.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../engine/createEngine.js';
import { silentLogger } from '../../engine/log.js';
import { createHttpRemote } from '../../engine/remote/HttpRemote.js';
import { createMemoryStateStore } from '../../engine/state/StateStore.js';
import { tempDirs, testConfig } from '../../engine/testing/engineFixture.js';
import { BULK_BLOBS_CONTENT_TYPE, bulkBlobHeader } from '../../shared/protocol.js';
import { MemoryStore } from '../../server/store/MemoryStore.js';
import type { CommitInput } from '../../server/store/Store.js';
import { sha, startHarness, type Harness } from './serverHarness.js';

let h: Harness | undefined;
const dirs = tempDirs();
afterEach(async () => {
  await h?.close();
  h = undefined;
  await dirs.cleanup();
});

const frame = (parts: Array<{ data: Buffer; hash?: string; size?: number }>): Buffer =>
  Buffer.concat(parts.flatMap((p) => [Buffer.from(bulkBlobHeader(p.hash ?? sha(p.data), p.size ?? p.data.length)), p.data]));

describe('bulk blob upload over HTTP', () => {
  it('stores every framed blob, each readable by its owner only, and is safe to send again', async () => {
    h = await startHarness({ driver: 'disk' });
    const blobs = Array.from({ length: 50 }, (_, i) => Buffer.from(`file ${i}\n`.repeat(i * 37 + 1)));
    const remote = createHttpRemote({ url: h.url, token: h.tokens.alice, retries: 0 });
    await remote.putBlobs!('alice', blobs.map((data) => ({ hash: sha(data), data })));
    for (const b of [blobs[0]!, blobs[49]!]) {
      const chunks: Buffer[] = [];
      for await (const c of await remote.getBlob('alice', sha(b))) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks)).toEqual(b);
    }
    expect(await h.store.hasBlob('bob', sha(blobs[3]!))).toBe(false);
    const again = await h.req('/v1/users/alice/blobs', { method: 'POST', token: h.tokens.alice, headers: { 'content-type': BULK_BLOBS_CONTENT_TYPE }, body: frame(blobs.slice(0, 2).map((data) => ({ data }))) });
    expect(again.status).toBe(200);
    expect((await again.json()).blobs).toEqual(blobs.slice(0, 2).map((b) => ({ hash: sha(b), size: b.length, created: false })));
  });

  it('refuses a lying blob, a bad header, a truncated body, a wrong content type and another user, storing nothing bad', async () => {
    h = await startHarness({ driver: 'disk' });
    const post = (body: Buffer, token = h!.tokens.alice, type = BULK_BLOBS_CONTENT_TYPE, user = 'alice') =>
      h!.req(`/v1/users/${user}/blobs`, { method: 'POST', token, headers: { 'content-type': type }, body });
    const good = Buffer.from('good bytes\n');
    const lie = await post(frame([{ data: good }, { data: Buffer.from('evil'), hash: sha('something else') }]));
    expect(lie.status).toBe(400);
    expect((await lie.json()).error.code).toBe('HASH_MISMATCH');
    expect(await h.store.hasBlob('alice', sha(good))).toBe(true); // the blob before the bad one stays
    expect(await h.store.hasBlob('alice', sha('something else'))).toBe(false);

    const badHeader = await post(Buffer.from('not-a-hash 12\nhello world!'));
    expect(badHeader.status).toBe(400);
    expect((await badHeader.json()).error.message).toMatch(/malformed at blob 1/);

    const cut = frame([{ data: Buffer.from('0123456789') }]).subarray(0, 70); // a 68-byte header and 2 of the 10 bytes
    const truncated = await post(cut);
    expect(truncated.status).toBe(400);
    expect((await truncated.json()).error.message).toMatch(/ends 8 bytes before the end of blob/);
    expect(await h.store.hasBlob('alice', sha('0123456789'))).toBe(false);

    const tooBig = await post(frame([{ data: Buffer.from('x'), size: 65 * 1024 * 1024 }]));
    expect(tooBig.status).toBe(413);

    expect((await post(frame([{ data: good }]), h.tokens.alice, 'application/octet-stream')).status).toBe(400);
    expect((await post(frame([{ data: good }]), h.tokens.alice, BULK_BLOBS_CONTENT_TYPE, 'bob')).status).toBe(403);
    expect((await h.req('/health')).status).toBe(200);
  });
});

describe('engine publish through bulk uploads', () => {
  it('publishes small files in bulk and a large one streamed, and the server holds every byte', async () => {
    h = await startHarness({ driver: 'disk' });
    const home = await dirs.make('dman-blobpath-home-');
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 120; i++) files.set(`.config/app${i % 7}/f${i}.conf`, Buffer.from(`setting ${i} = ${'v'.repeat(i * 13)}\n`));
    files.set('big.bin', Buffer.alloc(3 * 1024 * 1024 + 17, 7));
    for (const [p, data] of files) {
      await mkdir(join(home, p, '..'), { recursive: true });
      await writeFile(join(home, p), data);
    }
    const state = await dirs.make('dman-blobpath-state-');
    const remote = createHttpRemote({ url: h.url, token: h.tokens.alice, retries: 0 });
    const engine = createEngine({ config: testConfig(home), remote, log: silentLogger(), stateDir: state, stateStore: createMemoryStateStore() });
    const report = await engine.sync({ direction: 'publish', yes: true });
    expect(report.users[0]!.errors).toEqual([]);
    expect(report.users[0]!.counts.published).toBe(files.size);
    for (const e of await h.store.listEntries('alice')) expect(e.hash).toBe(sha(files.get(e.path)!));
    for (const data of files.values()) expect(await h.store.hasBlob('alice', sha(data))).toBe(true);
    await engine.close();
  });

  it('uploads the blobs again and commits when the server collected them between upload and commit', async () => {
    // Injected fault: the store runs a blob GC without grace right before the first commit.
    const store = new MemoryStore();
    let collected = 0;
    const commit = store.commit.bind(store);
    store.commit = async (input: CommitInput) => {
      if (collected === 0) collected = (await store.gcBlobs({ graceMs: 0 })).blobsRemoved;
      return commit(input);
    };
    h = await startHarness({ store });
    const home = await dirs.make('dman-blobpath-home-');
    for (let i = 0; i < 5; i++) await writeFile(join(home, `.rc${i}`), `rc ${i}\n`);
    const engine = createEngine({
      config: testConfig(home), remote: createHttpRemote({ url: h.url, token: h.tokens.alice, retries: 0 }),
      log: silentLogger(), stateDir: await dirs.make('dman-blobpath-state-'), stateStore: createMemoryStateStore(),
    });
    const report = await engine.sync({ direction: 'publish', yes: true });
    expect(collected).toBe(5);
    expect(report.users[0]!.errors).toEqual([]);
    expect(report.users[0]!.counts.published).toBe(5);
    for (let i = 0; i < 5; i++) expect(await store.hasBlob('alice', sha(`rc ${i}\n`))).toBe(true);
    await engine.close();
  });
});
