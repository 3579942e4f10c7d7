// The real client logic and deliberately broken variants of it (canaries). The simulation must
// catch every canary within 200 seeds, which is the proof that its checks have teeth.
import { planSync, type PlanAction, type PlanInput, type PlanOptions } from '../../../engine/plan/planSync.js';

/** A planner: the pure three-tree decision (planSync or a broken copy). */
export type Planner = (input: PlanInput, opts: PlanOptions) => PlanAction[];

/** How the simulated client behaves: the planner and the apply rules around it. */
export interface Variant {
  name: string;
  /** What the bug is, in a line. */
  bug: string;
  plan: Planner;
  /** Send each commit op with its baseRev (compare-and-swap). */
  cas: boolean;
  /** Record the installed entry as the new base. */
  installUpdatesBase: boolean;
  /** Treat a 409 reply as if the commit had landed. */
  ackOn409: boolean;
}

const REAL: Variant = { name: 'real', bug: 'none: the engine planner and apply rules', plan: planSync, cas: true, installUpdatesBase: true, ackOn409: false };

/** Rebuilds planSync from a per-path planner (the directory clash pass is irrelevant here: no path is a prefix of another). */
function perPath(fn: (a: PlanAction, input: PlanInput, opts: PlanOptions) => PlanAction): Planner {
  return (input, opts) => planSync(input, opts).map((a) => fn(a, input, opts));
}

const bothChanged = (a: PlanAction): boolean => a.type === 'conflict' || a.type === 'merge' || a.conflict !== undefined;

/** The canaries: each one is a bug dman must never ship. */
export const CANARIES: Variant[] = [
  {
    ...REAL, name: 'last-writer-wins',
    bug: 'both sides changed: the newer mtime wins silently, the other edit is dropped',
    plan: perPath((a, input) => {
      if (!bothChanged(a)) return a;
      const l = input.local.get(a.path);
      const r = input.remote.get(a.path);
      if (!l || !r || r.deleted) return a;
      return l.mtime >= r.mtime ? { path: a.path, type: 'publish', local: l, baseRev: r.rev } : { path: a.path, type: 'install', remote: r };
    }),
  },
  {
    ...REAL, name: 'delete-ignores-base',
    bug: 'a remote delete is applied even when the file changed here (the edit should win)',
    plan: perPath((a, input) => {
      const r = input.remote.get(a.path);
      const b = input.base.get(a.path);
      if (a.type === 'publish' && r?.deleted && b && !b.deleted && r.rev !== b.rev) return { path: a.path, type: 'install', remote: r };
      return a;
    }),
  },
  { ...REAL, name: 'no-cas', bug: 'commits carry no baseRev, so a stale client overwrites blindly', cas: false },
  { ...REAL, name: 'install-without-base-update', bug: 'an install does not record the new base', installUpdatesBase: false },
  { ...REAL, name: 'ack-on-409', bug: 'a rejected commit (409) is treated as published', ackOn409: true },
  {
    ...REAL, name: 'publish-over-remote',
    bug: 'both sides changed: local is published over the remote edit without a conflict',
    plan: perPath((a, input) => {
      if (!bothChanged(a)) return a;
      const l = input.local.get(a.path);
      const r = input.remote.get(a.path);
      if (!l) return a;
      return { path: a.path, type: 'publish', local: l, baseRev: r?.rev ?? 0 };
    }),
  },
  {
    ...REAL, name: 'mode-ignored',
    bug: 'the planner compares content only, so a chmod never syncs',
    plan: perPath((a, input) => {
      const l = input.local.get(a.path);
      const b = input.base.get(a.path);
      const r = input.remote.get(a.path);
      if (a.type === 'publish' && l && b && !b.deleted && b.hash === l.hash && r?.rev === b.rev) return { path: a.path, type: 'nothing' };
      return a;
    }),
  },
];

/** The planner and rules dman ships. */
export const REAL_VARIANT: Variant = REAL;
