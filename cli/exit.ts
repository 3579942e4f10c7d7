// Exit codes and the one place that turns an error into what the user reads.
import { DmanError, isDmanError } from '../shared/errors.js';

/** Exit codes of every dman command. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, CONFLICTS: 3 } as const;

/** Maps an error to the exit code its command ends with. */
export function exitCodeFor(err: unknown): number {
  if (isDmanError(err)) {
    if (['CONFIG_NOT_FOUND', 'CONFIG_INVALID', 'CONFIG_UNREADABLE', 'USAGE', 'PATTERN_INVALID'].includes(err.code)) return EXIT.USAGE;
    if (err.code === 'CONFLICTS_LEFT') return EXIT.CONFLICTS;
  }
  return EXIT.FAILED;
}

/** Formats an error as one line (what, where, fix); with verbose, the cause chain too. */
export function formatError(err: unknown, verbose = false): string {
  const lines: string[] = [];
  if (err instanceof DmanError) {
    const where = [err.context.file, err.context.key, err.context.path, err.context.url].filter(Boolean).join(': ');
    lines.push(`dman: ${where ? `${where}: ` : ''}${err.message}${err.hint ? ` (${err.hint})` : ''}`);
  } else {
    lines.push(`dman: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (verbose) {
    let cause = (err as { cause?: unknown })?.cause;
    while (cause) {
      lines.push(`  caused by: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`);
      cause = (cause as { cause?: unknown })?.cause;
    }
    if (err instanceof Error && err.stack && !(err instanceof DmanError)) lines.push(err.stack);
  }
  return lines.join('\n');
}
