// The server image without Docker: the Dockerfile and compose file checked as far as parsing
// goes, and the image's entry point run for real: its environment handling against a recording
// fake `node`, its healthcheck against a local HTTP server, and the real server started through it.
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import picomatch from 'picomatch';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DockerfileParser, type From, type ModifiableInstruction } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { loadConfig } from '../../engine/config/load.js';
import { bundleChunks, freePort, importedPackages, waitForExit, waitForHealthy } from './helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const entrypoint = join(root, 'scripts/docker-entrypoint.sh');

interface Instruction { cmd: string; args: string; flags: Record<string, string | null>; line: number }

/** Parses the Dockerfile with dockerfile-ast into stages of instructions (flags apart, pre-FROM ARGs resolved). */
function parseDockerfile(text: string): { stages: Array<{ from: string; name?: string; ins: Instruction[] }> } {
  const df = DockerfileParser.parse(text);
  const args = new Map<string, string>();
  const stages: Array<{ from: string; name?: string; ins: Instruction[] }> = [];
  for (const i of df.getInstructions()) {
    const cmd = i.getKeyword();
    const rawArgs = i.getArgumentsContent() ?? '';
    const line = i.getRange().start.line + 1;
    if (cmd === 'FROM') {
      const f = i as From;
      stages.push({ from: (f.getImage() ?? '').replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? ''), name: f.getBuildStage() ?? undefined, ins: [] });
    } else if (stages.length === 0) {
      const [k, v = ''] = rawArgs.split('=');
      args.set(k, v);
    } else {
      const flags = 'getFlags' in i ? Object.fromEntries((i as ModifiableInstruction).getFlags().map((fl) => [fl.getName(), fl.getValue()])) : {};
      stages[stages.length - 1].ins.push({ cmd, args: rawArgs.replace(/\\\n/g, ' ').replace(/\s+/g, ' ').trim(), flags, line });
    }
  }
  return { stages };
}

