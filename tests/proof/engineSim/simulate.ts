// The seeded simulation of the REAL engine (issue 9): three `createEngine` processes, each on
// its own in-memory home (memfs through the engine's FileSystem port, with file times from the
// machine's skewed Clock) and an in-memory state store that survives its crashes, syncing
// through a MemoryRemote server behind the seeded scheduler and fault layer (network.ts). The
// user edits, deletes, renames, saves editor-style (temp + rename) and changes modes; faults drop
// requests, lose and duplicate commit replies, reorder replies, cut a client off, take the server
// down, skew clocks, crash a process (mid-run: at a network call or at its k-th file-system
// write; its engine is abandoned and a new one starts on the same home and state store) and
// fail a write with ENOSPC or EIO. After healing it checks: every home equals the server, no
// open conflict, bounded rounds, no torn file, no user content lost, an edit beats a concurrent
// delete, no silent overwrite, duplicated commits applied once, acknowledged commits kept.
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { createEngine } from '../../../engine/createEngine.js';
import type { Engine, Resolution, SyncReport } from '../../../engine/Engine.js';
import { isTempName } from '../../../engine/fs/atomic.js';
import { silentLogger } from '../../../engine/log.js';
import { isConflictCopy, type ConflictPolicy } from '../../../engine/plan/planSync.js';
import type { Clock } from '../../../engine/ports/Clock.js';
import type { FileSystem } from '../../../engine/ports/FileSystem.js';
import { createMemoryRemote, type MemoryRemote } from '../../../engine/remote/MemoryRemote.js';
import { createMemoryStateStore, type StateStore } from '../../../engine/state/StateStore.js';
import { testConfig } from '../../../engine/testing/engineFixture.js';
import { createMemoryFileSystem, errnoError, isWriteOp, type MemoryFileSystem } from '../../../engine/testing/memoryFileSystem.js';
import { createRng, type Rng } from '../../sim/prng.js';
import { Crash, createScheduler, settle, type Scheduler } from '../sim/scheduler.js';
import { scheduledRemote, type CommitSeen, type NetFaults } from './network.js';

/** What one seed found. */
export interface EngineSimResult {
  seed: number;
  policy: ConflictPolicy;
  violations: string[];
  /** SHA-256 of the trace: the same seed gives the same hash. */
  traceHash: string;
  trace: string[];
  /** Heal rounds needed to go quiet (-1: the harness failed). */
  healRounds: number;
  stats: EngineSimStats;
}

export interface EngineSimStats { events: number; runs: number; crashes: number; fsCrashes: number; diskErrors: number; commits: number; faults: number; conflictsResolved: number; leftoverTemps: number }

/** Deliberate bugs at the engine's ports: the simulation must catch each (proof its checks bite on the real engine). */
export type EngineSimCanary = 'none' | 'rename-truncates' | 'commit-acked-not-stored' | 'mtime-frozen';

const USER = 'alice';
const HOME = '/home/alice';
const PATHS = ['a.txt', 'b.txt', 'conf/c.rc', 'conf/d.rc', 'deep/x/e.sh'];
const POLICIES: ConflictPolicy[] = ['ask', 'keep-both', 'server-wins', 'local-wins', 'merge'];
const MODES = [0o644, 0o600, 0o755];
const MAX_HEAL_ROUNDS = 8;
const HOUR = 3_600_000;
const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** One process of a client: its engine, and whether it crashed. */
interface Incarnation { n: number; engine: Engine; dead: boolean; writes: number; crashAtWrite: number | null; failAtWrite: { at: number; code: 'ENOSPC' | 'EIO' } | null }

interface Client {
  name: string;
  fs: MemoryFileSystem;
  store: StateStore;
  skew: number;
  cut: boolean;
  inc: Incarnation;
  incarnations: number;
  /** Every `hash mode` this home held at each path: what the client can have agreed on. */
  held: Map<string, Set<string>>;
  /** A path being resolved as 'local' (the user chose to overwrite the server's version). */
  resolvingLocal: string | null;
}

