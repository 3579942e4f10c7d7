// Wraps a Remote with injected faults: requests dropped before they reach the server, and commit
// replies lost after the server applied them (the nastiest case for "acknowledged" bookkeeping).
import { DmanError } from '../../shared/errors.js';
import type { Remote } from '../../engine/remote/Remote.js';
import type { Rng } from './prng.js';

/** Fault switches the simulation flips between steps. */
export interface Faults {
  /** Probability that a request fails before it is sent. */
  drop: number;
  /** Probability that a commit's reply is lost after the server applied it. */
  loseReply: number;
  /** While true every request fails (a server that is down or restarting). */
  down: boolean;
}

const unreachable = (url: string, why: string) => new DmanError('SERVER_UNREACHABLE', `cannot reach the dman server at ${url} (${why})`, { hint: 'simulated fault', context: { url } });

/** Returns a Remote that fails as `faults` says, drawing from `rng`. */
export function withFaults(inner: Remote, faults: Faults, rng: Rng): Remote {
  const gate = (): void => {
    if (faults.down) throw unreachable(inner.url, 'down');
    if (faults.drop > 0 && rng.chance(faults.drop)) throw unreachable(inner.url, 'dropped');
  };
  const wrap = (r: Remote): Remote => ({
    url: r.url,
    withOp: (opId) => wrap(r.withOp(opId)),
    health: async () => { gate(); return r.health(); },
    whoami: async () => { gate(); return r.whoami(); },
    changes: async (u, s, l) => { gate(); return r.changes(u, s, l); },
    hasBlob: async (u, h) => { gate(); return r.hasBlob(u, h); },
    putBlob: async (u, h, b, s) => { gate(); return r.putBlob(u, h, b, s); },
    ...(r.putBlobs ? { putBlobs: async (u: string, blobs: Array<{ hash: string; data: Uint8Array }>) => { gate(); return r.putBlobs!(u, blobs); } } : {}),
    getBlob: async (u, h) => { gate(); return r.getBlob(u, h); },
    commit: async (u, ops, o) => {
      gate();
      const res = await r.commit(u, ops, o);
      if (faults.loseReply > 0 && rng.chance(faults.loseReply)) throw unreachable(inner.url, 'reply lost');
      return res;
    },
    history: async (u, p) => { gate(); return r.history(u, p); },
    restore: async (u, p, rev, b, d) => { gate(); return r.restore(u, p, rev, b, d); },
    subscribe: (u, onRev, onState) => r.subscribe(u, onRev, onState),
  });
  return wrap(inner);
}
