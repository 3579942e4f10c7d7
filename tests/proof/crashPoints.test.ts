// Crash points (issue 9): a DiskStore child process is SIGKILLed just before each named write
// step (open, write, fsync, rename, journal append …) of a single and of a batch commit with its
// uploads. After each restart: every stored blob matches its hash, each path shows the old or the
// new version (a batch wholly), and a retry with the same idempotency key applies exactly once.
// Then the same steps fail with ENOSPC and EIO in-process: a clean DmanError, the old version
// still readable, and the store still serving.
import { Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDmanError } from '../../shared/errors.js';
import type { CommitOp } from '../../shared/protocol.js';
import { DiskStore } from '../../server/store/DiskStore.js';
import { installFsFaults } from './crash/fsFaults.js';
import { newBlobs, newOps, seedOld } from './crash/commitCase.js';
import { corruptBlobs, readsBack, retry, versions } from './crash/storeCheck.js';

const here = new URL('.', import.meta.url).pathname;
let root: string;
let template: string;
let child: string;
const original: Record<'single' | 'batch', CommitOp[]> = { single: [], batch: [] };

beforeAll(async () => {
  root = await mkdtemp(join(process.platform === 'linux' ? '/dev/shm' : tmpdir(), 'dman-crash-'));
  template = join(root, 'template');
  const s = new DiskStore({ dataDir: template });
  await s.open();
  await seedOld(s);
  // The requests the children send (based on the template's revs): a retry resends exactly these.
  original.single = await newOps(s, 'single');
  original.batch = await newOps(s, 'batch');
  await s.close();
  // One bundle, so each of the ~30 child processes starts in a fraction of a second.
  // Inside the repo, so the bundle resolves node_modules.
  child = join(here, '../../node_modules/.cache', `dman-proof-child-${process.pid}.mjs`);
  await build({ entryPoints: [join(here, 'crash/diskChild.ts')], bundle: true, platform: 'node', format: 'esm', outfile: child, packages: 'external', logLevel: 'silent', absWorkingDir: join(here, '../..') });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(child, { force: true });
});

function runChild(dir: string, mode: string, at: number): { signal: NodeJS.Signals | null; status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [child, dir, mode], { env: { ...process.env, DMAN_CRASH_AT: String(at) }, encoding: 'utf8', cwd: join(here, '../..') });
  return { signal: r.signal, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.each(['single', 'batch'] as const)('crash points of a %s commit (disk store)', (mode) => {
  it('survives a kill -9 before every write step', async () => {
    const dry = join(root, `${mode}-dry`);
    await cp(template, dry, { recursive: true });
    const listed = runChild(dry, mode, 0);
    expect(listed.status, listed.stderr).toBe(0);
    const steps = JSON.parse(listed.stdout) as string[];
    // The journal append is among the steps, so the commit point itself is crossed.
    expect(steps.some((s) => s.includes('journal'))).toBe(true);
    // Small blobs are appended to a pack (large ones would be renamed from tmp/ into blobs/).
    expect(steps.some((s) => s.startsWith('rename tmp/') || s.startsWith('writev packs/'))).toBe(true);
    const seen = new Set<string>();
    for (let k = 1; k <= steps.length; k++) {
      const dir = join(root, `${mode}-${k}`);
      await cp(template, dir, { recursive: true });
      const r = runChild(dir, mode, k);
      expect(r.signal, `step ${k} (${steps[k - 1]}) should have been killed: ${r.stderr}`).toBe('SIGKILL');
      expect(await corruptBlobs(dir), `after a crash at step ${k}`).toEqual([]);
      const store = new DiskStore({ dataDir: dir });
      await store.open();
      try {
        const v = await versions(store, mode);
        const what = `crash at step ${k} (${steps[k - 1]}): ${v.join(', ')}`;
        // Every blob the store has (packed or a file) reads back whole.
        for (const b of newBlobs(mode)) if (await store.hasBlob('alice', b.hash)) expect(await readsBack(store, b.hash), what).toBe(true);
        expect(v.every((x) => x === 'old' || x === 'new'), what).toBe(true);
        const changed = mode === 'single' ? v.slice(0, 1) : v;
        expect(new Set(changed).size, `a batch lands wholly or not at all: ${what}`).toBe(1);
        seen.add(changed[0]!);
        const head = await store.headRev('alice');
        const first = await retry(store, mode, original[mode]);
        expect(first.ok, what).toBe(true);
        // Applied before the crash → the retry replays; not applied → it applies now, once.
        expect(first.replayed, what).toBe(changed[0] === 'new');
        const second = await retry(store, mode, original[mode]);
        expect(second, what).toEqual({ ok: true, replayed: true, rev: first.rev });
        expect(await store.headRev('alice')).toBe(changed[0] === 'new' ? head : first.rev);
        expect((await versions(store, mode)).slice(0, mode === 'single' ? 1 : 4).every((x) => x === 'new')).toBe(true);
      } finally {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      }
    }
    // The steps straddle the commit point: some crashes leave the old version, the last ones the new.
    expect([...seen].sort()).toEqual(['new', 'old']);
  }, 120_000);
});

describe.each(['ENOSPC', 'EIO'] as const)('%s at each write step of a batch (disk store)', (kind) => {
  it('fails cleanly, keeps the previous version readable and keeps serving', async () => {
    const faults = await installFsFaults();
    const dry = join(root, `${kind}-dry`);
    await cp(template, dry, { recursive: true });
    let store = new DiskStore({ dataDir: dry });
    await store.open();
    faults.arm({ root: dry, at: 0, kind });
    for (const b of newBlobs('batch')) await store.putBlob('alice', b.hash, Readable.from([b.data]), 1 << 20);
    await store.commit({ user: 'alice', device: 'crash', ops: await newOps(store, 'batch'), now: 2, idempotencyKey: 'case-batch' });
    const n = faults.steps.length;
    faults.disarm();
    await store.close();
    await rm(dry, { recursive: true, force: true });
    expect(n).toBeGreaterThan(5);
    for (let k = 1; k <= n; k++) {
      const dir = join(root, `${kind}-${k}`);
      await cp(template, dir, { recursive: true });
      store = new DiskStore({ dataDir: dir });
      await store.open();
      try {
        faults.arm({ root: dir, at: k, kind });
        let failure: unknown = null;
        try {
          for (const b of newBlobs('batch')) await store.putBlob('alice', b.hash, Readable.from([b.data]), 1 << 20);
          await store.commit({ user: 'alice', device: 'crash', ops: await newOps(store, 'batch'), now: 2, idempotencyKey: 'case-batch' });
        } catch (err) { failure = err; }
        faults.disarm();
        const what = `${kind} at step ${k} (${faults.steps[k - 1]})`;
        expect(isDmanError(failure), `${what}: ${String(failure)}`).toBe(true);
        expect((failure as { code: string }).code, what).toBe(kind === 'ENOSPC' ? 'DISK_FULL' : 'IO');
        const v = await versions(store, 'batch');
        expect(v.every((x) => x === 'old' || x === 'new'), `${what}: ${v.join(', ')}`).toBe(true);
        expect(new Set(v).size, `${what}: ${v.join(', ')}`).toBe(1);
        // Still up: once the disk is back, the same request goes through exactly once.
        const again = await retry(store, 'batch', original.batch);
        expect(again.ok, what).toBe(true);
        expect((await versions(store, 'batch')).every((x) => x === 'new'), what).toBe(true);
        expect(await corruptBlobs(dir)).toEqual([]);
      } finally {
        faults.disarm();
        await store.close().catch(() => {});
        await rm(dir, { recursive: true, force: true });
      }
    }
  }, 120_000);
});
