#!/usr/bin/env node
// Runs every test suite (vitest: unit + integration; Playwright: e2e) and ends with the plain
// line `N passed, N failed[, N skipped]` that CI reads. Extra args go to vitest (e.g. a file filter).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const onlyVitest = args.includes('--unit');
const vitestArgs = args.filter((a) => a !== '--unit');
const out = mkdtempSync(join(tmpdir(), 'dman-test-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
let crashed = false;

function run(cmd, cmdArgs, env = {}) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

// vitest
const vitestJson = join(out, 'vitest.json');
const vStatus = run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`, ...vitestArgs]);
if (existsSync(vitestJson)) {
  const r = JSON.parse(readFileSync(vitestJson, 'utf8'));
  totals.passed += r.numPassedTests ?? 0;
  totals.failed += r.numFailedTests ?? 0;
  totals.skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that failed to load counts as a failure even when no test in it ran.
  const brokenSuites = (r.testResults ?? []).filter((s) => s.status === 'failed' && (s.assertionResults ?? []).every((a) => a.status !== 'failed'));
  totals.failed += brokenSuites.length;
  if (vStatus !== 0 && r.numFailedTests === 0 && brokenSuites.length === 0) crashed = true;
} else {
  crashed = true;
}

// Playwright e2e (Chromium against the headless agent; Electron where its binary exists)
const e2eDir = join(root, 'tests/e2e');
const hasSpecs = existsSync(e2eDir) && readdirSync(e2eDir, { recursive: true }).some((f) => String(f).endsWith('.spec.ts'));
if (!onlyVitest && vitestArgs.length === 0 && hasSpecs) {
  const pwJson = join(out, 'playwright.json');
  const pStatus = run(process.execPath, ['node_modules/@playwright/test/cli.js', 'test', '--reporter=list,json'], { PLAYWRIGHT_JSON_OUTPUT_NAME: pwJson });
  if (existsSync(pwJson)) {
    const s = JSON.parse(readFileSync(pwJson, 'utf8')).stats ?? {};
    totals.passed += (s.expected ?? 0) + (s.flaky ?? 0);
    totals.failed += s.unexpected ?? 0;
    totals.skipped += s.skipped ?? 0;
    if (pStatus !== 0 && !s.unexpected) crashed = true;
  } else {
    crashed = true;
  }
}

rmSync(out, { recursive: true, force: true });
if (crashed) totals.failed += 1; // a runner that died without reporting is a failure, never a silent pass
console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(totals.failed > 0 ? 1 : 0);
