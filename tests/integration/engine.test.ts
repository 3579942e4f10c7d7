// Two engines on two temp homes against one real server on a loopback port.
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import { isDmanError } from '../../shared/errors.js';
import { createEngine } from '../../engine/createEngine.js';
import type { Engine, EngineEvent } from '../../engine/Engine.js';
import { createLogger, silentLogger } from '../../engine/log.js';
import type { ConflictPolicy } from '../../engine/plan/planSync.js';
import { createHttpRemote } from '../../engine/remote/HttpRemote.js';
import { testConfig, tempDirs } from '../../engine/testing/engineFixture.js';
import { createChokidarWatcher } from '../../engine/watch/ChokidarWatcher.js';
import { startHarness, type Harness } from './serverHarness.js';

const dirs = tempDirs();
const engines: Engine[] = [];
let harness: Harness | undefined;
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await harness?.close();
  harness = undefined;
  await dirs.cleanup();
});

async function machine(h: Harness, device: string, over: Partial<EffectiveConfig> & { policy?: ConflictPolicy; watch?: boolean } = {}) {
  const home = await dirs.make(`dman-ih-${device}-`);
  const stateDir = await dirs.make(`dman-is-${device}-`);
  const config = testConfig(home, { device, server_url: h.url, auth_token: h.tokens.alice, ...over });
  const log = process.env.DMAN_TEST_DEBUG ? createLogger({ level: 'debug', base: { device } }) : silentLogger();
  const engine = createEngine({ config, log, stateDir, ...(over.watch ? { watcher: createChokidarWatcher({ debounceMs: 20, log }) } : {}), rescanMs: 0 });
  engines.push(engine);
  const events: EngineEvent[] = [];
  engine.on((e) => events.push(e));
  return {
    home, engine, events,
    write: async (p: string, s: string) => { await mkdir(join(home, p, '..'), { recursive: true }); await writeFile(join(home, p), s); },
    read: (p: string) => readFile(join(home, p), 'utf8'),
  };
}
const both = { direction: 'both' as const };

