// `dman audit`: the server's append-only audit trail, through the admin API (default) or
// straight from the store on the server host (--local).
import type { Command } from 'commander';
import { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import { lazySchema } from '../../shared/lazySchema.js';
import { createLogger } from '../../engine/log.js';
import type { AuditRecord } from '../../server/store/Store.js';
import { action, globalsOf } from '../action.js';
import { loadCliConfig } from '../config.js';
import { openConfiguredStore } from './serve.js';

// Built on first use (shared/lazySchema.ts): every dman start loads this module, few run `dman audit`.
const auditReplySchema = lazySchema(() => z.object({
  records: z.array(z.object({
    time: z.number(), action: z.string(), outcome: z.enum(['ok', 'denied', 'failed']),
    source: z.string().nullable(), user: z.string().nullable(), tokenId: z.string().nullable(), opId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).optional(),
  })),
}));

interface AuditOptions { since?: string; user?: string; limit?: string; server?: string; token?: string; local?: boolean; dataDir?: string }

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses --since: a duration back from now ("90m", "24h", "7d") or a date/time ("2026-11-01", ISO 8601). */
export function parseSince(value: string, now = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(value.trim());
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]!.toLowerCase()]!;
  const t = Date.parse(value);
  if (!Number.isFinite(t)) throw new DmanError('USAGE', `--since "${value}" is neither a duration nor a date`, { hint: 'use e.g. --since 24h, --since 7d or --since 2026-11-01T08:00:00Z' });
  return t;
}

/** Formats one record as a line of text. */
export function formatAuditLine(r: AuditRecord): string {
  const when = new Date(r.time).toISOString().replace(/\.\d+Z$/, 'Z');
  const details = r.details ? Object.entries(r.details).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ') : '';
  return [when, r.action.padEnd(14), r.outcome.padEnd(6), (r.user ?? '-').padEnd(12), (r.source ?? '-').padEnd(15), r.opId ?? '-', details].join('  ').trimEnd();
}

async function fromServer(url: string, token: string, q: { since?: number; user?: string; limit: number }): Promise<AuditRecord[]> {
  const qs = new URLSearchParams({ limit: String(q.limit), ...(q.since !== undefined ? { since: String(q.since) } : {}), ...(q.user ? { user: q.user } : {}) });
  const full = `${url.replace(/\/+$/, '')}/v1/admin/audit?${qs}`;
  let res: Response;
  try {
    res = await fetch(full, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new DmanError('SERVER_UNREACHABLE', `cannot reach the server at ${url}`, { hint: 'check --server / server_url and that `dman serve` runs there, or read the store on the server host with --local', context: { url: full }, cause: err });
  }
  const json: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const e = (json as { error?: { message?: string; hint?: string } } | undefined)?.error;
    const code = res.status === 401 ? 'AUTH_INVALID' : res.status === 403 ? 'FORBIDDEN' : 'SERVER_ERROR';
    throw new DmanError(code, `GET ${full.split('?')[0]} failed: ${e?.message ?? `HTTP ${res.status}`}`, { hint: res.status === 401 || res.status === 403 ? 'the audit trail needs an admin token: --token, $DMAN_TOKEN or auth_token in the config (`dman token create --admin --device ops`)' : e?.hint, context: { url } });
  }
  const parsed = auditReplySchema().safeParse(json);
  if (!parsed.success) throw new DmanError('PROTOCOL', `the server at ${url} sent an unexpected audit reply`, { hint: 'update dman on the server or this machine', context: { url } });
  return parsed.data.records;
}

/** Registers `dman audit`. */
export function register(program: Command): void {
  program
    .command('audit')
    .description('show the server\'s audit trail (logins refused, tokens, prunes, restores, mass deletes), newest first')
    .option('--since <when>', 'only records since a duration ago (24h, 7d) or a date (2026-11-01)')
    .option('--user <name>', 'only records about this user')
    .option('--limit <n>', 'at most this many records', '200')
    .option('--server <url>', 'server to ask (default: server_url from the config)')
    .option('--token <token>', 'admin token (default: $DMAN_TOKEN, then auth_token from the config)')
    .option('--local', 'read the store directly on the server host instead of the admin API')
    .option('--data-dir <dir>', 'with --local: data dir of the disk store')
    .addHelpText('after', '\nExample:\n  $ dman audit --since 24h\n  $ dman audit --user alice --json --server http://nas:3626 --token $ADMIN\n  $ dman audit --local --data-dir /srv/dman --since 2026-11-01')
    .action(action(async (o: AuditOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      const limit = Number(o.limit ?? 200);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new DmanError('USAGE', `--limit ${o.limit} is not a number from 1 to 10000`, { hint: 'e.g. --limit 100' });
      const q = { since: o.since ? parseSince(o.since) : undefined, user: o.user, limit };
      const { config } = await loadCliConfig(cmd, { allowMissing: true });
      let records: AuditRecord[];
      if (o.local || o.dataDir) {
        const log = createLogger({ level: g.logLevel ?? 'warn', format: g.logFormat });
        let opened;
        try {
          opened = await openConfiguredStore(config, o.dataDir, log);
        } catch (err) {
          throw new DmanError((err as DmanError).code ?? 'STORE_UNAVAILABLE', `cannot open the server's store here: ${(err as Error).message}`, { hint: 'while `dman serve` runs, read through the admin API: drop --local and pass --server URL --token ADMIN_TOKEN', cause: err });
        }
        try {
          records = await opened.store.listAudit(q);
        } finally {
          await opened.store.close();
        }
      } else {
        const url = o.server ?? config.server_url;
        const token = o.token || process.env.DMAN_TOKEN || config.auth_token;
        if (!token) throw new DmanError('USAGE', 'no admin token for the audit trail', { hint: 'pass --token, set $DMAN_TOKEN or auth_token in the config; or run on the server host with --local' });
        records = await fromServer(url, token, q);
      }
      if (g.json) process.stdout.write(`${JSON.stringify({ records })}\n`);
      else if (records.length === 0) process.stdout.write('no audit records match\n');
      else process.stdout.write(`${records.map(formatAuditLine).join('\n')}\n`);
      return 0;
    }));
}
