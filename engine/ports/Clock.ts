// The Clock port: the engine asks it for the time so tests can control time.

/** Gives the current time in ms since the epoch. */
export interface Clock { now(): number }

/** Returns the system clock. */
export function systemClock(): Clock {
  return { now: () => Date.now() };
}

/** A clock that moves only when told to (tests). */
export interface MemoryClock extends Clock { set(ms: number): void; advance(ms: number): void }

/** Creates a MemoryClock starting at `start`. */
export function createMemoryClock(start = Date.UTC(2026, 0, 1)): MemoryClock {
  let t = start;
  return { now: () => t, set: (ms) => { t = ms; }, advance: (ms) => { t += ms; } };
}