/** Returns true when a .dockerignore pattern list excludes path (enough of its syntax for this repo). */
function dockerIgnored(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const p = (neg ? raw.slice(1) : raw).replace(/^\.?\//, '');
    const body = p.split(/(\*\*\/|\*\*|\*|\?)/).map((t) => ({ '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' })[t] ?? t.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('');
    const re = new RegExp(`^${body}(?:/.*)?$`);
    if (re.test(path)) ignored = !neg;
  }
  return ignored;
}

describe('Dockerfile', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const { stages } = parseDockerfile(text);
  const runtime = stages[stages.length - 1];
  const all = (cmd: string) => runtime.ins.filter((i) => i.cmd === cmd);
  const last = (cmd: string) => all(cmd).at(-1);

  it('passes dockerfile-utils\' linter with no problem at all', () => {
    const problems = lintDockerfile(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
    // The linter has teeth: the same file with a typo and a bad port is rejected.
    expect(lintDockerfile(text.replace('EXPOSE 3626', 'EXPOSE http').replace(/^USER /m, 'USR ')).length).toBeGreaterThanOrEqual(2);
  });

  it('is multi-stage: builds in one stage, runs on a slim Node 20 image in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0].name).toBe('build');
    expect(runtime.from).toMatch(/^node:20[.\w-]*-slim$/);
    const buildRuns = stages[0].ins.filter((i) => i.cmd === 'RUN').map((i) => i.args).join('\n');
    expect(buildRuns).toMatch(/npm ci/);
    expect(buildRuns).toMatch(/scripts\/build\.mjs|npm run build/);
    expect(buildRuns).toMatch(/npm prune --omit=dev/);
    // The runtime stage takes built artifacts from the build stage and runs no npm install itself.
    expect(all('COPY').filter((c) => c.flags.from === 'build').length).toBeGreaterThanOrEqual(3);
    expect(all('RUN').some((r) => /npm (ci|install)/.test(r.args))).toBe(false);
  });

  it('runs as a non-root user, exposes 3626, keeps /data in a volume, and checks /health with node', () => {
    const user = last('USER')?.args.split(':')[0];
    expect(user).toBeTruthy();
    expect(['root', '0']).not.toContain(user);
    // The user is created with a fixed uid, so operators can chown a bind mount to it.
    expect(all('RUN').map((r) => r.args).join('\n')).toMatch(new RegExp(`useradd[^\\n]*--uid \\d+[^\\n]*\\b${user}\\b`));
    expect(all('EXPOSE').map((e) => e.args)).toContain('3626');
    expect(last('VOLUME')?.args).toMatch(/\/data/);
    const hc = last('HEALTHCHECK')?.args ?? '';
    expect(hc).toMatch(/CMD/);
    expect(hc).not.toMatch(/curl|wget/);
    expect(hc).toContain('dman-entrypoint');
    expect(hc).toContain('healthcheck');
    expect(last('ENTRYPOINT')?.args).toContain('/usr/local/bin/dman-entrypoint');
    const env = all('ENV').map((e) => e.args).join(' ');
    expect(env).toMatch(/DMAN_ADDR=0\.0\.0\.0:3626/);
    expect(env).toMatch(/DMAN_DATA_DIR=\/data/);
    // USER comes after every RUN that needs root.
    const userLine = last('USER')!.line;
    expect(all('RUN').every((r) => r.line < userLine)).toBe(true);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const ignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const fromContext = stages.flatMap((s) => s.ins).filter((i) => i.cmd === 'COPY' && !('from' in i.flags));
    expect(fromContext.length).toBeGreaterThan(0);
    for (const c of fromContext) {
      const parts = c.args.split(/\s+/);
      for (const src of parts.slice(0, -1)) {
        if (src === '.') continue;
        expect(existsSync(join(root, src)), `COPY ${src} (line ${c.line}) exists`).toBe(true);
        expect(dockerIgnored(ignore, src), `COPY ${src} (line ${c.line}) is not excluded by .dockerignore`).toBe(false);
      }
    }
    // What the build needs is in the context; what must not leak is not.
    for (const need of ['package.json', 'package-lock.json', 'cli/main.ts', 'server/app.ts', 'shared/protocol.ts', 'engine/log.ts', 'scripts/build.mjs', 'bin/dman.js', 'bin/package.json']) {
      expect(dockerIgnored(ignore, need), need).toBe(false);
    }
    for (const secret of ['.env', 'config/.env.production', 'certs/server.key', 'dman.yaml', 'node_modules/x/index.js', '.git/config', 'release/x.AppImage']) {
      expect(dockerIgnored(ignore, secret), secret).toBe(true);
    }
  });

  it('the runtime stage\'s dependencies are enough: dist/cli.js and every chunk it loads import only built-ins and production dependencies', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const cli = join(root, 'dist/cli.js');
    if (!existsSync(cli)) spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root });
    const chunks = bundleChunks(cli);
    expect(chunks.length).toBeGreaterThan(1);
    const seen = new Set<string>();
    for (const c of chunks) {
      for (const name of importedPackages(await readFile(join(root, 'dist', c), 'utf8'))) {
        seen.add(name);
        expect(Object.keys(pkg.dependencies), `dist/${c} imports ${name}, which npm prune --omit=dev would remove`).toContain(name);
      }
    }
    // the store drivers and the server are only in chunks: scanning dist/cli.js alone would miss them
    for (const name of ['fastify', 'ioredis', 'mysql2']) expect(seen.has(name), name).toBe(true);
  });

  it('the runtime stage copies dist/cli.js and every chunk it loads', () => {
    const runtime = stages[stages.length - 1]!;
    const sources = runtime.ins.filter((i) => i.cmd === 'COPY' && i.flags.from === 'build').flatMap((i) => i.args.split(/\s+/).slice(0, -1)).map((p) => p.replace(/^\/src\//, ''));
    for (const c of bundleChunks(join(root, 'dist/cli.js'))) {
      expect(sources.some((src) => picomatch.isMatch(`dist/${c}`, src) || `dist/${c}`.startsWith(`${src.replace(/\/$/, '')}/`)), `dist/${c} is copied into the runtime image`).toBe(true);
    }
  });
});

