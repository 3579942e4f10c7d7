import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../shared/protocol.js';
import { packedMaps } from '../state/PackedMap.js';
import { conflictCopyName, isConflictCopy, NO_ROW, OTHER_ROW, planChanges, planPath, planSync, type BaseRecord, type ConflictPolicy, type LocalFile, type PlanAction, type PlanOptions, type RowProbe } from './planSync.js';

const H = (c: string): string => c.repeat(64);
const opts: PlanOptions = { policy: 'ask', device: 'laptop', now: Date.UTC(2026, 0, 2, 3, 4, 5) };

function local(c: string, mode = 0o644, kind: 'file' | 'symlink' = 'file'): LocalFile {
  return { kind, hash: H(c), size: 1, mode: kind === 'symlink' ? 0 : mode, mtime: 1, ...(kind === 'symlink' ? { target: c } : {}) };
}
function base(c: string | null, rev: number, mode = 0o644, kind: 'file' | 'symlink' = 'file'): BaseRecord {
  return { rev, kind, hash: c === null ? null : H(c), size: 1, mode: c === null || kind === 'symlink' ? 0 : mode, deleted: c === null };
}
function remote(c: string | null, rev: number, mode = 0o644, kind: 'file' | 'symlink' = 'file', path = 'f'): Entry {
  return { path, kind, hash: c === null ? null : H(c), size: 1, mode: c === null || kind === 'symlink' ? 0 : mode, mtime: 1, rev, deleted: c === null, device: 'd', updatedAt: 1 };
}

type Row = [name: string, l: LocalFile | undefined, b: BaseRecord | undefined, r: Entry | undefined, expected: Partial<PlanAction> & { type: PlanAction['type'] }];
const rows: Row[] = [
  ['all absent', undefined, undefined, undefined, { type: 'nothing' }],
  ['all same', local('a'), base('a', 3), remote('a', 3), { type: 'nothing' }],
  ['new local file', local('a'), undefined, undefined, { type: 'publish', baseRev: 0 }],
  ['new remote file', undefined, undefined, remote('a', 4), { type: 'install' }],
  ['local edit', local('b'), base('a', 3), remote('a', 3), { type: 'publish', baseRev: 3 }],
  ['remote edit', local('a'), base('a', 3), remote('b', 5), { type: 'install' }],
  ['local delete', undefined, base('a', 3), remote('a', 3), { type: 'publish', local: null, baseRev: 3 }],
  ['remote delete', local('a'), base('a', 3), remote(null, 6), { type: 'install' }],
  ['both deleted', undefined, base('a', 3), remote(null, 6), { type: 'converged' }],
  ['both made the same edit', local('b'), base('a', 3), remote('b', 7), { type: 'converged' }],
  ['both added the same file', local('b'), undefined, remote('b', 7), { type: 'converged' }],
  ['local edit beats remote delete', local('b'), base('a', 3), remote(null, 6), { type: 'publish', baseRev: 6 }],
  ['remote edit beats local delete', undefined, base('a', 3), remote('b', 6), { type: 'install' }],
  ['tombstone never seen, local absent', undefined, undefined, remote(null, 6), { type: 'converged' }],
  ['tombstone never seen, local new file', local('a'), undefined, remote(null, 6), { type: 'publish', baseRev: 6 }],
  ['local mode-only change', local('a', 0o755), base('a', 3), remote('a', 3), { type: 'publish', baseRev: 3 }],
  ['remote mode-only change', local('a'), base('a', 3), remote('a', 4, 0o600), { type: 'install' }],
  ['local file became a symlink', local('a', 0, 'symlink'), base('a', 3), remote('a', 3), { type: 'publish' }],
  ['remote symlink retargeted', local('t', 0, 'symlink'), base('t', 3, 0, 'symlink'), remote('u', 4, 0, 'symlink'), { type: 'install' }],
  ['server lost an agreed path: publish again', local('a'), base('a', 3), undefined, { type: 'publish', baseRev: 0 }],
  ['server lost a deleted path: forget the base', undefined, base(null, 3), undefined, { type: 'converged', remote: null }],
  ['same content, server rev moved', local('a'), base('a', 3), remote('a', 9), { type: 'converged' }],
  ['double edit, ask', local('b'), base('a', 3), remote('c', 4), { type: 'conflict', conflict: 'ask' }],
  ['both added differently, ask', local('b'), undefined, remote('c', 4), { type: 'conflict' }],
];

