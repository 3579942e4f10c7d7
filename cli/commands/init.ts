// `dman init`: the terminal setup wizard. Asks (or takes flags), runs the live checks, lints the
// result, and writes dman.yaml once, atomically, mode 0600, backing up any file it replaces.
import { copyFile, chmod, mkdir, stat } from 'node:fs/promises';
import { homedir as osHomedir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { formatProblem } from '../../shared/config/problem.js';
import { DmanError } from '../../shared/errors.js';
import { lintConfigText } from '../../engine/config/lint.js';
import { writeFileAtomic } from '../../engine/fs/atomic.js';
import { action, globalsOf } from '../action.js';
import { EXIT } from '../exit.js';
import { renderInitConfig } from '../init/renderInitConfig.js';
import { defaultPrompts, runInit, type InitFlags, type Prompts } from '../init/runInit.js';

interface InitOptions extends InitFlags { output?: string; force?: boolean }

/** Adapts @inquirer/prompts to the flow's Prompts (loaded only when a terminal asks). */
async function inquirerPrompts(): Promise<Prompts> {
  const q = await import('@inquirer/prompts');
  return {
    select: (o) => q.select({ message: o.message, choices: o.choices.map((c) => ({ name: c.name, value: c.value, description: c.description })), default: o.default }),
    input: (o) => q.input({ message: o.message, default: o.default, validate: o.validate }),
    password: (o) => q.password({ message: o.message, mask: '*' }),
    confirm: (o) => q.confirm({ message: o.message, default: o.default }),
    checkbox: (o) => q.checkbox({ message: o.message, choices: o.choices.map((c) => ({ name: c.name, value: c.value, checked: c.checked })), pageSize: 12 }),
  };
}

/** The file init writes: --output, then the global --config, then $DMAN_CONFIG, then the XDG config dir. */
export function initTarget(o: { output?: string; config?: string }, env: Readonly<Record<string, string | undefined>>, home: string): string {
  const explicit = o.output ?? o.config ?? env.DMAN_CONFIG;
  if (explicit) return resolve(explicit);
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'dman', 'dman.yaml');
}

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const exists = (p: string) => stat(p).then(() => true, () => false);
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Registers `dman init`. */
export function register(program: Command): void {
  program
    .command('init')
    .description('set dman up on this machine: answer a few questions (or pass flags) and get a checked dman.yaml')
    .addOption(new Option('--role <role>', 'what runs here: client, server or both').choices(['client', 'server', 'both']))
    .option('--server-url <url>', 'clients: the server\'s URL (checked with GET /health)')
    .option('--serve-addr <host:port>', 'servers: the address to serve on (default 127.0.0.1:3626)')
    .option('--storage <driver>', 'servers: disk, redis or mariadb')
    .option('--data-dir <dir>', 'disk storage: the data directory (default: the OS data dir)')
    .option('--redis-addr <host:port>', 'redis storage: address')
    .option('--redis-socket <path>', 'redis storage: Unix socket instead of an address')
    .option('--redis-username <user>', 'redis storage: ACL user name (Redis 6+)')
    .option('--redis-password <password>', 'redis storage: password')
    .option('--redis-password-file <file>', 'redis storage: read the password from this file (keeps it off the command line)')
    .option('--redis-db <n>', 'redis storage: database number 0-15')
    .option('--redis-tls', 'redis storage: connect with TLS')
    .option('--redis-tls-ca <file>', 'redis storage: CA certificate to verify the server with (implies --redis-tls)')
    .option('--redis-tls-cert <file>', 'redis storage: client certificate (implies --redis-tls; needs --redis-tls-key)')
    .option('--redis-tls-key <file>', 'redis storage: private key of the client certificate')
    .option('--redis-tls-insecure-skip-verify', 'redis storage: do not verify the server certificate (tests only)')
    .option('--redis-tls-server-name <name>', 'redis storage: the name the server certificate must carry')
    .option('--db-addr <host:port>', 'mariadb storage: address')
    .option('--db-socket <path>', 'mariadb storage: Unix socket instead of an address')
    .option('--db-name <name>', 'mariadb storage: database name')
    .option('--db-user <user>', 'mariadb storage: user')
    .option('--db-password <password>', 'mariadb storage: password')
    .option('--db-password-file <file>', 'mariadb storage: read the password from this file (keeps it off the command line)')
    .option('--db-tls', 'mariadb storage: connect with TLS')
    .option('--db-tls-ca <file>', 'mariadb storage: CA certificate to verify the server with (implies --db-tls)')
    .option('--db-tls-cert <file>', 'mariadb storage: client certificate (implies --db-tls; needs --db-tls-key)')
    .option('--db-tls-key <file>', 'mariadb storage: private key of the client certificate')
    .option('--db-tls-insecure-skip-verify', 'mariadb storage: do not verify the server certificate (tests only)')
    .option('--db-tls-server-name <name>', 'mariadb storage: the name the server certificate must carry')
    .option('--user <name>', 'a user to sync (repeatable; pairs with --home)', collect)
    .option('--home <dir>', 'the home of the --user at the same position (repeatable)', collect)
    .option('--groups <list>', 'comma-separated track groups: shell, oh-my-zsh, git, ssh, editor, tmux, docs')
    .option('--conflict-policy <policy>', 'ask, server-wins, local-wins, keep-both or merge')
    .option('-o, --output <file>', 'where to write dman.yaml (default: --config, $DMAN_CONFIG, or ~/.config/dman/dman.yaml)')
    .option('-f, --force', 'replace an existing file without asking (a backup is kept)')
    .option('-y, --yes', 'take the default for every question without a flag (for scripts; no terminal needed)')
    .option('--no-check', 'skip the live server and database checks')
    .addHelpText('after', '\nExample:\n  $ dman init\n  $ dman init --yes --role client --server-url http://nas.lan:3626 --groups shell,git\n  $ dman init --yes --role server --serve-addr 0.0.0.0:3626 --storage redis --redis-addr 10.0.0.5:6379 -o /etc/dman/dman.yaml\n  $ dman init --yes --role server --storage mariadb --db-addr db.lan:3306 --db-password-file /run/secrets/db --db-tls-ca /etc/ssl/db-ca.pem')
    .action(action(async (o: InitOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      const env = process.env;
      const home = env.HOME || osHomedir();
      const interactive = !o.yes;
      if (interactive && !(process.stdin.isTTY && process.stdout.isTTY)) {
        throw new DmanError('USAGE', 'dman init asks questions, but there is no terminal here', { hint: 'pass --yes to take the defaults, with flags for the answers (see `dman init --help`)' });
      }
      const target = initTarget({ output: o.output, config: g.config }, env, home);
      const say = (line: string) => { if (!g.quiet && !g.json) process.stderr.write(`${line}\n`); };
      const prompts = interactive ? await inquirerPrompts() : defaultPrompts();

      let replacing = false;
      if (await exists(target)) {
        if (o.force) replacing = true;
        else if (!interactive) throw new DmanError('USAGE', 'the file already exists; nothing was written', { hint: 'pass --force to replace it (a backup is kept), or --output FILE to write elsewhere', context: { file: target } });
        else if (await prompts.confirm({ message: `${target} exists. Replace it at the end (a backup is kept)?`, default: false })) replacing = true;
        else throw new DmanError('USAGE', 'kept the existing file; nothing was written', { hint: 'pass --output FILE to write a new config elsewhere', context: { file: target } });
      }

      let text: string;
      try {
        const answers = await runInit({ flags: o, prompts, say, homedir: home, username: safeUsername() });
        text = renderInitConfig(answers);
      } catch (err) {
        if ((err as Error)?.name === 'ExitPromptError') throw new DmanError('USAGE', 'init cancelled; nothing was written', { hint: 'run `dman init` again when ready' });
        throw err;
      }

      const lint = await lintConfigText(text, { file: target, mode: 0o600, env: { ...env, DMAN_AUTH_TOKEN: undefined, DMAN_SERVER_URL: undefined } });
      if (lint.errors > 0) {
        const first = lint.problems.filter((p) => p.severity === 'error').map((p) => formatProblem(p, target));
        throw new DmanError('CONFIG_INVALID', `the answers do not make a valid config: ${first.join('; ')}`, { hint: 'fix the value named above (flag or answer) and run `dman init` again; nothing was written' });
      }
      for (const w of lint.problems.filter((p) => p.severity === 'warning')) say(`warning: ${formatProblem(w, target)}`);

      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      let backup: string | null = null;
      if (replacing && await exists(target)) {
        backup = `${target}.bak-${stamp(new Date())}`;
        await copyFile(target, backup);
        await chmod(backup, 0o600);
      }
      await writeFileAtomic(target, text, { mode: 0o600 });

      if (g.json) {
        process.stdout.write(`${JSON.stringify({ ok: true, file: target, backup, warnings: lint.warnings })}\n`);
      } else if (!g.quiet) {
        const cfg = lint.config!;
        const isClient = /^server_url:/m.test(text);
        const isServer = /^listen:/m.test(text);
        const flag = target === join(env.XDG_CONFIG_HOME || join(home, '.config'), 'dman', 'dman.yaml') ? '' : ` --config ${target}`;
        const steps = nextSteps({ isServer, isClient, flag, user: Object.keys(cfg.users)[0] ?? 'NAME', device: cfg.device, listen: cfg.listen });
        process.stdout.write(`Wrote ${target}${backup ? ` (the old file is in ${backup})` : ''}; \`dman config lint\` passes.\nNext:\n${steps.join('\n')}\n`);
      }
      return EXIT.OK;
    }));
}

