// Differential test: random sequences of uploads, commits (right, stale, zero and null bases,
// deletes, repeated idempotency keys), retention, gc and reopens give DiskStore exactly the
// answers of the in-memory reference model.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDmanError } from '../../shared/errors.js';
import type { CommitOp } from '../../shared/protocol.js';
import { DiskStore } from './DiskStore.js';
import { MemoryStore } from './MemoryStore.js';
import type { Store } from './Store.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const USERS = ['ann', 'ben'] as const;
const PATHS = ['.zshrc', '.gitconfig', '.config/nvim/init.lua', '.ssh/config', 'bin/x'] as const;
const CONTENTS = ['a', 'bb', 'ccc', 'dddd', 'eeeee'].map((c) => Buffer.from(c));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

type Base = { mode: 'current' } | { mode: 'zero' } | { mode: 'null' } | { mode: 'stale'; by: number };
type Cmd =
  | { t: 'upload'; user: number; content: number }
  | { t: 'commit'; user: number; key: number | null; ops: Array<{ path: number; del: boolean; content: number; base: Base }> }
  | { t: 'retention'; user: number; versions: number; days: number }
  | { t: 'gc' }
  | { t: 'reopen'; compactBytes: number };

const base: fc.Arbitrary<Base> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ mode: 'current' as const }) },
  fc.constant({ mode: 'zero' as const }),
  fc.constant({ mode: 'null' as const }),
  fc.record({ mode: fc.constant('stale' as const), by: fc.integer({ min: 1, max: 3 }) }),
);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('upload' as const), user: fc.integer({ min: 0, max: 1 }), content: fc.integer({ min: 0, max: 4 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('commit' as const),
      user: fc.integer({ min: 0, max: 1 }),
      key: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null }),
      ops: fc.uniqueArray(fc.record({ path: fc.integer({ min: 0, max: 4 }), del: fc.boolean(), content: fc.integer({ min: 0, max: 4 }), base }), { minLength: 1, maxLength: 4, selector: (o) => o.path }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('retention' as const), user: fc.integer({ min: 0, max: 1 }), versions: fc.integer({ min: 0, max: 2 }), days: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'gc' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const), compactBytes: fc.constantFrom(1, 4096, 1 << 30) }) },
);

async function step(s: Store, c: Cmd, now: number): Promise<unknown> {
  try {
    switch (c.t) {
      case 'upload': {
        const b = CONTENTS[c.content]!;
        return await s.putBlob(USERS[c.user]!, sha(b), Readable.from([b]), 100);
      }
      case 'commit': {
        const user = USERS[c.user]!;
        const ops: CommitOp[] = [];
        for (const o of c.ops) {
          const path = PATHS[o.path]!;
          const cur = (await s.getEntry(user, path))?.rev ?? 0;
          const baseRev = o.base.mode === 'current' ? cur : o.base.mode === 'zero' ? 0 : o.base.mode === 'null' ? null : cur + o.base.by;
          const b = CONTENTS[o.content]!;
          ops.push({ path, baseRev, deleted: o.del, kind: 'file', hash: o.del ? null : sha(b), size: o.del ? 0 : b.length, mode: 0o644, mtime: now });
        }
        return await s.commit({ user, device: 'dev', ops, now, ...(c.key === null ? {} : { idempotencyKey: `idem-key-${c.key}` }) });
      }
      case 'retention':
        return await s.applyRetention(USERS[c.user]!, { versions: c.versions, days: c.days }, now);
      case 'gc':
        return await s.gcBlobs({ graceMs: 0 });
      case 'reopen':
        return null;
    }
  } catch (err) {
    if (isDmanError(err)) return { error: err.code };
    throw err;
  }
}

async function dump(s: Store): Promise<unknown> {
  const out: Record<string, unknown> = { users: await s.listUsers() };
  for (const u of USERS) {
    out[u] = {
      head: await s.headRev(u),
      entries: await s.listEntries(u),
      feed: await s.changes(u, 0, 1000),
      history: await Promise.all(PATHS.map((p) => s.history(u, p))),
      stats: await s.stats(u),
      blobs: await Promise.all(CONTENTS.map((b) => s.hasBlob(u, sha(b)))),
    };
  }
  return out;
}

describe('DiskStore against the reference model', () => {
  it('answers every random sequence exactly as MemoryStore does, across reopens', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 25 }), async (cmds) => {
        const dir = await mkdtemp(join(tmpdir(), 'dman-model-'));
        const model = new MemoryStore();
        let disk = new DiskStore({ dataDir: dir, fsync: false });
        await disk.open();
        try {
          let now = T0;
          for (const c of cmds) {
            now += DAY / 2;
            if (c.t === 'reopen') {
              await disk.close();
              disk = new DiskStore({ dataDir: dir, fsync: false, compactBytes: c.compactBytes });
              await disk.open();
            }
            const [want, got] = [await step(model, c, now), await step(disk, c, now)];
            expect(got).toEqual(want);
          }
          expect(await dump(disk)).toEqual(await dump(model));
        } finally {
          await disk.close();
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