describe('docker-compose.yml', () => {
  const compose = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { image?: string; build?: unknown; command?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; healthcheck?: { test: string[] }; volumes?: string[]; ports?: string[]; read_only?: boolean }>;
    volumes: Record<string, unknown>;
  };

  it('runs dman, Redis with persistence on, and MariaDB with a healthcheck that dman waits for', () => {
    const { dman, redis, mariadb } = compose.services;
    expect(dman.build).toBeTruthy();
    expect(redis.image).toMatch(/^redis:/);
    expect(redis.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(mariadb.image).toMatch(/^mariadb:/);
    expect(mariadb.healthcheck?.test.join(' ')).toMatch(/healthcheck\.sh|mariadb-admin|mysqladmin/);
    expect(mariadb.volumes?.some((v) => v.endsWith(':/var/lib/mysql'))).toBe(true);
    expect(dman.depends_on?.mariadb.condition).toBe('service_healthy');
    expect(dman.depends_on?.redis.condition).toBe('service_healthy');
    for (const v of [...(dman.volumes ?? []), ...(redis.volumes ?? []), ...(mariadb.volumes ?? [])]) {
      const name = v.split(':')[0];
      if (!name.startsWith('.') && !name.startsWith('/')) expect(Object.keys(compose.volumes)).toContain(name);
    }
  });

  it('configures dman through the entry point\'s variables, matching the database it starts', () => {
    const { dman, mariadb } = compose.services;
    const env = dman.environment ?? {};
    expect(env.DMAN_DB_ADDR).toBe('mariadb:3306');
    expect(env.DMAN_REDIS_ADDR).toBe('redis:6379');
    expect(env.DMAN_DB_NAME).toBe(mariadb.environment?.MARIADB_DATABASE);
    expect(env.DMAN_DB_USER).toBe(mariadb.environment?.MARIADB_USER);
    expect(env.DMAN_DB_PASSWORD).toBe(mariadb.environment?.MARIADB_PASSWORD);
    expect(env.DMAN_STORAGE_DRIVER).toMatch(/mariadb/);
    expect(env.DMAN_AUTH_TOKEN).toMatch(/^\$\{DMAN_AUTH_TOKEN:\?/); // required, never a default secret
    expect(dman.ports?.[0]).toMatch(/:3626$/);
    expect(dman.read_only).toBe(true);
    // Every DMAN_* variable given to dman is one the entry point (or dman itself) reads.
    const script = readFileSync(entrypoint, 'utf8');
    for (const k of Object.keys(env)) expect(script, k).toContain(k);
  });
});

describe('the image entry point (scripts/docker-entrypoint.sh)', () => {
  let dir: string;
  let fakeNode: string;
  let record: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dman-entry-'));
    record = join(dir, 'argv.json');
    // A `node` that runs `-e` scripts for real (config generation, healthcheck) and records any other call.
    fakeNode = join(dir, 'fake-node');
    await writeFile(join(dir, 'record.cjs'), `require('fs').writeFileSync(process.env.FAKE_RECORD, JSON.stringify(process.argv.slice(2)));\n`);
    await writeFile(fakeNode, `#!/bin/sh\nif [ "$1" = -e ]; then exec "${process.execPath}" "$@"; fi\nexec "${process.execPath}" "${join(dir, 'record.cjs')}" "$@"\n`);
    await chmod(fakeNode, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = (env: Record<string, string>, args: string[] = []) => {
    rmRecord();
    const r = spawnSync('sh', [entrypoint, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DMAN_NODE: fakeNode, FAKE_RECORD: record, TMPDIR: dir, DMAN_DATA_DIR: join(dir, 'data'), ...env },
      encoding: 'utf8',
    });
    const argv = existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as string[]) : null;
    return { ...r, argv };
  };
  const rmRecord = () => spawnSync('rm', ['-f', record]);

  it('maps DMAN_ADDR and DMAN_DATA_DIR onto dman serve, with a generated config by default', async () => {
    const data = join(dir, 'srv', 'data');
    const r = run({ DMAN_ADDR: '127.0.0.1:4567', DMAN_DATA_DIR: data });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const cfg = join(dir, 'dman.yaml');
    expect(r.argv).toEqual(['/app/bin/dman.js', '--config', cfg, '--log-level', 'info', '--log-format', 'json', 'serve', '--addr', '127.0.0.1:4567', '--data-dir', data]);
    expect((await stat(data)).isDirectory()).toBe(true);
    expect(parseYaml(await readFile(cfg, 'utf8'))).toEqual({ storage_driver: 'disk', data_dir: data });
    expect((await stat(cfg)).mode & 0o077).toBe(0); // it may hold passwords
  });

  it('defaults to 0.0.0.0:3626, passes serve flags through, and runs other dman commands with the same config', () => {
    expect(run({}).argv?.slice(-4)).toEqual(['--addr', '0.0.0.0:3626', '--data-dir', join(dir, 'data')]);
    expect(run({}, ['serve', '--quiet-flag']).argv?.slice(-5)).toEqual(['--addr', '0.0.0.0:3626', '--data-dir', join(dir, 'data'), '--quiet-flag']);
    expect(run({}, ['--some-flag']).argv?.slice(7)).toEqual(['serve', '--addr', '0.0.0.0:3626', '--data-dir', join(dir, 'data'), '--some-flag']);
    const token = run({ DMAN_LOG_LEVEL: 'debug' }, ['token', 'create', '--user', 'alice']);
    expect(token.argv).toEqual(['/app/bin/dman.js', '--config', join(dir, 'dman.yaml'), '--log-level', 'debug', '--log-format', 'json', 'token', 'create', '--user', 'alice', '--data-dir', join(dir, 'data')]);
    expect(run({}, ['token', 'list', '--server', 'http://x:3626']).argv?.slice(7)).toEqual(['token', 'list', '--server', 'http://x:3626']);
    expect(run({}, ['config', 'show']).argv?.slice(7)).toEqual(['config', 'show']);
  });

  it('generates a config dman accepts from the database variables, secrets from *_FILE', async () => {
    const pwFile = join(dir, 'db-password');
    await writeFile(pwFile, 's3cret pass');
    const r = run({
      DMAN_STORAGE_DRIVER: 'mariadb', DMAN_USERS: 'alice, bob,,', DMAN_DB_ADDR: 'mariadb:3306', DMAN_DB_NAME: 'dman', DMAN_DB_USER: 'dman',
      DMAN_DB_PASSWORD_FILE: pwFile, DMAN_REDIS_ADDR: 'redis:6379', DMAN_REDIS_DB: '2', DMAN_GENERATED_CONFIG: join(dir, 'gen.yaml'),
    });
    expect(r.stderr).toBe('');
    expect(r.argv?.[2]).toBe(join(dir, 'gen.yaml'));
    const text = await readFile(join(dir, 'gen.yaml'), 'utf8');
    expect(parseYaml(text)).toEqual({
      storage_driver: 'mariadb', data_dir: join(dir, 'data'), users: { alice: { home: '/home/alice' }, bob: { home: '/home/bob' } },
      redis: { addr: 'redis:6379', db: 2 }, db: { addr: 'mariadb:3306', db: 'dman', user: 'dman', password: 's3cret pass' },
    });
    // The real loader accepts what the entry point writes.
    const { config } = await loadConfig({ configPath: join(dir, 'gen.yaml'), env: {}, cwd: dir, homedir: dir });
    expect(config.storage_driver).toBe('mariadb');
    expect(Object.keys(config.users).sort()).toEqual(['alice', 'bob']);
    expect(config.db.password).toBe('s3cret pass');
    expect(config.redis.db).toBe(2);
  });

  it('uses a mounted DMAN_CONFIG as is', async () => {
    const mounted = join(dir, 'mounted.yaml');
    await writeFile(mounted, 'storage_driver: disk\n');
    expect(run({ DMAN_CONFIG: mounted }).argv?.slice(0, 3)).toEqual(['/app/bin/dman.js', '--config', mounted]);
  });

  it('rejects bad settings with exit 2 and a message naming the variable', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ DMAN_ADDR: 'localhost' }, /DMAN_ADDR='localhost' is not HOST:PORT/],
      [{ DMAN_ADDR: '0.0.0.0:http' }, /no numeric port/],
      [{ DMAN_ADDR: '0.0.0.0:70000' }, /above 65535/],
      [{ DMAN_CONFIG: join(dir, 'missing.yaml') }, /DMAN_CONFIG=.*missing\.yaml is not a readable file/],
      [{ DMAN_REDIS_DB: 'two' }, /DMAN_REDIS_DB=two is not a whole number/],
      [{ DMAN_DB_PASSWORD_FILE: join(dir, 'nope') }, /DMAN_DB_PASSWORD_FILE=.*nope is not a readable file/],
      [{ DMAN_DATA_DIR: '/proc/dman-data' }, /DMAN_DATA_DIR=\/proc\/dman-data is not a writable folder/],
    ];
    for (const [env, msg] of cases) {
      const r = run(env);
      expect(r.status, JSON.stringify(env)).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.argv, 'dman was not started').toBeNull();
    }
  });

  describe('healthcheck', () => {
    let server: Server;
    let status = 200;
    let port: number;
    beforeAll(async () => {
      server = createServer((req, res) => res.writeHead(req.url === '/health' ? status : 404).end('{}'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('exits 0 when /health answers 200 (wildcard address mapped to loopback), 1 otherwise', async () => {
      // Spawned asynchronously: the HTTP server lives in this process and must keep answering.
      const hc = async (addr: string) => {
        const child = spawn('sh', [entrypoint, 'healthcheck'], { env: { PATH: process.env.PATH ?? '', DMAN_ADDR: addr }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
        const { code } = await waitForExit(child, 10_000);
        return { status: code, stderr };
      };
      status = 200;
      expect((await hc(`0.0.0.0:${port}`)).status).toBe(0);
      expect((await hc(`127.0.0.1:${port}`)).status).toBe(0);
      status = 503;
      const bad = await hc(`0.0.0.0:${port}`);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/answered 503/);
      const closed = await hc(`127.0.0.1:${await freePort()}`);
      expect(closed.status).toBe(1);
      expect(closed.stderr).toMatch(/unreachable/);
    });
  });

  it('starts the real server (dman serve from dist/cli.js) from the environment alone', async () => {
    if (!existsSync(join(root, 'dist/cli.js'))) spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { cwd: root });
    const port = await freePort();
    const data = join(dir, 'real-data');
    await mkdir(join(dir, 'home'), { recursive: true });
    const child = spawn('sh', [entrypoint], {
      env: { PATH: process.env.PATH ?? '', HOME: join(dir, 'home'), TMPDIR: dir, DMAN_BIN: join(root, 'bin/dman.js'), DMAN_ADDR: `127.0.0.1:${port}`, DMAN_DATA_DIR: data, DMAN_USERS: 'alice', DMAN_GENERATED_CONFIG: join(dir, 'real.yaml') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (b: Buffer) => void (err += b.toString()));
    try {
      expect(await waitForHealthy(`http://127.0.0.1:${port}/health`, 20_000), err).toBe(200);
      // The image's HEALTHCHECK command agrees.
      expect(spawnSync('sh', [entrypoint, 'healthcheck'], { env: { PATH: process.env.PATH ?? '', DMAN_ADDR: `0.0.0.0:${port}` } }).status).toBe(0);
      expect(existsSync(data)).toBe(true);
    } finally {
      // exec: the shell became node, so SIGTERM reaches dman itself, as `docker stop` would.
      child.kill('SIGTERM');
    }
    expect(await waitForExit(child, 15_000)).toEqual({ code: 0, signal: null });
  }, 60_000);
});

describe('shell scripts of the release', () => {
  const scripts = ['scripts/docker-entrypoint.sh', 'scripts/smoke-lib.sh', 'scripts/smoke-compose.sh', 'scripts/smoke-upgrade.sh'].filter((s) => existsSync(join(root, s)));
  const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

  it('parse, and pass shellcheck where it is installed', () => {
    expect(scripts).toContain('scripts/docker-entrypoint.sh');
    for (const s of scripts) {
      const shell = readFileSync(join(root, s), 'utf8').startsWith('#!/bin/sh') ? 'sh' : 'bash';
      const syntax = spawnSync(shell, ['-n', join(root, s)], { encoding: 'utf8' });
      expect(syntax.status, `${shell} -n ${s}: ${syntax.stderr}`).toBe(0);
      if (hasShellcheck) {
        const lint = spawnSync('shellcheck', ['-x', '-s', shell, s], { cwd: root, encoding: 'utf8' });
        expect(lint.status, `shellcheck ${s}:\n${lint.stdout}`).toBe(0);
      }
    }
    if (!hasShellcheck) console.info('shellcheck is not installed (apt-get install shellcheck): checked syntax only');
  });
});