describe('planPath table', () => {
  it.each(rows)('%s', (_name, l, b, r, expected) => {
    const a = planPath('f', l, b, r, opts);
    expect(a).toMatchObject(expected);
  });
});

describe('conflict policies on a double edit', () => {
  const l = local('b');
  const b = base('a', 3);
  const r = remote('c', 4);
  it('ask leaves local untouched and records one conflict', () => {
    expect(planPath('f', l, b, r, opts)).toMatchObject({ type: 'conflict', local: l, remote: r, base: b });
  });
  it('server-wins installs', () => {
    expect(planPath('f', l, b, r, { ...opts, policy: 'server-wins' })).toMatchObject({ type: 'install', conflict: 'server-wins', remote: r });
  });
  it('local-wins publishes over the remote rev', () => {
    expect(planPath('f', l, b, r, { ...opts, policy: 'local-wins' })).toMatchObject({ type: 'publish', conflict: 'local-wins', baseRev: 4 });
  });
  it('keep-both installs and keeps the local copy beside it', () => {
    expect(planPath('.zshrc', l, b, r, { ...opts, policy: 'keep-both' })).toMatchObject({ type: 'install', keepLocalAs: '.zshrc.dman-conflict-laptop-20260102T030405Z' });
  });
  it('merge tries a 3-way merge for files with a base', () => {
    expect(planPath('f', l, b, r, { ...opts, policy: 'merge' })).toMatchObject({ type: 'merge', base: b });
  });
  it('merge falls back to ask without a base or for symlinks', () => {
    expect(planPath('f', l, undefined, r, { ...opts, policy: 'merge' })).toMatchObject({ type: 'conflict', conflict: 'ask' });
    expect(planPath('f', local('x', 0, 'symlink'), base('a', 3, 0, 'symlink'), remote('y', 4, 0, 'symlink'), { ...opts, policy: 'merge' })).toMatchObject({ type: 'conflict' });
  });
  it('never makes a conflict of a conflict copy', () => {
    const copy = conflictCopyName('f', 'my laptop', opts.now);
    expect(isConflictCopy(copy)).toBe(true);
    expect(copy).toBe('f.dman-conflict-my_laptop-20260102T030405Z');
    expect(planPath(copy, l, b, r, opts)).toEqual({ path: copy, type: 'nothing' });
  });
});

describe('directions', () => {
  it('publish-only skips installs, install-only skips publishes', () => {
    expect(planPath('f', local('a'), base('a', 3), remote('b', 4), { ...opts, direction: 'publish' })).toMatchObject({ type: 'skip', wanted: 'install' });
    expect(planPath('f', local('b'), base('a', 3), remote('a', 3), { ...opts, direction: 'install' })).toMatchObject({ type: 'skip', wanted: 'publish' });
    expect(planPath('f', local('b'), base('a', 3), remote('c', 4), { ...opts, direction: 'install', policy: 'merge' })).toMatchObject({ type: 'skip' });
  });
  it('publish --prune deletes server-only paths and keeps everything else', () => {
    const o = { ...opts, direction: 'publish' as const, prune: true };
    expect(planPath('f', undefined, undefined, remote('a', 3), o)).toMatchObject({ type: 'publish', local: null, baseRev: 3 });
    expect(planPath('f', local('a'), base('a', 3), remote('b', 4), o)).toMatchObject({ type: 'skip' });
  });
});

