// One pino root per process (STYLE.md rule 8): modules take `log.child({ mod })`.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent | string;
  format?: 'json' | 'pretty';
  /** File descriptor or path; default stderr (2). */
  destination?: number | string;
  /** Fixed fields on every line (e.g. { proc: 'server' }). */
  base?: Record<string, unknown>;
}

/** Paths pino replaces with [redacted]: tokens and file contents never reach a log. */
export const REDACT_PATHS = ['token', 'auth_token', 'authorization', 'password', '*.token', '*.auth_token', '*.password', 'req.headers.authorization', 'headers.authorization', 'content', '*.content'];

/** Creates the root logger of a process. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.DMAN_LOG_LEVEL ?? 'warn';
  const dest = opts.destination ?? 2;
  const common = { level, base: opts.base ?? {}, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (opts.format === 'pretty' && dest === 2 && process.stderr.isTTY) {
    return pino({ ...common, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } });
  }
  return pino(common, pino.destination({ dest, sync: true }));
}

/** A logger that drops everything (tests and library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
