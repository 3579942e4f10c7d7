// Which command this process runs, as the CLI noted it once commander chose one: the code cache
// (cli/codeCache.ts, in dist/boot.cjs) reads it at exit to add what a command it has not seen yet
// compiled. A slot on `process` under a registered symbol, because boot.cjs and the CLI bundle
// are two files, each with its own copy of this module.
const SLOT = Symbol.for('dman.codeCache.command');

/** Notes the command this process runs (`sync`, `token create`, …). */
export function noteCommand(name: string): void {
  (process as unknown as Record<symbol, string | undefined>)[SLOT] = name;
}

/** The command noted by noteCommand, if any. */
export function notedCommand(): string | undefined {
  return (process as unknown as Record<symbol, string | undefined>)[SLOT];
}
