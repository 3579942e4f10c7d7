// build/dman-server.service: the unit that runs the standalone binary on a LAN box. Parsed for the
// essentials (hardening, state directory, restart), and checked by systemd-analyze where present.
// sea.test.ts runs the binary with this unit's exact ExecStart= arguments.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execArgs, last, parseUnit } from './systemdUnit.js';

const root = new URL('../../', import.meta.url).pathname;
const file = join(root, 'build/dman-server.service');
const unit = parseUnit(file);
const svc = (k: string) => last(unit, 'Service', k);

describe('build/dman-server.service', () => {
  it('runs dman-server serve with its data in the state directory, restarting on failure', () => {
    const env = Object.fromEntries((unit.Service.Environment ?? []).map((e) => e.split('=', 2) as [string, string]));
    const args = execArgs(svc('ExecStart')!, env);
    expect(args[0]).toBe('/usr/local/bin/dman-server');
    const serve = args.indexOf('serve');
    expect(serve).toBeGreaterThan(0);
    expect(args.slice(serve)).toEqual(expect.arrayContaining(['--addr', '--data-dir']));
    expect(args[args.indexOf('--data-dir') + 1]).toBe(`/var/lib/${svc('StateDirectory')}`);
    expect(args[args.indexOf('--addr') + 1]).toMatch(/^[\d.]+:\d+$/);
    expect(svc('Type')).toBe('simple');
    expect(svc('Restart')).toBe('on-failure');
    expect(last(unit, 'Install', 'WantedBy')).toBe('multi-user.target');
    expect(unit.Unit.After?.join(' ')).toMatch(/network-online\.target/);
  });

  it('is hardened: no root, no new privileges, read-only system, no capabilities', () => {
    expect(svc('DynamicUser') === 'yes' || (svc('User') !== undefined && svc('User') !== 'root')).toBe(true);
    const want: Record<string, string> = {
      NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectControlGroups: 'yes', RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes', RestrictNamespaces: 'yes', CapabilityBoundingSet: '', AmbientCapabilities: '',
    };
    for (const [k, v] of Object.entries(want)) expect(svc(k), k).toBe(v);
    expect(svc('RestrictAddressFamilies')?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(unit.Service.SystemCallFilter).toContain('@system-service');
    // V8's JIT needs W+X memory: this setting would kill the server at start.
    expect(svc('MemoryDenyWriteExecute')).not.toBe('yes');
    expect(svc('StateDirectory')).toBe('dman');
    expect(svc('StateDirectoryMode')).toBe('0700');
  });

  it('passes systemd-analyze verify and scores as well protected (where systemd-analyze exists)', async () => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) {
      console.info('systemd-analyze is not installed: verified by parsing only');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'dman-unit-'));
    try {
      // verify wants ExecStart's binary to exist; point it at one that does.
      const copy = join(dir, 'dman-server.service');
      await writeFile(copy, (await readFile(file, 'utf8')).replaceAll('/usr/local/bin/dman-server', process.execPath));
      const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      expect(verify.status, verify.stderr).toBe(0);
      expect(verify.stderr).not.toMatch(/Unknown (key|section)|Failed to parse|Invalid/i);
      const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', copy], { encoding: 'utf8' });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(sec.stdout)?.[1]);
      expect(score, sec.stdout.slice(-400)).toBeLessThanOrEqual(2.5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
