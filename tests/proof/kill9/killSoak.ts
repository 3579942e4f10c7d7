// The kill -9 soak (issue 9): a real `dman serve` on a storage driver, three HTTP clients
// committing (upload + commit with an idempotency key, retried with the same key until answered),
// and the server SIGKILLed at seeded random moments and restarted on the same port. At the end:
// every acknowledged commit is in the server's history of its path, every live entry's blob
// downloads and matches its hash, and the revs are strictly increasing per path.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createRng } from '../../sim/prng.js';

const repo = new URL('../../..', import.meta.url).pathname;
const TOKEN = 'kill9-soak-admin-token-0123456789abcdef';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** What a soak found. */
export interface KillSoakResult { kills: number; acked: number; attempts: number; problems: string[]; ms: number; lastError: string }

/** Runs the soak: `kills` SIGKILLs of `dman serve` with `config` (a dman.yaml body) in `dir`. */
export async function killSoak(opts: { dir: string; config: string; port: number; kills: number; seed: number; paths?: number }): Promise<KillSoakResult> {
  const t0 = performance.now();
  const rng = createRng(opts.seed);
  const cfg = join(opts.dir, 'dman.yaml');
  // The server serves only configured users.
  writeFileSync(cfg, `auth_token: ${TOKEN}\nusers:\n  alice:\n    home: ${join(opts.dir, "home")}\n${opts.config}`);
  const url = `http://127.0.0.1:${opts.port}`;
  const problems: string[] = [];
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const c = spawn(process.execPath, [join(repo, 'bin/dman.js'), '--config', cfg, '--json', '--log-level', 'error', 'serve', '--addr', `127.0.0.1:${opts.port}`], {
      cwd: opts.dir, env: { ...process.env, HOME: opts.dir, XDG_DATA_HOME: join(opts.dir, 'xdg') }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    c.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: c.stdout! }).once('line', () => resolve());
      c.once('exit', (code) => reject(new Error(`dman serve exited with ${code}: ${err.slice(0, 500)}`)));
    });
    child = c;
  };
  const kill = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    child = null;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };

  const H = { authorization: `Bearer ${TOKEN}` };
  const acked: Array<{ path: string; rev: number; hash: string }> = [];
  let attempts = 0;
  let lastError = '';
  let stop = false;
  const paths = Array.from({ length: opts.paths ?? 6 }, (_, i) => `.config/app${i}/rc`);

  /** One client: read the head of a path, write a new version based on it, retry until answered. */
  const client = async (id: number): Promise<void> => {
    for (let n = 0; !stop; n++) {
      const path = paths[(id * 7 + n) % paths.length]!;
      const body = `client ${id} write ${n} of ${path}\n${'x'.repeat(rng.int(4096))}`;
      const hash = sha(body);
      const key = `kill9-${opts.seed}-c${id}-w${n}`;
      for (let tries = 0; !stop; tries++) {
        attempts++;
        try {
          const hist = await fetch(`${url}/v1/users/alice/history?path=${encodeURIComponent(path)}&limit=1`, { headers: H, signal: AbortSignal.timeout(3000) });
          const baseRev = hist.status === 200 ? ((await hist.json()) as { versions: Array<{ rev: number }> }).versions[0]?.rev ?? 0 : 0;
          const put = await fetch(`${url}/v1/users/alice/blobs/${hash}`, { method: 'PUT', headers: { ...H, 'content-type': 'application/octet-stream' }, body, signal: AbortSignal.timeout(3000) });
          if (put.status >= 300) throw new Error(`put ${put.status} ${await put.text()}`);
          const res = await fetch(`${url}/v1/users/alice/commit`, { method: 'POST', headers: { ...H, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ ops: [{ path, baseRev, kind: 'file', hash, size: Buffer.byteLength(body), mode: 0o644, mtime: n }], device: `c${id}` }), signal: AbortSignal.timeout(3000) });
          if (res.status === 200) {
            const r = (await res.json()) as { rev: number; entries: Array<{ path: string; rev: number; hash: string }> };
            for (const e of r.entries) acked.push({ path: e.path, rev: e.rev, hash: e.hash });
            break;
          }
          if (res.status === 409) { n++; break; } // someone else wrote first: a new version next time
          throw new Error(`commit ${res.status} ${await res.text()}`);
        } catch (err) {
          lastError = String((err as Error).cause ?? err);
          await new Promise((r) => setTimeout(r, 20 + rng.int(50)));
        }
      }
    }
  };

  await start();
  const clients = [0, 1, 2].map(client);
  try {
    for (let k = 0; k < opts.kills; k++) {
      await new Promise((r) => setTimeout(r, 100 + rng.int(400)));
      await kill();
      await start();
    }
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    stop = true;
    await Promise.all(clients);
  }
  try {
    // Every acknowledged commit survived, and every live blob is intact.
    for (const p of paths) {
      const r = await fetch(`${url}/v1/users/alice/history?path=${encodeURIComponent(p)}&limit=10000`, { headers: H });
      const hist = r.status === 200 ? ((await r.json()) as { versions: Array<{ rev: number; hash: string }> }).versions : [];
      for (const a of acked.filter((x) => x.path === p)) {
        if (!hist.some((v) => v.rev === a.rev && v.hash === a.hash)) problems.push(`acknowledged ${p}@${a.rev} (${a.hash.slice(0, 8)}) is gone`);
      }
      const revs = hist.map((v) => v.rev);
      if (revs.some((v, i) => i > 0 && v >= revs[i - 1]!)) problems.push(`history of ${p} is not strictly decreasing: ${revs.join(',')}`);
      const head = hist[0];
      if (head) {
        const b = await fetch(`${url}/v1/users/alice/blobs/${head.hash}`, { headers: H });
        const text = await b.text();
        if (sha(text) !== head.hash) problems.push(`blob of ${p}@${head.rev} does not match its hash`);
      }
    }
  } finally {
    await kill();
  }
  return { kills: opts.kills, acked: acked.length, attempts, problems, ms: performance.now() - t0, lastError };
}
