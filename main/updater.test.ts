import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILD_MARKER, buildGate, createUpdater, readBuildMarker, type AppUpdaterFitsPort, type BuildMarker, type UpdateStatus, type UpdaterTimers } from './updater.js';

// electron-updater's real AppUpdater must fit the port main.ts passes in.
const fits: AppUpdaterFitsPort = true;

/** A fake electron-updater: records calls, and a script decides what a check emits. */
class FakeAutoUpdater extends EventEmitter {
  autoDownload = false;
  autoInstallOnAppQuit = false;
  allowDowngrade = true;
  allowPrerelease = true;
  checks = 0;
  installs: Array<[boolean | undefined, boolean | undefined]> = [];
  script: (self: FakeAutoUpdater) => Promise<void> = async (self) => {
    self.emit('checking-for-update');
    self.emit('update-not-available', { version: '1.0.0' });
  };
  async checkForUpdates() {
    this.checks++;
    await this.script(this);
    return null;
  }
  quitAndInstall(isSilent?: boolean, isForceRunAfter?: boolean) {
    this.installs.push([isSilent, isForceRunAfter]);
  }
}

class ManualTimers implements UpdaterTimers {
  t = 0;
  intervals = new Map<number, { fn: () => void; ms: number; next: number }>();
  private id = 0;
  setInterval(fn: () => void, ms: number) {
    const id = ++this.id;
    this.intervals.set(id, { fn, ms, next: this.t + ms });
    return id;
  }
  clearInterval(h: unknown) {
    this.intervals.delete(h as number);
  }
  now() {
    return this.t;
  }
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.intervals.values()].filter((i) => i.next <= end).sort((a, b) => a.next - b.next)[0];
      if (!due) break;
      this.t = due.next;
      due.next += due.ms;
      due.fn();
    }
    this.t = end;
  }
}

const signed: BuildMarker = { signed: true, updatable: true, platform: 'win32' };
const flush = () => new Promise<void>((r) => setImmediate(r));
const quietLog = { info: () => {}, warn: () => {}, debug: () => {} };

function setup(over: { isPackaged?: boolean; build?: BuildMarker | null; enabled?: boolean } = {}) {
  const up = new FakeAutoUpdater();
  const timers = new ManualTimers();
  const ready: string[] = [];
  const statuses: UpdateStatus[] = [];
  const setting = { enabled: over.enabled ?? true };
  const warnings: string[] = [];
  const updater = createUpdater({
    autoUpdater: up,
    app: { isPackaged: over.isPackaged ?? true, getVersion: () => '1.0.0' },
    build: over.build === undefined ? signed : over.build,
    settings: { isAutoUpdateEnabled: () => setting.enabled },
    log: { ...quietLog, warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)) } as never,
    notifier: { updateReady: ({ version }) => void ready.push(version) },
    timers,
    intervalMs: 1000,
    onStatus: (s) => void statuses.push(s),
  });
  return { up, timers, ready, statuses, setting, updater, warnings };
}

