// Run by DirWatcher.test.ts inside a user namespace with a small inotify budget: starts the folder
// watcher on argv[2] (tracking everything), writes one file in the home (always watched first),
// and prints one JSON line: the watcher's status, its warnings and the paths it reported.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compileTrack } from '../../../shared/patterns/index.js';
import type { Logger } from '../../log.js';
import { createDirWatcher } from '../DirWatcher.js';

const home = process.argv[2]!;
const warnings: unknown[] = [];
const log = { warn: (o: object, msg: string) => warnings.push({ ...o, msg }), debug() {}, info() {}, error() {}, child: () => log } as unknown as Logger;
const w = createDirWatcher({ log, debounceMs: 10, trailingMs: 20 });
const reported = new Set<string>();
await w.start([{ user: 'alice', home, matcher: compileTrack(['**']) }], (_u, paths) => (paths ?? []).forEach((p) => reported.add(p)));
await writeFile(join(home, 'top.conf'), 'x');
for (const t0 = Date.now(); !reported.has('top.conf') && Date.now() - t0 < 10_000;) await new Promise((r) => setTimeout(r, 10));
process.stdout.write(`${JSON.stringify({ status: w.status?.(), warnings, reported: [...reported] })}\n`);
await w.close();
