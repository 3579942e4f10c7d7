// A real `dman serve` (the built CLI, disk storage in `dir`) on 127.0.0.1 for the CLI end-to-end
// tests: its server.yaml holds the admin token, and the URL comes from its first JSON line.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const root = new URL('../..', import.meta.url).pathname;

/** Starts `dman serve` with `dir/server.yaml` (written here) and resolves once it listens. */
export async function startCliServe(opts: { dir: string; admin: string; env: NodeJS.ProcessEnv }): Promise<{ child: ChildProcess; url: string; config: string }> {
  const config = join(opts.dir, 'server.yaml');
  await writeFile(config, `auth_token: ${opts.admin}\nstorage_driver: disk\ndata_dir: ${join(opts.dir, 'data')}\nusers:\n  alice:\n    home: ${join(opts.dir, 'unused')}\n`);
  await chmod(config, 0o600);
  const child = spawn(process.execPath, [join(root, 'bin/dman.js'), '--config', config, '--json', '--log-level', 'warn', 'serve', '--addr', '127.0.0.1:0'], { cwd: opts.dir, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`dman serve exited with ${code}: ${err}`)));
  });
  return { child, url: (JSON.parse(line) as { url: string }).url, config };
}
