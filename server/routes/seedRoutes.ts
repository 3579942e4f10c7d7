// The seed's endpoints, mapped onto the same store: a seed publish is a commit without
// preconditions (baseRev null), so it lands in history like any other write and nothing is lost.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import type { CommitOp, Entry } from '../../shared/protocol.js';
import type { Principal } from '../auth/authenticate.js';
import type { RouteContext } from '../http/context.js';
import { decodeBody } from '../http/limitedStream.js';
import { bufferBody, isStream, jsonBody, parseWith } from '../http/parse.js';
import { readTar, type TarItem } from '../tar/readTar.js';
import { writeTar, type TarOutItem } from '../tar/writeTar.js';
import { acceptsGzip } from './v1Routes.js';
import { compareRequestSchema, installRequestSchema, pruneRequestSchema, userPathQuerySchema } from './seedSchemas.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const PUT_CONCURRENCY = 8;

/** Runs `fn` over `items` with at most `limit` in flight; the first failure rejects. */
async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function sameContent(e: Entry | null, item: { kind: string; hash: string; mode: number; target?: string }): boolean {
  return !!e && !e.deleted && e.kind === item.kind && e.hash === item.hash && (item.kind === 'symlink' || e.mode === item.mode) && (e.target ?? undefined) === item.target;
}

