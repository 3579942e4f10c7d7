// The live checks of `dman init`: can this machine reach the server, can the server reach its
// database, and how many files each track group selects here now.
import { healthReplySchema } from '../../shared/protocol.js';
import type { EffectiveConfig, StorageDriver } from '../../shared/config/schema.js';
import { compileTrack } from '../../shared/patterns/index.js';
import { walkTracked } from '../../engine/scan/walk.js';

/** The outcome of one live check: ok, or the exact error to show. */
export type CheckResult = { ok: true; detail: string } | { ok: false; error: string };

const messageOf = (err: unknown): string => {
  const parts: string[] = [];
  let e: unknown = err;
  while (e && parts.length < 4) {
    const m = e instanceof Error ? e.message : String(e);
    if (m && !parts.includes(m)) parts.push(m);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(': ') || 'unknown error';
};

/** GETs <url>/health and says what answered (a dman server, something else, or nothing). */
export async function checkServer(url: string, timeoutMs = 5000): Promise<CheckResult> {
  const target = `${url.replace(/\/+$/, '')}/health`;
  let res: Response;
  try {
    res = await fetch(target, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    return { ok: false, error: `cannot reach ${target}: ${messageOf(err)}` };
  }
  const body = await res.text();
  let json: unknown;
  try { json = JSON.parse(body); } catch { json = undefined; }
  const parsed = healthReplySchema().safeParse(json);
  if (!parsed.success) return { ok: false, error: `${target} answered HTTP ${res.status}, but not like a dman server` };
  if (!parsed.data.ok) return { ok: false, error: `the dman server at ${url} is up but unhealthy (its store is down)` };
  return { ok: true, detail: `dman server ${parsed.data.version} (protocol ${parsed.data.protocol})` };
}

/** Opens the store the answers describe, asks it for health() and closes it again; never hangs past timeoutMs. */
export async function checkStore(driver: StorageDriver, blocks: { redis?: EffectiveConfig['redis']; db?: EffectiveConfig['db']; dataDir?: string }, timeoutMs = 8000): Promise<CheckResult> {
  if (driver === 'disk') return { ok: true, detail: 'disk storage needs no connection' };
  let store;
  try {
    // Loaded on use: ioredis and mysql2 would slow down the start of every other command.
    const { createStore } = await import('../../server/store/createStore.js');
    store = createStore({ driver, redis: blocks.redis, db: blocks.db });
  } catch (err) {
    return { ok: false, error: messageOf(err) };
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => { timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs); });
  try {
    await Promise.race([store.open(), timeout]);
    const h = await Promise.race([store.health(), timeout]);
    if (!h.ok) return { ok: false, error: h.error ?? 'the store reports it is unhealthy' };
    const warn = h.warnings?.length ? `; warnings: ${h.warnings.join('; ')}` : '';
    return { ok: true, detail: `${driver} answered in ${Math.round(h.latencyMs)} ms${warn}` };
  } catch (err) {
    return { ok: false, error: messageOf(err) };
  } finally {
    clearTimeout(timer);
    await store.close().catch(() => {});
  }
}

/** Counts, per group, the files its patterns select under `home` now; `capped` when the walk was cut short. */
export async function countGroupFiles(home: string, groups: Record<string, readonly string[]>, opts: { timeoutMs?: number; maxFiles?: number } = {}): Promise<{ counts: Record<string, number>; capped: boolean }> {
  const names = Object.keys(groups);
  const matchers = names.map((n) => compileTrack([...groups[n]!]));
  const union = compileTrack(names.flatMap((n) => [...groups[n]!].filter((p) => !p.startsWith('!'))));
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const maxFiles = opts.maxFiles ?? 20_000;
  let seen = 0;
  try {
    for await (const f of walkTracked(home, union, { signal: AbortSignal.timeout(opts.timeoutMs ?? 3000) })) {
      matchers.forEach((m, i) => { if (m.isTracked(f.path)) counts[names[i]!]!++; });
      if (++seen >= maxFiles) return { counts, capped: true };
    }
  } catch {
    // A home that cannot be read or a walk that took too long: show what was counted.
    return { counts, capped: true };
  }
  return { counts, capped: false };
}
