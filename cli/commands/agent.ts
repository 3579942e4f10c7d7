// `dman agent`: the headless app. Runs the engine and serves the same UI as the tray app, plus
// the DmanApi over a WebSocket, on 127.0.0.1, until SIGINT/SIGTERM.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import envPaths from 'env-paths';
import type { Engine } from '../../engine/Engine.js';
import { createJsonSettingsStore } from '../../engine/api/appSettings.js';
import { loadConfig } from '../../engine/config/load.js';
import { createEngine, type EngineDeps } from '../../engine/createEngine.js';
import type { EmbeddedServer } from '../../engine/api/createEmbeddedServer.js';
import { createLogger } from '../../engine/log.js';
import { DmanError } from '../../shared/errors.js';
import { action, globalsOf } from '../action.js';
import { createLoginSecretStore } from '../agent/createLoginSecretStore.js';
import { createCredentialStore } from '../credentials.js';
import { defaultStateDir, hostSyncRequests, resolveToken } from './sync.js';

interface AgentOptions { port?: string; dataDir?: string; serve?: boolean }

/** Finds `rel` in this file's folder or above (dist/cli.js in a build, cli/commands/ under tsx). */
function findUp(rel: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

/** Parses --port. */
export function parsePort(v: string | undefined): number {
  if (v === undefined) return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new DmanError('USAGE', `--port ${v} is not a port number`, { hint: 'use 0 (any free port) or 1024-65535' });
  return n;
}

/** Registers `dman agent`. */
export function register(program: Command): void {
  program
    .command('agent')
    .description('run dman headless: sync in the background and serve the app UI on 127.0.0.1 (for machines without a desktop)')
    .option('--port <n>', 'port on 127.0.0.1 (default: any free port)')
    .option('--serve', 'start the embedded sync server (disk storage in the data dir) right away, not only when the setup wizard asks for it')
    .option('--data-dir <dir>', 'where the app keeps its state and the embedded server (default: $DMAN_DATA_DIR or the user data dir)')
    .addHelpText('after', '\nOpen the printed URL in a browser on this machine, or through an SSH tunnel:\nssh -L 8080:127.0.0.1:PORT host, then use port 8080.\n\nThe URL carries the agent\'s access token. It stays valid while the agent runs\n(as ?t=TOKEN or an "Authorization: Bearer TOKEN" header, e.g. for scraping /metrics);\nthe browser trades it for a cookie, and each start makes a new one. Keep it private.\n\nExample:\n  $ dman agent --port 7777\n  $ dman --config ~/dman.yaml agent')
    .action(action(async (opts: AgentOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      const port = parsePort(opts.port);
      const dataDir = resolve(opts.dataDir ?? process.env.DMAN_DATA_DIR ?? envPaths('dman', { suffix: '' }).data);
      const here = dirname(fileURLToPath(import.meta.url));
      const staticDir = process.env.DMAN_RENDERER_DIR
        ?? (existsSync(join(here, 'renderer', 'index.html')) && here.endsWith('dist') ? join(here, 'renderer') : null)
        ?? findUp('dist/renderer/index.html')?.replace(/index\.html$/, '');
      if (!staticDir) throw new DmanError('USAGE', 'the app UI is not built (dist/renderer/index.html is missing)', { hint: 'run `npm run build` in the dman folder' });
      const cli = findUp('bin/dman.js');
      const log = createLogger({ level: g.logLevel ?? 'warn', format: g.logFormat ?? 'pretty', base: { proc: 'agent' } });
      // Ctrl-C and SIGTERM count from here (the first wait), not only once the agent is up: the
      // embedded server can take seconds to answer its first /health, and a signal then used to
      // end this process at once and leave that `dman serve` running with its data dir locked.
      // A stop while starting stops what was started and ends as quietly as a stop afterwards.
      let stopRequested = false;
      let server: EmbeddedServer | undefined = undefined;
      let onStop = (): void => {};
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        stopRequested = true;
        onStop();
        // A server still starting gives up at once (its start then fails, which is not reported).
        void server?.stop();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      // Loaded here, not at the top: every other command starts faster without ws, chokidar and prom-client.
      const [{ createDmanApi }, { createEmbeddedServer }, { createWatcher }, { createClientMetrics }, { createAgentServer }] = await Promise.all([
        import('../../engine/api/createDmanApi.js'), import('../../engine/api/createEmbeddedServer.js'), import('../../engine/watch/createWatcher.js'),
        import('../../engine/metrics/createClientMetrics.js'), import('../agent/createAgentServer.js'),
      ]);
      server = cli ? createEmbeddedServer({ dataDir, command: [process.execPath, cli], log }) : undefined;
      // The engine the api runs now (it makes a new one when the settings change): `dman sync`
      // for the same config can run in it (cli/control/) when it is what a cold run would build.
      let hosted: { engine: Engine; deps: EngineDeps } | null = null;
      const api = createDmanApi({
        createEngine: (deps) => {
          const e = createEngine(deps);
          const entry = { engine: { ...e, close: async () => { if (hosted?.engine === entry.engine) hosted = null; await e.close(); } }, deps };
          hosted = entry;
          return entry.engine;
        },
        log, configPath: g.config, dataDir,
        settings: createJsonSettingsStore(join(dataDir, 'agent-settings.json')),
        // The token `dman login` stored wins over auth_token, as in every other command.
        secrets: createLoginSecretStore({ credentials: () => createCredentialStore(), log }),
        server,
        engineDeps: { watcher: createWatcher({ log }) },
      });
      // Whatever started is stopped on the way out, also when a later step fails (a port in use):
      // the embedded server is a child process and would outlive this one.
      let agent: { url: string; port: number; close(): Promise<void> } | undefined;
      let clientMetrics: { close(): void } | undefined;
      let control: { close(): Promise<void> } | null = null;
      try {
        if (!stopRequested) await api.start();
        if (!stopRequested && opts.serve && server && !server.url()) {
          const r = await api.startHostedServer({ driver: 'disk', dataDir: join(dataDir, 'server', 'data') });
          if (!r.ok && !stopRequested) throw new DmanError(r.error.code as DmanError['code'], r.error.message, { hint: r.error.hint });
          if (r.ok && !g.json && !g.quiet) process.stdout.write(`dman sync server running at ${r.value.url} (disk storage in ${r.value.dataDir})\n`);
        }
        if (!stopRequested) {
          const metrics = createClientMetrics({ engine: api.engineView });
          clientMetrics = metrics;
          agent = await createAgentServer({ api, staticDir, port, log, metrics });
        }
        if (!stopRequested) control = process.env.DMAN_NO_DAEMON === '1' ? null : await hostForCli(g.config, () => hosted, log);
        if (!stopRequested && agent) {
          if (g.json) process.stdout.write(`${JSON.stringify({ url: agent.url, port: agent.port, dataDir })}\n`);
          else process.stdout.write(`dman agent running. Open this URL in a browser on this machine:\n\n  ${agent.url}\n\nPress Ctrl-C to stop.\n`);
          await new Promise<void>((done) => { onStop = done; });
        }
        if (!g.quiet && !g.json) process.stdout.write('dman agent: stopping…\n');
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await control?.close();
        await agent?.close();
        clientMetrics?.close();
        await api.close();
      }
    }));
}

/**
 * Serves `dman sync` from the agent's engine while that engine is the one a cold `dman sync`
 * would build: same config, token, state dir, and no group switched off in the agent's settings.
 * Otherwise (or with no config yet) the request is declined and `dman sync` runs on its own.
 */
async function hostForCli(configPath: string | undefined, hosted: () => { engine: Engine; deps: EngineDeps } | null, log: ReturnType<typeof createLogger>) {
  let loaded;
  try { loaded = await loadConfig({ configPath, env: process.env }); } catch { return null; }
  if (!loaded.file) return null;
  const coldStateDir = defaultStateDir(loaded.config);
  return hostSyncRequests(() => {
    const h = hosted();
    if (!h) return 'dman agent has no engine running (not set up yet)';
    // The token a cold run would send now (`dman login` may have stored another since the agent started).
    let cold;
    try { cold = { ...loaded.config, auth_token: resolveToken(loaded.config) }; } catch (err) { return `cannot read the stored login (${(err as Error).message})`; }
    if (h.deps.stateDir !== coldStateDir) return `dman agent keeps its state in ${h.deps.stateDir}, \`dman sync\` in ${coldStateDir}`;
    if (JSON.stringify(h.deps.config) !== JSON.stringify(cold)) return 'dman agent syncs with other settings (a group switched off, another token or config)';
    return h.engine;
  }, loaded.file, loaded.warnings, 'dman agent', log);
}
