import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isTempName, tempPathFor, writeFileAtomic } from './atomic.js';

describe('writeFileAtomic', () => {
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => { const d = await mkdtemp(join(tmpdir(), 'dman-atomic-')); dirs.push(d); return d; };
  afterEach(async () => { await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))); });
  it('replaces content, sets the mode and leaves no temp file', async () => {
    const dir = await tempDir();
    const f = join(dir, 'a', 'b.txt');
    await writeFileAtomic(f, 'one', { mode: 0o600 });
    await writeFileAtomic(f, Readable.from([Buffer.from('tw'), Buffer.from('o')]), { mode: 0o600 });
    expect(await readFile(f, 'utf8')).toBe('two');
    expect((await stat(f)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'a'))).toEqual(['b.txt']);
  });
  it('keeps the old content when the stream fails midway', async () => {
    const dir = await tempDir();
    const f = join(dir, 'c.txt');
    await writeFile(f, 'old');
    const failing = new Readable({ read() { this.push(Buffer.from('partial')); this.destroy(new Error('boom')); } });
    await expect(writeFileAtomic(f, failing)).rejects.toThrow('boom');
    expect(await readFile(f, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['c.txt']);
  });
  it('names temp files recognisably', () => {
    expect(isTempName(tempPathFor('/x/.zshrc').split('/').pop()!)).toBe(true);
    expect(isTempName('.zshrc')).toBe(false);
  });
});