describe('file replaced by a directory and back', () => {
  it('local file became a directory: the file is deleted, children published', () => {
    const plan = planSync({
      local: new Map([['d/x', local('x')]]),
      base: new Map([['d', base('a', 1)]]),
      remote: new Map([['d', remote('a', 1, 0o644, 'file', 'd')]]),
    }, opts);
    expect(plan.map((a) => [a.path, a.type])).toEqual([['d', 'publish'], ['d/x', 'publish']]);
    expect(plan[0]).toMatchObject({ local: null });
  });
  it('remote directory became a file: children deleted then the file installed', () => {
    const plan = planSync({
      local: new Map([['d/x', local('x')]]),
      base: new Map([['d/x', base('x', 1)]]),
      remote: new Map([['d/x', remote(null, 2, 0, 'file', 'd/x')], ['d', remote('f', 3, 0o644, 'file', 'd')]]),
    }, opts);
    expect(plan.map((a) => [a.path, a.type])).toEqual([['d', 'install'], ['d/x', 'install']]);
  });
  it('a remote file over a local directory that stays is a conflict', () => {
    const plan = planSync({
      local: new Map([['d/new', local('n')]]),
      base: new Map(),
      remote: new Map([['d', remote('f', 3, 0o644, 'file', 'd')]]),
    }, opts);
    expect(plan.find((a) => a.path === 'd')).toMatchObject({ type: 'conflict' });
  });
});

// ---- properties: a tiny model of disk and server to apply plans to

type Content = { c: string; mode: number; kind: 'file' | 'symlink' } | null;
const contentArb: fc.Arbitrary<Content> = fc.option(fc.record({ c: fc.constantFrom('a', 'b', 'c'), mode: fc.constantFrom(0o644, 0o755), kind: fc.constantFrom('file' as const, 'symlink' as const) }), { nil: null });
const policyArb = fc.constantFrom<ConflictPolicy>('ask', 'server-wins', 'local-wins', 'keep-both', 'merge');
const worldArb = fc.dictionary(fc.constantFrom('p1', 'p2', 'p3', 'p4', 'p5', 'p6'), fc.record({ base: contentArb, baseKnown: fc.boolean(), local: contentArb, remote: contentArb, remoteKnown: fc.boolean() }));

function toLocal(x: Content): LocalFile | undefined {
  return x ? local(x.c, x.mode, x.kind) : undefined;
}

interface World { local: Map<string, LocalFile>; base: Map<string, BaseRecord>; remote: Map<string, Entry>; head: number }

function build(w: Record<string, { base: Content; baseKnown: boolean; local: Content; remote: Content; remoteKnown: boolean }>): World {
  const world: World = { local: new Map(), base: new Map(), remote: new Map(), head: 100 };
  let rev = 1;
  for (const [p, v] of Object.entries(w)) {
    const brev = rev++;
    if (v.baseKnown) world.base.set(p, v.base ? base(v.base.c, brev, v.base.mode, v.base.kind) : base(null, brev));
    const l = toLocal(v.local);
    if (l) world.local.set(p, l);
    if (v.remoteKnown || v.remote) {
      const same = v.baseKnown && JSON.stringify(v.remote) === JSON.stringify(v.base);
      const r = v.remote ? remote(v.remote.c, same ? brev : rev++, v.remote.mode, v.remote.kind, p) : remote(null, same ? brev : rev++, 0, 'file', p);
      world.remote.set(p, r);
    }
  }
  return world;
}

function entryFromLocal(path: string, l: LocalFile | null, rev: number): Entry {
  return { path, kind: l?.kind ?? 'file', hash: l?.hash ?? null, size: l?.size ?? 0, mode: l?.mode ?? 0, mtime: 1, rev, deleted: l === null, device: 'me', updatedAt: 1, ...(l?.target ? { target: l.target } : {}) };
}
function baseFromEntry(e: Entry): BaseRecord {
  return { rev: e.rev, kind: e.kind, hash: e.hash, size: e.size, mode: e.mode, deleted: e.deleted };
}
function localFromEntry(e: Entry): LocalFile | undefined {
  return e.deleted || e.hash === null ? undefined : { kind: e.kind, hash: e.hash, size: e.size, mode: e.mode, mtime: 1 };
}

