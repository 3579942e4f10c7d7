import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
});