/** A user's write: its unique marker line, where and by whom. */
interface Written { client: string; path: string; hash: string; superseded: boolean; exempt: boolean }

/** Runs one seed against the real engine. */
export async function runEngineSeed(seed: number, opts: { events?: number; canary?: EngineSimCanary } = {}): Promise<EngineSimResult> {
  const canary = opts.canary ?? 'none';
  const rng: Rng = createRng((seed * 2654435761) ^ 0x5eed);
  const policy = POLICIES[seed % POLICIES.length]!;
  const trace: string[] = [];
  const violations: string[] = [];
  const stats: EngineSimStats = { events: 0, runs: 0, crashes: 0, fsCrashes: 0, diskErrors: 0, commits: 0, faults: 0, conflictsResolved: 0, leftoverTemps: 0 };
  let clock = Date.UTC(2026, 0, 1);
  const server: MemoryRemote = createMemoryRemote({ now: () => clock });
  const sched: Scheduler = createScheduler();
  const net: NetFaults = { down: false, drop: 0, loseReply: 0, duplicate: 0 };
  /** Every line a user typed: a file with any other line is torn or invented. */
  const knownLines = new Set<string>();
  const userHashes = new Set<string>();
  const written = new Map<string, Written>();
  /** Every blob hash a commit stored, and each client's acknowledged commits. */
  const committed = new Set<string>();
  const acks: Array<{ who: string; path: string; rev: number; hash: string | null }> = [];
  const tasks = new Map<string, Promise<void>>();
  let counter = 0;
  const violate = (msg: string): void => { if (!violations.includes(msg)) violations.push(msg); trace.push(`VIOLATION ${msg}`); };

  // ---- clients: a home on memfs, a state store kept across crashes, an engine per process

  const makeClient = (name: string, i: number): Client => {
    const c = { name, skew: i === 0 ? 0 : (rng.int(7) - 3) * HOUR, cut: false, held: new Map(), resolvingLocal: null, incarnations: 0 } as unknown as Client;
    const machineClock: Clock = { now: () => clock + c.skew };
    c.fs = createMemoryFileSystem({ clock: machineClock });
    c.fs.vol.mkdirSync(HOME, { recursive: true });
    c.store = createMemoryStateStore();
    c.inc = start(c, machineClock);
    return c;
  };

  function start(c: Client, machineClock: Clock): Incarnation {
    const inc: Incarnation = { n: ++c.incarnations, engine: null as unknown as Engine, dead: false, writes: 0, crashAtWrite: null, failAtWrite: null };
    const die = (): Crash => { inc.dead = true; return new Crash(c.name); };
    // This process's file system: dead processes change nothing; a crash or a disk error can hit the k-th write.
    const fs: FileSystem = c.fs.withHook((op, path) => {
      if (inc.dead) throw new Crash(c.name);
      if (!isWriteOp(op)) return;
      inc.writes++;
      if (inc.crashAtWrite === inc.writes) { stats.fsCrashes++; trace.push(`  ${c.name}#${inc.n} CRASH at write ${inc.writes} (${op} ${shortPath(path)})`); throw die(); }
      if (inc.failAtWrite?.at === inc.writes) { stats.diskErrors++; trace.push(`  ${c.name}#${inc.n} ${inc.failAtWrite.code} at write ${inc.writes} (${op} ${shortPath(path)})`); throw errnoError(inc.failAtWrite.code, op, path); }
    });
    const portFs = canary === 'rename-truncates' ? truncatingRenames(fs) : canary === 'mtime-frozen' ? frozenMtimes(fs) : fs;
    const store: StateStore = {
      load: (url, user) => (inc.dead ? Promise.reject(new Crash(c.name)) : c.store.load(url, user)),
      save: (url, user, state) => (inc.dead ? Promise.reject(new Crash(c.name)) : c.store.save(url, user, state)),
    };
    const remote = scheduledRemote(server, { name: c.name, dead: () => inc.dead, cut: () => c.cut }, { sched, rng, net, trace, onCommit, onDuplicate, onAck, fakeAck: canary === 'commit-acked-not-stored' });
    const config = testConfig(HOME, { device: c.name, policy, server_url: server.url, mass_change: { ratio: 1, min_files: 1_000 } });
    // Every other process walks its home in one blocking pass (as one-shot commands do): both walks yield the same.
    inc.engine = createEngine({ config, log: silentLogger(), stateDir: '/state', stateStore: store, remote, clock: machineClock, fs: portFs, rescanMs: 0, blockingWalk: (seed + inc.n) % 2 === 0 });
    return inc;
  }

  const restart = (c: Client): void => {
    c.inc = start(c, { now: () => clock + c.skew });
    trace.push(`${c.name} restarts as #${c.inc.n}`);
  };

  // ---- what the server sees: commits, checked as they apply

  function onCommit(s: CommitSeen): void {
    if (!s.result.ok) return;
    stats.commits++;
    const c = clients.find((x) => x.name === s.who)!;
    for (const op of s.ops) {
      if (!op.deleted && op.hash) committed.add(op.hash);
      const cur = s.before.get(op.path);
      if (!cur || cur.deleted) continue;
      const curShape = `${cur.hash} ${cur.mode}`;
      if (c.held.get(op.path)?.has(curShape)) continue;
      if (op.deleted) {
        violate(`delete beat an edit: ${s.who} deleted ${op.path}@${cur.rev} (${cur.hash!.slice(0, 8)}), a version its home never held`);
      } else if (policy !== 'local-wins' && c.resolvingLocal !== op.path && !(policy === 'merge' && op.hash && mergedOver(c, op.path, op.hash, op.mode ?? 0o644, cur))) {
        violate(`silent overwrite: ${s.who} replaced ${op.path}@${cur.rev} (${cur.hash!.slice(0, 8)}), a version its home never held, without a conflict`);
      }
    }
  }
  /**
   * A merge may replace a version this home never held exactly: with a merged text, with the
   * remote text itself when the local side changed only the mode, or with the local text when
   * the remote side changed only the mode, which it must then keep (seed 17719 found a merge
   * that dropped it).
   */
  function mergedOver(c: Client, path: string, hash: string, mode: number, cur: { hash: string | null; mode: number }): boolean {
    if (hash === cur.hash || !userHashes.has(hash)) return true;
    const heldText = [...(c.held.get(path) ?? [])].some((h) => h.startsWith(`${cur.hash} `));
    return heldText && mode === cur.mode;
  }
  function onAck(who: string, entries: Array<{ path: string; rev: number; hash: string | null }>): void {
    for (const e of entries) acks.push({ who, path: e.path, rev: e.rev, hash: e.hash });
  }
  function onDuplicate(same: boolean, what: string): void {
    if (!same) violate(`a commit delivered twice applied twice: ${what}`);
  }

  const clients: Client[] = ['m0', 'm1', 'm2'].map(makeClient);

  // ---- the user and the world

  const content = (c: Client, path: string): Buffer => {
    const lines = ['# header', `line ${rng.int(3)}`, 'middle', `tail ${rng.int(3)}`];
    const marker = `${c.name} edit ${++counter} of ${path}`;
    lines[1 + rng.int(3)] = marker;
    for (const l of lines) knownLines.add(l);
    const data = Buffer.from(`${lines.join('\n')}\n`);
    userHashes.add(sha(data));
    written.set(marker, { client: c.name, path, hash: sha(data), superseded: false, exempt: false });
    return data;
  };
  const abs = (p: string): string => `${HOME}/${p}`;
  const fileAt = (c: Client, p: string): { data: Buffer; mode: number } | null => {
    try {
      const st = c.fs.vol.lstatSync(abs(p));
      if (!st.isFile()) return null;
      return { data: c.fs.vol.readFileSync(abs(p)) as Buffer, mode: Number(st.mode) & 0o7777 };
    } catch { return null; }
  };
  /** The user is about to replace or delete what is at `p`: unsynced content there is the user's own loss, not the engine's. */
  const supersede = (c: Client, p: string): void => {
    const f = fileAt(c, p);
    if (!f || committed.has(sha(f.data))) return;
    for (const line of f.data.toString('utf8').split('\n')) {
      const w = written.get(line);
      if (w && w.client === c.name) w.superseded = true;
    }
  };
  const noteHeld = (c: Client): void => {
    for (const [p, f] of homeFiles(c)) {
      const s = c.held.get(p) ?? new Set<string>();
      s.add(`${sha(f.data)} ${f.mode}`);
      c.held.set(p, s);
    }
  };
  const noteAllHeld = (): void => clients.forEach(noteHeld);

  function wrapUserFs(c: Client): FileSystem {
    const after = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => { const r = await fn(...args); noteHeld(c); return r; };
    return {
      ...c.fs,
      mkdir: after(c.fs.mkdir),
      rename: after(c.fs.rename),
      unlink: after(c.fs.unlink),
      open: async (p, flags, mode) => {
        const fh = await c.fs.open(p, flags, mode);
        noteHeld(c);
        return { ...fh, writeFile: after(fh.writeFile), chmod: after(fh.chmod), close: after(fh.close) };
      },
    };
  }

  function homeFiles(c: Client): Map<string, { data: Buffer; mode: number }> {
    const out = new Map<string, { data: Buffer; mode: number }>();
    const walk = (rel: string): void => {
      for (const name of (c.fs.vol.readdirSync(rel ? abs(rel) : HOME) as string[]).sort()) {
        const p = rel ? `${rel}/${name}` : name;
        const st = c.fs.vol.lstatSync(abs(p));
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) out.set(p, { data: c.fs.vol.readFileSync(abs(p)) as Buffer, mode: Number(st.mode) & 0o7777 });
      }
    };
    walk('');
    return out;
  }

  async function userAction(c: Client): Promise<void> {
    // The user's own calls (no fault hook of the engine's process). A run may be in flight and
    // see any state in between (an empty file just opened, an editor's temp file): each counts
    // as a state this home held.
    const fs = wrapUserFs(c);
    const p = rng.pick(PATHS);
    const f = fileAt(c, p);
    const roll = rng.next();
    if (roll < 0.3) {
      supersede(c, p);
      const data = content(c, p);
      await fs.mkdir(dirname(abs(p)), { recursive: true });
      if (f) {
        // In place: same inode, same mode.
        const fh = await fs.open(abs(p), 'w');
        await fh.writeFile(data);
        await fh.close();
      } else {
        const fh = await fs.open(abs(p), 'wx', 0o644);
        await fh.writeFile(data);
        await fh.close();
      }
      trace.push(`${c.name} write ${p}`);
    } else if (roll < 0.45) {
      // Editor-style save: a temp file beside it, then a rename over it (a new inode).
      supersede(c, p);
      const data = content(c, p);
      const tmp = abs(`${dirname(p) === '.' ? '' : `${dirname(p)}/`}.${p.split('/').pop()}.swp`);
      await fs.mkdir(dirname(abs(p)), { recursive: true });
      const fh = await fs.open(tmp, 'w', f?.mode ?? 0o600);
      await fh.writeFile(data);
      await fh.chmod(f?.mode ?? 0o600);
      await fh.close();
      await fs.rename(tmp, abs(p));
      trace.push(`${c.name} editor-save ${p}`);
    } else if (roll < 0.6 && f) {
      supersede(c, p);
      await fs.unlink(abs(p));
      trace.push(`${c.name} delete ${p}`);
    } else if (roll < 0.72 && f) {
      const to = rng.pick(PATHS.filter((x) => x !== p));
      if (c.fs.vol.existsSync(abs(to)) && !fileAt(c, to)) return;
      supersede(c, to);
      await fs.mkdir(dirname(abs(to)), { recursive: true });
      await fs.rename(abs(p), abs(to));
      trace.push(`${c.name} rename ${p} -> ${to}`);
    } else if (f) {
      const mode = rng.pick(MODES.filter((m) => m !== f.mode));
      c.fs.vol.chmodSync(abs(p), mode);
      noteHeld(c);
      trace.push(`${c.name} chmod ${p} ${mode.toString(8)}`);
    }
  }

  // ---- runs and the scheduler

  const describe = (r: SyncReport): string => {
    const u = r.users[0];
    if (!u) return 'no report';
    const acted = u.actions.map((a) => `${a.type}${a.conflict ? `(${a.conflict})` : ''}${a.error ? `!${a.error.code}` : ''} ${a.path}`);
    const errs = u.errors.filter((e) => !u.actions.some((a) => a.error === e)).map((e) => e.code);
    return `${r.offline ? 'OFFLINE ' : ''}${acted.join(', ') || '-'}${u.counts.converged ? ` converged=${u.counts.converged}` : ''}${errs.length ? ` errors=${errs.join('|')}` : ''}${u.conflicts.length ? ` open=${u.conflicts.map((x) => x.path).join('|')}` : ''}`;
  };

  function startRun(c: Client, what: string, fn: (e: Engine) => Promise<SyncReport | void>): Promise<SyncReport | void> {
    const inc = c.inc;
    stats.runs++;
    trace.push(`${c.name}#${inc.n} ${what} starts`);
    const p = fn(inc.engine);
    tasks.set(c.name, p.then(
      (r) => { trace.push(`${c.name}#${inc.n} ${what} ends: ${r ? describe(r) : 'ok'}`); },
      (err: unknown) => {
        if (err instanceof Crash || inc.dead) trace.push(`${c.name}#${inc.n} ${what} abandoned (crashed)`);
        else violate(`${c.name} ${what} threw: ${(err as Error).stack ?? String(err)}`);
      },
    ).finally(() => {
      tasks.delete(c.name);
      if (inc.dead && c.inc === inc) restart(c);
    }));
    return p;
  }

  async function resumeOne(): Promise<void> {
    clock += 1 + rng.int(20);
    await sched.resume(rng.int(sched.parked().length));
    noteAllHeld();
  }

  /** Resumes parked calls until `until` settles (or, without it, until nothing runs). */
  async function drain(until?: Promise<unknown>): Promise<void> {
    let done = false;
    until?.then(() => { done = true; }, () => { done = true; });
    let idle = 0;
    for (let i = 0; i < 50_000; i++) {
      await settle();
      if (until ? done : tasks.size === 0 && sched.parked().length === 0) return;
      if (sched.parked().length > 0) { idle = 0; await resumeOne(); }
      else if (++idle > 100) break;
    }
    throw new Error(`the simulation hung: ${[...tasks.keys()].join(', ')} never finished (parked: ${sched.parked().join(', ') || 'none'})`);
  }

  async function crash(c: Client): Promise<void> {
    stats.crashes++;
    trace.push(`${c.name}#${c.inc.n} CRASH`);
    c.inc.dead = true;
    const task = tasks.get(c.name);
    await sched.crash(c.name);
    if (task) await drain(task); else restart(c);
  }

  try {
    noteAllHeld();
    const events = opts.events ?? 24 + rng.int(24);
    for (let step = 0; step < events; step++) {
      stats.events++;
      clock += 1 + rng.int(5_000);
      const c = rng.pick(clients);
      const roll = rng.next();
      noteAllHeld();
      if (roll < 0.3) await userAction(c);
      else if (roll < 0.55) { if (!tasks.has(c.name)) startRun(c, 'sync', (e) => e.sync({ direction: 'both' })); }
      else if (roll < 0.78) { const n = 1 + rng.int(4); for (let i = 0; i < n && sched.parked().length; i++) await resumeOne(); }
      else if (roll < 0.85) {
        stats.faults++;
        net.drop = rng.chance(0.5) ? 0.2 : 0;
        net.loseReply = rng.chance(0.5) ? 0.3 : 0;
        net.duplicate = rng.chance(0.5) ? 0.3 : 0;
        c.cut = rng.chance(0.3);
        trace.push(`faults drop=${net.drop} lose=${net.loseReply} dup=${net.duplicate} cut(${c.name})=${c.cut}`);
      } else if (roll < 0.9) await crash(c);
      else if (roll < 0.95) {
        stats.faults++;
        const k = c.inc.writes + 1 + rng.int(4);
        if (rng.chance(0.6)) { c.inc.crashAtWrite = k; trace.push(`${c.name}#${c.inc.n} will crash at write ${k}`); }
        else { c.inc.failAtWrite = { at: k, code: rng.chance(0.5) ? 'ENOSPC' : 'EIO' }; trace.push(`${c.name}#${c.inc.n} will fail write ${k} with ${c.inc.failAtWrite.code}`); }
      } else if (roll < 0.97) {
        stats.faults++;
        net.down = !net.down;
        trace.push(`server ${net.down ? 'DOWN' : 'UP'}`);
      } else { c.skew += (rng.int(5) - 2) * HOUR; trace.push(`${c.name} clock skew ${c.skew / HOUR}h`); }
    }
    // Let what is in flight finish (faults still on), then heal.
    await drain();
    Object.assign(net, { down: false, drop: 0, loseReply: 0, duplicate: 0 });
    for (const c of clients) { c.cut = false; c.inc.crashAtWrite = null; c.inc.failAtWrite = null; }
    trace.push('HEAL');
    let quiet = false;
    let rounds = 0;
    for (; rounds < MAX_HEAL_ROUNDS && !quiet; rounds++) {
      quiet = true;
      for (const c of clients) {
        // Open conflicts are settled the way a user would, through engine.resolve.
        for (const k of await c.inc.engine.conflicts()) {
          const how: Resolution = rng.pick(['local', 'server', 'both'] as const);
          stats.conflictsResolved++;
          if (how === 'server') supersede(c, k.path);
          c.resolvingLocal = how === 'local' ? k.path : null;
          await drain(startRun(c, `resolve ${k.path} ${how}`, (e) => e.resolve(USER, k.path, how)).catch(() => {}));
          c.resolvingLocal = null;
          quiet = false;
        }
        let report: SyncReport | void = undefined;
        const run = startRun(c, 'sync', (e) => e.sync({ direction: 'both', yes: true }));
        await drain(run.then((r) => { report = r; }, () => {}));
        const u = (report as SyncReport | undefined)?.users[0];
        if (!u || u.actions.length || u.conflicts.length || u.errors.length || u.counts.converged) quiet = false;
      }
    }
    if (!quiet) violate(`not quiet after ${MAX_HEAL_ROUNDS} heal rounds`);
    await checkEnd();
    return { seed, policy, violations, traceHash: sha(trace.join('\n')), trace, healRounds: rounds, stats };
  } catch (err) {
    violate(`harness threw: ${(err as Error).stack ?? String(err)}`);
    return { seed, policy, violations, traceHash: sha(trace.join('\n')), trace, healRounds: -1, stats };
  }

  /** Whole content: every line one a user typed, the last one ended (or empty: a user's file just opened, caught by a scan). */
  function isWhole(text: string): boolean {
    return text === '' || (text.endsWith('\n') && text.slice(0, -1).split('\n').every((l) => knownLines.has(l)));
  }

  async function checkEnd(): Promise<void> {
    const live = new Map<string, string>();
    for (const e of server.entries(USER)) if (!e.deleted && !isConflictCopy(e.path)) live.set(e.path, `${e.hash} ${e.mode.toString(8)}`);
    const want = JSON.stringify([...live].sort());
    trace.push(`server ${[...live].sort().map(([p, h]) => `${p}=${h.slice(0, 8)}${h.slice(64)}`).join(' ')}`);
    const everStored = new Set<string>(committed);
    for (const c of clients) {
      const files = homeFiles(c);
      const have: Array<[string, string]> = [];
      for (const [p, f] of files) {
        const name = p.split('/').pop()!;
        if (isTempName(name)) { stats.leftoverTemps++; continue; }
        // Torn or invented: every line must be one a user typed, and the file must end its last line.
        const text = f.data.toString('utf8');
        if (!isWhole(text)) violate(`torn or invented content at ${c.name}:${p}`);
        if (!isConflictCopy(p)) have.push([p, `${sha(f.data)} ${f.mode.toString(8)}`]);
      }
      if (JSON.stringify(have.sort()) !== want) violate(`${c.name} differs from the server after healing:\n    home   ${JSON.stringify(have.sort())}\n    server ${want}`);
      const open = await c.inc.engine.conflicts();
      if (open.length) violate(`${c.name} has open conflicts after healing: ${open.map((x) => x.path).join(', ')}`);
    }
    // Every version the server ever stored is whole.
    for (const p of new Set([...PATHS, ...server.entries(USER).map((e) => e.path)])) {
      for (const v of await server.history(USER, p)) {
        if (v.deleted || !v.hash) continue;
        everStored.add(v.hash);
        const text = server.blobText(v.hash) ?? '';
        if (!isWhole(text)) violate(`torn or invented content on the server: ${p}@${v.rev}`);
      }
    }
    // Acknowledged commits are on the server's record.
    for (const a of acks) if (!(await server.history(USER, a.path)).some((v) => v.rev === a.rev)) violate(`acknowledged commit lost: ${a.who} was told ${a.path}@${a.rev} landed`);
    for (const e of server.entries(USER)) if (!e.deleted && e.hash && server.blobText(e.hash) === undefined) violate(`server entry ${e.path}@${e.rev} has no blob`);
    // No user content lost: each write is on the server's record, in the home (a conflict copy), or was replaced by the user.
    const texts: string[] = [...everStored].map((h) => server.blobText(h) ?? '');
    const homes = clients.map((c) => [...homeFiles(c).values()].map((f) => f.data.toString('utf8')).join('\n'));
    for (const [marker, w] of written) {
      if (w.superseded || w.exempt || policy === 'server-wins') continue;
      if (texts.some((t) => t.includes(`${marker}\n`)) || homes[clients.findIndex((c) => c.name === w.client)]!.includes(`${marker}\n`)) continue;
      violate(`lost user content: "${marker}" (${w.client}:${w.path}, ${w.hash.slice(0, 8)}) is neither on the server's record nor in its home`);
    }
  }
}

