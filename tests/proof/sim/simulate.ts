// The deterministic, large-scale simulation (issue 9): three clients and one server, all
// in-process and in memory, driven by one seed. The clients run the real planner (or a canary)
// over a MemoryFs stand-in for their homes; the server is the engine's MemoryRemote (per-op
// baseRev CAS, atomic batches, tombstones, history, idempotency). A seeded scheduler interleaves
// the clients' network calls, so replies arrive late and out of order; faults drop requests,
// lose and duplicate replies, cut one client off, take the server down, crash clients (their
// in-memory state is dropped and reloaded from what they persisted) and skew their clocks.
// The checks run while it happens and after healing; see `Violation` kinds below.
import { createHash } from 'node:crypto';
import { DmanError, isRetryable } from '../../../shared/errors.js';
import type { CommitOpInput, Entry } from '../../../shared/protocol.js';
import { mergeText } from '../../../engine/plan/mergeText.js';
import { isConflictCopy, type BaseRecord, type ConflictPolicy, type LocalFile, type PlanAction } from '../../../engine/plan/planSync.js';
import { createMemoryRemote, type MemoryRemote } from '../../../engine/remote/MemoryRemote.js';
import { fetchAllChanges } from '../../../engine/remote/Remote.js';
import { createRng, type Rng } from '../../sim/prng.js';
import { createScheduler, Crash, type Scheduler } from './scheduler.js';
import { REAL_VARIANT, type Variant } from './variants.js';

/** What a seed found. */
export interface ProofResult {
  seed: number;
  variant: string;
  policy: ConflictPolicy;
  violations: string[];
  /** SHA-256 of the trace: the same seed gives the same hash. */
  traceHash: string;
  trace: string[];
  /** Heal rounds needed to go quiet. */
  healRounds: number;
  stats: { events: number; runs: number; crashes: number; commits: number; faults: number };
}

const USER = 'alice';
const PATHS = ['a.txt', 'b.txt', 'conf/c.rc', 'conf/d.rc', 'deep/x/e.sh'];
const POLICIES: ConflictPolicy[] = ['ask', 'keep-both', 'server-wins', 'local-wins', 'merge'];
const MODES = [0o644, 0o600, 0o755];
const MAX_HEAL_ROUNDS = 8;
const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** One file in a MemoryFs home. */
interface MemFile { data: Buffer; mode: number; mtime: number }

/** What a client persists (its state file) and reloads after a crash. */
interface Persisted { base: Map<string, BaseRecord>; remote: Map<string, Entry>; cursor: number; conflicts: Set<string> }

interface Client {
  name: string;
  fs: Map<string, MemFile>;
  skew: number;
  state: Persisted;
  saved: Persisted;
  /** What the harness knows this client agreed on per path (independent of its base). */
  agreed: Map<string, { rev: number; hash: string | null; mode: number }>;
  running: boolean;
  cut: boolean;
}

const clone = (p: Persisted): Persisted => ({ base: new Map([...p.base].map(([k, v]) => [k, { ...v }])), remote: new Map([...p.remote].map(([k, v]) => [k, { ...v }])), cursor: p.cursor, conflicts: new Set(p.conflicts) });
const empty = (): Persisted => ({ base: new Map(), remote: new Map(), cursor: 0, conflicts: new Set() });
const baseOf = (e: Entry): BaseRecord => ({ rev: e.rev, kind: e.kind, hash: e.hash, size: e.size, mode: e.mode, deleted: e.deleted });
const unreachable = (why: string): DmanError => new DmanError('SERVER_UNREACHABLE', `cannot reach the simulated server (${why})`);

