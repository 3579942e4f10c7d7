// A watch run looks only at the paths the watcher reported (and the ones the change feed
// returned). For every kind of change, that scoped run must end where a full run ends: the same
// homes, the same server, the same open conflicts. Each case runs in two identical worlds, one
// driven by watcher reports, one by a full `sync`, and compares them.
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../createEngine.js';
import type { Engine } from '../Engine.js';
import { silentLogger } from '../log.js';
import { createMemoryRemote, type MemoryRemote } from '../remote/MemoryRemote.js';
import { createMemoryStateStore } from '../state/StateStore.js';
import { testConfig, tempDirs } from '../testing/engineFixture.js';
import { createMemoryWatcher, type MemoryWatcher } from './Watcher.js';

const dirs = tempDirs();
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.allSettled(engines.splice(0).map((e) => e.close()));
  await dirs.cleanup();
});

type Fs = { home: string };
interface Case {
  name: string;
  /** Change on this machine; returns the paths a watcher reports. */
  local?: (h: Fs) => Promise<string[]>;
  /** Change on the other machine (published before this machine looks). */
  remote?: (h: Fs) => Promise<void>;
}

const SEED: Record<string, string> = { '.zshrc': 'z\n', '.gitconfig': '[user]\n', '.config/nvim/init.lua': 'x\n', '.config/nvim/lua/a.lua': 'a\n', 'bin/tool': '#!/bin/sh\n' };

const cases: Case[] = [
  { name: 'edit', local: async ({ home }) => { await writeFile(join(home, '.zshrc'), 'z2\n'); return ['.zshrc']; } },
  { name: 'new file in a new folder', local: async ({ home }) => { await mkdir(join(home, '.config/git'), { recursive: true }); await writeFile(join(home, '.config/git/ignore'), '*.o\n'); return ['.config/git/ignore']; } },
  { name: 'delete', local: async ({ home }) => { await rm(join(home, '.gitconfig')); return ['.gitconfig']; } },
  { name: 'rename (delete + add)', local: async ({ home }) => { await rename(join(home, '.gitconfig'), join(home, '.gitconfig.old')); return ['.gitconfig', '.gitconfig.old']; } },
  { name: 'folder removed (one unlinkDir report)', local: async ({ home }) => { await rm(join(home, '.config/nvim'), { recursive: true }); return ['.config/nvim']; } },
  { name: 'editor-style save (temp + rename)', local: async ({ home }) => { await writeFile(join(home, '.zshrc.tmp-x'), 'z3\n'); await rename(join(home, '.zshrc.tmp-x'), join(home, '.zshrc')); return ['.zshrc.tmp-x', '.zshrc']; } },
  { name: 'mode only', local: async ({ home }) => { await chmod(join(home, 'bin/tool'), 0o755); return ['bin/tool']; } },
  { name: 'remote edit', remote: async ({ home }) => { await writeFile(join(home, '.gitconfig'), '[core]\n'); } },
  { name: 'remote delete', remote: async ({ home }) => { await rm(join(home, '.config/nvim/init.lua')); } },
  { name: 'remote new file', remote: async ({ home }) => { await writeFile(join(home, '.profile'), 'p\n'); } },
  {
    name: 'double edit (conflict)',
    local: async ({ home }) => { await writeFile(join(home, '.zshrc'), 'mine\n'); return ['.zshrc']; },
    remote: async ({ home }) => { await writeFile(join(home, '.zshrc'), 'theirs\n'); },
  },
  {
    name: 'same edit on both sides (converged)',
    local: async ({ home }) => { await writeFile(join(home, '.zshrc'), 'same\n'); return ['.zshrc']; },
    remote: async ({ home }) => { await writeFile(join(home, '.zshrc'), 'same\n'); },
  },
  {
    name: 'local delete, remote edit of another file',
    local: async ({ home }) => { await rm(join(home, 'bin/tool')); return ['bin/tool']; },
    remote: async ({ home }) => { await writeFile(join(home, '.config/nvim/lua/a.lua'), 'b\n'); },
  },
  { name: 'reported path that did not change', local: async () => ['.zshrc', 'not-there'] },
];

async function snapshotHome(home: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const d of await readdir(join(home, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) Object.assign(out, await snapshotHome(home, p));
    else out[p] = `${(await lstat(join(home, p))).mode & 0o777}:${await readFile(join(home, p), 'utf8')}`;
  }
  return out;
}

async function world(watcher?: MemoryWatcher): Promise<{ home: string; other: string; remote: MemoryRemote; engine: Engine; otherEngine: Engine; snapshot(): Promise<unknown> }> {
  const remote = createMemoryRemote();
  const home = await dirs.make('dman-scoped-');
  const other = await dirs.make('dman-scoped-other-');
  for (const [p, text] of Object.entries(SEED)) {
    await mkdir(join(home, p, '..'), { recursive: true });
    await writeFile(join(home, p), text, { mode: 0o644 });
  }
  const engine = createEngine({ config: testConfig(home, { device: 'here' }), remote, log: silentLogger(), stateDir: home, stateStore: createMemoryStateStore(), ...(watcher ? { watcher } : {}), rescanMs: 0 });
  const otherEngine = createEngine({ config: testConfig(other, { device: 'there' }), remote, log: silentLogger(), stateDir: other, stateStore: createMemoryStateStore() });
  engines.push(engine, otherEngine);
  await engine.sync({ direction: 'both', yes: true });
  await otherEngine.sync({ direction: 'both', yes: true });
  return {
    home, other, remote, engine, otherEngine,
    snapshot: async () => ({
      home: await snapshotHome(home),
      server: Object.fromEntries(remote.entries('alice').filter((e) => !e.deleted).map((e) => [e.path, `${e.mode & 0o777}:${e.hash}`])),
      conflicts: (await engine.conflicts()).map((c) => c.path).sort(),
    }),
  };
}

describe('a scoped watch run ends where a full run ends', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const full = await world();
      const watcher = createMemoryWatcher();
      const scoped = await world(watcher);
      // The scoped world watches; its first (full) run must be over before the change.
      const started = new Promise<void>((resolve) => scoped.engine.on((e) => { if (e.type === 'synced') resolve(); }));
      await scoped.engine.watch();
      await started;

      // Local edits land first, so the push-driven run sees them just as the full run does.
      const reported = c.local ? await c.local({ home: full.home }) : [];
      if (c.local) await c.local({ home: scoped.home });
      for (const w of [full, scoped]) {
        if (c.remote) { await c.remote({ home: w.other }); await w.otherEngine.sync({ direction: 'both', yes: true }); }
      }
      await full.engine.sync({ direction: 'both', yes: true });
      const expected = await full.snapshot();

      // No full run happens in the scoped world from here on (rescans are off): only the
      // watcher's report and the push stream drive it.
      if (reported.length) watcher.emit('alice', reported);
      let got: unknown;
      for (const t0 = Date.now(); ;) {
        got = await scoped.snapshot();
        if (JSON.stringify(got) === JSON.stringify(expected) || Date.now() - t0 > 5000) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(got).toEqual(expected);
    });
  }
});
