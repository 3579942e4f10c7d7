import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, setRedactedHomes } from '../log.js';
import { exportLogHomes } from './exportLogHomes.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { lines, stream };
}

describe('home redaction of configured homes', () => {
  let dir: string;
  let cfg: string;
  let bobHome: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-loghomes-'));
    bobHome = join(dir, 'homes', 'bob');
    expect(bobHome.startsWith(homedir())).toBe(false);
    cfg = join(dir, 'dman.yaml');
    await writeFile(cfg, `server_url: http://127.0.0.1:1\ntrack: [.bashrc]\nusers:\n  bob:\n    home: ${bobHome}\n`, { mode: 0o600 });
  });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('setRedactedHomes adds a configured home (not os.homedir) to the root and every child', () => {
    const { lines, stream } = capture();
    const root = createLogger({ level: 'info', stream, env: {} });
    const child = root.child({ mod: 'api' });
    child.info({ path: `${bobHome}/.bashrc` }, 'before');
    setRedactedHomes(child, [bobHome]);
    child.child({ mod: 'engine' }).info({ path: `${bobHome}/.bashrc` }, `synced ${bobHome}/.bashrc`);
    expect(lines[0]!.path).toBe(`${bobHome}/.bashrc`);
    expect(lines[1]).toMatchObject({ path: '~bob/.bashrc', msg: 'synced ~bob/.bashrc' });
  });

  it('exportLogHomes puts the config homes in the environment that createLogger reads; keepHomes turns redaction off', async () => {
    const env: Record<string, string | undefined> = { HOME: dir };
    await exportLogHomes({ keepHomes: false, configPath: cfg, env });
    const a = capture();
    createLogger({ level: 'info', stream: a.stream, env }).info({ file: join(bobHome, '.zshrc') }, 'x');
    expect(a.lines[0]!.file).toBe('~bob/.zshrc');

    const kept: Record<string, string | undefined> = { HOME: dir };
    await exportLogHomes({ keepHomes: true, configPath: cfg, env: kept });
    const b = capture();
    const log = createLogger({ level: 'info', stream: b.stream, env: kept });
    setRedactedHomes(log, [bobHome]);
    log.info({ file: join(bobHome, '.zshrc'), mine: join(homedir(), '.zshrc') }, 'x');
    expect(b.lines[0]).toMatchObject({ file: join(bobHome, '.zshrc'), mine: join(homedir(), '.zshrc') });
  });

  it('a config that does not load leaves the environment alone', async () => {
    await writeFile(cfg, 'users: [not, a, map\n');
    const env: Record<string, string | undefined> = { HOME: dir };
    await exportLogHomes({ keepHomes: false, configPath: cfg, env });
    expect(env.DMAN_LOG_REDACT_HOMES).toBeUndefined();
  });
});
