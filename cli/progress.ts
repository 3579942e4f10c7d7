// Progress bars for long runs on a terminal; silent for scripts (--json, --quiet, NO_COLOR, no TTY).
import type { SingleBar } from 'cli-progress';
import type { EngineEvent } from '../engine/Engine.js';

/** Where and whether bars may be drawn. */
export interface ProgressOptions {
  json?: boolean;
  quiet?: boolean;
  env?: Readonly<Record<string, string | undefined>>;
  isTTY?: boolean;
  stream?: NodeJS.WriteStream;
  /** Runs shorter than this many files draw nothing (a bar for 3 files is noise). */
  minTotal?: number;
}

/** Listens to engine events and draws a bar per phase. */
export interface Progress {
  readonly enabled: boolean;
  onEvent(e: EngineEvent): void;
  stop(): void;
}

/** Decides whether progress bars are shown for these options. */
export function isProgressShown(o: ProgressOptions): boolean {
  const env = o.env ?? process.env;
  const tty = o.isTTY ?? (!!process.stdout.isTTY && !!(o.stream ?? process.stderr).isTTY);
  return !o.json && !o.quiet && tty && env.NO_COLOR === undefined && env.CI === undefined && env.TERM !== 'dumb';
}

/**
 * Creates the progress display (a no-op when isProgressShown is false). cli-progress (and the
 * `readline` it requires, ~1 ms of a start with its internals) is loaded only when bars may be
 * drawn: a sync under --quiet, --json or a pipe never needs it.
 */
export async function createProgress(o: ProgressOptions = {}): Promise<Progress> {
  const enabled = isProgressShown(o);
  const cliProgress = enabled ? (await import('cli-progress')).default : null;
  const minTotal = o.minTotal ?? 50;
  let bar: SingleBar | null = null;
  let phase = '';
  const stop = (): void => {
    bar?.stop();
    bar = null;
    phase = '';
  };
  return {
    enabled,
    onEvent(e) {
      if (!cliProgress || e.type !== 'progress') return;
      const key = `${e.user}:${e.phase}`;
      if (e.phase === 'scan') {
        // The scan does not know its total up front: show a count only once it gets long.
        if (e.done < minTotal * 10) return;
        if (phase !== key) {
          stop();
          bar = new cliProgress.SingleBar({ format: `${e.user}: scanning {value} files`, stream: o.stream ?? process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
          bar.start(0, e.done);
          phase = key;
        }
        bar!.update(e.done);
        return;
      }
      if (e.total < minTotal) return;
      if (phase !== key) {
        stop();
        bar = new cliProgress.SingleBar({ format: `${e.user}: ${e.phase === 'apply' ? 'syncing' : 'fetching'} [{bar}] {value}/{total} {file}`, stream: o.stream ?? process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
        bar.start(e.total, 0, { file: '' });
        phase = key;
      }
      bar!.update(e.done, { file: (e.path ?? '').slice(-40) });
      if (e.done >= e.total) stop();
    },
    stop,
  };
}
