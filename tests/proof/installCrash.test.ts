// The client's install under crashes and disk faults (issue 9): a real engine in a child process
// installs a batch (edits, a narrowed and a widened mode, a delete) and is SIGKILLed just before
// each of its write steps (temp create, write, chmod, fsync, rename, dir fsync, state save).
// After each kill: every file is the old or the new version, the saved base never runs ahead of
// the disk, no file or temp file is ever more permissive than its versions allow, and the next
// run converges with no conflict. ENOSPC and EIO at each step: a clean error in the report, the
// process finishes, the old version stays, and the next run heals.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTempName } from '../../engine/fs/atomic.js';
import { createFileStateStore } from '../../engine/state/StateStore.js';
import { bundleChild } from './crash/bundleChild.js';
import { INSTALL_CASE, OLD_REVS } from './crash/installCase.js';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
let root: string;
let template: string;
let child: string;

interface Out { steps: string[]; errors: Array<{ code: string; message: string }>; conflicts: number }
function run(dir: string, phase: 'old' | 'new', at = 0, fault?: 'ENOSPC' | 'EIO', timeout = 20_000): { signal: NodeJS.Signals | null; status: number | null; out: Out | null; stderr: string } {
  // Bounded: a run that hangs (see the run-lock case below) is killed and reported.
  const r = spawnSync(process.execPath, [child, dir, phase], { env: { ...process.env, DMAN_CRASH_AT: String(at), ...(fault ? { DMAN_FAULT: fault } : {}) }, encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  let out: Out | null;
  try { out = JSON.parse(r.stdout) as Out; } catch { out = null; }
  return { signal: r.signal, status: r.status, out, stderr: r.stderr };
}

beforeAll(async () => {
  root = await mkdtemp(join(process.platform === 'linux' ? '/dev/shm' : tmpdir(), 'dman-install-'));
  child = await bundleChild('tests/proof/crash/engineChild.ts');
  template = join(root, 'template');
  await mkdir(join(template, 'home'), { recursive: true });
  const r = run(template, 'old');
  expect(r.status, r.stderr).toBe(0);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(child, { force: true });
});

/** Lists every file under the home (temp files too) with its mode. */
async function filesOf(home: string, rel = ''): Promise<Array<{ path: string; mode: number; data: Buffer }>> {
  const out: Array<{ path: string; mode: number; data: Buffer }> = [];
  for (const d of await readdir(join(home, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await filesOf(home, p)));
    else out.push({ path: p, mode: (await lstat(join(home, p))).mode & 0o7777, data: await readFile(join(home, p)) });
  }
  return out;
}

/** The checks after an interrupted run; returns what is wrong. */
async function problemsAfter(dir: string): Promise<string[]> {
  const problems: string[] = [];
  const files = await filesOf(join(dir, 'home'));
  for (const [p, [oldText, oldMode, newText, newMode]] of Object.entries(INSTALL_CASE)) {
    const f = files.find((x) => x.path === p);
    const text = f?.data.toString('utf8') ?? null;
    if (text !== oldText && text !== newText) problems.push(`${p} is neither old nor new: ${JSON.stringify(text)}`);
    if (f && (f.mode & ~((oldText === null ? 0 : oldMode) | newMode)) !== 0) problems.push(`${p} has mode ${f.mode.toString(8)}, wider than ${oldMode.toString(8)} or ${newMode.toString(8)}`);
  }
  for (const f of files) {
    const name = f.path.split('/').pop()!;
    if (INSTALL_CASE[f.path]) continue;
    if (!isTempName(name)) { problems.push(`unexpected file ${f.path}`); continue; }
    const target = f.path.replace(/\/?\.([^/]+)\.dman-tmp-\d+-[0-9a-f]{8}$/, (_m, n: string) => (f.path.includes('/') ? `/${n}` : n));
    const c = INSTALL_CASE[target];
    if (c && (f.mode & ~c[3]) !== 0) problems.push(`temp file ${f.path} has mode ${f.mode.toString(8)}, wider than the ${c[3].toString(8)} it installs`);
  }
  const state = await createFileStateStore({ stateDir: join(dir, 'state') }).load('memory://server', 'alice');
  for (const [p, b] of state.base) {
    const f = files.find((x) => x.path === p);
    const disk = f ? sha(f.data) : null;
    const want = b.deleted ? null : b.hash;
    // The base may lag the disk (the next run sees local == remote and converges), never lead it.
    if (disk !== want && b.rev > OLD_REVS) problems.push(`the base of ${p} runs ahead of the disk: base rev ${b.rev} ${want?.slice(0, 8) ?? 'deleted'}, disk ${disk?.slice(0, 8) ?? 'absent'}`);
  }
  return problems;
}

async function healed(dir: string, timeout = 20_000): Promise<string[]> {
  const r = run(dir, 'new', 0, undefined, timeout);
  if (r.status !== 0 || !r.out) return [`the next run failed (status ${r.status}, signal ${r.signal}): ${r.stderr.slice(0, 400)}`];
  const problems: string[] = [];
  if (r.out.errors.length) problems.push(`the next run reported errors: ${JSON.stringify(r.out.errors)}`);
  if (r.out.conflicts) problems.push(`the next run found ${r.out.conflicts} conflicts`);
  const files = await filesOf(join(dir, 'home'));
  for (const [p, [, , newText, newMode]] of Object.entries(INSTALL_CASE)) {
    const f = files.find((x) => x.path === p);
    if ((f?.data.toString('utf8') ?? null) !== newText || (f && f.mode !== newMode)) problems.push(`${p} did not heal to the new version`);
  }
  return problems;
}

/** The steps that take the run lock (engine/state/runLock.ts: pid to a temp file, hard link into place). */
const isLockStep = (step: string | undefined): boolean => /^(writeFile|link) state\/.*\.lock(\.|$)/.test(step ?? '');
/** Fault runs take every step with DMAN_PROOF_FULL=1 (npm run soak), every third one in npm test. */
const STRIDE = process.env.DMAN_PROOF_FULL ? 1 : 5;

describe('client install', () => {
  let steps: string[] = [];
  beforeAll(async () => {
    const dry = join(root, 'dry');
    await cp(template, dry, { recursive: true });
    const r = run(dry, 'new');
    expect(r.status, r.stderr).toBe(0);
    steps = r.out!.steps;
    await rm(dry, { recursive: true, force: true });
  });

  it('survives a kill -9 before every write step', async () => {
    // One rename per installed file (the batched flow: all temps written and fsynced, then renamed).
    expect(steps.filter((s) => s.startsWith('rename home/')).length).toBe(Object.values(INSTALL_CASE).filter(([, , text]) => text !== null).length);
    // Durable before it is claimed: each temp is fsynced before it is renamed, and each folder a
    // rename touched is fsynced after it and before the state is saved.
    const stateSave = steps.findIndex((s) => /^(rename|write|writeFile|appendFile) state\/(?!.*\.lock)/.test(s));
    steps.forEach((s, i) => {
      const m = /^rename (home\/\S+) -> (home\/\S+)$/.exec(s);
      if (!m) return;
      expect(steps.slice(0, i), `${m[1]} is fsynced before its rename`).toContain(`sync ${m[1]}`);
      const dir = m[2]!.slice(0, m[2]!.lastIndexOf('/'));
      expect(steps.slice(i, stateSave), `${dir} is fsynced after the rename of ${m[2]} and before the state save`).toContain(`sync ${dir}`);
    });
    // The state save (a snapshot rename or a journal append) is among the steps.
    expect(steps.some((s) => /^(rename|write) state\//.test(s))).toBe(true);
    for (let k = 1; k <= steps.length; k++) {
      const dir = join(root, `crash-${k}`);
      await cp(template, dir, { recursive: true });
      const r = run(dir, 'new', k);
      expect(r.signal, `step ${k} (${steps[k - 1]}): ${r.stderr}`).toBe('SIGKILL');
      expect(await problemsAfter(dir), `after a kill at step ${k} (${steps[k - 1]})`).toEqual([]);
      expect(await healed(dir), `after a kill at step ${k} (${steps[k - 1]})`).toEqual([]);
      await rm(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('makes the folders of a new path only after every temp is fsynced, and fsyncs the parent of each folder it made', () => {
    const made = steps.indexOf('mkdir home/.local/share/fresh');
    expect(made, steps.join('\n')).toBeGreaterThan(0);
    const lastTempSync = steps.reduce((last, s, i) => (/^sync /.test(s) && isTempName(s) ? i : last), -1);
    expect(lastTempSync).toBeGreaterThan(0);
    expect(made, 'no folder is made before the whole batch is fetched and fsynced').toBeGreaterThan(lastTempSync);
    const landed = steps.findIndex((s) => s.endsWith(' -> home/.local/share/fresh/c.conf'));
    expect(landed).toBeGreaterThan(made);
    const stateSave = steps.findIndex((s) => /^(rename|write|writeFile|appendFile) state\/(?!.*\.lock)/.test(s));
    for (const dir of ['home/.local/share/fresh', 'home/.local/share', 'home/.local', 'home']) {
      expect(steps.slice(landed, stateSave), `${dir} is fsynced after the rename and before the state save`).toContain(`sync ${dir}`);
    }
  });

  it.each(['ENOSPC', 'EIO'] as const)('fails cleanly on %s at each write step and heals', async (fault) => {
    for (let k = fault === 'ENOSPC' ? 1 : 2; k <= steps.length; k += STRIDE) {
      const dir = join(root, `${fault}-${k}`);
      await cp(template, dir, { recursive: true });
      const r = run(dir, 'new', k, fault);
      const what = `${fault} at step ${k} (${steps[k - 1]})`;
      // Still up: the run ends with a report whose errors name the disk (a failed fsync of a folder
      // after a delete is best effort and may go unreported), or, for the lock and state files, one clear error.
      const clean = r.status === 0 ? r.out!.errors.every((e) => ['DISK_FULL', 'IO'].includes(e.code)) : /DISK_FULL|IO|ENOSPC|EIO/.test(r.stderr);
      expect(clean, `${what}: status ${r.status} ${JSON.stringify(r.out?.errors)} ${r.stderr.slice(0, 300)}`).toBe(true);
      expect(await problemsAfter(dir), what).toEqual([]);
      expect(await healed(dir), what).toEqual([]);
      await rm(dir, { recursive: true, force: true });
    }
  }, 150_000);

  // Found by this proof: a kill after the run lock was created but before its pid was written left
  // an empty lock that blocked every later run. The lock now appears with its pid already in it.
  it('a kill at each step of taking the run lock does not block the next run', async () => {
    const lockSteps = steps.flatMap((s, i) => (isLockStep(s) ? [i + 1] : []));
    expect(lockSteps.length).toBeGreaterThanOrEqual(2);
    for (const k of lockSteps) {
      const dir = join(root, `lock-${k}`);
      await cp(template, dir, { recursive: true });
      expect(run(dir, 'new', k).signal, `step ${k} (${steps[k - 1]})`).toBe('SIGKILL');
      expect(await healed(dir, 6_000), `after a kill at step ${k} (${steps[k - 1]})`).toEqual([]);
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