/**
 * Lists the commands to run after init, in an order that works: tokens are made before `dman serve`,
 * because the disk store is locked while the server runs (afterwards, through the admin API).
 */
export function nextSteps(o: { isServer: boolean; isClient: boolean; flag: string; user: string; device: string; listen: string }): string[] {
  const lines: string[] = [];
  const cmd = (c: string, why?: string) => lines.push(`  $ dman${o.flag} ${c}${why ? `   # ${why}` : ''}`);
  if (o.isServer) {
    const url = `http://${o.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:')}`;
    cmd(`token create --user ${o.user} --device ${o.isClient ? o.device : 'laptop'}`, `a device token${o.isClient ? ' for this machine' : ''}, shown once; before serve: the store is locked while it runs`);
    cmd('token create --admin --device admin', 'optional: an admin token, to manage tokens while serve runs');
    cmd('serve', o.isClient ? 'keep it running (another terminal, or a service: docs/server.md)' : 'or as a service: docs/server.md');
    lines.push(`  # while it runs, more device tokens come from the admin API:\n  #   dman token create --user ${o.user} --device NAME --server ${url} --token ADMIN_TOKEN`);
  }
  if (o.isClient) {
    cmd('login', 'paste the device token');
    cmd('compare', 'what a first sync would do');
    cmd('sync');
  }
  return lines;
}

function safeUsername(): string {
  try { return userInfo().username; } catch { return 'me'; }
}
