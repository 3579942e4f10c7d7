// `dman login` / `dman logout`: verify a device token against the server, keep it in the
// keychain (or a 0600 file), forget it, and optionally revoke it on the server.
import type { Command } from 'commander';
import { DmanError } from '../../shared/errors.js';
import { createHttpRemote } from '../../engine/remote/HttpRemote.js';
import { action, globalsOf } from '../action.js';
import { loadCliConfig } from '../config.js';
import { createCredentialStore, credentialKey } from '../credentials.js';
import { EXIT } from '../exit.js';

interface LoginOptions { token?: string; server?: string }
interface LogoutOptions { server?: string; revoke?: boolean; adminToken?: string }

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

async function askToken(url: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new DmanError('USAGE', 'no token given and no terminal to ask for one', { hint: 'pass --token TOKEN, or --token - to read it from stdin' });
  }
  const { password } = await import('@inquirer/prompts');
  try {
    return (await password({ message: `Device token for ${url}:`, mask: '*' })).trim();
  } catch (err) {
    if ((err as Error)?.name === 'ExitPromptError') throw new DmanError('USAGE', 'login cancelled; nothing was stored', { hint: 'run `dman login` again when you have the token' });
    throw err;
  }
}

async function serverOf(cmd: Command, flag: string | undefined): Promise<string> {
  if (flag) {
    if (!/^https?:\/\/[^\s]+$/i.test(flag)) throw new DmanError('USAGE', `--server "${flag}" is not an http(s) URL`, { hint: 'write it like http://192.168.1.10:3626' });
    return credentialKey(flag);
  }
  const { config } = await loadCliConfig(cmd, { allowMissing: true });
  return credentialKey(config.server_url);
}

/** Registers `dman login` and `dman logout`. */
export function register(program: Command): void {
  program
    .command('login')
    .description('verify a device token with the server and store it in the keychain (or a 0600 file), not in the config')
    .option('--token <token>', 'the device token (`-` reads it from stdin; without the flag dman asks)')
    .option('--server <url>', 'the server the token belongs to (default: server_url from the config)')
    .addHelpText('after', '\nExample:\n  $ dman login --server http://nas.lan:3626\n  $ echo "$TOKEN" | dman login --token -')
    .action(action(async (o: LoginOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      const url = await serverOf(cmd, o.server);
      const token = o.token === '-' ? await readStdin() : (o.token ?? await askToken(url));
      if (!token) throw new DmanError('USAGE', 'the token is empty', { hint: 'create one on the server with `dman token create --user NAME --device NAME`' });
      let who;
      try {
        who = await createHttpRemote({ url, token, retries: 0, timeoutMs: 10_000 }).whoami();
      } catch (err) {
        if (err instanceof DmanError && (err.code === 'AUTH_INVALID' || err.code === 'AUTH_REQUIRED')) {
          throw new DmanError('AUTH_INVALID', `the server at ${url} does not accept this token`, { hint: 'check for a typo, or create a new one with `dman token create --user NAME --device NAME`', context: { url }, cause: err });
        }
        throw err;
      }
      const store = await createCredentialStore();
      await store.set(url, { token, user: who.user, device: who.device, savedAt: Date.now() });
      if (g.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, server: url, user: who.user, device: who.device, admin: who.admin, tokenId: who.tokenId, stored: store.kind, where: store.where, ...(store.fellBack !== undefined ? { keychainError: store.fellBack } : {}) })}\n`);
      } else if (!g.quiet) {
        const whom = who.admin && !who.user ? 'an admin token' : `user ${who.user ?? '?'}`;
        process.stdout.write(`Logged in to ${url} as ${whom}, device ${who.device ?? '?'}.\nToken stored in ${store.where}.\n`);
      }
      if (store.fellBack !== undefined && !g.quiet) {
        process.stderr.write(`dman: warning: the keychain could not store the token (${store.fellBack}); kept it in ${store.where} (mode 0600) instead. Set DMAN_CREDENTIAL_STORE=file to skip the keychain, or =keychain to make this an error.\n`);
      }
      return EXIT.OK;
    }));

  program
    .command('logout')
    .description('forget the stored token for a server; with --revoke also revoke it on the server')
    .option('--server <url>', 'the server to log out of (default: server_url from the config)')
    .option('--revoke', 'revoke the token on the server too (a device may revoke its own token)')
    .option('--admin-token <token>', 'revoke through the admin API with this admin token instead (default: $DMAN_ADMIN_TOKEN)')
    .addHelpText('after', '\nExample:\n  $ dman logout\n  $ dman logout --revoke')
    .action(action(async (o: LogoutOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      const url = await serverOf(cmd, o.server);
      const store = await createCredentialStore();
      const login = await store.get(url);
      let revoked: string | null = null;
      let revokeError: DmanError | null = null;
      if (o.revoke) {
        if (!login) throw new DmanError('USAGE', `no stored login for ${url}, so there is no token to revoke`, { hint: 'revoke other tokens with `dman token revoke ID --server URL --token ADMIN`', context: { url } });
        try {
          const who = await createHttpRemote({ url, token: login.token, retries: 0, timeoutMs: 10_000 }).whoami();
          if (!who.tokenId) throw new DmanError('USAGE', 'the stored token is the server\'s shared admin token from its config; it cannot be revoked', { hint: 'remove auth_token from the server\'s dman.yaml instead', context: { url } });
          const admin = o.adminToken ?? process.env.DMAN_ADMIN_TOKEN;
          // Without an admin token the device revokes its own token (DELETE /v1/whoami).
          const target = admin ? `${url}/v1/admin/tokens/${encodeURIComponent(who.tokenId)}` : `${url}/v1/whoami`;
          const res = await fetch(target, { method: 'DELETE', headers: { authorization: `Bearer ${admin ?? login.token}` }, signal: AbortSignal.timeout(10_000) })
            .catch((err: unknown) => { throw new DmanError('SERVER_UNREACHABLE', `cannot reach the server at ${url}`, { hint: 'check the URL and that `dman serve` runs there', context: { url }, cause: err }); });
          if (res.status === 401 || res.status === 403) {
            throw new DmanError('FORBIDDEN', `the server at ${url} refused to revoke token ${who.tokenId}`, { hint: `check --admin-token, or on the server run \`dman token revoke ${who.tokenId}\``, context: { url } });
          }
          if (!res.ok && res.status !== 404) throw new DmanError('SERVER_ERROR', `revoking token ${who.tokenId} at ${url} failed: HTTP ${res.status}`, { hint: 'try again, or revoke it on the server with `dman token revoke`', context: { url } });
          revoked = who.tokenId;
        } catch (err) {
          // A token the server already rejects is as good as revoked; anything else is reported after forgetting it.
          if (err instanceof DmanError && err.code === 'AUTH_INVALID') revoked = 'already invalid';
          else revokeError = err instanceof DmanError ? err : new DmanError('INTERNAL', String(err), { cause: err });
        }
      }
      const had = await store.delete(url);
      if (g.json) { if (!revokeError) process.stdout.write(`${JSON.stringify({ ok: true, server: url, forgotten: had, revoked })}\n`); }
      else if (!g.quiet) {
        process.stdout.write(had ? `Forgot the token for ${url} (was in ${store.where}).\n` : `No stored token for ${url}; nothing to forget.\n`);
        if (revoked) process.stdout.write(revoked === 'already invalid' ? 'The server already rejects this token.\n' : `Revoked token ${revoked} on the server.\n`);
      }
      if (revokeError) throw revokeError;
      return EXIT.OK;
    }));
}
