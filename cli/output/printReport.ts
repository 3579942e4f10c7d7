// Human-readable text of sync reports, conflicts, history and status (the --json twins are in schemas.ts).
import type { CompareLine, ConflictRecord, ReportAction, StatusReport, SyncReport, UserSyncReport } from '../../engine/Engine.js';
import type { Entry } from '../../shared/protocol.js';

const iso = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

/** Formats a byte count for people. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const settled: Record<string, string> = {
  'server-wins': 'conflict: the server version won',
  'local-wins': 'conflict: this machine\'s version won',
  'keep-both': 'conflict: kept both, the other version is beside it',
  merge: 'conflict: merged both edits',
  ask: 'conflict: left for you to resolve',
};

function actionLine(a: ReportAction, dryRun: boolean): string | null {
  if (a.type === 'nothing' || a.type === 'skip') return null;
  const verb = a.error ? 'failed' : ({ publish: dryRun ? 'would publish' : 'published', install: dryRun ? 'would install' : 'installed', converged: 'already equal', merge: dryRun ? 'would merge' : 'merged', conflict: 'CONFLICT' } as Record<string, string>)[a.type] ?? a.type;
  const why = a.error ? `: ${a.error.message}${a.error.hint ? ` (${a.error.hint})` : ''}` : a.conflict ? ` (${settled[a.conflict]})` : '';
  return `  ${verb.padEnd(13)} ${a.path}${why}`;
}

/** Formats one user's part of a run. */
export function formatUserReport(r: UserSyncReport, dryRun: boolean, verbose = false): string[] {
  const c = r.counts;
  const out: string[] = [];
  const parts = [`${c.published} published`, `${c.installed} installed`, `${c.deleted} deleted`];
  if (c.converged) parts.push(`${c.converged} already equal`);
  if (c.conflicts) parts.push(`${c.conflicts} conflict${c.conflicts === 1 ? '' : 's'} open`);
  if (c.errors) parts.push(`${c.errors} failed`);
  out.push(`${r.user}${dryRun ? ' (dry run)' : ''}: ${parts.join(', ')}; ${c.unchanged} unchanged (${Math.round(r.timings.totalMs)} ms)`);
  const lines = r.actions.map((a) => actionLine(a, dryRun)).filter((l): l is string => l !== null);
  const max = verbose ? Infinity : 200;
  out.push(...lines.slice(0, max));
  if (lines.length > max) out.push(`  … and ${lines.length - max} more (--verbose or --json lists them all)`);
  for (const s of r.skipped) out.push(`  skipped       ${s.path}: ${s.reason}`);
  for (const g of r.unmatchedOnly) out.push(`  warning: --only ${g} matched no tracked path`);
  for (const e of r.excludedOnly) out.push(`  warning: --only ${e.glob} is not tracked${e.pattern ? ` (excluded by the track pattern "${e.pattern}")` : ' (no track pattern includes it)'}`);
  for (const e of r.errors) if (!r.actions.some((a) => a.error === e)) out.push(`  error: ${e.message}${e.hint ? ` (${e.hint})` : ''}`);
  return out;
}

/** Formats a whole run, ending with what to do next when something is left. */
export function formatSyncReport(r: SyncReport, verbose = false): string {
  const out: string[] = [];
  for (const u of r.users) out.push(...formatUserReport(u, r.dryRun, verbose));
  if (r.users.length === 0) out.push('no users are configured: add users.<name>.home to the config');
  if (r.offline) out.push('the server is unreachable: local changes stay pending and the next run catches up');
  const open = r.users.reduce((n, u) => n + u.conflicts.length, 0);
  if (open && !r.dryRun) out.push(`${open} conflict${open === 1 ? '' : 's'} left: list them with \`dman conflicts\`, settle each with \`dman resolve PATH --keep local|server|both\``);
  return `${out.join('\n')}\n`;
}

/** Formats `dman compare` lines as a table. */
export function formatCompare(lines: CompareLine[], multiUser: boolean): string {
  if (lines.length === 0) return 'everything is in sync\n';
  const arrow = { local: 'server → here', remote: 'here → server', none: '' } as const;
  return `${lines.map((l) => `${l.state.padEnd(8)} ${arrow[l.direction].padEnd(13)} ${multiUser ? `${l.user}:` : ''}${l.path}`).join('\n')}\n`;
}

/** Formats open conflicts. */
export function formatConflicts(list: ConflictRecord[]): string {
  if (list.length === 0) return 'no open conflicts\n';
  const lines = list.map((c) => {
    const remote = c.remote ? (c.remote.deleted ? `deleted on the server by ${c.remote.device}` : `server rev ${c.remote.rev} from ${c.remote.device}`) : 'not on the server';
    const local = c.local ? `local ${formatBytes(c.local.size)}` : 'deleted here';
    return `${c.user}: ${c.path}\n  since ${iso(c.since)}; ${local}; ${remote}\n  ${c.reason}`;
  });
  return `${lines.join('\n')}\nsettle each with \`dman resolve PATH --keep local|server|both\`\n`;
}

/** Formats the history of a path, newest first. */
export function formatHistory(entries: Entry[]): string {
  if (entries.length === 0) return 'no history on the server\n';
  return `${entries.map((e, i) => `rev ${String(e.rev).padEnd(6)} ${iso(e.updatedAt)}  ${e.device.padEnd(12)} ${e.deleted ? 'deleted' : `${formatBytes(e.size).padEnd(8)} ${e.kind === 'symlink' ? `→ ${e.target ?? ''}` : `0${e.mode.toString(8)}`}`}${i === 0 ? '  (current)' : ''}`).join('\n')}\n`;
}

/** Formats `dman status`. */
export function formatStatus(s: StatusReport, configFile: string | null): string {
  const out = [`server ${s.serverUrl}: ${s.online ? 'online' : 'UNREACHABLE'}`, `config ${configFile ?? '(defaults)'}`];
  for (const u of s.users) {
    out.push(`${u.user} (${u.home}): ${u.tracked} tracked, ${u.pending} to publish, ${u.skipped ? `${u.skipped} held back (see \`dman sync\` for why), ` : ''}${u.conflicts} conflict${u.conflicts === 1 ? '' : 's'}, last sync ${iso(u.lastSyncAt)}, server rev ${u.headRev}`);
  }
  if (s.users.length === 0) out.push('no users are configured: add users.<name>.home to the config');
  return `${out.join('\n')}\n`;
}
