import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRunLock } from './runLock.js';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dman-lock-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

describe('acquireRunLock', () => {
  it('holds the lock with our pid and releases it', async () => {
    const f = join(dir, 'sub', 'alice.lock');
    const release = await acquireRunLock(f);
    expect(await readFile(f, 'utf8')).toBe(String(process.pid));
    await release();
    await (await acquireRunLock(f))();
  });
  it('takes over a lock whose process is gone', async () => {
    const f = join(dir, 'alice.lock');
    await writeFile(f, '999999999');
    const release = await acquireRunLock(f, { waitMs: 100 });
    expect(await readFile(f, 'utf8')).toBe(String(process.pid));
    await release();
  });
  it('refuses while a live process holds it', async () => {
    const f = join(dir, 'alice.lock');
    await writeFile(f, String(process.ppid));
    await expect(acquireRunLock(f, { waitMs: 50, what: 'alice' })).rejects.toMatchObject({ code: 'IO', message: expect.stringContaining('syncing alice') });
  });
  it('takes over a lock left empty by an older crashed run, once it is clearly stale', async () => {
    const f = join(dir, 'alice.lock');
    await writeFile(f, '');
    const old = new Date(Date.now() - 60_000);
    await utimes(f, old, old);
    const release = await acquireRunLock(f, { waitMs: 100 });
    expect(await readFile(f, 'utf8')).toBe(String(process.pid));
    await release();
  });
  it('leaves no temp files behind, held or released', async () => {
    const f = join(dir, 'alice.lock');
    const release = await acquireRunLock(f);
    expect(await readdir(dir)).toEqual(['alice.lock']);
    await release();
    expect(await readdir(dir)).toEqual([]);
  });
});
