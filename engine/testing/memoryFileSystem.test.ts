// The FileSystem port's two implementations answer alike (a contract run on a real temp dir
// through nodeFileSystem and on memfs), and the memory one adds simulated time and faults.
import { constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryClock } from '../ports/Clock.js';
import { nodeFileSystem, type FileSystem } from '../ports/FileSystem.js';
import { createMemoryFileSystem, errnoError, isWriteOp } from './memoryFileSystem.js';

const dirs: string[] = [];
afterAll(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (err: NodeJS.ErrnoException) => err.code ?? 'no code');

/** The calls the engine makes, in the order an install, a scan and a delete make them; returns what each answered. */
async function contract(fs: FileSystem, root: string): Promise<unknown[]> {
  const out: unknown[] = [];
  await fs.mkdir(join(root, 'a/b'), { recursive: true });
  const fh = await fs.open(join(root, 'a/b/.f.tmp'), 'wx', 0o600);
  await fh.writeFile('hello world\n');
  await fh.chmod(0o640);
  await fh.sync();
  await fh.close();
  out.push(await code(fs.open(join(root, 'a/b/.f.tmp'), 'wx')));
  await fs.rename(join(root, 'a/b/.f.tmp'), join(root, 'a/b/f'));
  const st = await fs.lstat(join(root, 'a/b/f'));
  out.push(st.isFile(), st.size, st.mode & 0o7777);
  out.push((await fs.readFile(join(root, 'a/b/f'))).toString());
  const rd = await fs.open(join(root, 'a/b/f'), 'r');
  const buf = Buffer.alloc(5);
  out.push((await rd.read(buf, 0, 5, 0)).bytesRead, buf.toString());
  await rd.close();
  const parts: Buffer[] = [];
  for await (const c of fs.createReadStream(join(root, 'a/b/f'), { highWaterMark: 4 })) parts.push(c as Buffer);
  out.push(Buffer.concat(parts).toString(), parts.length);
  await fs.symlink('b/f', join(root, 'a/link'));
  out.push(await fs.readlink(join(root, 'a/link')), (await fs.lstat(join(root, 'a/link'))).isSymbolicLink(), (await fs.stat(join(root, 'a/link'))).isFile());
  out.push((await fs.realpath(join(root, 'a/link'))) === join(await fs.realpath(root), 'a/b/f'));
  out.push((await fs.readdir(join(root, 'a'))).sort(), (await fs.readdirTypes(join(root, 'a'))).map((d) => [d.name, d.isDirectory(), d.isSymbolicLink()]).sort());
  out.push(fs.readdirTypesSync(join(root, 'a')).length, fs.lstatSync(join(root, 'a/b/f')).size, fs.statSync(join(root, 'a')).isDirectory());
  out.push(fs.readFileSync(join(root, 'a/b/f')).toString(), fs.readlinkSync(join(root, 'a/link')));
  const fd = fs.openSync(join(root, 'a/b/f'), 'r');
  const head = Buffer.alloc(8);
  out.push(fs.readSync(fd, head, 0, 8, 0), head.toString());
  fs.closeSync(fd);
  let syncErr = 'ok';
  try { fs.lstatSync(join(root, 'nope')); } catch (err) { syncErr = (err as NodeJS.ErrnoException).code ?? 'no code'; }
  out.push(syncErr);
  const dir = await fs.open(join(root, 'a/b'), constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
  await dir.sync();
  await dir.close();
  out.push(await code(fs.rmdir(join(root, 'a/b'))), await code(fs.lstat(join(root, 'nope'))), await code(fs.readFile(join(root, 'a/b'))));
  await fs.unlink(join(root, 'a/link'));
  await fs.rm(join(root, 'a/b/f'), { force: true });
  await fs.rm(join(root, 'a/b/f'), { force: true });
  await fs.rmdir(join(root, 'a/b'));
  out.push(await fs.readdir(join(root, 'a')));
  return out;
}

describe('FileSystem port', () => {
  it('answers the same on node:fs and on memfs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dman-fsport-'));
    dirs.push(dir);
    const mem = createMemoryFileSystem();
    await mem.mkdir('/root', { recursive: true });
    const real = await contract(nodeFileSystem, dir);
    expect(await contract(mem, '/root')).toEqual(real);
    expect(real).toContain('EEXIST');
    expect(real).toContain('ENOTEMPTY');
  });

  it('stamps file times from the injected clock', async () => {
    const clock = createMemoryClock(Date.UTC(2026, 0, 1));
    const fs = createMemoryFileSystem({ clock });
    await fs.mkdir('/h', { recursive: true });
    const fh = await fs.open('/h/f', 'wx', 0o644);
    await fh.writeFile('x');
    await fh.close();
    expect((await fs.lstat('/h/f')).mtimeMs).toBe(Date.UTC(2026, 0, 1));
    clock.advance(90_000);
    const again = await fs.open('/h/f', 'w');
    await again.writeFile('yy');
    await again.close();
    const st = await fs.lstat('/h/f');
    expect(st.mtimeMs).toBe(Date.UTC(2026, 0, 1) + 90_000);
    expect(st.size).toBe(2);
    // The real Date is back outside the calls.
    expect(new Date().getTime()).toBeGreaterThan(Date.UTC(2026, 0, 1) + 90_000 + 1);
  });

  it('lets a hook fail the k-th write; the failed call has no effect', async () => {
    const fs = createMemoryFileSystem({ files: { '/h/keep': 'old\n' } });
    let writes = 0;
    const ops: string[] = [];
    const faulty = fs.withHook((op, path) => {
      ops.push(op);
      if (isWriteOp(op) && ++writes === 3) throw errnoError('ENOSPC', op, path);
    });
    const fh = await faulty.open('/h/.keep.tmp', 'wx', 0o644); // write 1
    await fh.writeFile('new\n'); // write 2
    await expect(fh.sync()).rejects.toMatchObject({ code: 'ENOSPC' }); // write 3
    await fh.close();
    await faulty.rename('/h/.keep.tmp', '/h/other'); // write 4: fine again
    expect((await fs.readFile('/h/keep')).toString()).toBe('old\n');
    expect(ops).toEqual(['openWrite', 'write', 'sync', 'rename']);
    // The plain view of the same volume has no hook.
    await expect(fs.rename('/h/other', '/h/third')).resolves.toBeUndefined();
    expect(fs.vol.existsSync('/h/third')).toBe(true);
    // The volume-wide hook applies to every view.
    fs.before = (op) => { if (op === 'readFile') throw errnoError('EIO', op, ''); };
    await expect(faulty.readFile('/h/keep')).rejects.toMatchObject({ code: 'EIO' });
    await expect(fs.readFile('/h/keep')).rejects.toMatchObject({ code: 'EIO' });
  });

  it('completes every call within a microtask turn (the simulation scheduler relies on it)', async () => {
    const fs = createMemoryFileSystem({ files: { '/h/f': 'data\n' } });
    let done = false;
    void (async () => {
      await fs.lstat('/h/f');
      const fh = await fs.open('/h/.t', 'wx');
      await fh.writeFile('x');
      await fh.sync();
      await fh.close();
      await fs.rename('/h/.t', '/h/g');
      done = true;
    })();
    await new Promise<void>((r) => queueMicrotask(r));
    for (let i = 0; i < 20 && !done; i++) await Promise.resolve();
    expect(done).toBe(true);
  });
});
