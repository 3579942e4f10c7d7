// A deterministic cooperative scheduler: every network call of a simulated client parks on
// `turn()`, and the simulation decides (from its seeded Rng) which parked call resumes next.
// Nothing else runs in between, so a seed replays exactly and replies can arrive out of order.

/** Thrown into a parked task whose client crashed. */
export class Crash extends Error {
  constructor(readonly who: string) { super(`${who} crashed`); }
}

interface Parked { who: string; resume: () => void; kill: (err: Error) => void }

/** A seeded interleaving of in-process tasks. */
export interface Scheduler {
  /** Parks the calling task until the scheduler resumes it (or rejects it with Crash). */
  turn(who: string): Promise<void>;
  /** Names of the parked tasks, in park order. */
  parked(): string[];
  /** Resumes the i-th parked task and waits until it parks again or finishes. */
  resume(i: number): Promise<void>;
  /** Rejects every parked task of `who` with Crash and waits for them to unwind. */
  crash(who: string): Promise<void>;
}

/** Lets every pending microtask and nextTick run (all tasks reach their next park or finish). */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Creates a Scheduler. */
export function createScheduler(): Scheduler {
  const queue: Parked[] = [];
  return {
    turn(who) {
      return new Promise<void>((resume, kill) => { queue.push({ who, resume, kill }); });
    },
    parked: () => queue.map((p) => p.who),
    async resume(i) {
      const [p] = queue.splice(i, 1);
      p!.resume();
      await settle();
    },
    async crash(who) {
      for (let i = queue.length - 1; i >= 0; i--) {
        if (queue[i]!.who !== who) continue;
        const [p] = queue.splice(i, 1);
        p!.kill(new Crash(who));
      }
      await settle();
    },
  };
}
