// The peers bench in smoke mode (200 files, disk only, 3 saves): runs end to end so it cannot rot.
// No timing assertions: only that every figure was measured, with its peer, and nothing was left behind.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), 'dman-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface JsonRow { section: string; figure: string; value: number; unit: string; peer?: string; peerValue?: number; met: boolean | null; ratio: number | null }

describe('bench/peers.bench.ts --smoke', () => {
  it('measures every dman figure beside its peer from the same run and cleans up', () => {
    const file = join(out, 'peers.json');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/peers.bench.ts', '--smoke', `--json=${file}`], { cwd: root, encoding: 'utf8', timeout: 280_000 });
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    expect(r.stdout).toMatch(/goals: \d+ met, \d+ missed/);

    const doc = JSON.parse(readFileSync(file, 'utf8')) as { mode: string; scratch: string; files: number; machine: { cpus: number }; peers: Record<string, string>; rows: JsonRow[]; nodeStartupMs: { inherited: number; dman: number; dropped: string[] } };
    expect(doc).toMatchObject({ mode: 'smoke', files: 200 });
    expect(doc.machine.cpus).toBeGreaterThan(0);
    expect(Object.keys(doc.peers).sort()).toEqual(['rsync', 'sha256sum', 'syncthing', 'unison']);
    for (const v of Object.values(doc.peers)) expect(v).not.toBe('');

    const disk = doc.rows.filter((x) => x.section === 'disk');
    const figure = (start: string, peer?: string) => {
      const row = disk.find((x) => x.figure.startsWith(start) && (peer === undefined || x.peer?.startsWith(peer)));
      expect(row, `${start} / ${peer ?? '-'}`).toBeDefined();
      expect(Number.isFinite(row!.value) && row!.value > 0, `${start} = ${row!.value}`).toBe(true);
      if (peer !== undefined) {
        expect(Number.isFinite(row!.peerValue) && row!.peerValue! > 0, `${peer} = ${row!.peerValue}`).toBe(true);
        expect(row!.ratio).toBeCloseTo(row!.value / row!.peerValue!, 6);
      }
      return row!;
    };
    expect(typeof figure('first publish', 'sha256sum').met).toBe('boolean');
    figure('first install', 'rsync');
    figure('initial sync', 'unison');
    figure('initial sync', 'syncthing');
    expect(typeof figure('no-op dman sync', 'rsync').met).toBe('boolean');
    expect(typeof figure('no-op dman sync', 'unison').met).toBe('boolean');
    figure('no-op sync cycle', 'rsync');
    expect(typeof figure('no-op dman sync (one-shot CLI, engine running)', 'rsync').met).toBe('boolean');
    expect(typeof figure('no-op dman sync (one-shot CLI, engine running)', 'unison').met).toBe('boolean');
    expect(typeof figure('sync after', 'unison').met).toBe('boolean');
    expect(typeof figure('save→other machine, median', 'syncthing').met).toBe('boolean');
    figure('save→other machine, p95', 'syncthing');
    // Node's bare start with the machine's settings dman runs without, and without them (a row when any was set).
    expect(doc.nodeStartupMs.dropped).toEqual(process.env.NODE_EXTRA_CA_CERTS === undefined ? [] : ['NODE_EXTRA_CA_CERTS']);
    expect(doc.nodeStartupMs.dman).toBeGreaterThan(0);
    expect(doc.rows.some((x) => x.section === 'peers' && x.figure.startsWith('node start-up'))).toBe(doc.nodeStartupMs.dropped.length > 0);
    figure('server commits/s');
    figure('server no-op compares/s');
    figure('server peak RSS', 'syncthing');
    // At 200 files the 100,000-file memory goal is shown but not judged.
    expect(figure('engine peak RSS, watching', 'syncthing').met).toBeNull();

    // Its scratch dir (homes, replicas, server data, syncthing configs) is gone.
    expect(doc.scratch.startsWith(join(tmpdir(), 'dman-bench-peers-'))).toBe(true);
    expect(existsSync(doc.scratch)).toBe(false);
  }, 300_000);
});
