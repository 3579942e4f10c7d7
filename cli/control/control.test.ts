// The control socket's pieces in one process: argv shapes the fast path takes, the ownership and
// mode checks on the directory and socket, and a real socket round trip (accept, decline, stale).
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, lstatSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { askHost, delegateSync, parseFastArgv } from './client.js';
import { buildId, configVarNames, envFingerprint, type ControlRequest } from './protocol.js';
import { parseRequest, startControlServer, type ControlServer } from './server.js';
import { checkControlDir, checkSocketFile, controlSocketPath, currentUid, ensureControlDir } from './socketPath.js';

let dir: string;
let servers: ControlServer[] = [];
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'dman-ctl-')); });
afterEach(async () => {
  for (const s of servers) await s.close();
  servers = [];
  rmSync(dir, { recursive: true, force: true });
});

const flags = { yes: false, json: false, quiet: false, verbose: false, dryRun: false };

describe('parseFastArgv', () => {
  it('takes `sync` with the plain flags, in the places commander takes them', () => {
    expect(parseFastArgv(['sync'])).toEqual({ flags });
    expect(parseFastArgv(['--json', 'sync', '-y', '-q'])).toEqual({ flags: { ...flags, json: true, yes: true, quiet: true } });
    expect(parseFastArgv(['--config', 'a.yaml', 'sync', '--dry-run', '--verbose'])).toEqual({ flags: { ...flags, dryRun: true, verbose: true }, configPath: 'a.yaml' });
    expect(parseFastArgv(['sync', '--config=b.yaml', '-n'])).toEqual({ flags: { ...flags, dryRun: true }, configPath: 'b.yaml' });
  });
  it('leaves everything else to the full CLI', () => {
    for (const argv of [[], ['status'], ['sync', '--only', 'x'], ['sync', '--user', 'a'], ['-y', 'sync'], ['sync', 'sync'], ['sync', '-yq'],
      ['sync', '--log-level', 'debug'], ['sync', '--config'], ['sync', '--config', '-q'], ['sync', '--help'], ['publish'], ['sync', '-c', 'a', '-c', 'b']]) {
      expect(parseFastArgv(argv), argv.join(' ')).toBeNull();
    }
  });
});

describe('socket place checks', () => {
  it('names the socket by the config path under $XDG_RUNTIME_DIR/dman, else a per-uid temp dir', () => {
    const a = controlSocketPath('/home/u/dman.yaml', { XDG_RUNTIME_DIR: '/run/user/7' }, 7);
    expect(a).toMatch(/^\/run\/user\/7\/dman\/[0-9a-f]{16}\.sock$/);
    expect(controlSocketPath('/home/u/other.yaml', { XDG_RUNTIME_DIR: '/run/user/7' }, 7)).not.toBe(a);
    expect(controlSocketPath('/home/u/dman.yaml', {}, 7)).toBe(join(tmpdir(), 'dman-7', a.slice(-21)));
    expect(controlSocketPath('/home/u/dman.yaml', { XDG_RUNTIME_DIR: 'relative' }, 7)).toContain(join(tmpdir(), 'dman-7'));
  });

  it('accepts a private directory of this user and refuses one open to others, of another user, or a link', () => {
    const ok = join(dir, 'ok');
    expect(ensureControlDir(ok)).toBeNull();
    expect(lstatSync(ok).mode & 0o777).toBe(0o700);
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    expect(ensureControlDir(open)).toMatch(/open to other users \(mode 755\)/);
    expect(checkControlDir(ok, currentUid() + 1)).toMatch(/belongs to uid \d+, not to this user/);
    const link = join(dir, 'link');
    symlinkSync(ok, link);
    expect(checkControlDir(link)).toMatch(/not a directory/);
    expect(checkControlDir(join(dir, 'missing'))).toMatch(/ENOENT/);
  });

  it.runIf(currentUid() === 0)('refuses a directory and a socket that another user owns (chowned for real)', async () => {
    const theirs = join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    expect(checkControlDir(theirs)).toMatch(/belongs to uid 65534/);
    const sock = join(dir, 's.sock');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(sock, r));
    chmodSync(sock, 0o600);
    expect(checkSocketFile(sock)).toBeNull();
    chownSync(sock, 65534, 65534);
    expect(checkSocketFile(sock)).toMatch(/belongs to uid 65534/);
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('refuses a socket open to others and a plain file in its place', async () => {
    const sock = join(dir, 's.sock');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(sock, r));
    chmodSync(sock, 0o666);
    expect(checkSocketFile(sock)).toMatch(/open to other users/);
    await new Promise<void>((r) => srv.close(() => r()));
    writeFileSync(join(dir, 'f.sock'), '');
    expect(checkSocketFile(join(dir, 'f.sock'))).toMatch(/not a socket/);
  });
});

