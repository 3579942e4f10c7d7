// One pino root per process (STYLE.md rule 8): modules take `log.child({ mod })`.
import { homedir } from 'node:os';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { z } from 'zod';
import { createLogHook } from './log/createLogHook.js';
import { createLogSampler, type LogSampler, type LogSamplerOptions } from './log/createLogSampler.js';
import { createHomeRedactor } from './log/redactHomes.js';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent | string;
  format?: 'json' | 'pretty';
  /** File descriptor or path; default stderr (2). */
  destination?: number | string;
  /** A stream to write to instead of `destination` (tests capture lines with it). */
  stream?: DestinationStream;
  /** Fixed fields on every line (e.g. { proc: 'server' }). */
  base?: Record<string, unknown>;
  /**
   * Sampling of noisy lines (debug and below, repeated watcher errors): at most `perWindow` per
   * message and window, the next written line carries `dropped: N`. Default on; false turns it off.
   */
  sample?: false | (LogSamplerOptions & { sampler?: LogSampler; messages?: string[] });
  /**
   * Home dirs shown as "~name"; false logs them as they are. Default: this user's home plus
   * $DMAN_LOG_REDACT_HOMES (a JSON list), none when $DMAN_LOG_KEEP_HOMES=1 (`--log-keep-homes`).
   * setRedactedHomes adds the config's homes later.
   */
  redactHomes?: string[] | false;
  /** Environment read for the defaults (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The environment variables that carry `--log-keep-homes` and the config's homes to every logger of a process and its children. */
export const LOG_KEEP_HOMES_ENV = 'DMAN_LOG_KEEP_HOMES';
export const LOG_REDACT_HOMES_ENV = 'DMAN_LOG_REDACT_HOMES';

const homesEnvSchema = z.array(z.string().min(2)).max(1000);

/** Reads $DMAN_LOG_REDACT_HOMES (a JSON list of absolute paths); anything else counts as none. */
export function homesFromEnv(value: string | undefined): string[] {
  if (!value) return [];
  try {
    const r = homesEnvSchema.safeParse(JSON.parse(value));
    return r.success ? r.data : [];
  } catch {
    return [];
  }
}

/** Whether $DMAN_LOG_KEEP_HOMES asks for home paths as they are. */
export function keepsHomes(env: Readonly<Record<string, string | undefined>>): boolean {
  return /^(1|true|yes)$/i.test(env[LOG_KEEP_HOMES_ENV] ?? '');
}

const homesSym = Symbol('dman.redactedHomes');
type HomesHolder = { [homesSym]?: { add(homes: string[]): void } };

/** Adds homes (the config's users.*.home) to what a logger from createLogger, and all its children, redact; a no-op when redaction is off. */
export function setRedactedHomes(log: Logger, homes: string[]): void {
  (log as unknown as HomesHolder)[homesSym]?.add(homes);
}

/** Paths pino replaces with [redacted]: tokens and file contents never reach a log. */
export const REDACT_PATHS = ['token', 'auth_token', 'authorization', 'password', '*.token', '*.auth_token', '*.password', 'req.headers.authorization', 'headers.authorization', 'content', '*.content'];

/** Creates the root logger of a process. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.DMAN_LOG_LEVEL ?? 'warn';
  const dest = opts.destination ?? 2;
  const sample = opts.sample ?? {};
  const env = opts.env ?? process.env;
  const redactOn = opts.redactHomes !== false && (opts.redactHomes !== undefined || !keepsHomes(env));
  let homes = !redactOn ? [] : (opts.redactHomes || [homedir(), ...homesFromEnv(env[LOG_REDACT_HOMES_ENV])]);
  let redactor = homes.length ? createHomeRedactor(homes) : undefined;
  const logMethod = createLogHook({
    sampler: sample === false ? undefined : (sample.sampler ?? createLogSampler(sample)),
    sampleMessages: sample === false ? undefined : sample.messages,
    redact: () => redactor,
  });
  const common = { level, base: opts.base ?? {}, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, hooks: { logMethod } };
  const root = opts.stream ? pino(common, opts.stream)
    : opts.format === 'pretty' && dest === 2 && process.stderr.isTTY ? pino({ ...common, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } })
      : pino(common, pino.destination({ dest, sync: true }));
  // Children inherit from the root object, so setRedactedHomes works on any of them.
  (root as unknown as HomesHolder)[homesSym] = {
    add(more) {
      if (!redactOn) return;
      homes = [...new Set([...homes, ...more])];
      redactor = homes.length ? createHomeRedactor(homes) : undefined;
    },
  };
  return withDottedMods(root);
}

/**
 * Makes a child's `mod` extend its parent's ("api" then "engine" gives "api.engine"): pino
 * appends child bindings to the parent's serialized ones, so two `mod`s would otherwise land on
 * one line as duplicate JSON keys. pino has no API to replace a binding, so the child's
 * serialized bindings are rewritten in place. Children inherit from their parent object, so
 * overriding `child` on the root covers every level.
 */
function withDottedMods(root: Logger): Logger {
  const child = root.child;
  const sym = pino.symbols.chindingsSym;
  root.child = function dottedChild(this: Logger, bindings, options) {
    // Only a child that sets `mod` needs its parent's: bindings() parses the parent's serialized
    // bindings (the server's per-request child of req.log paid ~1 ms for it on every request).
    if (typeof bindings.mod !== 'string') return child.call(this, bindings, options);
    const parent = this.bindings().mod;
    if (typeof parent !== 'string') return child.call(this, bindings, options);
    const { mod, ...rest } = bindings;
    const c = child.call(this, rest, options) as unknown as Record<symbol, string>;
    c[sym] = c[sym]!.replace(`,"mod":${JSON.stringify(parent)}`, `,"mod":${JSON.stringify(`${parent}.${mod}`)}`);
    return c as unknown as Logger;
  } as Logger['child'];
  return root;
}

/** A logger that drops everything (tests and library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
