// The pino logMethod hook behind createLogger: samples noisy lines and redacts home paths
// before pino sees the arguments, so every child logger of the root gets the same treatment.
import type { LogFn } from 'pino';
import type { LogSampler } from './createLogSampler.js';
import { redactValue, type HomeRedactor } from './redactHomes.js';

/** Options of createLogHook. */
export interface LogHookOptions {
  sampler?: LogSampler;
  /** Sample every line at or below this level number (pino: debug = 20); default 20. */
  sampleAtOrBelow?: number;
  /** Messages sampled at any level (repeated watcher errors). */
  sampleMessages?: string[];
  /** The home redactor, read on every line so the homes can change after the config loads. */
  redact?: HomeRedactor | (() => HomeRedactor | undefined);
}

/** Messages that repeat in bursts at warn level and are sampled by default. */
export const NOISY_MESSAGES = ['watch failed', 'watch run failed', 'push stream failed; reconnecting', 'bad push event ignored'];

/** Builds the hook; `dropped` on a written line counts the lines of that message sampled away before it. */
export function createLogHook(opts: LogHookOptions): (this: unknown, args: Parameters<LogFn>, method: LogFn, level: number) => void {
  const below = opts.sampleAtOrBelow ?? 20;
  const noisy = new Set(opts.sampleMessages ?? NOISY_MESSAGES);
  // A HomeRedactor takes a string; a getter takes nothing.
  const current = (): HomeRedactor | undefined => (typeof opts.redact === 'function' && opts.redact.length === 0 ? (opts.redact as () => HomeRedactor | undefined)() : opts.redact as HomeRedactor | undefined);
  return function hook(this: unknown, args, method, level) {
    let a = args as unknown[];
    const hasObj = a.length > 0 && typeof a[0] === 'object' && a[0] !== null;
    const msg = hasObj ? a[1] : a[0];
    const key = typeof msg === 'string' ? msg : '';
    if (opts.sampler && (level <= below || noisy.has(key))) {
      const d = opts.sampler.admit(`${level}:${key}`);
      if (!d.pass) return;
      if (d.dropped > 0) a = hasObj ? [{ ...(a[0] as object), dropped: d.dropped }, ...a.slice(1)] : [{ dropped: d.dropped }, ...a];
    }
    const redact = current();
    if (redact) a = a.map((v) => redactValue(v, redact));
    // pino's own Error handling expects an Error as first argument; after redaction it is a plain object under err.
    if (redact && args.length > 0 && args[0] instanceof Error) a = [{ err: a[0] }, ...a.slice(1)];
    method.apply(this, a as Parameters<LogFn>);
  };
}
