// The simulated network between one engine process and the server (a MemoryRemote): every call
// parks twice on the seeded scheduler (the request travels, the reply travels), so other
// clients run in between and replies come back out of order; faults drop requests, lose
// commit replies, deliver a commit twice (the server must replay it by its idempotency key),
// cut one client off or take the server down. A process that crashed ("dead") gets a Crash
// from every call, so an abandoned engine can no longer change anything.
import { DmanError } from '../../../shared/errors.js';
import type { CommitOpInput, Entry } from '../../../shared/protocol.js';
import type { MemoryRemote } from '../../../engine/remote/MemoryRemote.js';
import type { CommitResult, Remote } from '../../../engine/remote/Remote.js';
import type { Rng } from '../../sim/prng.js';
import { Crash, type Scheduler } from '../sim/scheduler.js';

/** The network's faults, shared by all clients (cut is per client). */
export interface NetFaults { down: boolean; drop: number; loseReply: number; duplicate: number }

/** What the harness learns about each commit as it reaches the server. */
export interface CommitSeen {
  who: string;
  ops: CommitOpInput[];
  /** The server's entries of those paths just before the commit applied. */
  before: Map<string, Entry | undefined>;
  result: CommitResult;
  key: string;
}

/** One engine process's view of the network. */
export interface NetEnd {
  name: string;
  /** True once the process crashed: every call throws Crash. */
  readonly dead: () => boolean;
  readonly cut: () => boolean;
}

export const unreachable = (why: string): DmanError => new DmanError('SERVER_UNREACHABLE', `cannot reach the simulated server (${why})`, { hint: 'the simulation heals the network later' });

/** Wraps `server` for one engine process. `onCommit` sees each commit applied by the server (before its reply travels). */
export function scheduledRemote(server: MemoryRemote, end: NetEnd, ctx: {
  sched: Scheduler; rng: Rng; net: NetFaults; trace: string[];
  onCommit: (c: CommitSeen) => void;
  onDuplicate: (ok: boolean, what: string) => void;
  /** A commit's reply reached the engine: it now counts these entries as landed. */
  onAck: (who: string, entries: Entry[]) => void;
  /** Canary: the server answers commits with success and stores nothing. */
  fakeAck?: boolean;
}): Remote {
  const { sched, rng, net, trace } = ctx;
  const hop = async (): Promise<void> => {
    if (end.dead()) throw new Crash(end.name);
    await sched.turn(end.name);
    if (end.dead()) throw new Crash(end.name);
  };
  async function request<T>(what: string, fn: () => Promise<T>, o: { commit?: boolean } = {}): Promise<T> {
    await hop();
    if (net.down || end.cut()) throw unreachable(net.down ? 'server down' : 'network cut');
    if (net.drop > 0 && rng.chance(net.drop)) { trace.push(`  ${end.name} ${what}: request dropped`); throw unreachable('request dropped'); }
    const out = await fn();
    await hop(); // the reply travels: other clients may run first
    if (o.commit && net.loseReply > 0 && rng.chance(net.loseReply)) { trace.push(`  ${end.name} ${what}: reply lost`); throw unreachable('reply lost'); }
    if (net.down) throw unreachable('server went down before replying');
    if (o.commit && (out as CommitResult).ok) ctx.onAck(end.name, (out as Extract<CommitResult, { ok: true }>).entries);
    return out;
  }
  const self: Remote = {
    url: server.url,
    withOp: () => self,
    health: () => request('health', () => server.health()),
    whoami: () => request('whoami', () => server.whoami()),
    changes: (user, since, limit) => request('changes', () => server.changes(user, since, limit)),
    hasBlob: (user, hash) => request('hasBlob', () => server.hasBlob(user, hash)),
    putBlob: (user, hash, body, size) => request('putBlob', () => server.putBlob(user, hash, body, size)),
    putBlobs: (user, blobs) => request('putBlobs', () => server.putBlobs!(user, blobs)),
    async *getBlobs(user, hashes) {
      const got = await request('getBlobs', async () => {
        const out: Array<{ hash: string; data: Buffer | null }> = [];
        for await (const b of server.getBlobs!(user, hashes)) out.push(b);
        return out;
      });
      yield* got;
    },
    getBlob: (user, hash) => request('getBlob', () => server.getBlob(user, hash)),
    commit: (user, ops, o) => request(`commit ${ops.map((op) => op.path).join(',')}`, async () => {
      const before = new Map<string, Entry | undefined>();
      const current = new Map(server.entries(user).map((e) => [e.path, e]));
      for (const op of ops) before.set(op.path, current.get(op.path));
      const headOf = (): number => Math.max(0, ...server.entries(user).map((e) => e.rev));
      const result: CommitResult = ctx.fakeAck ? fakeResult(server, user, ops, end.name) : await server.commit(user, ops, o);
      ctx.onCommit({ who: end.name, ops, before, result, key: o.idempotencyKey });
      if (net.duplicate > 0 && rng.chance(net.duplicate)) {
        // The request arrives twice (a retransmission): the server must answer it from its idempotency record.
        const mid = headOf();
        const again = await server.commit(user, ops, o);
        const same = headOf() === mid && (!result.ok || (again.ok && again.rev === result.rev));
        trace.push(`  ${end.name} commit delivered twice (replayed=${again.ok && again.replayed})`);
        ctx.onDuplicate(same, `${end.name} commit ${ops.map((op) => op.path).join(',')}`);
      }
      return result;
    }, { commit: true }),
    history: (user, path) => request('history', () => server.history(user, path)),
    restore: (user, path, rev, baseRev, device) => request('restore', () => server.restore(user, path, rev, baseRev, device)),
    // The simulation drives runs itself (no watch): the push stream stays silent.
    subscribe: () => () => {},
  };
  return self;
}

/** Canary: what a server that loses commits would answer (success, new revs) without storing anything. */
function fakeResult(server: MemoryRemote, user: string, ops: CommitOpInput[], device: string): CommitResult {
  let rev = Math.max(0, ...server.entries(user).map((e) => e.rev));
  const entries: Entry[] = ops.map((op) => ({ path: op.path, kind: op.kind ?? 'file', hash: op.deleted ? null : op.hash ?? null, size: op.deleted ? 0 : op.size ?? 0, mode: op.deleted ? 0 : op.mode ?? 0, mtime: op.mtime ?? 0, rev: ++rev, deleted: !!op.deleted, device, updatedAt: 0 }));
  return { ok: true, rev, entries, replayed: false };
}