describe('control server and client', () => {
  const env = () => ({ XDG_RUNTIME_DIR: join(dir, 'run'), HOME: dir });
  const cfg = () => { const f = join(dir, 'dman.yaml'); writeFileSync(f, 'users: {}\n'); return f; };
  const request = (config: string, over: Partial<ControlRequest> = {}): ControlRequest => ({ op: 'sync', args: flags, build: buildId(), env: envFingerprint(env()), config, cwd: dir, pid: process.pid, ...over });

  it('runs the handler for a matching client, 0600 socket, output in order; declines another build, env or config', async () => {
    const file = cfg();
    utimesSync(file, 1_000_000_000, 1_000_000_000); // a whole second: restored exactly below
    const seen: unknown[] = [];
    const srv = await startControlServer({ configFile: file, kind: 'test host', env: env(), handle: async (args) => { seen.push(args); return { chunks: [[2, 'warn\n'], [1, 'out\n']], exitCode: 3 }; } });
    expect(srv).not.toBeNull();
    servers.push(srv!);
    expect(lstatSync(srv!.path).mode & 0o777).toBe(0o600);
    expect(await askHost(srv!.path, request(file, { args: { ...flags, yes: true } }))).toEqual({ chunks: [[2, 'warn\n'], [1, 'out\n']], exitCode: 3 });
    expect(seen).toEqual([{ ...flags, yes: true }]);
    expect(await askHost(srv!.path, request(file, { build: 'old' }))).toMatch(/declined: .*another build/);
    expect(await askHost(srv!.path, request(file, { env: 'x' }))).toMatch(/declined: .*DMAN_\*/);
    const st = statSync(file);
    writeFileSync(file, 'users: {x: 1}\n');
    expect(await askHost(srv!.path, request(file))).toMatch(/declined: .*changed \(content, mode or mtime\) since test host started/);
    // Same bytes again but a newer mtime: still declined.
    writeFileSync(file, 'users: {}\n');
    expect(await askHost(srv!.path, request(file))).toMatch(/declined: .*changed \(content, mode or mtime\)/);
    // Another mode (the host's start-up warnings may say the file is open to others): declined.
    utimesSync(file, 1_000_000_000, 1_000_000_000);
    chmodSync(file, (st.mode & 0o777) ^ 0o004);
    expect(await askHost(srv!.path, request(file))).toMatch(/declined: .*changed \(content, mode or mtime\)/);
    chmodSync(file, st.mode & 0o777);
    expect(srv!.served()).toBe(1);

    // Through delegateSync: the printed chunks and the exit code.
    const out: string[] = [];
    const code = await delegateSync(['--config', file, 'sync'], env(), { stdout: (t) => out.push(`1:${t}`), stderr: (t) => out.push(`2:${t}`) });
    // The config changed and changed back (bytes, mode and mtime): served again.
    expect(code).toBe(3);
    expect(out).toEqual(['2:warn\n', '1:out\n']);
  });

  it('a second host for the same config stays off; closing removes the socket and a new host takes over', async () => {
    const file = cfg();
    const handle = async () => ({ chunks: [], exitCode: 0 });
    const first = await startControlServer({ configFile: file, kind: 'a', env: env(), handle });
    servers.push(first!);
    expect(await startControlServer({ configFile: file, kind: 'b', env: env(), handle })).toBeNull();
    await first!.close();
    expect(() => lstatSync(first!.path)).toThrow();
    expect(await delegateSync(['--config', file, 'sync'], env(), { stdout: () => {}, stderr: () => {} })).toBeNull();
    // (A socket file left by a host killed -9 is tested with real processes in tests/integration/syncDelegate.test.ts.)
    const again = await startControlServer({ configFile: file, kind: 'c', env: env(), handle });
    expect(again).not.toBeNull();
    servers.push(again!);
    expect(await delegateSync(['--config', file, 'sync'], env(), { stdout: () => {}, stderr: () => {} })).toBe(0);
  });

  it('falls back with no config, no socket, DMAN_NO_DAEMON=1 or an argv it does not take', async () => {
    const file = cfg();
    const lines: string[] = [];
    const io = { stdout: () => {}, stderr: () => {}, debug: (l: string) => lines.push(l) };
    expect(await delegateSync(['--config', join(dir, 'nope.yaml'), 'sync'], env(), io)).toBeNull();
    expect(await delegateSync(['--config', file, 'sync'], env(), io)).toBeNull();
    expect(lines.join('\n')).toMatch(/no usable control socket/);
    const srv = await startControlServer({ configFile: file, kind: 'a', env: env(), handle: async () => ({ chunks: [], exitCode: 0 }) });
    servers.push(srv!);
    expect(await delegateSync(['--config', file, 'sync'], { ...env(), DMAN_NO_DAEMON: '1' }, io)).toBeNull();
    expect(await delegateSync(['--config', file, 'sync', '--only', 'x'], env(), io)).toBeNull();
    expect(await delegateSync(['--config', file, 'sync'], env(), io)).toBe(0);
  });

  it('declines when the client\'s value of a $VAR the config names differs from the host\'s (another home), runs it when equal', async () => {
    const file = join(dir, 'dman.yaml');
    writeFileSync(file, 'server_url: http://127.0.0.1:1\nusers:\n  me:\n    home: $MYHOME/x\n    track: [".a"]\nstate_dir: ${MYSTATE}/s # and ~ is $HOME\n');
    expect(configVarNames('a: $MYHOME/x ${B}/y $C_1 $$ $1 ~')).toEqual(['B', 'C_1', 'MYHOME']);
    const hostEnv = { ...env(), MYHOME: join(dir, 'h1'), MYSTATE: join(dir, 's') };
    const srv = await startControlServer({ configFile: file, kind: 'test host', env: hostEnv, handle: async () => ({ chunks: [[1, 'host ran it\n']], exitCode: 0 }) });
    servers.push(srv!);
    const lines: string[] = [];
    const io = { stdout: (t: string) => lines.push(t), stderr: (t: string) => lines.push(t), debug: (l: string) => lines.push(l) };
    expect(await delegateSync(['--config', file, 'sync'], { ...hostEnv, MYHOME: join(dir, 'h2') }, io)).toBeNull();
    expect(lines.join('\n')).toMatch(/declined: .*other values for the \$VARs/);
    expect(await delegateSync(['--config', file, 'sync'], { ...hostEnv, MYSTATE: undefined }, io)).toBeNull();
    expect(srv!.served()).toBe(0);
    expect(await delegateSync(['--config', file, 'sync'], { ...hostEnv }, io)).toBe(0);
    expect(lines.at(-1)).toBe('host ran it\n');
  });

  it('a host that took the request and went silent: exit 1 with a clear error, no cold run; keep-alives keep a long run going', async () => {
    const file = cfg();
    const path = controlSocketPath(file, env(), currentUid());
    expect(ensureControlDir(join(dir, 'run', 'dman'))).toBeNull();
    // A fake host: acks, then says nothing and keeps the connection open.
    const fake = createServer((sock) => { sock.once('data', () => sock.write(`${JSON.stringify({ accepted: true, host: { kind: 'dman watch', pid: 4242 } })}\n`)); });
    await new Promise<void>((done) => fake.listen(path, () => done()));
    chmodSync(path, 0o600);
    try {
      const err: string[] = [];
      const code = await delegateSync(['--config', file, 'sync'], { ...env(), DMAN_CONTROL_SILENCE_MS: '300' }, { stdout: () => {}, stderr: (t) => err.push(t) });
      expect(code).toBe(1);
      expect(err.join('')).toMatch(/running dman watch \(pid 4242\) took this sync, then stopped answering/);
      expect(err.join('')).toMatch(/DMAN_NO_DAEMON=1 dman sync/);
    } finally {
      await new Promise<void>((done) => fake.close(() => done()));
    }
    // A real host whose run lasts longer than the silence limit, sending keep-alives: the reply arrives.
    const srv = await startControlServer({ configFile: file, kind: 'slow host', env: env(), keepAliveMs: 50, handle: () => new Promise((done) => setTimeout(() => done({ chunks: [[1, 'slow\n']], exitCode: 0 }), 700)) });
    servers.push(srv!);
    const out: string[] = [];
    expect(await delegateSync(['--config', file, 'sync'], { ...env(), DMAN_CONTROL_SILENCE_MS: '300' }, { stdout: (t) => out.push(t), stderr: (t) => out.push(t) })).toBe(0);
    expect(out).toEqual(['slow\n']);
  });

  it('parseRequest refuses anything but a well-formed sync request', () => {
    expect(parseRequest('nope')).toBeNull();
    expect(parseRequest('{"op":"rm"}')).toBeNull();
    expect(parseRequest(JSON.stringify({ ...request('/c'), args: { ...flags, yes: 'yes' } }))).toBeNull();
    expect(parseRequest(JSON.stringify(request('/c')))).toMatchObject({ op: 'sync', config: '/c' });
  });
});
