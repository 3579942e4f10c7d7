import { describe, expect, it } from 'vitest';
import { createProgram } from '../main.js';

/** Prints `dman <args> --help` into a string. */
async function helpOf(args: string[]): Promise<string> {
  const program = createProgram();
  let out = '';
  const capture = (cmd: typeof program) => {
    cmd.configureOutput({ writeOut: (s) => { out += s; }, writeErr: (s) => { out += s; } });
    cmd.commands.forEach((c) => capture(c as typeof program));
  };
  capture(program);
  await program.parseAsync(['node', 'dman', ...args, '--help']).catch(() => {});
  return out;
}

describe('dman agent --help', () => {
  it('says the URL token stays valid while the agent runs (it is not one-time)', async () => {
    const text = await helpOf(['agent']);
    expect(text).toContain('Example:');
    expect(text).not.toMatch(/one-time/i);
    expect(text).toContain('stays valid while the agent runs');
    expect(text).toMatch(/Bearer/);
  });
});