/** The last part of a path, for trace lines (engine temp names carry a random part: drop it). */
function shortPath(p: string): string {
  const name = p.slice(p.lastIndexOf('/') + 1);
  return isTempName(name) ? name.replace(/\.dman-tmp-.*$/, '.dman-tmp') : p.replace(`${HOME}/`, '');
}

/** Canary: a rename that lands only half of the file (a torn install). */
function truncatingRenames(fs: FileSystem): FileSystem {
  return {
    ...fs,
    async rename(from, to) {
      await fs.rename(from, to);
      const data = await fs.readFile(to).catch(() => null);
      if (data && data.length > 4) {
        const fh = await fs.open(to, 'w');
        await fh.writeFile(data.subarray(0, data.length >> 1));
        await fh.close();
      }
    },
  };
}

/** Canary: lstat reports a frozen mtime and ctime, so an edit that keeps the size goes unseen. */
function frozenMtimes(fs: FileSystem): FileSystem {
  const freeze = <T extends { mtimeMs: number; ctimeMs: number; ino: number }>(st: T): T => Object.assign(Object.create(Object.getPrototypeOf(st)), st, { mtimeMs: 0, ctimeMs: 0 });
  return { ...fs, lstat: async (p) => freeze(await fs.lstat(p)), lstatSync: (p) => freeze(fs.lstatSync(p)), fstatSync: (fd) => freeze(fs.fstatSync(fd)) };
}
