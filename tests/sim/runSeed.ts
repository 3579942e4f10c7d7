// One seed of the randomized simulation: three engines on temp homes and one server (in-process
// MemoryRemote, or a real HTTP server over a DiskStore), random edits, deletes, renames, mode
// changes, editor-style saves, dropped requests, lost replies and server restarts; then healing and
// the checks: every home equals the server, and no acknowledged edit is lost.
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createEngine } from '../../engine/createEngine.js';
import type { Engine, SyncReport } from '../../engine/Engine.js';
import { silentLogger } from '../../engine/log.js';
import { isConflictCopy, type ConflictPolicy } from '../../engine/plan/planSync.js';
import { createHttpRemote } from '../../engine/remote/HttpRemote.js';
import { createMemoryRemote } from '../../engine/remote/MemoryRemote.js';
import { fetchAllChanges, type Remote } from '../../engine/remote/Remote.js';
import { testConfig } from '../../engine/testing/engineFixture.js';
import { createServer, type DmanServer } from '../../server/app.js';
import { mintToken } from '../../server/auth/tokens.js';
import { DiskStore } from '../../server/store/DiskStore.js';
import { withFaults, type Faults } from './faultyRemote.js';
import { createRng, type Rng } from './prng.js';

/** How a seed reaches its server. */
export type Transport = 'memory' | 'http';

/** What a seed found. */
export interface SeedResult { seed: number; transport: Transport; policy: ConflictPolicy; problems: string[]; trace: string[] }

const PATHS = ['a.txt', 'b.txt', 'conf/c.rc', 'conf/d.rc', 'deep/x/e.sh'];
const POLICIES: ConflictPolicy[] = ['keep-both', 'server-wins', 'local-wins', 'merge', 'ask'];
const MODES = [0o644, 0o600, 0o755];
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

interface Machine { name: string; home: string; engine: Engine; faults: Faults }
interface Ack { machine: string; path: string; hash: string | null; step: number }

/** A server the seed can restart (HTTP) or take down (memory). */
interface Server { remoteFor(device: string): Remote; direct: Remote; restart(): Promise<void>; close(): Promise<void> }

async function memoryServer(): Promise<Server> {
  const remote = createMemoryRemote();
  return { remoteFor: () => remote, direct: remote, restart: async () => {}, close: async () => {} };
}

async function httpServer(root: string): Promise<Server> {
  const dataDir = join(root, 'server');
  const tokens = new Map<string, string>();
  let store = new DiskStore({ dataDir, fsync: false });
  await store.open();
  for (const device of ['m0', 'm1', 'm2', 'direct']) {
    const t = mintToken({ user: 'alice', device, admin: false, now: Date.now() });
    await store.putToken(t.record);
    tokens.set(device, t.token);
  }
  const make = (): DmanServer => createServer({ store, log: silentLogger(), users: ['alice'], retention: { versions: 1000, days: 3650, gcIntervalMs: 0 }, version: 'sim' });
  let server = make();
  const url = await server.listen('127.0.0.1:0');
  const addr = url.replace(/^http:\/\//, '');
  const remote = (device: string) => createHttpRemote({ url, token: tokens.get(device), log: silentLogger(), retries: 0, timeoutMs: 10_000 });
  return {
    remoteFor: remote,
    direct: remote('direct'),
    async restart() {
      await server.close();
      await store.close();
      store = new DiskStore({ dataDir, fsync: false });
      await store.open();
      server = make();
      await server.listen(addr);
    },
    async close() {
      await server.close();
      await store.close();
    },
  };
}

/** Lists a home's files (conflict copies apart) as path → "hash mode". */
async function snapshot(home: string): Promise<{ files: Map<string, string>; copies: string[] }> {
  const files = new Map<string, string>();
  const copies: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const d of await readdir(join(home, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) await walk(p);
      else if (isConflictCopy(p)) copies.push(p);
      else {
        const abs = join(home, p);
        files.set(p, `${sha(await readFile(abs))} ${((await stat(abs)).mode & 0o777).toString(8)}`);
      }
    }
  };
  await walk('');
  return { files, copies };
}

