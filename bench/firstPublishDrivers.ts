// First publish of a generated home on the Redis and MariaDB drivers, for two builds of the CLI
// (e.g. before and after a change), interleaved, with sha256sum over the same files beside each run;
// with --install also the first install into an empty home (checked equal to the source with diff -r).
//
//   npx tsx bench/firstPublishDrivers.ts --files 10000 --reps 2 --cli before=/path/a/bin/dman.js --cli after=/path/b/bin/dman.js [--drivers redis,mariadb] [--install]
//
// Each (driver, build, rep) gets a fresh server and database. Prints one line per run and a summary.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cliEnv, startDmanServer, writeClientConfig, type Driver } from './lib/dman.js';
import { createChildSet, runMeasured } from './lib/procs.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : dflt; };
const FILES = Number(opt('files', '10000'));
const REPS = Number(opt('reps', '2'));
const INSTALL = args.includes('--install');
const drivers = opt('drivers', 'redis,mariadb').split(',') as Driver[];
const clis: Array<[string, string]> = [];
args.forEach((a, i) => { if (a === '--cli') { const [n, p] = args[i + 1]!.split('='); clis.push([n!, resolve(p!)]); } });
if (clis.length === 0) throw new Error('give at least one --cli name=path/to/bin/dman.js');

const root = mkdtempSync(join(tmpdir(), 'dman-fpd-'));
const home = join(root, 'home');
const gen = spawnSync(process.execPath, [resolve('bench/gen-home.mjs'), home, '--files', String(FILES), '--seed', '1'], { encoding: 'utf8' });
if (gen.status !== 0) throw new Error(`gen-home failed: ${gen.stderr}`);
console.log(`home: ${gen.stdout.trim()}`);
const sha = (): number => runMeasured('sh', ['-c', `cd ${home} && find . -type f -print0 | xargs -0 sha256sum > /dev/null`]).ms;

const children = createChildSet();
const results: Record<string, number[]> = {};
try {
  for (let rep = 0; rep < REPS; rep++) {
    for (const driver of drivers) {
      for (const [name, cli] of clis) {
        const dir = join(root, `${driver}-${name}-${rep}`);
        const server = await startDmanServer({ cli, dir: join(dir, 'server'), driver, user: 'bench', home, devices: ['a', 'b'], children });
        try {
          const cfg = writeClientConfig({ dir, name: 'a', url: server.url, token: server.tokens.a!, user: 'bench', home });
          const s1 = sha();
          const pub = runMeasured(process.execPath, [cli, '--config', cfg, '--quiet', 'publish', '--yes'], { env: cliEnv(dir), timeoutMs: 1_800_000 });
          const s2 = sha();
          const key = `${driver} ${name}`;
          (results[key] ??= []).push(pub.ms);
          (results[`sha256sum`] ??= []).push(s1, s2);
          let inst = '';
          if (INSTALL) {
            const homeB = join(dir, 'home-b');
            mkdirSync(homeB);
            const cfgB = writeClientConfig({ dir, name: 'b', url: server.url, token: server.tokens.b!, user: 'bench', home: homeB });
            const got = runMeasured(process.execPath, [cli, '--config', cfgB, '--quiet', 'install', '--yes'], { env: cliEnv(dir), timeoutMs: 1_800_000 });
            const same = spawnSync('diff', ['-rq', home, homeB], { encoding: 'utf8' });
            if (same.status !== 0) throw new Error(`${key}: the installed home differs from the source: ${same.stdout.slice(0, 500)}`);
            (results[`${key} install`] ??= []).push(got.ms);
            inst = `; install ${(got.ms / 1000).toFixed(2)} s (identical)`;
          }
          console.log(`${key} rep ${rep}: publish ${(pub.ms / 1000).toFixed(2)} s${inst}; sha256sum before/after ${(s1 / 1000).toFixed(2)}/${(s2 / 1000).toFixed(2)} s`);
        } finally {
          await server.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      }
    }
  }
} finally {
  await children.stopAll();
  rmSync(root, { recursive: true, force: true });
}
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
for (const [k, v] of Object.entries(results)) console.log(`${k}: median ${(median(v) / 1000).toFixed(2)} s over ${v.length} (${v.map((x) => (x / 1000).toFixed(2)).join(', ')})`);