/** Runs one seed of the simulation with the real client logic or a canary variant. */
export async function runProofSeed(seed: number, variant: Variant = REAL_VARIANT, opts: { events?: number } = {}): Promise<ProofResult> {
  const rng: Rng = createRng(seed * 2654435761);
  const policy = POLICIES[seed % POLICIES.length]!;
  const trace: string[] = [];
  const violations: string[] = [];
  const stats = { events: 0, runs: 0, crashes: 0, commits: 0, faults: 0 };
  let clock = Date.UTC(2026, 0, 1);
  const server: MemoryRemote = createMemoryRemote({ now: () => clock });
  const sched: Scheduler = createScheduler();
  const net = { down: false, drop: 0, loseReply: 0, duplicate: 0 };
  /** Every content a user typed or a merge produced: anything else on disk is torn or invented. */
  const known = new Set<string>();
  /** Content hashes committed to the server per path (its whole history). */
  const committed = new Map<string, Set<string | null>>();
  const acks: Array<{ who: string; path: string; hash: string | null; rev: number }> = [];
  let counter = 0;
  const violate = (msg: string): void => { if (!violations.includes(msg)) violations.push(msg); trace.push(`VIOLATION ${msg}`); };

  const clients: Client[] = ['m0', 'm1', 'm2'].map((name, i) => ({
    name, fs: new Map(), skew: i === 0 ? 0 : (rng.int(7) - 3) * 3_600_000, state: empty(), saved: empty(), agreed: new Map(), running: false, cut: false,
  }));
  const now = (c: Client): number => clock + c.skew;
  const wasCommitted = (path: string, hash: string | null): boolean => committed.get(path)?.has(hash) ?? false;

  // ---- the network: every call parks (request), may fail, runs on the server, parks (reply), may be lost

  async function call<T>(c: Client, what: string, fn: () => Promise<T>, opts2: { commit?: boolean } = {}): Promise<T> {
    await sched.turn(c.name);
    if (net.down || c.cut) throw unreachable(net.down ? 'server down' : 'network cut');
    if (net.drop > 0 && rng.chance(net.drop)) { trace.push(`  ${c.name} ${what}: request dropped`); throw unreachable('dropped'); }
    const out = await fn();
    await sched.turn(c.name); // the reply travels: other clients may run first
    if (opts2.commit && net.loseReply > 0 && rng.chance(net.loseReply)) { trace.push(`  ${c.name} ${what}: reply lost`); throw unreachable('reply lost'); }
    if (net.down) throw unreachable('server went down before replying');
    return out;
  }

  // ---- the client: scan → fetch → plan → install → publish → save (as engine/createEngine.ts)

  const scanOf = (c: Client): Map<string, LocalFile> => {
    const m = new Map<string, LocalFile>();
    for (const [p, f] of c.fs) if (!isConflictCopy(p)) m.set(p, { kind: 'file', hash: sha(f.data), size: f.data.length, mode: f.mode, mtime: f.mtime });
    return m;
  };

  /** The client changes a local file (install, delete, merge): its old content must survive somewhere. */
  function replaceLocal(c: Client, path: string, next: MemFile | null, why: string, mayDrop: boolean): void {
    const old = c.fs.get(path);
    if (old) {
      const h = sha(old.data);
      const kept = next && sha(next.data) === h;
      const onServer = [...committed.values()].some((s) => s.has(h));
      const inCopy = [...c.fs].some(([p, f]) => isConflictCopy(p) && sha(f.data) === h);
      if (!kept && !onServer && !inCopy && !mayDrop) violate(`lost local content: ${c.name} ${why} ${path} replaced content ${h.slice(0, 8)} that is neither on the server nor in a conflict copy`);
    }
    if (next) c.fs.set(path, next); else c.fs.delete(path);
  }

  async function run(c: Client, policyOverride?: ConflictPolicy): Promise<{ acted: number; conflicts: number }> {
    stats.runs++;
    const st = c.state;
    const pol = policyOverride ?? policy;
    const local = scanOf(c);
    let acted = 0;
    try {
      const { entries, headRev } = await call(c, 'changes', () => fetchAllChanges(server, USER, st.cursor));
      for (const e of entries) st.remote.set(e.path, { ...e });
      st.cursor = Math.max(st.cursor, headRev);
      const plan = variant.plan({ local, base: st.base, remote: st.remote }, { policy: pol, device: c.name, now: now(c) });
      const stillAsScanned = (p: string): boolean => {
        const f = c.fs.get(p);
        const seen = local.get(p);
        return seen ? !!f && sha(f.data) === seen.hash && f.mode === seen.mode : !f;
      };
      const checkSpurious = (a: PlanAction): void => {
        // A conflict whose remote side is a version this client already holds is invented.
        if (!(a.type === 'conflict' || a.type === 'merge' || a.conflict)) return;
        const r = st.remote.get(a.path);
        const ag = c.agreed.get(a.path);
        if (r && ag && r.rev <= ag.rev) violate(`spurious conflict: ${c.name} sees a conflict on ${a.path} against rev ${r.rev}, which it already agreed on (rev ${ag.rev})`);
      };
      plan.forEach(checkSpurious);
      const installs = plan.filter((a): a is Extract<PlanAction, { type: 'install' }> => a.type === 'install').sort((a, b) => Number(!a.remote.deleted) - Number(!b.remote.deleted));
      for (const a of installs) {
        if (!stillAsScanned(a.path)) { trace.push(`  ${c.name} install ${a.path} skipped: changed during the run`); continue; }
        let data: Buffer | null = null;
        if (!a.remote.deleted) {
          data = await call(c, `get ${a.path}`, async () => {
            const parts: Buffer[] = [];
            for await (const ch of await server.getBlob(USER, a.remote.hash!)) parts.push(Buffer.from(ch as Buffer));
            return Buffer.concat(parts);
          });
          if (sha(data) !== a.remote.hash) { violate(`torn download of ${a.path}`); continue; }
          if (!stillAsScanned(a.path)) { trace.push(`  ${c.name} install ${a.path} skipped: changed during the download`); continue; }
        }
        if (a.keepLocalAs && c.fs.has(a.path)) {
          let name = a.keepLocalAs;
          for (let n = 2; c.fs.has(name); n++) name = `${a.keepLocalAs}-${n}`;
          c.fs.set(name, { ...c.fs.get(a.path)! });
        }
        replaceLocal(c, a.path, data ? { data, mode: a.remote.mode || 0o644, mtime: now(c) } : null, `install${a.conflict ? `(${a.conflict})` : ''}`, a.conflict === 'server-wins');
        c.agreed.set(a.path, { rev: a.remote.rev, hash: a.remote.hash, mode: a.remote.mode });
        if (variant.installUpdatesBase) st.base.set(a.path, baseOf(a.remote));
        st.conflicts.delete(a.path);
        acted++;
        trace.push(`  ${c.name} installed ${a.path}@${a.remote.rev}${a.remote.deleted ? ' (delete)' : ''}${a.conflict ? ` [${a.conflict}]` : ''}`);
      }
      const publishes: Array<{ path: string; local: LocalFile | null; baseRev: number; conflict?: ConflictPolicy }> = [];
      for (const a of plan) {
        if (a.type === 'publish') publishes.push({ path: a.path, local: a.local, baseRev: a.baseRev, conflict: a.conflict });
        else if (a.type === 'converged') {
          if (a.remote) { st.base.set(a.path, baseOf(a.remote)); c.agreed.set(a.path, { rev: a.remote.rev, hash: a.remote.deleted ? null : a.remote.hash, mode: a.remote.mode }); } else st.base.delete(a.path);
          st.conflicts.delete(a.path);
          acted++;
        } else if (a.type === 'conflict') {
          if (!st.conflicts.has(a.path)) trace.push(`  ${c.name} conflict ${a.path}`);
          st.conflicts.add(a.path);
        } else if (a.type === 'merge') {
          if (!stillAsScanned(a.path)) continue;
          const get = (h: string): Promise<Buffer | null> => call(c, `get for merge ${a.path}`, async () => {
            try {
              const parts: Buffer[] = [];
              for await (const ch of await server.getBlob(USER, h)) parts.push(Buffer.from(ch as Buffer));
              return Buffer.concat(parts);
            } catch { return null; }
          });
          const baseBytes = await get(a.base.hash!);
          const remoteBytes = await get(a.remote.hash!);
          const cur = c.fs.get(a.path);
          if (!cur || sha(cur.data) !== a.local.hash) continue;
          const out = baseBytes && remoteBytes ? mergeText(baseBytes, cur.data, remoteBytes) : { ok: false as const, reason: 'missing' };
          if (!out.ok) { st.conflicts.add(a.path); trace.push(`  ${c.name} merge of ${a.path} failed: conflict`); continue; }
          const data = Buffer.from(out.text);
          known.add(sha(data));
          replaceLocal(c, a.path, { data, mode: a.local.mode, mtime: now(c) }, 'merge', true);
          publishes.push({ path: a.path, local: { kind: 'file', hash: sha(data), size: data.length, mode: a.local.mode, mtime: now(c) }, baseRev: a.remote.rev, conflict: 'merge' });
          acted++;
        }
      }
      if (publishes.length) acted += await publish(c, publishes);
      c.saved = clone(st);
      return { acted, conflicts: st.conflicts.size };
    } catch (err) {
      if (err instanceof Crash) throw err;
      if (!isRetryable(err)) throw err;
      // Offline: keep what landed (as the engine does), the rest stays pending.
      c.saved = clone(st);
      trace.push(`  ${c.name} run offline: ${(err as Error).message}`);
      return { acted: -1, conflicts: st.conflicts.size };
    }
  }

  async function publish(c: Client, items: Array<{ path: string; local: LocalFile | null; baseRev: number; conflict?: ConflictPolicy }>): Promise<number> {
    const st = c.state;
    for (const it of items) {
      if (!it.local) continue;
      const f = c.fs.get(it.path);
      if (!f || sha(f.data) !== it.local.hash) return 0; // changed since the scan: next run
      const data = f.data;
      await call(c, `put ${it.path}`, () => server.putBlob(USER, it.local!.hash, data, data.length));
    }
    const ops: CommitOpInput[] = items.map((it) => it.local
      ? { path: it.path, baseRev: variant.cas ? it.baseRev : null, kind: 'file', hash: it.local.hash, size: it.local.size, mode: it.local.mode, mtime: it.local.mtime }
      : { path: it.path, baseRev: variant.cas ? it.baseRev : null, deleted: true });
    const key = `${c.name}-${++counter}`;
    const res = await call(c, `commit ${items.map((i) => i.path).join(',')}`, async () => {
      // Server-side checks at the moment the batch applies.
      const cur = new Map(server.entries(USER).map((e) => [e.path, e]));
      for (const [i, op] of ops.entries()) {
        const e = cur.get(op.path);
        if (op.baseRev === null) violate(`blind write: ${c.name} committed ${op.path} without a baseRev`);
        else if (op.baseRev === (e?.rev ?? 0) && e && !e.deleted) {
          // Replacing a live version needs agreement or a conflict; an edit beating a delete is by design.
          const ag = c.agreed.get(op.path);
          const sameAsAgreed = ag ? ag.rev === e.rev || (e.deleted ? ag.hash === null : ag.hash === e.hash && ag.mode === e.mode) : false;
          if (!sameAsAgreed && !items[i]!.conflict) violate(`silent overwrite: ${c.name} replaced ${op.path}@${e.rev} (${e.deleted ? 'deleted' : e.hash!.slice(0, 8)}), a version it never agreed on, without a conflict`);
        }
      }
      const headBefore = Math.max(0, ...server.entries(USER).map((e) => e.rev));
      const r = await server.commit(USER, ops, { idempotencyKey: key, device: c.name });
      if (net.duplicate > 0 && rng.chance(net.duplicate)) {
        const headMid = Math.max(0, ...server.entries(USER).map((e) => e.rev));
        const again = await server.commit(USER, ops, { idempotencyKey: key, device: c.name });
        const headAfter = Math.max(0, ...server.entries(USER).map((e) => e.rev));
        trace.push(`  ${c.name} commit duplicated (replayed=${again.ok && again.replayed})`);
        if (headAfter !== headMid || (r.ok && (!again.ok || again.rev !== r.rev))) violate(`duplicate commit applied twice: ${c.name} key ${key} (head ${headBefore}→${headMid}→${headAfter})`);
      }
      if (r.ok) {
        stats.commits++;
        for (const e of r.entries) {
          const s = committed.get(e.path) ?? new Set();
          s.add(e.deleted ? null : e.hash);
          committed.set(e.path, s);
        }
      }
      return r;
    }, { commit: true });
    if (res.ok) {
      for (const e of res.entries) {
        st.remote.set(e.path, { ...e });
        st.base.set(e.path, baseOf(e));
        st.conflicts.delete(e.path);
        c.agreed.set(e.path, { rev: e.rev, hash: e.deleted ? null : e.hash, mode: e.mode });
        acks.push({ who: c.name, path: e.path, hash: e.deleted ? null : e.hash, rev: e.rev });
      }
      trace.push(`  ${c.name} published ${res.entries.map((e) => `${e.path}@${e.rev}${e.deleted ? ' (delete)' : ''}`).join(', ')}`);
      return items.length;
    }
    if (variant.ackOn409) {
      for (const it of items) {
        const fake: Entry = { path: it.path, kind: 'file', hash: it.local?.hash ?? null, size: it.local?.size ?? 0, mode: it.local?.mode ?? 0, mtime: it.local?.mtime ?? 0, rev: Math.max(...res.conflicts.map((x) => x.current?.rev ?? 0), it.baseRev), deleted: !it.local, device: c.name, updatedAt: now(c) };
        st.base.set(it.path, baseOf(fake));
        acks.push({ who: c.name, path: it.path, hash: fake.hash, rev: fake.rev });
      }
      return items.length;
    }
    for (const x of res.conflicts) if (x.current) st.remote.set(x.path, { ...x.current }); else st.remote.delete(x.path);
    trace.push(`  ${c.name} commit 409 on ${res.conflicts.map((x) => x.path).join(',')}`);
    return 1;
  }

  // ---- the user and the world

  const content = (c: Client, path: string): Buffer => {
    const lines = ['# header', `line ${rng.int(3)}`, 'middle', `tail ${rng.int(3)}`];
    lines[1 + rng.int(3)] = `${c.name} edit ${++counter} of ${path}`;
    const data = Buffer.from(`${lines.join('\n')}\n`);
    known.add(sha(data));
    return data;
  };

  function userEdit(c: Client): void {
    const p = rng.pick(PATHS);
    const f = c.fs.get(p);
    const roll = rng.next();
    if (roll < 0.35) { c.fs.set(p, { data: content(c, p), mode: f?.mode ?? 0o644, mtime: now(c) }); trace.push(`${c.name} write ${p}`); }
    else if (roll < 0.5) { c.fs.set(p, { data: content(c, p), mode: f?.mode ?? 0o600, mtime: now(c) }); trace.push(`${c.name} editor-save ${p}`); }
    else if (roll < 0.63 && f) { c.fs.delete(p); trace.push(`${c.name} delete ${p}`); }
    else if (roll < 0.73 && f) {
      const to = rng.pick(PATHS.filter((x) => x !== p));
      c.fs.delete(p);
      c.fs.set(to, { ...f, mtime: now(c) });
      trace.push(`${c.name} rename ${p} -> ${to}`);
    } else if (f) { const mode = rng.pick(MODES.filter((m) => m !== f.mode)); c.fs.set(p, { ...f, mode, mtime: now(c) }); trace.push(`${c.name} chmod ${p} ${mode.toString(8)}`); }
  }

  const tasks = new Map<string, Promise<void>>();
  function startRun(c: Client, policyOverride?: ConflictPolicy): void {
    c.running = true;
    trace.push(`${c.name} sync starts`);
    tasks.set(c.name, run(c, policyOverride).then(
      (r) => { trace.push(`${c.name} sync ends (${r.acted < 0 ? 'offline' : `${r.acted} acted`}, ${r.conflicts} open)`); },
      (err: unknown) => {
        if (err instanceof Crash) trace.push(`${c.name} sync aborted by the crash`);
        else violate(`${c.name} sync threw: ${(err as Error).stack ?? String(err)}`);
      },
    ).finally(() => { c.running = false; tasks.delete(c.name); }));
  }

  async function crash(c: Client): Promise<void> {
    stats.crashes++;
    trace.push(`${c.name} CRASH`);
    await sched.crash(c.name);
    await tasks.get(c.name);
    c.state = clone(c.saved);
    // The harness forgets agreements the crash undid (the client reloads its persisted base).
    c.agreed = new Map([...c.state.base].map(([p, b]) => [p, { rev: b.rev, hash: b.deleted ? null : b.hash, mode: b.mode }]));
  }

  async function drain(limit = 10_000): Promise<void> {
    for (let i = 0; sched.parked().length > 0 && i < limit; i++) await sched.resume(rng.int(sched.parked().length));
    await Promise.all(tasks.values());
  }

  try {
    const events = opts.events ?? 24 + rng.int(24);
    for (let step = 0; step < events; step++) {
      stats.events++;
      clock += 1 + rng.int(5_000);
      const c = rng.pick(clients);
      const roll = rng.next();
      if (roll < 0.3) userEdit(c);
      else if (roll < 0.55) { if (!c.running) startRun(c); }
      else if (roll < 0.8) { const n = 1 + rng.int(4); for (let i = 0; i < n && sched.parked().length; i++) await sched.resume(rng.int(sched.parked().length)); }
      else if (roll < 0.88) {
        stats.faults++;
        net.drop = rng.chance(0.5) ? 0.2 : 0;
        net.loseReply = rng.chance(0.5) ? 0.3 : 0;
        net.duplicate = rng.chance(0.5) ? 0.3 : 0;
        c.cut = rng.chance(0.3);
        trace.push(`faults drop=${net.drop} lose=${net.loseReply} dup=${net.duplicate} cut(${c.name})=${c.cut}`);
      } else if (roll < 0.94) await crash(c);
      else if (roll < 0.97) {
        stats.faults++;
        net.down = !net.down;
        trace.push(`server ${net.down ? 'DOWN' : 'UP'}`);
      } else { c.skew += (rng.int(5) - 2) * 3_600_000; trace.push(`${c.name} clock skew ${c.skew / 3_600_000}h`); }
    }
    // Let what is in flight finish (faults still on), then heal.
    await drain();
    Object.assign(net, { down: false, drop: 0, loseReply: 0, duplicate: 0 });
    for (const c of clients) c.cut = false;
    trace.push('HEAL');
    let quiet = false;
    let rounds = 0;
    for (; rounds < MAX_HEAL_ROUNDS && !quiet; rounds++) {
      quiet = true;
      for (const c of clients) {
        // An open conflict is resolved the way a user would (engine.resolve runs with a policy).
        const resolve = c.state.conflicts.size > 0 ? rng.pick(['local-wins', 'server-wins', 'keep-both'] as const) : undefined;
        if (resolve) trace.push(`${c.name} resolves conflicts: ${resolve}`);
        startRun(c, resolve);
        await drain();
        const last = trace.filter((t) => t.startsWith(`${c.name} sync ends`)).pop() ?? '';
        if (!last.includes('(0 acted, 0 open)')) quiet = false;
      }
    }
    if (!quiet) violate(`not quiet after ${MAX_HEAL_ROUNDS} heal rounds`);

    // Every client equals the server.
    const { entries } = await fetchAllChanges(server, USER, 0);
    const live = new Map<string, string>();
    for (const e of entries) if (!e.deleted && !isConflictCopy(e.path)) live.set(e.path, `${e.hash} ${e.mode.toString(8)}`);
    const want = JSON.stringify([...live].sort());
    for (const c of clients) {
      const have = JSON.stringify([...c.fs].filter(([p]) => !isConflictCopy(p)).map(([p, f]) => [p, `${sha(f.data)} ${f.mode.toString(8)}`]).sort());
      if (have !== want) violate(`${c.name} differs from the server after healing:\n    home   ${have}\n    server ${want}`);
      if (c.state.conflicts.size) violate(`${c.name} has open conflicts after healing: ${[...c.state.conflicts].join(', ')}`);
      for (const [p, f] of c.fs) if (!known.has(sha(f.data))) violate(`torn or invented content at ${c.name}:${p}`);
    }
    // No acknowledged edit is lost: each is on the server's record of its path.
    for (const a of acks) {
      if (!wasCommitted(a.path, a.hash)) violate(`acknowledged ${a.hash ? 'edit' : 'delete'} lost: ${a.who} was told ${a.path}@${a.rev} (${a.hash?.slice(0, 8) ?? 'deleted'}) landed, but the server never stored it`);
    }
    // The server's history is the same as what the clients were told.
    for (const e of entries) if (!wasCommitted(e.path, e.deleted ? null : e.hash)) violate(`server holds ${e.path}@${e.rev} that no commit wrote`);
    return { seed, variant: variant.name, policy, violations, traceHash: sha(trace.join('\n')), trace, healRounds: rounds, stats };
  } catch (err) {
    violate(`harness threw: ${(err as Error).stack ?? String(err)}`);
    return { seed, variant: variant.name, policy, violations, traceHash: sha(trace.join('\n')), trace, healRounds: -1, stats };
  }
}

/** Explains a failing seed with a replay command and its trace. */
export function explainSeed(r: ProofResult, maxTrace = 200): string {
  return [
    `seed ${r.seed} (variant ${r.variant}, policy ${r.policy}) found ${r.violations.length} violation(s); replay: npm run soak -- --seeds 1 --from ${r.seed}${r.variant !== 'real' ? ` --variant ${r.variant}` : ''} --trace`,
    ...r.violations.map((v) => `  - ${v}`),
    '  trace:',
    ...r.trace.slice(-maxTrace).map((t) => `    ${t}`),
  ].join('\n');
}