/** Applies a plan to the model; a merge always succeeds with fresh content. */
function apply(w: World, plan: PlanAction[]): void {
  for (const a of plan) {
    switch (a.type) {
      case 'install': {
        if (a.keepLocalAs) {
          const l = w.local.get(a.path);
          if (l) w.local.set(a.keepLocalAs, l);
        }
        const l = localFromEntry(a.remote);
        if (l) w.local.set(a.path, l); else w.local.delete(a.path);
        w.base.set(a.path, baseFromEntry(a.remote));
        break;
      }
      case 'publish': {
        const cur = w.remote.get(a.path)?.rev ?? 0;
        expect(a.baseRev).toBe(cur); // the precondition would hold on the server
        const e = entryFromLocal(a.path, a.local, ++w.head);
        w.remote.set(a.path, e);
        w.base.set(a.path, baseFromEntry(e));
        break;
      }
      case 'converged':
        if (a.remote) w.base.set(a.path, baseFromEntry(a.remote)); else w.base.delete(a.path);
        break;
      case 'merge': {
        const merged = local('m');
        w.local.set(a.path, merged);
        const e = entryFromLocal(a.path, merged, ++w.head);
        w.remote.set(a.path, e);
        w.base.set(a.path, baseFromEntry(e));
        break;
      }
      default:
        break;
    }
  }
}

describe('planSync properties', () => {
  it('never throws, plans each path once, and converges after one application', () => {
    fc.assert(fc.property(worldArb, policyArb, (spec, policy) => {
      const w = build(spec);
      const o = { ...opts, policy };
      const plan = planSync(w, o);
      const paths = plan.map((a) => a.path);
      expect(new Set(paths).size).toBe(paths.length);
      apply(w, plan);
      const asked = new Set(plan.filter((a) => a.type === 'conflict').map((a) => a.path));
      const second = planSync(w, o);
      for (const a of second) {
        if (asked.has(a.path)) { expect(a.type).toBe('conflict'); continue; }
        if (isConflictCopy(a.path)) continue;
        // Everything else agrees: the three trees hold the same content.
        expect(a.type === 'nothing' || (a.type === 'publish' && isConflictCopy(a.path))).toBe(true);
      }
    }), { numRuns: 500 });
  });

  it('records exactly one conflict per double edit', () => {
    fc.assert(fc.property(worldArb, policyArb, (spec, policy) => {
      const w = build(spec);
      const plan = planSync(w, { ...opts, policy });
      for (const a of plan) {
        const l = w.local.get(a.path);
        const b = w.base.get(a.path);
        const r = w.remote.get(a.path);
        const key = (x: { kind: string; hash: string | null; mode: number } | undefined): string => (x && x.hash ? `${x.kind}:${x.hash}:${x.kind === 'symlink' ? 0 : x.mode}` : 'absent');
        const kl = key(l), kb = key(b && !b.deleted ? b : undefined), kr = key(r && !r.deleted ? r : undefined);
        const doubleEdit = kl !== kb && kr !== kb && kl !== kr && kl !== 'absent' && kr !== 'absent';
        expect(a.conflict !== undefined).toBe(doubleEdit);
      }
      expect(plan.filter((a) => a.conflict).length).toBe(new Set(plan.filter((a) => a.conflict).map((a) => a.path)).size);
    }), { numRuns: 500 });
  });

  it('terminates: re-planning an applied plan reaches a fixed point within two rounds', () => {
    fc.assert(fc.property(worldArb, policyArb, (spec, policy) => {
      const w = build(spec);
      const o = { ...opts, policy };
      apply(w, planSync(w, o));
      apply(w, planSync(w, o));
      const third = planSync(w, o);
      expect(third.every((a) => a.type === 'nothing' || a.type === 'conflict')).toBe(true);
    }), { numRuns: 300 });
  });
});

