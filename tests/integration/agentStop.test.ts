// `dman agent --serve` stopped by SIGTERM (or Ctrl-C) while it starts, or killed outright: the
// embedded `dman serve` it launched must go with it. It used to be left running (its parent
// gone), holding the port and the data dir's lock, so the next `npm start` found it locked.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { descendants } from '../../bench/lib/procs.js';

const root = new URL('../../', import.meta.url).pathname;

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};
const cmdline = (pid: number): Promise<string> => readFile(`/proc/${pid}/cmdline`, 'utf8').then((s) => s.replace(/\0/g, ' '), () => '');

async function until<T>(what: string, ms: number, probe: () => Promise<T | null> | T | null): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await probe();
    if (got !== null) return got;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('dman agent --serve and its embedded server', () => {
  let dir: string;
  const children = new Set<ChildProcess>();
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dman-agent-stop-')); });
  afterEach(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children.clear();
    await rm(dir, { recursive: true, force: true });
  });

  const startAgent = (): { child: ChildProcess; out: () => string; exited: Promise<number | null>; up: () => Promise<true> } => {
    const child = spawn(process.execPath, [join(root, 'bin/dman.js'), 'agent', '--serve', '--port', '0', '--data-dir', join(dir, 'data')], {
      cwd: dir,
      env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), XDG_DATA_HOME: join(dir, 'share'), XDG_STATE_HOME: join(dir, 'state'), DMAN_CONFIG: '', DMAN_NO_DAEMON: '1', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const up = () => until('the agent to print its URL', 60_000, () => {
      if (child.exitCode !== null) throw new Error(`the agent exited with ${child.exitCode}:\n${out}`);
      return out.includes('dman agent running') ? true as const : null;
    });
    return { child, out: () => out, exited, up };
  };
  /** The embedded server's PID: the agent's descendant running `serve`. */
  const serverOf = (agent: ChildProcess): Promise<number> => until('the embedded server to be launched', 60_000, async () => {
    for (const pid of descendants(agent.pid!)) if ((await cmdline(pid)).includes(' serve ')) return pid;
    if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode} before launching its server`);
    return null;
  });
  const gone = (pid: number, what: string, ms: number): Promise<true> => until(`${what} (PID ${pid}) to stop`, ms, () => (alive(pid) ? null : true));

  it('a SIGTERM while it starts stops the server it was starting, and the next start gets the data dir and comes up', async () => {
    const first = startAgent();
    const server = await serverOf(first.child);
    // Still starting: the agent waits for the server's /health before it prints its URL.
    expect(first.out()).not.toContain('dman agent running');
    first.child.kill('SIGTERM');
    const code = await Promise.race([first.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
    expect(code, first.out()).toBe(0);
    await gone(server, 'the embedded server', 10_000);
    expect(first.out()).not.toMatch(/error|did not start/i);

    // The data dir's lock went with the server: a new agent on the same data dir starts its server.
    const second = startAgent();
    await second.up();
    expect(second.out()).toMatch(/dman sync server running at http:\/\/127\.0\.0\.1:\d+/);
    const server2 = await serverOf(second.child);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.out()).toBe(0);
    await gone(server2, 'the second embedded server', 10_000);
  }, 150_000);

  it('a kill -9 of the running agent takes its server with it: the server sees its stdin end and shuts down, freeing the data dir', async () => {
    const first = startAgent();
    await first.up();
    const server = await serverOf(first.child);
    first.child.kill('SIGKILL');
    await gone(server, 'the embedded server of the killed agent', 15_000);

    const second = startAgent();
    await second.up();
    expect(second.out()).toMatch(/dman sync server running at/);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.out()).toBe(0);
  }, 150_000);
});
