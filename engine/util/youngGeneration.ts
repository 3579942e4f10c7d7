// The size of V8's young generation (its two semi-spaces) in a run over a large home. V8 grows it
// from 2 MB to 32 MB as a process keeps more of what it allocates, and a one-shot run holds what it
// grew into as RSS to its end, a watcher for hours (issue 10: an engine tracking 100,000 files
// within 150 MB). `--max-semi-space-size` only counts at start-up, but the growth factor is read
// each time the young generation would grow, so these set that instead.
import { loadV8, setV8Flag } from './v8Flags.js';

/** The young generation's size at which capYoungGeneration stops its growth: two 4 MB semi-spaces. */
export const YOUNG_GENERATION_CAP = 8 << 20;

const NO_GROWTH = '--semi-space-growth-factor=1', GROWTH = '--semi-space-growth-factor=2';

/** Whether node was given a semi-space flag (NODE_OPTIONS, the command line): it wins over what is set here. */
const semiSpaceGiven = (): boolean => /semi-space/.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`);

let timer: NodeJS.Timeout | undefined;
/** capYoungGeneration was called (and node was given no semi-space flag). */
let capping = false;
let capped = false;

const youngSize = (): number => loadV8().getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? Infinity;

/**
 * Stops the young generation's growth where it is, for synchronous work that makes mostly
 * long-lived objects (decoding a large sync state): no check can run in its middle, and copying
 * what it makes through bigger semi-spaces before they are promoted anyway only costs.
 * capYoungGeneration lets it grow again, up to its cap.
 */
export function holdYoungGeneration(): void {
  if (!capped && !semiSpaceGiven()) setV8Flag(NO_GROWTH, GROWTH);
}

let cap = YOUNG_GENERATION_CAP;

function check(): void {
  if (youngSize() < cap) return;
  setV8Flag(NO_GROWTH, GROWTH);
  capped = true;
  if (timer !== undefined) clearInterval(timer);
  timer = undefined;
}

/**
 * Lets the young generation grow up to `max` bytes (default YOUNG_GENERATION_CAP) and no
 * further, instead of the 32 MB V8 grows it to. Checked now, every few ms while the event loop
 * turns (an unref'd timer, gone once capped), and by youngGenerationCheck (synchronous work that
 * holds the loop: a one-shot run's walk).
 *
 * Why not keep it at its starting 2 MB: a run over 100,000 files then promotes what lives a
 * little longer than a scavenge (a walk slice's stats, the entries being built) into the old
 * generation, which grows by more than the young generation saves. A one-shot no-op sync of
 * 100,000 files peaked at 168-180 MB that way, at 152-161 MB with V8's own growth and at 133-141 MB
 * capped at 8 MB, in the same time.
 */
export function capYoungGeneration(max = YOUNG_GENERATION_CAP): void {
  if (capped || semiSpaceGiven()) return;
  capping = true;
  cap = max;
  check();
  if (capped) return;
  setV8Flag(GROWTH, GROWTH);
  timer ??= setInterval(check, 5).unref();
}

/** The cap's check, for a loop that holds the event loop (call it every few thousand steps); nothing once capped or without capYoungGeneration. */
export function youngGenerationCheck(): void {
  if (capping && !capped) check();
}
