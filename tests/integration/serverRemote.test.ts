// The engine's HTTP client (HttpRemote) against the real server: the two sides of the /v1
// contract agree on every call, error and push event.
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpRemote } from '../../engine/remote/HttpRemote.js';
import { sha, startHarness, type Harness } from './serverHarness.js';

let h: Harness;
beforeEach(async () => { h = await startHarness({ driver: 'disk' }); });
afterEach(async () => { await h.close(); });

describe('HttpRemote ↔ server', () => {
  it('round-trips blobs, commits, conflicts, history, restore and push events', async () => {
    const remote = createHttpRemote({ url: h.url, token: h.tokens.alice, retries: 0 });
    expect(await remote.whoami()).toMatchObject({ user: 'alice', admin: false });
    expect((await remote.health()).ok).toBe(true);

    const revs: number[] = [];
    const stop = remote.subscribe('alice', (rev) => revs.push(rev));
    await expect.poll(() => revs).toEqual([0]);

    const v1 = Buffer.from('first\n');
    expect(await remote.hasBlob('alice', sha(v1))).toBe(false);
    await remote.putBlob('alice', sha(v1), v1, v1.length);
    expect(await remote.hasBlob('alice', sha(v1))).toBe(true);
    const c1 = await remote.commit('alice', [{ path: '.bashrc', baseRev: 0, hash: sha(v1), size: v1.length }], { idempotencyKey: 'idem-0001', device: 'laptop' });
    expect(c1).toMatchObject({ ok: true, rev: 1 });
    await expect.poll(() => revs).toEqual([0, 1]);

    const v2 = Buffer.from('second\n');
    await remote.putBlob('alice', sha(v2), () => Readable.from([v2]), v2.length);
    const stale = await remote.commit('alice', [{ path: '.bashrc', baseRev: 0, hash: sha(v2), size: v2.length }], { idempotencyKey: 'idem-0002', device: 'desktop' });
    expect(stale.ok).toBe(false);
    const c2 = await remote.commit('alice', [{ path: '.bashrc', baseRev: 1, hash: sha(v2), size: v2.length }], { idempotencyKey: 'idem-0003', device: 'desktop' });
    expect(c2).toMatchObject({ ok: true, rev: 2 });

    const chunks: Buffer[] = [];
    for await (const c of await remote.getBlob('alice', sha(v2))) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('second\n');
    expect((await remote.history('alice', '.bashrc')).map((e) => e.rev)).toEqual([2, 1]);
    expect(await remote.restore('alice', '.bashrc', 1, 2, 'laptop')).toMatchObject({ ok: true, rev: 3 });
    expect((await remote.changes('alice', 2)).entries.map((e) => e.hash)).toEqual([sha(v1)]);
    stop();

    const other = createHttpRemote({ url: h.url, token: h.tokens.bob, retries: 0 });
    await expect(other.changes('alice', 0)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(createHttpRemote({ url: h.url, token: 'dman_wrong', retries: 0 }).whoami()).rejects.toMatchObject({ code: 'AUTH_INVALID' });
  });
});
