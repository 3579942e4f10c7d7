// Docs that cannot drift from the code: every command has an example in --help, docs/cli.md
// names every command and flag, every config key is documented, and shell completion
// generated from the same tree really completes in bash.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../cli/main.js';
import { commandTree } from '../cli/commands/completion.js';
import { configFileSchema } from '../shared/config/schema.js';

const root = resolve(import.meta.dirname, '..');
const REGEN = 'node scripts/gen-cli-docs.mjs';

function allCommands(program: Command): Array<{ cmd: Command; name: string }> {
  const out: Array<{ cmd: Command; name: string }> = [];
  const walk = (c: Command, path: string[]) => {
    for (const s of c.commands) { out.push({ cmd: s, name: ['dman', ...path, s.name()].join(' ') }); walk(s, [...path, s.name()]); }
  };
  walk(program, []);
  return out;
}

function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => { out += s; }, writeErr: (s) => { out += s; } });
  cmd.outputHelp();
  return out;
}

/** The dotted key paths of a zod object schema (records become `<name>`). */
function schemaKeys(s: z.ZodType, prefix = '', out: string[] = []): string[] {
  const def = (s as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType>; valueType?: z.ZodType } } })._zod.def;
  if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default') schemaKeys(def.innerType!, prefix, out);
  else if (def.type === 'object') {
    for (const [k, v] of Object.entries(def.shape!)) { const p = prefix ? `${prefix}.${k}` : k; out.push(p); schemaKeys(v, p, out); }
  } else if (def.type === 'record') schemaKeys(def.valueType!, `${prefix}.<name>`, out);
  return out;
}

describe('--help', () => {
  it('shows an example for every command', () => {
    const lacking = allCommands(createProgram()).filter(({ cmd }) => !/\nExample:?\n/.test(helpOf(cmd))).map((c) => c.name);
    expect(lacking, `these commands have no example in --help; add .addHelpText('after', '\\nExample:\\n  $ dman …'): ${lacking.join(', ')}`).toEqual([]);
  });
});

/** Lists every command, flag and argument of the program that the reference text does not name. */
function missingFromCliDoc(program: Command, doc: string): string[] {
  const sections = new Map<string, string>();
  for (const part of doc.split(/^### /m).slice(1)) sections.set(part.slice(0, part.indexOf('\n')).trim(), part);
  const missing: string[] = [];
  for (const o of program.options) if (o.long && !doc.includes(`\`${o.flags}\``)) missing.push(`global flag ${o.long}`);
  for (const { cmd, name } of allCommands(program)) {
    const section = sections.get(name);
    if (!section) { missing.push(`command \`${name}\``); continue; }
    for (const o of cmd.options) if (o.long && !section.includes(o.long)) missing.push(`flag ${o.long} of \`${name}\``);
    for (const a of cmd.registeredArguments) if (!section.includes(a.name())) missing.push(`argument <${a.name()}> of \`${name}\``);
  }
  return missing;
}

describe('docs/cli.md', () => {
  const doc = readFileSync(join(root, 'docs/cli.md'), 'utf8');

  it('names every command and every flag the CLI defines', () => {
    const missing = missingFromCliDoc(createProgram(), doc);
    expect(missing, `docs/cli.md lacks ${missing.join('; ')}. Regenerate it with \`${REGEN}\` and commit docs/cli.md`).toEqual([]);
  });

  it('the check names exactly what is missing (a doctored copy)', () => {
    const withoutFlag = doc.replace(/^\| `-n, --dry-run` \|.*$/m, '').replace(/(### dman upload[\s\S]*?)--dry-run/g, '$1');
    const withoutCommand = doc.replace(/^### dman logout$/m, '### dman lougout');
    expect(missingFromCliDoc(createProgram(), withoutFlag)).toContain('flag --dry-run of `dman upload`');
    expect(missingFromCliDoc(createProgram(), withoutCommand)).toEqual(['command `dman logout`']);
  });

  it('is exactly what the generator writes (regenerate and diff)', () => {
    const r = spawnSync(process.execPath, ['scripts/gen-cli-docs.mjs', '--check'], { cwd: root, encoding: 'utf8' });
    expect(r.status, `${r.stderr}\n(regenerate with \`${REGEN}\`)`).toBe(0);
  });
});

describe('config keys', () => {
  it('documents every key of the dman.yaml schema in docs/config-reference.md', () => {
    const ref = readFileSync(join(root, 'docs/config-reference.md'), 'utf8');
    const keys = schemaKeys(configFileSchema);
    expect(keys.length).toBeGreaterThan(40);
    const missing = keys.filter((k) => !ref.includes(`\`${k}\``));
    expect(missing, `docs/config-reference.md does not document: ${missing.join(', ')} (write each as \`key.path\` with what it does)`).toEqual([]);
  });
});

describe('dman completion', () => {
  beforeAll(() => {
    const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  });

  const bash = (script: string) => spawnSync('bash', ['-c', `source <(node bin/dman.js completion bash)\n${script}`], { cwd: root, encoding: 'utf8' });
  const complete = (words: string[]) => bash(`COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _dman; echo "\${COMPREPLY[*]}"`).stdout.trim().split(/\s+/);

  it('registers with bash and completes subcommand prefixes, nested commands and flags', () => {
    const r = bash('complete -p dman');
    expect(r.stdout).toContain('complete -o default -F _dman dman');
    expect(complete(['dman', 'con']).sort()).toEqual(['config', 'conflicts']);
    expect(complete(['dman', 'config', 'l'])).toEqual(['lint']);
    expect(complete(['dman', '--json', 'tok'])).toEqual(['token']);
    expect(complete(['dman', 'login', '--'])).toEqual(expect.arrayContaining(['--token', '--server']));
  });

  it('covers every command in bash, zsh and fish', () => {
    const program = createProgram();
    const names = commandTree(program).filter((n) => n.path.length === 1).map((n) => n.path[0]!);
    expect(names).toEqual(expect.arrayContaining(['completion', 'login', 'upload', 'download', 'config']));
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = spawnSync(process.execPath, ['bin/dman.js', 'completion', shell], { cwd: root, encoding: 'utf8' });
      expect(r.status).toBe(0);
      for (const n of names) expect(r.stdout, `${shell} completion lacks ${n}`).toContain(n);
    }
    const bad = spawnSync(process.execPath, ['bin/dman.js', 'completion', 'tcsh'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('use bash, zsh or fish');
  });
});
