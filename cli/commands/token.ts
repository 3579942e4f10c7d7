// `dman token create|list|revoke`: on the server host straight against the store, or through
// the admin API with --server URL and an admin token.
import type { Command } from 'commander';
import { z } from 'zod';
import { DmanError } from '../../shared/errors.js';
import { tokenCreateReplySchema, tokenInfoSchema, userName, type TokenInfo } from '../../shared/protocol.js';
import { createLogger } from '../../engine/log.js';
import { mintToken } from '../../server/auth/tokens.js';
import { action, globalsOf } from '../action.js';
import { loadCliConfig } from '../config.js';
import { openConfiguredStore } from './serve.js';

interface Where { server?: string; token?: string; dataDir?: string }

/** Calls the admin API and parses the reply; every failure becomes a DmanError naming the URL. */
async function adminCall<S extends z.ZodType>(where: { url: string; token: string }, method: string, path: string, schema: S, body?: unknown): Promise<z.output<S>> {
  const url = where.url.replace(/\/+$/, '') + path;
  let res: Response;
  try {
    res = await fetch(url, { method, headers: { authorization: `Bearer ${where.token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new DmanError('SERVER_UNREACHABLE', `cannot reach the server at ${where.url}`, { hint: 'check --server and that `dman serve` runs there', context: { url }, cause: err });
  }
  const text = await res.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; hint?: string } } | undefined)?.error;
    const code = res.status === 401 ? 'AUTH_INVALID' : res.status === 403 ? 'FORBIDDEN' : res.status === 404 ? 'NOT_FOUND' : 'SERVER_ERROR';
    throw new DmanError(code, `${method} ${url} failed: ${e?.message ?? `HTTP ${res.status}`}`, { hint: e?.hint ?? (res.status === 401 || res.status === 403 ? 'use an admin token: --token, $DMAN_TOKEN or auth_token in the config' : undefined), context: { url } });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new DmanError('PROTOCOL', `the server at ${where.url} sent an unexpected reply to ${method} ${path}`, { hint: 'update dman on the server or this machine', context: { url } });
  return parsed.data;
}

/** Decides between the admin API (--server) and the local store (on the server host). */
async function target(cmd: Command, o: Where) {
  const { config } = await loadCliConfig(cmd, { allowMissing: true });
  if (o.server) {
    const token = o.token || process.env.DMAN_TOKEN || config.auth_token;
    if (!token) throw new DmanError('USAGE', 'no admin token for the admin API', { hint: 'pass --token, set $DMAN_TOKEN, or set auth_token in the config' });
    return { remote: { url: o.server, token } } as const;
  }
  const log = createLogger({ level: globalsOf(cmd).logLevel ?? 'warn', format: globalsOf(cmd).logFormat });
  try {
    const { store } = await openConfiguredStore(config, o.dataDir, log);
    return { store } as const;
  } catch (err) {
    if (err instanceof DmanError && err.hint === undefined) throw err;
    throw new DmanError((err as DmanError).code ?? 'STORE_UNAVAILABLE', `cannot open the server's store here: ${(err as Error).message}`, { hint: 'while `dman serve` runs, use the admin API: --server URL --token ADMIN_TOKEN', cause: err });
  }
}

function printInfo(t: TokenInfo): string {
  const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));
  return `${t.id}\t${t.admin ? 'admin' : (t.user ?? '-')}\t${t.device}\tcreated ${when(t.createdAt)}\tlast used ${when(t.lastUsedAt)}${t.revokedAt ? `\trevoked ${when(t.revokedAt)}` : ''}`;
}

const addWhere = (c: Command) => c
  .option('--server <url>', 'use the admin API of this server instead of the local store')
  .option('--token <token>', 'admin token for --server (default: $DMAN_TOKEN, then auth_token from the config)')
  .option('--data-dir <dir>', 'data dir of the disk store (on the server host)');

/** Registers `dman token`. */
export function register(program: Command): void {
  const token = program.command('token').description('create, list and revoke access tokens (per device, or admin)')
    .addHelpText('after', '\nExample:\n  $ dman token create --user alice --device laptop\n  $ dman token list --server http://nas:3626 --token $ADMIN');

  addWhere(token.command('create'))
    .description('create a token; it is shown once and stored only as a hash')
    .option('--user <name>', 'the user the token may reach (device tokens)')
    .requiredOption('--device <name>', 'a name for the device that will use it')
    .option('--admin', 'an admin token (server management; reaches every user)')
    .addHelpText('after', '\nExample:\n  $ dman token create --user alice --device laptop\n  $ dman token create --device ops --admin --server http://127.0.0.1:3626 --token $ADMIN')
    .action(action(async (o: Where & { user?: string; device: string; admin?: boolean }, cmd: Command) => {
      if (!o.admin && !o.user) throw new DmanError('USAGE', 'a device token needs --user', { hint: 'pass --user NAME, or --admin for an admin token' });
      if (o.user && !userName.safeParse(o.user).success) throw new DmanError('USAGE', `"${o.user}" is not a valid user name`, { hint: 'use a user name from users: in the config' });
      const t = await target(cmd, o);
      let out: { token: string; info: TokenInfo };
      if ('remote' in t) {
        out = await adminCall(t.remote!, 'POST', '/v1/admin/tokens', tokenCreateReplySchema(), { user: o.user ?? null, device: o.device, admin: !!o.admin });
      } else {
        const { token: secret, record } = mintToken({ user: o.user ?? null, device: o.device, admin: !!o.admin, now: Date.now() });
        try {
          await t.store.putToken(record);
          await t.store.appendAudit({ time: Date.now(), action: 'token.create', outcome: 'ok', source: 'cli', user: o.user ?? null, tokenId: null, opId: null, details: { id: record.id, device: o.device, admin: !!o.admin } });
        } finally {
          await t.store.close();
        }
        const { hash: _h, ...info } = record;
        out = { token: secret, info };
      }
      if (globalsOf(cmd).json) process.stdout.write(`${JSON.stringify(out)}\n`);
      else process.stdout.write(`${out.token}\n\n${printInfo(out.info)}\nThis token is shown once; store it now (e.g. \`dman login\` on the device).\n`);
      return 0;
    }));

  addWhere(token.command('list'))
    .description('list tokens (never the tokens themselves)')
    .addHelpText('after', '\nExample:\n  $ dman token list --json')
    .action(action(async (o: Where, cmd: Command) => {
      const t = await target(cmd, o);
      let tokens: TokenInfo[];
      if ('remote' in t) {
        tokens = (await adminCall(t.remote!, 'GET', '/v1/admin/tokens', z.object({ tokens: z.array(tokenInfoSchema()) }))).tokens;
      } else {
        try {
          tokens = (await t.store.listTokens()).map(({ hash: _h, ...info }) => info);
        } finally {
          await t.store.close();
        }
      }
      if (globalsOf(cmd).json) process.stdout.write(`${JSON.stringify({ tokens })}\n`);
      else process.stdout.write(tokens.length ? `${tokens.map(printInfo).join('\n')}\n` : 'no tokens yet; create one with `dman token create --user USER --device NAME`\n');
      return 0;
    }));

  addWhere(token.command('revoke'))
    .description('revoke a token by id; the next request with it is refused')
    .argument('<id>', 'token id (from `dman token list`)')
    .addHelpText('after', '\nExample:\n  $ dman token revoke tok_0123456789abcdef')
    .action(action(async (id: string, o: Where, cmd: Command) => {
      const t = await target(cmd, o);
      if ('remote' in t) {
        await adminCall(t.remote!, 'DELETE', `/v1/admin/tokens/${encodeURIComponent(id)}`, z.object({ id: z.string(), revoked: z.boolean() }));
      } else {
        try {
          const ok = await t.store.revokeToken(id, Date.now());
          if (!ok) throw new DmanError('NOT_FOUND', `no token with id "${id}"`, { hint: 'list tokens with `dman token list`' });
          await t.store.appendAudit({ time: Date.now(), action: 'token.revoke', outcome: 'ok', source: 'cli', user: null, tokenId: null, opId: null, details: { id } });
        } finally {
          await t.store.close();
        }
      }
      if (globalsOf(cmd).json) process.stdout.write(`${JSON.stringify({ id, revoked: true })}\n`);
      else process.stdout.write(`revoked ${id}\n`);
      return 0;
    }));
}
