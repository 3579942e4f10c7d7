// Attributes the live heap of a loaded sync state to its maps (issue 10): loads the state of the
// client config given, then drops one map at a time and measures what a full GC gives back.
// The maps keep their numbers in typed arrays (engine/state/PackedMap.ts), outside the V8 heap:
// "arrayBuffersMb" counts those; clearing a map keeps its columns, so the per-map figures are heap only.
// Run: node --expose-gc --import tsx bench/lib/stateProbe.ts CONFIG.yaml
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { createFileStateStore } from '../../engine/state/StateStore.js';

const cfg = readFileSync(process.argv[2]!, 'utf8');
const url = /server_url: (.*)/.exec(cfg)![1]!;
const stateDir = /state_dir: (.*)/.exec(cfg)![1]!;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const used = (): number => { gc(); gc(); return getHeapStatistics().used_heap_size; };
const buffers = (): number => process.memoryUsage().arrayBuffers;
const mb = (b: number): number => Math.round(b / 1e5) / 10;
const rss = (): number => Math.round(process.memoryUsage().rss / 1048576);

const empty = used();
const buffers0 = buffers();
const rss0 = rss();
const store = createFileStateStore({ stateDir });
const t = performance.now();
const s = await store.load(url, 'alice');
const loadMs = Math.round(performance.now() - t);
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const all = used();
const out: Record<string, unknown> = { paths: s.base.size, loadMs, rssBeforeLoadMb: rss0, peakRssDuringLoadMb: Math.round(hwm), rssAfterLoadAndGcMb: rss(), liveStateMb: mb(all - empty), arrayBuffersMb: mb(buffers() - buffers0) };
let prev = all;
for (const k of ['statCache', 'remote', 'base', 'conflicts'] as const) {
  const n = s[k].size;
  s[k].clear();
  const now = used();
  out[`${k} (${n} rows)`] = `${mb(prev - now)} MB, ${Math.round((prev - now) / Math.max(n, 1))} B/row`;
  prev = now;
}
console.log(JSON.stringify(out, null, 1));