describe('createUpdater', () => {
  it('checks on start and then on every interval, downloading in the background', async () => {
    const { up, timers, updater } = setup();
    expect(fits).toBe(true);
    updater.start();
    await flush();
    expect(up.checks).toBe(1);
    expect(up.autoDownload).toBe(true);
    expect(up.autoInstallOnAppQuit).toBe(true);
    expect(up.allowDowngrade).toBe(false);
    expect(up.allowPrerelease).toBe(false);
    expect(updater.status().state).toBe('idle');
    for (let i = 0; i < 3; i++) {
      timers.advance(1000);
      await flush();
    }
    expect(up.checks).toBe(4);
    updater.stop();
    timers.advance(5000);
    expect(up.checks).toBe(4);
  });

  it('never checks in a dev build, an unsigned build, or one without a marker', async () => {
    for (const [over, why] of [
      [{ isPackaged: false }, /development build/],
      [{ build: { signed: false, updatable: false, platform: 'darwin', reason: 'unsigned: no CSC_LINK' } }, /unsigned: no CSC_LINK/],
      [{ build: null }, /has no dman-build.json/],
    ] as const) {
      const { up, timers, updater } = setup(over);
      const s = updater.start();
      expect(s.state).toBe('disabled');
      expect(s.reason).toMatch(why);
      await updater.checkNow();
      timers.advance(10_000);
      await flush();
      expect(up.checks).toBe(0);
      expect(up.autoDownload).toBe(false);
      expect(timers.intervals.size).toBe(0);
    }
  });

  it('stops checking when the user turns updates off and resumes when turned back on', async () => {
    const { up, timers, updater, setting } = setup();
    updater.start();
    await flush();
    expect(up.checks).toBe(1);
    setting.enabled = false;
    // Even before applySettings, a tick reads the setting and skips the check.
    timers.advance(1000);
    await flush();
    expect(up.checks).toBe(1);
    expect(updater.applySettings()).toMatchObject({ state: 'disabled', reason: /turned off/ });
    expect(timers.intervals.size).toBe(0);
    setting.enabled = true;
    updater.applySettings();
    await flush();
    expect(up.checks).toBe(2);
    expect(timers.intervals.size).toBe(1);
  });

  it('a manual check works while the setting is off, but not in an unsigned build', async () => {
    const off = setup({ enabled: false });
    expect(off.updater.start().state).toBe('disabled');
    await off.updater.checkNow();
    expect(off.up.checks).toBe(1);
    const unsigned = setup({ build: { signed: false, updatable: false, platform: 'win32' } });
    await unsigned.updater.checkNow();
    expect(unsigned.up.checks).toBe(0);
  });

  it('notifies once per downloaded version and installs only when one is downloaded', async () => {
    const { up, ready, updater, statuses } = setup();
    expect(updater.installNow()).toBe(false);
    up.script = async (self) => {
      self.emit('checking-for-update');
      self.emit('update-available', { version: '1.1.0' });
      self.emit('download-progress', { percent: 42.4 });
      self.emit('update-downloaded', { version: '1.1.0' });
    };
    updater.start();
    await flush();
    expect(statuses.map((s) => s.state)).toEqual(expect.arrayContaining(['checking', 'downloading', 'downloaded']));
    expect(statuses.find((s) => s.state === 'downloading' && s.percent === 42)).toBeTruthy();
    expect(ready).toEqual(['1.1.0']);
    // A downloaded update is not fetched again.
    await updater.checkNow();
    expect(up.checks).toBe(1);
    expect(ready).toEqual(['1.1.0']);
    expect(updater.installNow()).toBe(true);
    expect(up.installs).toEqual([[false, true]]);
  });

  it('a failed check or a rejected signature is logged and retried at the next tick', async () => {
    const { up, timers, updater, warnings } = setup();
    up.script = async (self) => {
      self.emit('checking-for-update');
      self.emit('update-available', { version: '2.0.0' });
      // What NsisUpdater emits when the installer's Authenticode publisher does not match.
      self.emit('error', new Error('New version 2.0.0 is not signed by the application owner'));
      throw new Error('New version 2.0.0 is not signed by the application owner');
    };
    updater.start();
    await flush();
    expect(updater.status()).toMatchObject({ state: 'error', error: /not signed by the application owner/ });
    expect(warnings.length).toBeGreaterThan(0);
    up.script = async (self) => {
      self.emit('checking-for-update');
      self.emit('update-not-available', { version: '1.0.0' });
    };
    timers.advance(1000);
    await flush();
    expect(up.checks).toBe(2);
    expect(updater.status().state).toBe('idle');
  });

  it('does not check again while an update is downloading', async () => {
    const { up, timers, updater } = setup();
    up.script = async (self) => {
      self.emit('checking-for-update');
      self.emit('update-available', { version: '1.2.0' });
    };
    updater.start();
    await flush();
    expect(updater.status()).toMatchObject({ state: 'downloading', version: '1.2.0' });
    timers.advance(1000);
    await flush();
    await updater.checkNow();
    expect(up.checks).toBe(1);
    up.emit('update-downloaded', { version: '1.2.0' });
    expect(updater.status().state).toBe('downloaded');
  });

  it('runs one check at a time', async () => {
    const { up, updater } = setup();
    let release!: () => void;
    up.script = () => new Promise<void>((r) => (release = r));
    updater.start();
    const a = updater.checkNow();
    const b = updater.checkNow();
    expect(up.checks).toBe(1);
    release();
    await Promise.all([a, b]);
    expect(up.checks).toBe(1);
  });

  it('stop() removes its listeners from the updater', async () => {
    const { up, updater } = setup();
    updater.start();
    await flush();
    expect(up.listenerCount('update-downloaded')).toBe(1);
    updater.stop();
    expect(up.listenerCount('update-downloaded')).toBe(0);
    expect(up.listenerCount('error')).toBe(0);
  });
});

describe('buildGate and readBuildMarker', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('reads the marker the packaging hook writes, and treats a missing or broken one as no marker', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-updater-'));
    expect(await readBuildMarker(dir)).toBeNull();
    await writeFile(join(dir, BUILD_MARKER), '{"signed":true}');
    expect(await readBuildMarker(dir)).toBeNull();
    await writeFile(join(dir, BUILD_MARKER), JSON.stringify({ signed: true, updatable: true, platform: 'darwin' }));
    expect(await readBuildMarker(dir)).toEqual({ signed: true, updatable: true, platform: 'darwin', reason: undefined });
  });

  it('allows updates only for a packaged, updatable build', () => {
    expect(buildGate({ isPackaged: true }, signed)).toBeNull();
    expect(buildGate({ isPackaged: false }, signed)).toMatch(/development/);
    expect(buildGate({ isPackaged: true }, { signed: false, updatable: false, platform: 'linux' })).toMatch(/not signed/);
  });
});
