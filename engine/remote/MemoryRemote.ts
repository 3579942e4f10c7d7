// An in-process fake of the Remote port with the server's rules (per-op baseRev CAS, atomic
// batches, tombstones, history, idempotency) and injected faults (down, dropped requests).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DmanError } from '../../shared/errors.js';
import { commitOpSchema, type CommitConflict, type Entry } from '../../shared/protocol.js';
import type { CommitResult, Remote } from './Remote.js';

interface UserData { head: number; entries: Map<string, Entry>; versions: Map<string, Entry[]>; listeners: Set<(rev: number) => void>; idem: Map<string, CommitResult> }

export interface MemoryRemote extends Remote {
  /** When true, every call fails with SERVER_UNREACHABLE. */
  down: boolean;
  /** Server-side view for assertions. */
  entries(user: string): Entry[];
  blobText(hash: string): string | undefined;
}

/** Creates an in-memory Remote (tests and the simulation). */
export function createMemoryRemote(opts: { url?: string; now?: () => number } = {}): MemoryRemote {
  const url = opts.url ?? 'memory://server';
  const now = opts.now ?? Date.now;
  const users = new Map<string, UserData>();
  const blobs = new Map<string, Buffer>();
  const userOf = (user: string): UserData => {
    let d = users.get(user);
    if (!d) users.set(user, (d = { head: 0, entries: new Map(), versions: new Map(), listeners: new Set(), idem: new Map() }));
    return d;
  };
  const check = (): void => {
    if (self.down) throw new DmanError('SERVER_UNREACHABLE', `cannot reach the dman server at ${url} (down)`, { hint: 'start the server', context: { url } });
  };
  const commitOps = (user: string, rawOps: unknown[], device: string, key?: string): CommitResult => {
    const d = userOf(user);
    if (key && d.idem.has(key)) {
      const prev = d.idem.get(key)!;
      return prev.ok ? { ...prev, replayed: true } : prev;
    }
    const ops = rawOps.map((o) => commitOpSchema().parse(o));
    const conflicts: CommitConflict[] = [];
    for (const op of ops) {
      const cur = d.entries.get(op.path) ?? null;
      if (op.baseRev !== null && op.baseRev !== (cur?.rev ?? 0)) conflicts.push({ path: op.path, expected: op.baseRev, current: cur });
      if (!op.deleted && op.kind === 'file' && op.hash && !blobs.has(op.hash)) throw new DmanError('BAD_REQUEST', `blob ${op.hash} is missing`);
    }
    if (conflicts.length) return { ok: false, conflicts };
    const written: Entry[] = [];
    for (const op of ops) {
      const e: Entry = { path: op.path, kind: op.kind, hash: op.deleted ? null : op.hash, size: op.deleted ? 0 : op.size, mode: op.deleted || op.kind === 'symlink' ? 0 : op.mode, mtime: op.mtime, rev: ++d.head, deleted: op.deleted, device, updatedAt: now(), ...(op.target !== undefined && !op.deleted ? { target: op.target } : {}) };
      d.entries.set(op.path, e);
      const v = d.versions.get(op.path) ?? [];
      v.push(e);
      d.versions.set(op.path, v);
      written.push(e);
    }
    const out: CommitResult = { ok: true, rev: d.head, entries: written, replayed: false };
    if (key) d.idem.set(key, out);
    const head = d.head;
    queueMicrotask(() => d.listeners.forEach((l) => l(head)));
    return out;
  };
  const self: MemoryRemote = {
    url,
    down: false,
    withOp: () => self,
    async health() { check(); return { ok: true, version: 'memory', protocol: 1, driver: 'memory', storage: { ok: true, latencyMs: 0 } }; },
    async whoami() { check(); return { user: null, device: null, admin: true, tokenId: null, serverVersion: 'memory', protocol: 1 }; },
    async changes(user, since, limit = 1000) {
      check();
      const d = userOf(user);
      const all = [...d.entries.values()].filter((e) => e.rev > since).sort((a, b) => a.rev - b.rev);
      return { entries: all.slice(0, limit).map((e) => ({ ...e })), headRev: d.head, more: all.length > limit };
    },
    async hasBlob(_user, hash) { check(); return blobs.has(hash); },
    async putBlob(_user, hash, body) {
      check();
      let data: Buffer;
      if (body instanceof Uint8Array) data = Buffer.from(body);
      else { const parts: Buffer[] = []; for await (const c of body()) parts.push(Buffer.from(c as Buffer)); data = Buffer.concat(parts); }
      if (createHash('sha256').update(data).digest('hex') !== hash) throw new DmanError('HASH_MISMATCH', `the blob does not hash to ${hash}`);
      blobs.set(hash, data);
    },
    async putBlobs(user, list) {
      for (const b of list) await self.putBlob(user, b.hash, b.data, b.data.length);
    },
    async *getBlobs(_user, hashes) {
      check();
      for (const hash of new Set(hashes)) {
        const b = blobs.get(hash);
        yield { hash, data: b ? Buffer.from(b) : null };
      }
    },
    async getBlob(_user, hash) {
      check();
      const b = blobs.get(hash);
      if (!b) throw new DmanError('NOT_FOUND', `no blob ${hash}`);
      return Readable.from([b]);
    },
    async commit(user, ops, o) { check(); return commitOps(user, ops, o.device, o.idempotencyKey); },
    async history(user, path) { check(); return [...(userOf(user).versions.get(path) ?? [])].reverse(); },
    async restore(user, path, rev, baseRev, device) {
      check();
      const v = userOf(user).versions.get(path)?.find((e) => e.rev === rev);
      if (!v) throw new DmanError('NOT_FOUND', `no version ${rev} of "${path}" is kept`);
      return commitOps(user, [{ path, baseRev, deleted: v.deleted, kind: v.kind, hash: v.hash, size: v.size, mode: v.mode, mtime: v.mtime, ...(v.target ? { target: v.target } : {}) }], device);
    },
    subscribe(user, onRev, onState) {
      const d = userOf(user);
      const l = (rev: number): void => onRev(rev);
      d.listeners.add(l);
      queueMicrotask(() => { onState?.(true); onRev(d.head); });
      return () => { d.listeners.delete(l); };
    },
    entries: (user) => [...userOf(user).entries.values()],
    blobText: (hash) => blobs.get(hash)?.toString('utf8'),
  };
  return self;
}
