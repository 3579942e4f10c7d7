// dist/fast.cjs: the first thing `dman sync` loads. It asks a running `dman watch` for the same
// config to run the sync (cli/control/) and prints its answer; when there is none it returns null
// and bin/dman.js loads the whole CLI. Imports node: modules only, never zod, yaml or commander.
import { delegateSync } from './control/client.js';

/** Resolves to the exit code when a host ran the sync, null when the full CLI must. */
export function runFast(args: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): Promise<number | null> {
  const debugOn = !!env.DMAN_DEBUG && env.DMAN_DEBUG !== '0';
  return delegateSync(args, env, {
    stdout: (t) => { process.stdout.write(t); },
    stderr: (t) => { process.stderr.write(t); },
    ...(debugOn ? { debug: (line: string) => { process.stderr.write(`dman: [debug] ${line}\n`); } } : {}),
  });
}

/** This build's id (what a host must match). */
export { buildId } from './control/protocol.js';