/** Runs one seed and returns the problems it found (empty: the seed passed). */
export async function runSeed(seed: number, transport: Transport = 'memory'): Promise<SeedResult> {
  const rng: Rng = createRng(seed);
  const policy = POLICIES[seed % POLICIES.length]!;
  const trace: string[] = [];
  const problems: string[] = [];
  const root = await mkdtemp(join(tmpdir(), `dman-sim-${seed}-`));
  const server = transport === 'http' ? await httpServer(root) : await memoryServer();
  const machines: Machine[] = [];
  const acks: Ack[] = [];
  let counter = 0;
  try {
    for (let i = 0; i < 3; i++) {
      const name = `m${i}`;
      const home = join(root, name);
      await mkdir(home);
      const faults: Faults = { drop: 0, loseReply: 0, down: false };
      const remote = withFaults(server.remoteFor(name), faults, createRng(seed * 7 + i));
      const config = testConfig(home, { device: name, policy, server_url: server.direct.url, mass_change: { ratio: 1, min_files: 1_000 } });
      const engine = createEngine({ config, log: silentLogger(), stateDir: join(root, `state-${name}`), remote, noSyncState: true, rescanMs: 0 });
      machines.push({ name, home, engine, faults });
    }

    const content = (m: Machine, path: string): string => {
      // Line-structured text so merges have something to work on; mostly one line changes.
      const lines = ['# header', `line ${rng.int(3)}`, 'middle', `tail ${rng.int(3)}`];
      lines[1 + rng.int(3)] = `${m.name} edit ${++counter} of ${path}`;
      return `${lines.join('\n')}\n`;
    };
    const abs = (m: Machine, p: string) => join(m.home, p);
    const exists = (m: Machine, p: string) => stat(abs(m, p)).then((s) => s.isFile(), () => false);

    const syncOnce = async (m: Machine, step: number, yes = false): Promise<SyncReport | null> => {
      const before = (await snapshot(m.home)).files;
      let r: SyncReport;
      try {
        r = await m.engine.sync({ direction: 'both', yes });
      } catch (err) {
        trace.push(`${step} ${m.name} sync threw ${(err as Error).message}`);
        if ((err as { code?: string }).code === 'MASS_CHANGE') return null;
        throw err;
      }
      const u = r.users[0]!;
      const acted = u.actions.filter((a) => a.type !== 'nothing').map((a) => `${a.type}${a.conflict ? `(${a.conflict})` : ''}${a.error ? '!' : ''} ${a.path}`);
      trace.push(`${step} ${m.name} sync${r.offline ? ` OFFLINE (${u.errors.map((e) => e.message).join('; ')})` : ''}: ${acted.join(', ') || '-'}${u.conflicts.length ? ` open=${u.conflicts.map((c) => c.path).join('|')}` : ''}`);
      // A publish the run reports as done is acknowledged: the local bytes now are what it sent.
      for (const a of u.actions) {
        if (a.type !== 'publish' || a.error) continue;
        const has = await exists(m, a.path);
        acks.push({ machine: m.name, path: a.path, hash: has ? sha(await readFile(abs(m, a.path))) : null, step });
      }
      // Nothing local vanishes unless a policy chose to drop it: content an install replaced is
      // the base (on the server's record), or kept in a conflict copy.
      for (const a of u.actions) {
        if (a.type !== 'install' || a.error || a.conflict === 'server-wins') continue;
        const pre = before.get(a.path)?.split(' ')[0];
        if (!pre) continue;
        const now = (await exists(m, a.path)) ? sha(await readFile(abs(m, a.path))) : null;
        if (now === pre) continue;
        const hist = await server.direct.history('alice', a.path);
        const copies = (await snapshot(m.home)).copies;
        const kept = await Promise.all(copies.map(async (c) => sha(await readFile(join(m.home, c))) === pre));
        if (!hist.some((e) => e.hash === pre) && !kept.includes(true)) problems.push(`step ${step}: ${m.name}'s local content of ${a.path} (${pre.slice(0, 8)}) was replaced by an install and is neither on the server nor in a conflict copy`);
      }
      return r;
    };

    const steps = 10 + rng.int(12);
    for (let step = 0; step < steps; step++) {
      const m = rng.pick(machines);
      const p = rng.pick(PATHS);
      const roll = rng.next();
      if (roll < 0.2) {
        await mkdir(dirname(abs(m, p)), { recursive: true });
        await rm(abs(m, p), { recursive: true, force: true }).catch(() => {});
        await writeFile(abs(m, p), content(m, p));
        trace.push(`${step} ${m.name} write ${p}`);
      } else if (roll < 0.28) {
        // Editor-style save: write a temp file beside it, then rename over.
        await mkdir(dirname(abs(m, p)), { recursive: true });
        const tmp = join(dirname(abs(m, p)), `.${p.split('/').pop()}.swp${counter}`);
        await writeFile(tmp, content(m, p));
        await rename(tmp, abs(m, p));
        trace.push(`${step} ${m.name} editor-save ${p}`);
      } else if (roll < 0.34) {
        if (await exists(m, p)) { await rm(abs(m, p)); trace.push(`${step} ${m.name} delete ${p}`); }
      } else if (roll < 0.39) {
        const to = rng.pick(PATHS.filter((x) => x !== p));
        if (await exists(m, p)) {
          await mkdir(dirname(abs(m, to)), { recursive: true });
          await rename(abs(m, p), abs(m, to));
          trace.push(`${step} ${m.name} rename ${p} -> ${to}`);
        }
      } else if (roll < 0.44) {
        if (await exists(m, p)) { const mode = rng.pick(MODES); await chmod(abs(m, p), mode); trace.push(`${step} ${m.name} chmod ${p} ${mode.toString(8)}`); }
      } else if (roll < 0.49) {
        for (const x of machines) x.faults.drop = rng.chance(0.5) ? 0.3 : 0;
        for (const x of machines) x.faults.loseReply = rng.chance(0.5) ? 0.4 : 0;
        trace.push(`${step} faults drop=${machines.map((x) => x.faults.drop).join('/')} lose=${machines.map((x) => x.faults.loseReply).join('/')}`);
      } else if (roll < 0.52) {
        trace.push(`${step} server restart`);
        for (const x of machines) x.faults.down = true;
        await syncOnce(m, step); // a run while the server is away: must stay offline, lose nothing
        await server.restart();
        for (const x of machines) x.faults.down = false;
      } else {
        await syncOnce(m, step);
      }
    }

    // Heal: no faults, sync rounds until a whole round changes nothing (bounded).
    for (const x of machines) Object.assign(x.faults, { drop: 0, loseReply: 0, down: false });
    let quiet = false;
    for (let round = 0; round < 10 && !quiet; round++) {
      quiet = true;
      for (const m of machines) {
        const r = await syncOnce(m, 1000 + round, true);
        const u = r!.users[0]!;
        if (r!.offline || u.errors.length) problems.push(`heal round ${round}: ${m.name} failed: ${JSON.stringify(u.errors)}`);
        if (u.actions.some((a) => a.type !== 'nothing' && a.type !== 'conflict')) quiet = false;
        for (const c of u.conflicts) {
          const keep = rng.pick(['local', 'server', 'both'] as const);
          trace.push(`heal ${m.name} resolve ${c.path} --keep ${keep}`);
          await m.engine.resolve('alice', c.path, keep);
          quiet = false;
        }
      }
    }
    if (!quiet) problems.push('not quiescent after 10 heal rounds');

    // Every home equals the server.
    const { entries } = await fetchAllChanges(server.direct, 'alice', 0);
    const live = new Map<string, string>();
    const latest = new Map<string, typeof entries[number]>();
    for (const e of entries) latest.set(e.path, e);
    for (const e of latest.values()) if (!e.deleted && !isConflictCopy(e.path)) live.set(e.path, `${e.hash} ${e.mode.toString(8)}`);
    const homes = await Promise.all(machines.map((m) => snapshot(m.home)));
    homes.forEach((h, i) => {
      const a = JSON.stringify([...h.files].sort());
      const b = JSON.stringify([...live].sort());
      if (a !== b) problems.push(`${machines[i]!.name} differs from the server:\n    home   ${a}\n    server ${b}`);
    });
    const open = (await Promise.all(machines.map((m) => m.engine.conflicts()))).flat();
    if (open.length) problems.push(`conflicts left after healing: ${open.map((c) => c.path).join(', ')}`);

    // No acknowledged edit is lost: each acked version is on the server's record of that path
    // (the final content, or a version a later acknowledged write superseded, kept in history).
    const copyHashes = new Set<string>();
    for (const [i, h] of homes.entries()) for (const c of h.copies) copyHashes.add(sha(await readFile(join(machines[i]!.home, c))));
    for (const ack of acks) {
      const hist = await server.direct.history('alice', ack.path);
      const found = hist.some((e) => (ack.hash === null ? e.deleted : e.hash === ack.hash)) || (ack.hash !== null && copyHashes.has(ack.hash));
      if (!found) problems.push(`acknowledged ${ack.hash ? 'edit' : 'delete'} of ${ack.path} by ${ack.machine} at step ${ack.step} is not on the server (history: ${hist.map((e) => `${e.rev}:${e.deleted ? 'del' : e.hash!.slice(0, 8)}`).join(' ')}; acked ${ack.hash?.slice(0, 8) ?? 'del'})`);
    }
  } catch (err) {
    problems.push(`threw: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await Promise.allSettled(machines.map((m) => m.engine.close()));
    await server.close().catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
  return { seed, transport, policy, problems, trace };
}