describe('planSync with nested paths', () => {
  const nestedArb = fc.dictionary(fc.constantFrom('a', 'a/b', 'a/c', 'a/b/x', 'd'), fc.record({ base: contentArb, baseKnown: fc.boolean(), local: contentArb, remote: contentArb, remoteKnown: fc.boolean() }));
  it('never plans a file where a folder of live paths stays, or the reverse', () => {
    fc.assert(fc.property(nestedArb, policyArb, (spec, policy) => {
      const w = build(spec);
      const plan = planSync(w, { ...opts, policy });
      const after = new Set<string>();
      for (const a of plan) {
        const exists = a.type === 'install' ? !a.remote.deleted : w.local.has(a.path);
        if (exists) after.add(a.path);
        if (a.type === 'install' && a.keepLocalAs) after.add(a.keepLocalAs);
      }
      for (const a of plan) {
        if (a.type !== 'install' || a.remote.deleted) continue;
        // Every install of a file lands where nothing else needs a folder, and under no file.
        for (const q of after) {
          if (q === a.path) continue;
          expect(q.startsWith(a.path + '/')).toBe(false);
          expect(a.path.startsWith(q + '/') && !isConflictCopy(q)).toBe(false);
        }
      }
    }), { numRuns: 500 });
  });
});

describe('planSync paths', () => {
  it('plans every path of the three trees once, sorted, also when they are as many but not the same', () => {
    const L = new Map([['b', local('a')], ['a', local('a')]]);
    const B = new Map([['a', base('a', 3)], ['c', base('a', 4)]]);
    const R = new Map([['a', remote('a', 3, 0o644, 'file', 'a')], ['b', remote('a', 5, 0o644, 'file', 'b')]]);
    expect(planSync({ local: L, base: B, remote: R }, opts).map((a) => a.path)).toEqual(['a', 'b', 'c']);
    // The same paths in each (inserted in other orders): each once, sorted.
    const B2 = new Map([['b', base('a', 5)], ['a', base('a', 3)]]);
    const R2 = new Map([['b', remote('a', 5, 0o644, 'file', 'b')], ['a', remote('a', 3, 0o644, 'file', 'a')]]);
    expect(planSync({ local: L, base: B2, remote: R2 }, opts).map((a) => [a.path, a.type])).toEqual([['a', 'nothing'], ['b', 'nothing']]);
  });
});