/** Registers /compare, /publish, /install, /prune, /upload and /download. */
export function registerSeedRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store, limits } = ctx;

  const bodyStream = (req: FastifyRequest, what: string, maxBytes = limits.decompressedBytes) => {
    const length = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(length) && length > limits.bodyBytes) throw new DmanError('PAYLOAD_TOO_LARGE', `${what} is ${length} bytes, over the limit of ${limits.bodyBytes}`, { hint: 'split it into smaller requests' });
    if (!isStream(req.body)) throw new DmanError('BAD_REQUEST', `${what} must be a binary body`, { hint: 'send it with "Content-Type: application/x-tar" or "application/octet-stream"' });
    const gzip = /gzip/i.test(String(req.headers['content-encoding'] ?? ''));
    return decodeBody(req.body, { gzip, maxBytes, what: `${what} (decompressed)` });
  };

  const touch = (user: string, key: 'lastPublishAt' | 'lastInstallAt') => {
    const a = ctx.activity.get(user) ?? { lastPublishAt: null, lastInstallAt: null };
    a[key] = ctx.now();
    ctx.activity.set(user, a);
  };

  /** Stores the items of one user as one commit; unchanged files are skipped. */
  async function publishUser(user: string, items: TarItem[], p: Principal, req: FastifyRequest) {
    const ops: CommitOp[] = [];
    const toStore = new Map<string, Buffer>();
    let unchanged = 0;
    const current = items.length > 1 ? new Map((await store.listEntries(user)).map((e) => [e.path, e])) : null;
    for (const it of items) {
      const hash = it.kind === 'file' ? sha256(it.data) : sha256(it.target ?? '');
      const cur = current ? current.get(it.path) ?? null : await store.getEntry(user, it.path);
      if (sameContent(cur, { kind: it.kind, hash, mode: it.mode, target: it.target })) { unchanged += 1; continue; }
      if (it.kind === 'file') toStore.set(hash, it.data);
      ops.push({ path: it.path, baseRev: null, deleted: false, kind: it.kind, hash, size: it.kind === 'file' ? it.data.length : Buffer.byteLength(it.target ?? ''), mode: it.mode, mtime: it.mtime, ...(it.target !== undefined ? { target: it.target } : {}) });
    }
    // Blobs go in with a few in flight: the disk driver's fsyncs overlap instead of queueing.
    await forEachLimit([...toStore], PUT_CONCURRENCY, async ([hash, data]) => {
      if (await store.hasBlob(user, hash)) return;
      await store.putBlob(user, hash, Readable.from([data]), limits.blobBytes);
    });
    if (ops.length === 0) return { rev: await store.headRev(user), files: 0, unchanged };
    const out = await store.commit({ user, device: p.device ?? 'seed-publish', ops, now: ctx.now() });
    if (!out.ok) throw new DmanError('CONFLICT', `publish for user "${user}" conflicted`, { hint: 'retry the publish' });
    await ctx.afterCommit(user, 0, req, p);
    touch(user, 'lastPublishAt');
    return { rev: out.rev, files: ops.length, unchanged };
  }

  app.post('/compare', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const body = parseWith(compareRequestSchema, await jsonBody(req.body, limits.jsonBytes), 'body');
    if (body.entries.length > limits.entries) throw new DmanError('PAYLOAD_TOO_LARGE', `the compare request lists ${body.entries.length} entries, over the limit of ${limits.entries}`, { hint: 'compare in smaller batches' });
    const includeSame = ['1', 'true', 'yes'].includes(String((req.query as Record<string, unknown>).include_same ?? ''));
    const userNames = new Set([...(body.users ?? []), ...body.entries.map((e) => e.user)]);
    if (userNames.size === 0 && p.user) userNames.add(p.user);
    for (const u of userNames) ctx.authorizeUser(p, u);
    const remote = new Map<string, Map<string, Entry>>();
    // The manifest carries each entry's hash, so a compare never reads or rehashes blobs.
    for (const u of userNames) remote.set(u, new Map((await store.listEntries(u, { live: true })).map((e) => [e.path, e])));
    const results = [];
    const counts = { same: 0, changed: 0, missing_remote: 0, missing_local: 0 };
    const seen = new Set<string>();
    for (const e of body.entries) {
      seen.add(`${e.user}\0${e.path}`);
      const r = remote.get(e.user)!.get(e.path);
      const status = !r ? 'missing_remote' : r.hash === e.sha256 ? 'same' : 'changed';
      counts[status] += 1;
      if (status === 'same' && !includeSame) continue;
      results.push({ user: e.user, path: e.path, status, local: { sha256: e.sha256, ...(e.size !== undefined ? { size: e.size } : {}) }, ...(r ? { remote: { sha256: r.hash, size: r.size, rev: r.rev, kind: r.kind } } : {}) });
    }
    for (const [u, m] of remote) {
      for (const r of m.values()) {
        if (seen.has(`${u}\0${r.path}`)) continue;
        counts.missing_local += 1;
        results.push({ user: u, path: r.path, status: 'missing_local' as const, remote: { sha256: r.hash, size: r.size, rev: r.rev, kind: r.kind } });
      }
    }
    return { results, counts };
  });

  app.post('/publish', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const stream = bodyStream(req, 'the publish archive');
    const items = await readTar(stream, { maxEntries: limits.entries, maxEntryBytes: limits.blobBytes, maxTotalBytes: limits.decompressedBytes });
    const byUser = new Map<string, TarItem[]>();
    for (const it of items) {
      if (!byUser.has(it.user)) byUser.set(it.user, []);
      byUser.get(it.user)!.push(it);
    }
    // Every user is checked before anything is stored, so a refused archive writes nothing.
    for (const u of byUser.keys()) ctx.authorizeUser(p, u);
    const users: Record<string, { rev: number; files: number; unchanged: number }> = {};
    for (const [u, list] of byUser) users[u] = await publishUser(u, list, p, req);
    return { ok: true, users };
  });

  app.post('/install', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const body = parseWith(installRequestSchema, await jsonBody(req.body, limits.jsonBytes), 'body');
    const wanted = new Map<string, Set<string> | null>();
    for (const u of body.users ?? []) wanted.set(u, null);
    for (const { user, path } of body.paths ?? []) {
      const cur = wanted.get(user);
      if (cur === null) continue;
      (cur ?? wanted.set(user, new Set()).get(user)!).add(path);
    }
    if (wanted.size === 0) {
      if (!p.user) throw new DmanError('BAD_REQUEST', 'name the users or paths to install', { hint: 'send {"users": ["alice"]} or {"paths": [{"user": "alice", "path": ".bashrc"}]}' });
      wanted.set(p.user, null);
    }
    for (const u of wanted.keys()) ctx.authorizeUser(p, u);
    const out: TarOutItem[] = [];
    for (const [u, paths] of wanted) {
      const entries = await store.listEntries(u, { live: true });
      for (const e of entries) {
        if (paths && !paths.has(e.path)) continue;
        if (e.kind === 'symlink') { out.push({ name: `${u}/${e.path}`, kind: 'symlink', mode: 0o777, mtime: e.mtime, size: 0, target: e.target ?? '' }); continue; }
        const hash = e.hash!;
        out.push({
          name: `${u}/${e.path}`, kind: 'file', mode: e.mode, mtime: e.mtime, size: e.size,
          open: async () => {
            const b = await store.getBlob(u, hash);
            if (!b) throw new DmanError('STORE_CORRUPT', `blob ${hash} of ${u}/${e.path} is missing`);
            return b.stream;
          },
        });
      }
      touch(u, 'lastInstallAt');
    }
    let tar: Readable = writeTar(out);
    reply.header('content-type', 'application/x-tar');
    if (acceptsGzip(req.headers['accept-encoding']) || ['1', 'true'].includes(String((req.query as Record<string, unknown>).gzip ?? ''))) {
      reply.header('content-encoding', 'gzip');
      const gz = createGzip();
      pipeline(tar, gz, () => {});
      tar = gz;
    }
    return reply.send(tar);
  });

  app.post('/prune', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const body = parseWith(pruneRequestSchema, await jsonBody(req.body, limits.jsonBytes), 'body');
    const user = ctx.authorizeUser(p, body.user);
    const keep = new Set(body.keep);
    const live = await store.listEntries(user, { live: true });
    const doomed = live.filter((e) => !keep.has(e.path));
    let rev = await store.headRev(user);
    if (!body.dryRun && doomed.length > 0) {
      const out = await store.commit({ user, device: p.device ?? 'prune', ops: doomed.map((e) => ({ path: e.path, baseRev: e.rev, deleted: true, kind: e.kind, hash: null, size: 0, mode: 0, mtime: ctx.now() })), now: ctx.now() });
      if (!out.ok) throw new DmanError('CONFLICT', `files of "${user}" changed during the prune; nothing was removed`, { hint: 'run the prune again' });
      rev = out.rev;
      await ctx.afterCommit(user, doomed.length, req, p);
    }
    await ctx.audit(req, p, { action: 'prune', outcome: 'ok', user, details: { removed: doomed.length, dryRun: body.dryRun } });
    return { user, removed: doomed.map((e) => e.path), rev, dryRun: body.dryRun };
  });

  app.put('/upload', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const q = parseWith(userPathQuerySchema, req.query, 'query');
    const user = ctx.authorizeUser(p, q.user);
    const data = await bufferBody(bodyStream(req, 'the upload', Math.min(limits.blobBytes, limits.decompressedBytes)));
    if (data.length > limits.blobBytes) throw new DmanError('PAYLOAD_TOO_LARGE', `the upload is ${data.length} bytes, over the limit of ${limits.blobBytes}`);
    const modeHeader = req.headers['x-dman-mode'];
    const mode = parseWith(z.coerce.number().int().min(0).max(0o7777).default(0o644), typeof modeHeader === 'string' ? parseInt(modeHeader, 8) : undefined, 'header.x-dman-mode');
    const r = await publishUser(user, [{ user, path: q.path, kind: 'file', data, mode, mtime: ctx.now() }], p, req);
    return { user, path: q.path, rev: r.rev, size: data.length, sha256: sha256(data), unchanged: r.unchanged === 1 };
  });

  app.get('/download', async (req, reply) => {
    const p = await ctx.authenticate(req, reply);
    const q = parseWith(userPathQuerySchema, req.query, 'query');
    const user = ctx.authorizeUser(p, q.user);
    const e = await store.getEntry(user, q.path);
    if (!e || e.deleted) throw new DmanError('NOT_FOUND', `"${q.path}" is not on the server for this user`, { hint: 'publish it first, or check the path' });
    reply.header('x-dman-rev', String(e.rev)).header('x-dman-kind', e.kind).header('x-dman-mode', e.mode.toString(8));
    if (e.kind === 'symlink') return reply.header('content-type', 'text/plain; charset=utf-8').send(e.target ?? '');
    const b = await store.getBlob(user, e.hash!);
    if (!b) throw new DmanError('STORE_CORRUPT', `the content of "${q.path}" is missing on the server`, { hint: 'publish the file again' });
    touch(user, 'lastInstallAt');
    return reply.header('content-type', 'application/octet-stream').header('content-length', String(b.size)).send(b.stream);
  });
}
