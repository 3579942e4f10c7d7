// e2e fixtures: a real `dman agent` (built CLI, embedded server on disk) in temp dirs, a page
// object for the setup wizard, and a second engine (another "machine") driven in-process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test as base, expect, type Page, type TestInfo } from '@playwright/test';
import { parse } from 'yaml';
import { lintConfigText } from '../../engine/config/lint.js';
import { createEngine } from '../../engine/createEngine.js';
import type { Engine } from '../../engine/Engine.js';
import { silentLogger } from '../../engine/log.js';

const root = resolve(import.meta.dirname, '../..');

export interface AgentHandle {
  url: string;
  dir: string;
  home: string;
  configFile: string;
  dataDir: string;
  /** The agent's stderr so far (for failure messages). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `dman agent` with its own temp home, config and data dir; resolves once it prints its URL. */
export async function startAgent(dir: string): Promise<AgentHandle> {
  const home = join(dir, 'home');
  const configFile = join(dir, 'config', 'dman.yaml');
  const dataDir = join(dir, 'data');
  await mkdir(home, { recursive: true });
  const child: ChildProcess = spawn(process.execPath, ['bin/dman.js', '--config', configFile, '--json', 'agent', '--port', '0', '--data-dir', dataDir], {
    cwd: root,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config-xdg'), DMAN_LOG_LEVEL: process.env.E2E_LOG ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const t = setTimeout(() => reject(new Error(`dman agent printed no URL in 30 s; stderr:\n${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line || !line.endsWith('}')) return;
      clearTimeout(t);
      const doc = JSON.parse(line) as { url?: string; error?: { message: string } };
      if (doc.url) resolveUrl(doc.url);
      else reject(new Error(`dman agent did not start: ${doc.error?.message ?? line}\nstderr:\n${err}`));
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`dman agent exited (${code}) before printing its URL; stderr:\n${err}`)); });
  });
  return {
    url, dir, home, configFile, dataDir,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

let writes = 0;

/**
 * Writes files (path → text) under a home, each the way an editor saves: whole, to a temp file
 * beside the home, then renamed into place. An in-place write (truncate, then write) can be caught empty by the agent's watcher
 * on a loaded machine, and that empty state is a real version the server would then record.
 */
export async function writeFiles(home: string, files: Record<string, string>): Promise<void> {
  for (const [p, text] of Object.entries(files)) {
    await mkdir(dirname(join(home, p)), { recursive: true });
    const tmp = `${home}.write-${process.pid}-${++writes}`;
    await writeFile(tmp, text);
    await rename(tmp, join(home, p));
  }
}

export const read = (home: string, p: string) => readFile(join(home, p), 'utf8');

/** Goes through the five wizard steps (hosted server on disk), saving a screenshot of each. */
export async function completeWizard(page: Page, agent: AgentHandle, info?: TestInfo, user = 'alice', onTrackStep?: () => Promise<void>): Promise<void> {
  const shot = async (name: string) => {
    if (!info) return;
    const path = info.outputPath(`${name}.png`);
    await page.screenshot({ path, fullPage: true });
    await info.attach(name, { path, contentType: 'image/png' });
  };
  await page.goto(agent.url);
  await expect(page.getByRole('heading', { name: 'Where is your sync server?' })).toBeVisible();
  await expect(page.getByRole('radio', { name: /This machine hosts the server/ })).toBeChecked();
  await shot('wizard-1-server');
  await page.getByRole('button', { name: 'Continue' }).click();

  await expect(page.getByRole('heading', { name: 'Where should the server keep its data?' })).toBeVisible();
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByText(/Storage works/)).toBeVisible();
  await shot('wizard-2-storage');
  await page.getByRole('button', { name: 'Start server and continue' }).click();

  await expect(page.getByRole('heading', { name: 'Pair this machine' })).toBeVisible({ timeout: 30_000 });
  await page.getByLabel('User name').fill(user);
  await expect(page.getByLabel('Home folder')).toHaveValue(agent.home);
  await page.getByRole('button', { name: 'Create device token' }).click();
  await expect(page.getByText(`Created a token for ${user}`)).toBeVisible();
  await shot('wizard-3-pairing');
  await page.getByRole('button', { name: 'Continue' }).click();

  await expect(page.getByRole('heading', { name: 'What should dman sync?' })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Files that will sync' })).toBeVisible();
  await shot('wizard-4-track');
  await onTrackStep?.();
  await page.getByRole('button', { name: 'Continue' }).click();

  await expect(page.getByRole('heading', { name: 'Review the first sync' })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Planned changes' })).toBeVisible({ timeout: 30_000 });
  await shot('wizard-5-plan');
  await page.getByRole('button', { name: 'Start syncing' }).click();
  await expect(page.getByRole('heading', { name: 'Status', exact: true })).toBeVisible({ timeout: 30_000 });
  // The app leaves the wizard as soon as the setup is saved (state.configured), and "Start syncing"
  // saves it before it syncs: the first sync may still run. Its end sets the last sync time.
  await expect(page.getByText(/Last sync (?!never)/).first()).toBeVisible({ timeout: 30_000 });
}

/** The agent's config as written by the wizard (server URL and token). */
export async function agentConfig(agent: AgentHandle): Promise<{ server_url: string; auth_token: string; track: string[]; users: Record<string, { home: string }> }> {
  return parse(await readFile(agent.configFile, 'utf8'));
}

/** Builds a second machine: an engine with its own home and state, on the agent's server and user. */
export async function secondMachine(agent: AgentHandle, dir: string): Promise<{ engine: Engine; home: string }> {
  const cfg = await agentConfig(agent);
  const home = join(dir, 'home-b');
  await mkdir(home, { recursive: true });
  const user = Object.keys(cfg.users)[0]!;
  const text = JSON.stringify({ server_url: cfg.server_url, auth_token: cfg.auth_token, device: 'machine-b', conflict_policy: 'ask', track: cfg.track, users: { [user]: { home } } });
  const rep = await lintConfigText(text, { homedir: home, env: {}, hostname: 'machine-b' });
  if (!rep.config) throw new Error(`second machine config invalid: ${JSON.stringify(rep.problems)}`);
  const engine = createEngine({ config: rep.config, log: silentLogger(), stateDir: join(dir, 'state-b') });
  return { engine, home };
}

/** Test with a temp dir and a running agent, both cleaned up afterwards. */
export const test = base.extend<{ tmp: string; agent: AgentHandle }>({
  // eslint-disable-next-line no-empty-pattern
  tmp: async ({}, use) => {
    const dir = await mkdtemp(join(tmpdir(), 'dman-e2e-'));
    await use(dir);
    await rm(dir, { recursive: true, force: true });
  },
  agent: async ({ tmp }, use, info) => {
    const agent = await startAgent(tmp);
    await use(agent);
    await agent.stop();
    if (info.status !== info.expectedStatus) { await info.attach('agent-stderr', { body: agent.stderr(), contentType: 'text/plain' }); await writeFile(info.outputPath('agent-stderr.txt'), agent.stderr()); }
  },
});

export { expect };
