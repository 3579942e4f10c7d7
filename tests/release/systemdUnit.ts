// Parses a systemd unit file: sections of keys, each key keeping every value it was given.
import { readFileSync } from 'node:fs';

export type Unit = Record<string, Record<string, string[]>>;

/** Reads a unit file into sections; repeated keys keep every value in order, continuations are joined. */
export function parseUnit(file: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | null = null;
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i].trim()}`;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = unit[sec[1]] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 1) throw new Error(`${file}:${i + 1}: not a key=value line inside a section: ${line}`);
    (section[line.slice(0, eq).trim()] ??= []).push(line.slice(eq + 1).trim());
  }
  return unit;
}

/** Returns the last value of a key (systemd's rule for single-valued settings). */
export function last(unit: Unit, section: string, key: string): string | undefined {
  return unit[section]?.[key]?.at(-1);
}

/** Splits an ExecStart= command line (no quotes in ours) and substitutes ${VAR} from env. */
export function execArgs(line: string, env: Record<string, string>): string[] {
  return line.replace(/^[-@:+!]+/, '').split(/\s+/).filter(Boolean).map((a) => a.replace(/\$\{(\w+)\}/g, (_, k: string) => {
    if (!(k in env)) throw new Error(`ExecStart uses \${${k}}, which the unit does not set`);
    return env[k];
  }));
}
