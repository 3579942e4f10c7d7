import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { createLogSampler } from './createLogSampler.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { lines, stream };
}

describe('createLogger', () => {
  it('samples per-file debug lines and repeated watcher errors, and reports what it dropped', () => {
    let t = 0;
    const { lines, stream } = capture();
    const log = createLogger({ level: 'debug', stream, sample: { sampler: createLogSampler({ perWindow: 5, windowMs: 1000, now: () => t }) } }).child({ mod: 'engine' });
    for (let i = 0; i < 100; i++) log.debug({ path: `f${i}` }, 'file hashed');
    for (let i = 0; i < 30; i++) log.warn({ err: 'ENOSPC' }, 'watch failed');
    for (let i = 0; i < 30; i++) log.info({ i }, 'request');
    t = 1000;
    log.debug({ path: 'last' }, 'file hashed');
    log.warn({ err: 'ENOSPC' }, 'watch failed');
    const hashed = lines.filter((l) => l.msg === 'file hashed');
    expect(hashed.map((l) => l.path)).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'last']);
    expect(hashed.at(-1)!.dropped).toBe(95);
    const watch = lines.filter((l) => l.msg === 'watch failed');
    expect(watch).toHaveLength(6);
    expect(watch.at(-1)!.dropped).toBe(25);
    // info lines that are not known to be noisy are never sampled
    expect(lines.filter((l) => l.msg === 'request')).toHaveLength(30);
    expect(hashed[0]!.mod).toBe('engine');
  });

  it('gives a line of nested child loggers one dotted mod, not two mod keys', () => {
    const raw: string[] = [];
    const stream = new Writable({ write(chunk, _enc, cb) { raw.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
    const api = createLogger({ level: 'info', stream }).child({ mod: 'api' });
    api.child({ mod: 'engine' }).child({ user: 'alice' }).info('synced');
    api.info('state');
    expect(raw[0]!.match(/"mod":/g)).toHaveLength(1);
    expect(JSON.parse(raw[0]!)).toMatchObject({ mod: 'api.engine', user: 'alice' });
    expect(JSON.parse(raw[1]!).mod).toBe('api');
  });

  it('redacts tokens, file contents and home paths (in fields, messages and errors) by default', () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: 'info', stream, redactHomes: ['/home/alice', '/srv/homes/bob/'] });
    log.info({ token: 'sekrit-token', content: 'PRIVATE KEY', home: '/home/alice', file: '/srv/homes/bob/.zshrc', other: '/home/alicex/y' }, 'synced /home/alice/.bashrc');
    log.error({ err: new Error('EACCES: permission denied, open \'/home/alice/.ssh/config\'') }, 'apply failed');
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).not.toContain('sekrit-token');
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toMatch(/\/home\/alice[/"']/);
    expect(text).not.toContain('/srv/homes/bob');
    expect(lines[0]).toMatchObject({ home: '~alice', file: '~bob/.zshrc', other: '/home/alicex/y', msg: 'synced ~alice/.bashrc', token: '[redacted]' });
    expect((lines[1]!.err as { message: string }).message).toContain('~alice/.ssh/config');
  });

  it('keeps home paths when asked to', () => {
    const { lines, stream } = capture();
    createLogger({ level: 'info', stream, redactHomes: false }).info({ home: '/home/alice' }, 'x');
    expect(lines[0]!.home).toBe('/home/alice');
  });
});
