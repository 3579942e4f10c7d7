import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../engine/log.js';
import { createProgram } from './main.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { lines, stream };
}

describe('--log-keep-homes', () => {
  let dir: string;
  let cfg: string;
  let bobHome: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-clihomes-'));
    bobHome = join(dir, 'homes', 'bob');
    expect(bobHome.startsWith(homedir())).toBe(false);
    cfg = join(dir, 'dman.yaml');
    await writeFile(cfg, `server_url: http://127.0.0.1:1\ntrack: [.bashrc]\nusers:\n  bob:\n    home: ${bobHome}\n`, { mode: 0o600 });
  });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

  it('the CLI redacts the config homes by default and keeps them with --log-keep-homes', async () => {
    const saved = { keep: process.env.DMAN_LOG_KEEP_HOMES, homes: process.env.DMAN_LOG_REDACT_HOMES };
    const run = async (flags: string[]) => {
      delete process.env.DMAN_LOG_KEEP_HOMES;
      delete process.env.DMAN_LOG_REDACT_HOMES;
      const { lines, stream } = capture();
      const program = createProgram();
      // A command like the real ones: it builds its own root logger inside its action.
      program.command('probe').action(() => { createLogger({ level: 'info', stream }).info({ path: `${bobHome}/.gitconfig` }, 'probe'); });
      await program.parseAsync(['node', 'dman', '--config', cfg, ...flags, 'probe']);
      return lines[0]!.path;
    };
    try {
      expect(await run([])).toBe('~bob/.gitconfig');
      expect(await run(['--log-keep-homes'])).toBe(`${bobHome}/.gitconfig`);
    } finally {
      for (const [k, v] of [['DMAN_LOG_KEEP_HOMES', saved.keep], ['DMAN_LOG_REDACT_HOMES', saved.homes]] as const) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
  });
});
