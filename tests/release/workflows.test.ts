// The hosted-CI workflows cannot run here; check that they parse, run what the release promises,
// on the three OSes, and take every credential from secrets.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { validateWorkflow } from '@action-validator/core';

const root = new URL('../../', import.meta.url).pathname;

interface Step { name?: string; uses?: string; run?: string; if?: string; env?: Record<string, string>; with?: Record<string, unknown> }
interface Job { 'runs-on': string; strategy?: { matrix: { include: Array<{ os: string; platform: string }> } }; steps: Step[]; needs?: string[]; permissions?: Record<string, string>; env?: Record<string, string> }
interface Workflow { on: Record<string, unknown>; jobs: Record<string, Job>; permissions?: Record<string, string> }

const load = (name: string) => parseYaml(readFileSync(join(root, '.github/workflows', name), 'utf8')) as Workflow;
const runs = (job: Job) => job.steps.map((s) => s.run ?? '').join('\n');

describe('workflow schema', () => {
  it('both workflows pass action-validator (GitHub\'s workflow schema)', () => {
    for (const f of ['ci.yml', 'release.yml']) {
      const text = readFileSync(join(root, '.github/workflows', f), 'utf8');
      expect(validateWorkflow(text).errors, f).toEqual([]);
      // The validator has teeth: a misspelt key is an error.
      expect(validateWorkflow(text.replace('runs-on:', 'runs_on:')).errors.length, f).toBeGreaterThan(0);
    }
  });
});

describe('.github/workflows/release.yml', () => {
  const wf = load('release.yml');
  const inst = wf.jobs.installers;

  it('runs on v* tags across Linux, Windows and macOS', () => {
    expect((wf.on.push as { tags: string[] }).tags).toContain('v*');
    expect(inst.strategy?.matrix.include.map((m) => m.os).sort()).toEqual(['macos-latest', 'ubuntu-latest', 'windows-latest']);
    expect(inst.strategy?.matrix.include.map((m) => m.platform).sort()).toEqual(['linux', 'mac', 'win']);
    expect(wf.permissions?.contents).toBe('read'); // write only where a job needs it
  });

  it('installs, lints, typechecks, tests, runs the Electron e2e under xvfb on Linux, then packages', () => {
    const text = runs(inst);
    const order = ['npm ci', 'npm run lint', 'npm run typecheck', 'npm test', 'tests/e2e/electron.config.ts', 'electron-builder --${{ matrix.platform }}'].map((s) => text.indexOf(s));
    expect(order.every((i) => i >= 0), JSON.stringify(order)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(text).toMatch(/xvfb-run[^\n]*npx playwright test -c tests\/e2e\/electron\.config\.ts/);
    // That config runs the Electron spec (and needs no Chromium, so it works on Windows and macOS).
    expect(readFileSync(join(root, 'tests/e2e/electron.config.ts'), 'utf8')).toMatch(/testMatch: 'electron\.spec\.ts'/);
    expect(existsSync(join(root, 'tests/e2e/electron.spec.ts'))).toBe(true);
    expect(inst.env?.DMAN_REQUIRE_SIGNED).toMatch(/refs\/tags\/v/);
    expect(text).toContain('node scripts/sea.mjs');
  });

  it('takes every signing and notarization credential from secrets', () => {
    const creds = ['CSC_LINK', 'CSC_KEY_PASSWORD', 'WIN_CSC_LINK', 'WIN_CSC_KEY_PASSWORD', 'APPLE_ID', 'APPLE_APP_SPECIFIC_PASSWORD', 'APPLE_TEAM_ID', 'APPLE_API_KEY_ID', 'APPLE_API_ISSUER', 'APPLE_API_KEY_P8'];
    const seen = new Set<string>();
    for (const job of Object.values(wf.jobs)) {
      for (const step of job.steps) {
        for (const [k, v] of Object.entries(step.env ?? {})) {
          if (!creds.includes(k)) continue;
          seen.add(k);
          expect(v, `${k} in "${step.name}"`).toMatch(/^\$\{\{.*secrets\.[A-Z_]+.*\}\}$/);
        }
      }
    }
    expect([...seen].sort()).toEqual([...creds].sort());
  });

  it('attaches installers, update feeds, SHA256SUMS and an SBOM to a draft release', () => {
    const pub = wf.jobs.publish;
    expect(pub.needs).toEqual(expect.arrayContaining(['installers', 'image']));
    expect(pub.permissions?.contents).toBe('write');
    const text = runs(pub);
    expect(text).toMatch(/sha256sum[^\n]*SHA256SUMS/);
    expect(text).toMatch(/@cyclonedx\/cyclonedx-npm/);
    expect(text).toMatch(/gh release create[^\n]*--draft/);
    expect(text).toMatch(/gh release upload/);
    const upload = inst.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
    const paths = String(upload?.with?.path);
    for (const p of ['*.AppImage', '*.deb', '*.rpm', '*.exe', '*.dmg', '*.zip', 'latest*.yml', '*.blockmap', 'dman-server-linux-x64']) expect(paths).toContain(p);
  });

  it('smoke-tests the image (compose and rolling upgrade) before pushing it', () => {
    const text = runs(wf.jobs.image);
    expect(text).toContain('scripts/smoke-compose.sh');
    expect(text).toContain('scripts/smoke-upgrade.sh --old-ref');
  });

  it('pins every action to a major version', () => {
    for (const job of Object.values(wf.jobs)) for (const s of job.steps) if (s.uses) expect(s.uses).toMatch(/^[\w.-]+\/[\w.-]+@v\d+$/);
  });
});

describe('.github/workflows/ci.yml', () => {
  it('runs .ci/run on every push', () => {
    const wf = load('ci.yml');
    expect(wf.on).toHaveProperty('push');
    const job = Object.values(wf.jobs)[0];
    expect(job['runs-on']).toBe('ubuntu-latest');
    expect(runs(job)).toContain('bash .ci/run');
    expect(existsSync(join(root, '.ci/run'))).toBe(true);
  });
});
