// The results of a bench run: rows of (dman figure, peer figure from the same run, ratio, goal),
// printed as an aligned table and written as JSON.
import { writeFileSync } from 'node:fs';

/** A goal from issue 10: a ratio to the peer's figure or an absolute limit, both "at most". */
export type Goal = { kind: 'ratio'; max: number } | { kind: 'lessThanPeer' } | { kind: 'abs'; max: number; unit: string };

/** One measured figure. */
export interface Row {
  /** Where it was measured: a storage driver, or "peers" for figures of the peers alone. */
  section: string;
  figure: string;
  value: number;
  unit: 'ms' | 'MB' | '/s';
  peer?: string;
  peerValue?: number;
  goal?: Goal;
  /** Why a goal is shown but not judged (e.g. it applies at another size). */
  goalNote?: string;
}

/** Returns whether `r` meets its goal: true, false, or null when it has none or it is not judged. */
export function isMet(r: Row): boolean | null {
  if (!r.goal || r.goalNote || !Number.isFinite(r.value)) return null;
  if (r.goal.kind === 'abs') return r.value <= r.goal.max;
  if (r.peerValue === undefined || !Number.isFinite(r.peerValue)) return null;
  if (r.goal.kind === 'lessThanPeer') return r.value < r.peerValue;
  return r.value <= r.goal.max * r.peerValue;
}

function goalText(r: Row): string {
  if (!r.goal) return '';
  const g = r.goal.kind === 'abs' ? `≤ ${r.goal.max} ${r.goal.unit}` : r.goal.kind === 'lessThanPeer' ? '< peer' : `≤ ${r.goal.max}x`;
  return r.goalNote ? `${g} (${r.goalNote})` : g;
}

function num(v: number | undefined, unit: string): string {
  if (v === undefined) return '';
  if (!Number.isFinite(v)) return 'n/a';
  const digits = unit === 'MB' || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${unit}`;
}

/** Renders rows as an aligned plain-text table (Markdown when `markdown`). */
export function formatTable(rows: Row[], markdown = false): string {
  const head = ['where', 'figure', 'dman', 'peer', 'peer figure', 'ratio', 'goal', 'met'];
  const body = rows.map((r) => {
    const met = isMet(r);
    const ratio = r.peerValue !== undefined && Number.isFinite(r.peerValue) && r.peerValue > 0 && Number.isFinite(r.value) ? `${(r.value / r.peerValue).toFixed(2)}x` : '';
    return [r.section, r.figure, num(r.value, r.unit), r.peer ?? '', num(r.peerValue, r.unit), ratio, goalText(r), met === null ? '' : met ? 'yes' : 'NO'];
  });
  if (markdown) {
    return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((l) => `| ${l.join(' | ')} |`)].join('\n');
  }
  const widths = head.map((_, i) => Math.max(head[i]!.length, ...body.map((l) => l[i]!.length)));
  return [head, ...body].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Writes the run as JSON to `file` (stdout when null): facts about the machine and the run, then every row with its verdict. */
export function writeJson(file: string | null, facts: Record<string, unknown>, rows: Row[]): void {
  const text = `${JSON.stringify({ ...facts, rows: rows.map((r) => ({ ...r, ratio: r.peerValue ? r.value / r.peerValue : null, met: isMet(r) })) }, null, 1)}\n`;
  if (file === null) process.stdout.write(text);
  else writeFileSync(file, text);
}
