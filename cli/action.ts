// Wraps a command's action: errors become one clear line and the right exit code.
import type { Command } from 'commander';
import { exitCodeFor, formatError } from './exit.js';

/** Global flags every command understands. */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  logLevel?: string;
  logFormat?: 'json' | 'pretty';
}

/** Reads the global options of the root program from any subcommand. */
export function globalsOf(cmd: Command): GlobalOptions {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root.opts() as GlobalOptions;
}

/**
 * Runs `fn` as a command action. A returned number is the exit code; a thrown error is printed
 * (as JSON with --json) and mapped to an exit code.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const g = globalsOf(cmd);
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === 'number' ? code : 0;
    } catch (err) {
      const r = renderError(err, g);
      (r.fd === 1 ? process.stdout : process.stderr).write(r.text);
      process.exitCode = r.code;
    }
  };
}

/** What a failed command prints (a JSON document on stdout with --json, one line on stderr otherwise) and its exit code. */
export function renderError(err: unknown, g: Pick<GlobalOptions, 'json' | 'verbose'>): { fd: 1 | 2; text: string; code: number } {
  const code = exitCodeFor(err);
  if (g.json) {
    const e = err as { code?: string; message?: string; hint?: string; context?: unknown };
    return { fd: 1, text: `${JSON.stringify({ ok: false, error: { code: e?.code ?? 'INTERNAL', message: e?.message ?? String(err), hint: e?.hint, context: e?.context } })}\n`, code };
  }
  return { fd: 2, text: `${formatError(err, g.verbose)}\n`, code };
}
