// `dman serve`: runs the sync server on the configured store until SIGINT/SIGTERM.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import envPaths from 'env-paths';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { DmanError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../engine/log.js';
import type { Store } from '../../server/store/Store.js';
import { action, globalsOf } from '../action.js';
import { loadCliConfig } from '../config.js';
import { buildInfo } from '../version.js';

/** Returns the server's default data dir: under the user's data dir (XDG / AppData / Library). */
export function defaultDataDir(): string {
  return resolve(envPaths('dman', { suffix: '' }).data, 'server');
}

/** Opens the store the config names (disk: --data-dir, then data_dir, then the default). */
export async function openConfiguredStore(config: EffectiveConfig, dataDirFlag: string | undefined, log: Logger): Promise<{ store: Store; dataDir: string | null }> {
  const dataDir = config.storage_driver === 'disk' ? resolve(dataDirFlag ?? config.data_dir ?? defaultDataDir()) : null;
  // Loaded on use: the store drivers (ioredis, mysql2) would slow down every other command's start.
  const { createStore } = await import('../../server/store/createStore.js');
  const store = createStore({ driver: config.storage_driver, dataDir: dataDir ?? undefined, redis: config.redis, db: config.db, log });
  await store.open();
  return { store, dataDir };
}

interface ServeOptions { addr?: string; dataDir?: string; trustProxy?: string }

/** Set to 1 by an app that runs `dman serve` as its embedded server with a pipe as stdin (engine/api/createEmbeddedServer.ts): the server stops when that pipe ends. */
const WITH_PARENT_ENV = 'DMAN_SERVE_WITH_PARENT';

/** Registers `dman serve`. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('run the sync server (disk, Redis or MariaDB storage from the config) until Ctrl-C')
    .option('--addr <host:port>', 'address to listen on (default: listen from the config, 127.0.0.1:3626)')
    .option('--data-dir <dir>', 'where the disk driver keeps its data (default: data_dir from the config, or the user data dir)')
    .option('--trust-proxy <addrs>', 'behind a TLS proxy: trust X-Forwarded-For from these comma-separated addresses/CIDRs (e.g. 127.0.0.1)')
    .addHelpText('after', '\nExample:\n  $ dman serve --addr 0.0.0.0:3626 --data-dir /srv/dman\n  $ dman --config /etc/dman/dman.yaml serve')
    .action(action(async (opts: ServeOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      const { config } = await loadCliConfig(cmd, { allowMissing: true });
      const addr = opts.addr ?? config.listen ?? '127.0.0.1:3626';
      const { createServer, isLoopback, parseListenAddr } = await import('../../server/app.js');
      const { host } = parseListenAddr(addr);
      // A server logs its requests (info) unless --log-level says otherwise; other commands default to warn.
      let root = cmd;
      while (root.parent) root = root.parent;
      const level = root.getOptionValueSource('logLevel') === 'default' ? 'info' : g.logLevel;
      const log = createLogger({ level, format: g.logFormat, base: { proc: 'server' } });
      if (!isLoopback(host)) {
        process.stderr.write(`dman: warning: listening on ${addr} without TLS; tokens and files cross the network in clear text. Put a TLS proxy (Caddy, nginx) in front, or bind 127.0.0.1.\n`);
      }
      const { store, dataDir } = await openConfiguredStore(config, opts.dataDir, log);
      const users = Object.keys(config.users);
      const server = createServer({
        store, log, authToken: config.auth_token, users: users.length > 0 ? users : undefined,
        retention: { versions: config.retention.versions, days: config.retention.days }, version: buildInfo().version, commit: buildInfo().commit,
        ...(opts.trustProxy ? { trustProxy: opts.trustProxy.split(',').map((a) => a.trim()).filter(Boolean) } : {}),
      });
      // Handlers go in before the URL is printed: a supervisor may signal as soon as it reads it.
      const stopped = new Promise<void>((done) => {
        process.once('SIGINT', () => done());
        process.once('SIGTERM', () => done());
        // An app's embedded server (engine/api/createEmbeddedServer.ts) gets a pipe from the app
        // as stdin: its end means the app is gone, however it ended (kill -9, a crash), and the
        // server goes too instead of holding the port and the data dir's lock for nobody.
        if (process.env[WITH_PARENT_ENV] === '1') {
          process.stdin.once('end', () => { log.warn('the app that started this server is gone; shutting down'); done(); });
          process.stdin.once('error', () => done());
          process.stdin.resume();
        }
      });
      let url: string;
      try {
        url = await server.listen(addr);
      } catch (err) {
        await store.close().catch(() => {});
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new DmanError('USAGE', `address ${addr} is already in use`, { hint: 'stop the other server or pick another port with --addr HOST:PORT', cause: err });
        if (code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new DmanError('USAGE', `cannot listen on ${addr} (${code})`, { hint: 'use a port above 1024 and an address of this machine', cause: err });
        throw err;
      }
      if (g.json) process.stdout.write(`${JSON.stringify({ url, driver: store.driver, dataDir })}\n`);
      else if (!g.quiet) process.stdout.write(`dman server listening on ${url} (storage: ${store.driver}${dataDir ? ` in ${dataDir}` : ''})\n`);
      await stopped;
      log.info('shutting down');
      await server.close();
      await store.close();
      process.stdin.destroy();
      return 0;
    }));
}
