// Small process helpers shared by the release tests: explicit waits, never fixed sleeps.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';

/** Resolves with the first stdout line of child that parses as JSON; rejects on exit or timeout, with its stderr. */
export function firstJsonLine(child: ChildProcess, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const done = (fn: () => void) => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.off('exit', onExit);
      fn();
    };
    const onOut = (b: Buffer) => {
      out += b.toString();
      for (const line of out.split('\n').slice(0, -1)) {
        try {
          const v: unknown = JSON.parse(line);
          if (v && typeof v === 'object') return done(() => resolve(v));
        } catch {}
      }
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`exited (${code}) before printing JSON; stdout: ${out}\nstderr: ${err}`)));
    child.stderr?.on('data', (b: Buffer) => void (err += b.toString()));
    child.stdout?.on('data', onOut);
    child.on('exit', onExit);
    const timer = setTimeout(() => done(() => reject(new Error(`no JSON line within ${timeoutMs} ms; stdout: ${out}\nstderr: ${err}`))), timeoutMs);
  });
}

/** Resolves with how child ended; kills it and rejects after timeoutMs. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Returns a TCP port that was free a moment ago (for programs that cannot report a port 0 bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Polls url until it answers 200 or the deadline passes; returns the last status (0 = unreachable). */
export async function waitForHealthy(url: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let status = 0;
  while (Date.now() < deadline) {
    try {
      status = (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;
      if (status === 200) return status;
    } catch {
      status = 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return status;
}

/**
 * Lists a bundle and every chunk it imports, transitively (esbuild's splitting writes relative
 * `./cli-chunk-*.js` imports, static and dynamic); paths relative to the bundle's folder.
 */
export function bundleChunks(entry: string): string[] {
  const dir = dirname(entry);
  const seen = new Set<string>([basename(entry)]);
  const queue = [basename(entry)];
  while (queue.length > 0) {
    const file = queue.shift()!;
    const code = readFileSync(join(dir, file), 'utf8');
    for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)["']\.\/([^"']+)["']/gm)) {
      if (!seen.has(m[1]!)) { seen.add(m[1]!); queue.push(m[1]!); }
    }
  }
  return [...seen];
}

/** Returns the npm packages a bundle's code imports (built-ins and relative imports left out). */
export function importedPackages(code: string): string[] {
  const builtins = new Set(builtinModules);
  const names = new Set<string>();
  for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)["']([^"'./][^"']*)["']/gm)) {
    const s = m[1]!;
    if (s.startsWith('node:') || builtins.has(s)) continue;
    names.add(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
  }
  return [...names];
}