describe('engine against a real server', () => {
  it('publishes and installs; a delete propagates; a mode survives', async () => {
    harness = await startHarness();
    const a = await machine(harness, 'a');
    const b = await machine(harness, 'b');
    await a.write('.zshrc', 'export A=1\n');
    await a.write('.local/bin/x', '#!/bin/sh\n');
    await chmod(join(a.home, '.local/bin/x'), 0o750);
    expect((await a.engine.sync(both)).users[0]!.counts.published).toBe(2);
    expect((await b.engine.sync(both)).users[0]!.counts.installed).toBe(2);
    expect(await b.read('.zshrc')).toBe('export A=1\n');
    expect((await stat(join(b.home, '.local/bin/x'))).mode & 0o777).toBe(0o750);
    await rm(join(a.home, '.zshrc'));
    await a.engine.sync(both);
    await b.engine.sync(both);
    await expect(stat(join(b.home, '.zshrc'))).rejects.toThrow();
    expect((await b.engine.sync(both)).users[0]!.actions).toEqual([]);
    const hist = await b.engine.history('alice', '.zshrc');
    expect(hist.map((e) => e.deleted)).toEqual([true, false]);
    await b.engine.restore('alice', '.zshrc', hist[1]!.rev);
    expect(await b.read('.zshrc')).toBe('export A=1\n');
  });

  it('streams a large file up (after a HEAD) and down, byte for byte', async () => {
    harness = await startHarness();
    const a = await machine(harness, 'a');
    const b = await machine(harness, 'b');
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    await mkdir(join(a.home, 'data'), { recursive: true });
    await writeFile(join(a.home, 'data/big.bin'), big);
    expect((await a.engine.sync(both)).users[0]!.counts.published).toBe(1);
    await b.engine.sync(both);
    expect((await readFile(join(b.home, 'data/big.bin'))).equals(big)).toBe(true);
  });

  it.each<ConflictPolicy>(['ask', 'server-wins', 'local-wins', 'keep-both', 'merge'])('handles a conflict under %s', async (policy) => {
    harness = await startHarness();
    const a = await machine(harness, 'a');
    const b = await machine(harness, 'b', { policy });
    await a.write('f', 'l1\nl2\nl3\n');
    await a.engine.sync(both);
    await b.engine.sync(both);
    await a.write('f', 'A1\nl2\nl3\n');
    await a.engine.sync(both);
    await b.write('f', 'l1\nl2\nB3\n');
    const r = await b.engine.sync(both);
    const got = await b.read('f');
    const expected: Record<ConflictPolicy, string> = { ask: 'l1\nl2\nB3\n', 'server-wins': 'A1\nl2\nl3\n', 'local-wins': 'l1\nl2\nB3\n', 'keep-both': 'A1\nl2\nl3\n', merge: 'A1\nl2\nB3\n' };
    expect(got).toBe(expected[policy]);
    expect(r.users[0]!.conflicts.length).toBe(policy === 'ask' ? 1 : 0);
  });

  it('mass-change and secret guards hold against the real server', async () => {
    harness = await startHarness();
    const a = await machine(harness, 'a');
    for (let i = 0; i < 10; i++) await a.write(`d/f${i}`, String(i));
    await a.write('.ssh/id_rsa', '-----BEGIN OPENSSH PRIVATE KEY-----\n');
    const r = await a.engine.sync(both);
    expect(r.users[0]!.skipped.map((s) => s.path)).toEqual(['.ssh/id_rsa']);
    await rm(join(a.home, 'd'), { recursive: true });
    const err = await a.engine.sync(both).catch((e: unknown) => e);
    expect(isDmanError(err, 'MASS_CHANGE')).toBe(true);
  });

  it('offline then catch-up; clear errors for a wrong token', async () => {
    harness = await startHarness();
    const url = harness.url;
    const a = await machine(harness, 'a');
    await a.write('f', 'v1');
    await a.engine.sync(both);
    await harness.close();
    harness = undefined;
    await a.write('f', 'v2');
    const off = await a.engine.sync(both);
    expect(off.offline).toBe(true);
    expect(off.users[0]!.errors[0]!.message).toContain(url);
    const bad = createHttpRemote({ url: 'http://127.0.0.1:9', retries: 0 });
    await expect(bad.changes('alice', 0)).rejects.toMatchObject({ code: 'SERVER_UNREACHABLE' });
  });

  it('rejects a wrong token with AUTH_INVALID and a fix', async () => {
    harness = await startHarness();
    const r = createHttpRemote({ url: harness.url, token: 'dman_wrong', retries: 0 });
    const err = await r.changes('alice', 0).catch((e: unknown) => e);
    expect(isDmanError(err, 'AUTH_INVALID')).toBe(true);
    expect((err as Error & { hint?: string }).hint).toMatch(/auth_token|login/);
    const other = createHttpRemote({ url: harness.url, token: harness.tokens.bob, retries: 0 });
    await expect(other.changes('alice', 0)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('two engines on one home and state dir take turns and reload each other\'s state', async () => {
    harness = await startHarness();
    const a = await machine(harness, 'a');
    const stateDir = await dirs.make('dman-is-shared-');
    const config = testConfig(a.home, { device: 'a', server_url: harness.url, auth_token: harness.tokens.alice });
    const e1 = createEngine({ config, log: silentLogger(), stateDir });
    const e2 = createEngine({ config, log: silentLogger(), stateDir });
    engines.push(e1, e2);
    await a.write('f', '1');
    await e1.sync(both);
    await e2.sync(both);
    await a.write('g', '1');
    const [r1, r2] = await Promise.all([e1.sync(both), e2.sync(both)]);
    // Exactly one of them published g; the other saw it already agreed.
    expect(r1.users[0]!.counts.published + r2.users[0]!.counts.published).toBe(1);
    expect(r1.users[0]!.counts.converged + r2.users[0]!.counts.converged).toBe(0);
  });

  it('watch: a save on A reaches B in well under a second', async () => {
    harness = await startHarness();
    const a = await machine(harness, 'a', { watch: true });
    const b = await machine(harness, 'b', { watch: true });
    await a.engine.watch();
    await b.engine.watch();
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await a.write('.vimrc', `set number ${i}\n`);
      for (;;) {
        const got = await b.read('.vimrc').catch(() => '');
        if (got === `set number ${i}\n`) break;
        if (performance.now() - t0 > 5000) {
          const brief = (evs: EngineEvent[]) => evs.filter((e) => e.type !== 'progress').map((e) => e.type === 'synced' ? `synced ${JSON.stringify(e.report.counts)} ${JSON.stringify(e.report.skipped)}` : JSON.stringify(e)).join('\n');
          throw new Error(`round ${i}: B did not receive the save within 5 s\nA:\n${brief(a.events)}\nB:\n${brief(b.events)}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      latencies.push(performance.now() - t0);
    }
    latencies.sort((x, y) => x - y);
    expect(latencies[2]!).toBeLessThan(1000);
    // B's own installs never echo back as publishes.
    expect((await a.engine.history('alice', '.vimrc')).filter((v) => v.device === 'b')).toEqual([]);
  });
});