describe('planSync equals planning each path of the three trees on its own', () => {
  /** The model: every path of the three trees, sorted, planned alone; an install of a file where a live path needs a folder (or under a live file) becomes a conflict. */
  function model(w: World, o: PlanOptions): PlanAction[] {
    const paths = [...new Set([...w.local.keys(), ...w.base.keys(), ...w.remote.keys()])].sort();
    const planned = paths.map((p) => planPath(p, w.local.get(p), w.base.get(p), w.remote.get(p), o));
    const live = planned.filter((a) => (a.type === 'install' ? !a.remote.deleted : w.local.has(a.path))).map((a) => a.path);
    return planned.map((a) => {
      if (a.type !== 'install' || a.remote.deleted) return a;
      const clash = live.some((q) => q.startsWith(`${a.path}/`) || a.path.startsWith(`${q}/`));
      return clash ? { path: a.path, type: 'conflict', local: w.local.get(a.path) ?? null, remote: a.remote, base: w.base.get(a.path) ?? null, reason: 'the server holds a file where this machine has a directory (or the reverse)', conflict: 'ask' } : a;
    });
  }
  const names = fc.constantFrom('a', 'a/b', 'a/c', 'a/b/x', 'b', 'd', 'd.dman-conflict-x-1');
  const present = fc.record({ c: fc.constantFrom('a', 'b', 'c'), mode: fc.constantFrom(0o644, 0o755), kind: fc.constantFrom('file' as const, 'symlink' as const) });
  const directionArb = fc.constantFrom<PlanOptions['direction']>('both', 'publish', 'install', undefined);

  it('for any three trees (the general route, and equal sizes with other paths, which leave the quiet route midway)', () => {
    fc.assert(fc.property(fc.dictionary(names, fc.record({ base: contentArb, baseKnown: fc.boolean(), local: contentArb, remote: contentArb, remoteKnown: fc.boolean() })), policyArb, directionArb, fc.boolean(), (spec, policy, direction, prune) => {
      const w = build(spec);
      const o = { ...opts, policy, direction, prune };
      expect(planSync(w, o)).toEqual(model(w, o));
    }), { numRuns: 1000 });
  });

  /** The same trees as maps offering RowProbe, counting the records built (`get`) and the probes. */
  class Probed<V extends BaseRecord | Entry> extends Map<string, V> implements RowProbe {
    gets = 0;
    probes = 0;
    override get(key: string): V | undefined { this.gets++; return super.get(key); }
    revIfHolds(path: string, kind: LocalFile['kind'], hash: string, mode: number): number {
      this.probes++;
      const v = super.get(path);
      if (!v) return NO_ROW;
      return !v.deleted && v.hash !== null && v.kind === kind && v.hash === hash && (kind === 'symlink' || v.mode === mode) ? v.rev : OTHER_ROW;
    }
  }
  const probed = (w: World): World & { base: Probed<BaseRecord>; remote: Probed<Entry> } => ({ ...w, base: new Probed(w.base), remote: new Probed(w.remote) });
  /** The same trees in the state's maps (PackedMap): whatever they offer of RowProbe is used. */
  const packed = (w: World): World => {
    const m = packedMaps();
    for (const [p, b] of w.base) m.base.set(p, b);
    for (const [p, r] of w.remote) m.remote.set(p, r);
    return { ...w, base: m.base, remote: m.remote };
  };

  it('for three trees holding the same paths (the quiet route), mostly agreeing', () => {
    // Local present everywhere and base, remote known: the three hold the same paths; each differs from the base now and then.
    const row = fc.record({ base: fc.option(present, { nil: null, freq: 8 }), local: present, remote: fc.option(present, { nil: null, freq: 8 }), localDiffers: fc.nat(4), remoteDiffers: fc.nat(4) });
    fc.assert(fc.property(fc.dictionary(names, row, { minKeys: 1 }), policyArb, directionArb, (spec, policy, direction) => {
      const w = build(Object.fromEntries(Object.entries(spec).map(([p, v]) => [p, {
        base: v.base, baseKnown: true, remoteKnown: true,
        // Usually as the base (an unchanged path), otherwise the drawn content.
        local: v.localDiffers > 0 && v.base ? v.base : v.local,
        remote: v.remoteDiffers > 0 ? v.base : v.remote,
      }])));
      expect(new Set(w.local.keys())).toEqual(new Set(w.base.keys()));
      expect(new Set(w.remote.keys())).toEqual(new Set(w.base.keys()));
      const o = { ...opts, policy, direction };
      const expected = model(w, o);
      expect(planSync(w, o)).toEqual(expected);
      expect(planSync(probed(w), o)).toEqual(expected);
      expect(planSync(packed(w), o)).toEqual(expected);
    }), { numRuns: 1000 });
  });

  it('with base and remote offering RowProbe, for any three trees', () => {
    fc.assert(fc.property(fc.dictionary(names, fc.record({ base: contentArb, baseKnown: fc.boolean(), local: contentArb, remote: contentArb, remoteKnown: fc.boolean() })), policyArb, directionArb, (spec, policy, direction) => {
      const w = build(spec);
      const o = { ...opts, policy, direction };
      expect(planSync(probed(w), o)).toEqual(model(w, o));
      expect(planSync(packed(w), o)).toEqual(model(w, o));
    }), { numRuns: 1000 });
  });

  /** planSync's plan as planChanges reports it. */
  const split = (w: World, plan: PlanAction[]) => ({
    actions: plan.filter((a) => a.type !== 'nothing'),
    unchanged: plan.filter((a) => a.type === 'nothing' && w.local.has(a.path)).length,
    unchangedElsewhere: plan.filter((a) => a.type === 'nothing' && !w.local.has(a.path)).map((a) => a.path).sort(),
  });
  const changes = (w: World, o: PlanOptions) => { const c = planChanges(w, o); return { ...c, unchangedElsewhere: [...c.unchangedElsewhere].sort() }; };

  it('planChanges gives planSync\'s plan without the nothing actions, for any three trees and maps', () => {
    fc.assert(fc.property(fc.dictionary(names, fc.record({ base: contentArb, baseKnown: fc.boolean(), local: contentArb, remote: contentArb, remoteKnown: fc.boolean() })), policyArb, directionArb, fc.boolean(), (spec, policy, direction, prune) => {
      const w = build(spec);
      const o = { ...opts, policy, direction, prune };
      const expected = split(w, model(w, o));
      expect(changes(w, o)).toEqual(expected);
      expect(changes(probed(w), o)).toEqual(expected);
      expect(changes(packed(w), o)).toEqual(expected);
    }), { numRuns: 1000 });
  });

  it('planChanges builds no record for an unchanged path, and sorts only what changed', () => {
    const w = build({ a: { base: null, baseKnown: true, local: null, remote: null, remoteKnown: true } });
    w.local = new Map([['z', local('a')], ['y', local('b', 0o755)], ['e', local('c')], ['b', local('n')]]);
    w.base = new Map([['z', base('a', 3)], ['y', base('b', 4, 0o755)], ['e', base('a', 6)], ['gone', base(null, 7)]]);
    w.remote = new Map([['z', remote('a', 3, 0o644, 'file', 'z')], ['y', remote('b', 4, 0o755, 'file', 'y')], ['e', remote('a', 6, 0o644, 'file', 'e')], ['gone', remote(null, 7, 0o644, 'file', 'gone')]]);
    const p = probed(w);
    const c = planChanges(p, opts);
    expect(c.actions.map((a) => `${a.path}:${a.type}`)).toEqual(['b:publish', 'e:publish']);
    expect([c.unchanged, c.unchangedElsewhere]).toEqual([2, ['gone']]);
    // Records only for the edited, the new and the deleted-on-both-sides paths.
    expect([p.base.gets, p.remote.gets]).toEqual([3, 3]);
  });

  it('builds no base or remote record for an unchanged path when both offer RowProbe', () => {
    const w = build({ a: { base: null, baseKnown: true, local: null, remote: null, remoteKnown: true } });
    w.local = new Map([['x', local('a')], ['y', local('b', 0o755)], ['z', local('t', 0, 'symlink')], ['e', local('c')]]);
    w.base = new Map([['x', base('a', 3)], ['y', base('b', 4, 0o755)], ['z', base('t', 5, 0o644, 'symlink')], ['e', base('a', 6)]]);
    w.remote = new Map([['x', remote('a', 3, 0o644, 'file', 'x')], ['y', remote('b', 4, 0o755, 'file', 'y')], ['z', remote('t', 5, 0, 'symlink', 'z')], ['e', remote('a', 6, 0o644, 'file', 'e')]]);
    const p = probed(w);
    const plan = planSync(p, opts);
    expect(plan).toEqual(model(w, opts));
    expect(plan.map((a) => a.type)).toEqual(['publish', 'nothing', 'nothing', 'nothing']);
    // Only 'e' (edited here) was planned from records.
    expect([p.base.gets, p.remote.gets]).toEqual([1, 1]);
    expect(p.base.probes).toBe(4);
  });

  it('also builds none for an unchanged path when the trees hold tombstones of deleted paths (a home with history)', () => {
    const w = build({ a: { base: null, baseKnown: true, local: null, remote: null, remoteKnown: true } });
    w.local = new Map([['x', local('a')], ['y', local('b', 0o755)]]);
    w.base = new Map([['x', base('a', 3)], ['y', base('b', 4, 0o755)], ['gone', base(null, 7)]]);
    w.remote = new Map([['x', remote('a', 3, 0o644, 'file', 'x')], ['y', remote('b', 4, 0o755, 'file', 'y')], ['gone', remote(null, 7, 0o644, 'file', 'gone')]]);
    const p = probed(w);
    const plan = planSync(p, opts);
    expect(plan).toEqual(model(w, opts));
    expect(plan.map((a) => `${a.path}:${a.type}`)).toEqual(['gone:nothing', 'x:nothing', 'y:nothing']);
    // Only the tombstone (not on disk) was planned from records.
    expect([p.base.gets, p.remote.gets]).toEqual([1, 1]);
  });
});
