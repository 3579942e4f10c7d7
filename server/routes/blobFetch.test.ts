// POST /v1/users/:user/blobs/fetch on a real server (disk, Redis and MariaDB stores; the last two
// look blobs up in lists through getBlobs): frames in request order, the
// missing marker, the byte cap (a reply stops after a frame and a client asks again), and the
// bounds of the request (zod: a list of 1 to BLOB_FETCH_MAX_COUNT sha256 hashes).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOB_FETCH_MAX_COUNT } from '../../shared/protocol.js';
import { startHarness, type Harness } from '../../tests/integration/serverHarness.js';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const J = { 'content-type': 'application/json' };
const blobs = [Buffer.alloc(3000, 'a'), Buffer.alloc(3000, 'b'), Buffer.alloc(10, 'c'), Buffer.alloc(0)];

describe.each(['disk', 'redis', 'mariadb'] as const)('blob fetch endpoint (%s store)', (driver) => {
  let h: Harness;
  beforeAll(async () => {
    // A 4 KiB body limit caps each fetch reply at 4 KiB, so the cap shows with small blobs.
    h = await startHarness({ driver, limits: { bodyBytes: 4096 } });
    for (const b of blobs) {
      const r = await h.req(`/v1/users/alice/blobs/${sha(b)}`, { method: 'PUT', token: h.tokens.alice, headers: { 'content-type': 'application/octet-stream' }, body: b });
      expect(r.status, await r.text()).toBeLessThan(300);
    }
  }, 30_000);
  afterAll(async () => { await h?.close(); });

  const fetchRaw = async (hashes: unknown): Promise<{ status: number; body: Buffer; type: string | null }> => {
    const r = await h.req('/v1/users/alice/blobs/fetch', { method: 'POST', token: h.tokens.alice, headers: J, body: JSON.stringify({ hashes }) });
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()), type: r.headers.get('content-type') };
  };

  it('sends the blobs in request order, marks a missing one, and stops after the frame that passes the cap', async () => {
    const [a, b, c, empty] = blobs.map(sha) as [string, string, string, string];
    const gone = sha('not stored');
    const r = await fetchRaw([gone, a, b, c]);
    expect(r.status).toBe(200);
    expect(r.type).toContain('application/x-dman-blobs');
    // gone (marker), a (3000 bytes); b would pass 4096: the reply ends there.
    expect(r.body.equals(Buffer.concat([Buffer.from(`${gone} -\n${a} 3000\n`), blobs[0]!]))).toBe(true);
    const rest = await fetchRaw([b, c, empty, b]);
    expect(rest.body.equals(Buffer.concat([Buffer.from(`${b} 3000\n`), blobs[1]!, Buffer.from(`${c} 10\n`), blobs[2]!, Buffer.from(`${empty} 0\n`)]))).toBe(true);
  });

  it('always sends the first blob, even one larger than the cap', async () => {
    const big = Buffer.alloc(6000, 'z');
    // Stored behind the 4 KiB upload limit (as a server with a larger limit earlier would have).
    await h.store.putBlob('alice', sha(big), Readable.from([big]), 1 << 20);
    const r = await fetchRaw([sha(big), sha(blobs[2]!)]);
    expect(r.body.equals(Buffer.concat([Buffer.from(`${sha(big)} 6000\n`), big]))).toBe(true);
  });

  it('sends 300 blobs across many lookup lists in order, with missing ones between, over as many replies as the cap needs', async () => {
    const many = Array.from({ length: 300 }, (_, i) => Buffer.from(`blob ${driver} ${i}`));
    await Promise.all(many.map((b) => h.store.putBlob('alice', sha(b), Readable.from([b]), 1 << 20)));
    const wanted = many.flatMap((b, i) => (i % 7 === 3 ? [sha(`missing ${i}`), sha(b)] : [sha(b)]));
    const got: string[] = [];
    let left = wanted;
    for (let round = 0; left.length > 0 && round < 100; round++) {
      const r = await fetchRaw(left);
      expect(r.status).toBe(200);
      let at = 0;
      let n = 0;
      while (at < r.body.length) {
        const nl = r.body.indexOf(0x0a, at);
        const [hash, size] = r.body.subarray(at, nl).toString().split(' ') as [string, string];
        at = nl + 1;
        if (size === '-') { got.push(`${hash} -`); n++; continue; }
        const data = r.body.subarray(at, at + Number(size));
        expect(sha(data)).toBe(hash);
        got.push(hash);
        at += Number(size);
        n++;
      }
      expect(n).toBeGreaterThan(0);
      left = left.slice(n);
    }
    expect(left).toEqual([]);
    const stored = new Set(many.map((b) => sha(b)));
    expect(got).toEqual(wanted.map((w) => (stored.has(w) ? w : `${w} -`)));
  }, 60_000);

  it.each([
    ['no list', undefined, 'hashes'],
    ['an empty list', [], 'at least one'],
    ['a hash that is not sha256 hex', ['ABC'], 'SHA-256'],
    ['too many hashes', Array.from({ length: BLOB_FETCH_MAX_COUNT + 1 }, (_, i) => sha(String(i))), `at most ${BLOB_FETCH_MAX_COUNT}`],
  ])('refuses %s with a clear 400', async (_name, hashes, words) => {
    const r = await fetchRaw(hashes);
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body.toString()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(body.error.message).toContain(words);
  });
});
