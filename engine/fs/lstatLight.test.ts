// lstatLight answers what the walk reads of an lstat exactly as lstatSync does (the numbers to the
// last bit, the types, the errors), and falls back to lstatSync whenever node's fs binding answers
// otherwise.
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedLightLstat, lstatLight, lstatLightWay, type StatLike } from './lstatLight.js';

const FIELDS = ['dev', 'ino', 'mode', 'size', 'mtimeMs', 'ctimeMs'] as const;
const TYPES = ['isFile', 'isDirectory', 'isSymbolicLink', 'isSocket', 'isFIFO'] as const;
const view = (st: StatLike): Record<string, unknown> => ({ ...Object.fromEntries(FIELDS.map((f) => [f, st[f]])), ...Object.fromEntries(TYPES.map((t) => [t, st[t]()])) });
const codeOf = (fn: () => unknown): { code: unknown; message: unknown } => {
  try {
    fn();
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code, message: (err as Error).message };
  }
  throw new Error('did not throw');
};

const posix = process.platform !== 'win32';
let dir: string;
let sock: Server | null = null;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dman-lstat-'));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'file'), 'some bytes\n');
  symlinkSync('no-such-target', join(dir, 'dangling'));
  symlinkSync('file', join(dir, 'link'));
  // Times with nanoseconds: the milliseconds must come out as fs.Stats computes them.
  for (let i = 0; i < 200; i++) {
    const p = join(dir, `t${i}`);
    writeFileSync(p, 'x'.repeat(i));
    const t = 1_700_000_000 + i * 7919.123456789 + (i % 13) / 1e9;
    utimesSync(p, t, t);
  }
  if (posix) {
    spawnSync('mkfifo', [join(dir, 'fifo')]);
    sock = createServer();
    await new Promise<void>((resolve) => sock!.listen(join(dir, 'sock'), resolve));
  }
});
afterAll(async () => {
  await new Promise<void>((resolve) => (sock ? sock.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('lstatLight', () => {
  it('takes node\'s fs binding on Node 20 on POSIX, where the self-check passes (elsewhere it may fall back)', () => {
    if (posix && process.versions.node.startsWith('20.')) expect(lstatLightWay()).toBe('binding');
    else expect(['binding', 'lstatSync']).toContain(lstatLightWay());
  });

  it('gives lstatSync\'s numbers and types for files, folders, symlinks, a fifo and a socket', () => {
    const names = ['file', 'sub', 'dangling', 'link', ...(posix ? ['fifo', 'sock'] : []), ...Array.from({ length: 200 }, (_, i) => `t${i}`)];
    for (const n of names) expect(view(lstatLight(join(dir, n))), n).toEqual(view(lstatSync(join(dir, n))));
    expect(lstatLight(join(dir, 'link')).isSymbolicLink()).toBe(true);
    expect(lstatLight(join(dir, 'sub')).isDirectory()).toBe(true);
    if (posix) {
      expect(lstatLight(join(dir, 'fifo')).isFIFO()).toBe(true);
      expect(lstatLight(join(dir, 'sock')).isSocket()).toBe(true);
    }
    // Sub-millisecond times survive as the same double.
    expect(lstatLight(join(dir, 't5')).mtimeMs % 1).not.toBe(0);
  });

  it('throws lstatSync\'s errors: code and message', () => {
    for (const p of [join(dir, 'missing'), join(dir, 'file', 'under-a-file'), join(dir, 'dangling', 'x')]) {
      expect(codeOf(() => lstatLight(p))).toEqual(codeOf(() => lstatSync(p)));
    }
    expect(codeOf(() => lstatLight(join(dir, 'missing'))).code).toBe('ENOENT');
    // A NUL byte goes to lstatSync, which rejects it (the binding would stat a shorter path).
    expect(codeOf(() => lstatLight(`${join(dir, 'file')}\0tail`))).toEqual(codeOf(() => lstatSync(`${join(dir, 'file')}\0tail`)));
  });
});

describe('checkedLightLstat (the self-check)', () => {
  const probes = (): string[] => [dir, join(dir, 'file')];
  const missing = (): string => join(dir, 'missing');
  /** uv_stat_t's numbers as node's binding gives them, from an fs.Stats (bigint, for the nanoseconds). */
  const numbers = (p: string): Float64Array => {
    const b = lstatSync(p, { bigint: true });
    const ts = (ns: bigint): [number, number] => [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
    return new Float64Array([Number(b.dev), Number(b.mode), Number(b.nlink), Number(b.uid), Number(b.gid), Number(b.rdev), Number(b.blksize), Number(b.ino), Number(b.size), Number(b.blocks),
      ...ts(b.atimeNs), ...ts(b.mtimeNs), ...ts(b.ctimeNs), ...ts(b.birthtimeNs)]);
  };
  const honest = (p: string): Float64Array => { lstatSync(p); return numbers(p); };

  it('takes a binding that answers as lstatSync does', () => {
    const light = checkedLightLstat(honest, probes(), missing());
    expect(light).not.toBeNull();
    expect(view(light!(join(dir, 't7')))).toEqual(view(lstatSync(join(dir, 't7'))));
  });

  it('refuses a missing binding, wrong numbers, a binding that throws, and one that does not throw for a missing path', () => {
    expect(checkedLightLstat(undefined, probes(), missing())).toBeNull();
    // Another field order (a Node that changed uv_stat_t's layout): size where the inode was.
    expect(checkedLightLstat((p) => { const a = honest(p); [a[7], a[8]] = [a[8]!, a[7]!]; return a; }, probes(), missing())).toBeNull();
    // Times a millisecond off.
    expect(checkedLightLstat((p) => { const a = honest(p); a[13] = a[13]! + 1_000_000; return a; }, probes(), missing())).toBeNull();
    expect(checkedLightLstat(() => { throw Object.assign(new Error('EPERM'), { code: 'EPERM' }); }, probes(), missing())).toBeNull();
    // An older binding that reported errors through a context object instead of throwing: zeros for a missing path.
    expect(checkedLightLstat((p) => { try { return honest(p); } catch { return new Float64Array(18); } }, probes(), missing())).toBeNull();
    // Another error than lstatSync's.
    expect(checkedLightLstat((p) => { if (p === missing()) throw Object.assign(new Error('EACCES'), { code: 'EACCES' }); return honest(p); }, probes(), missing())).toBeNull();
  });
});
