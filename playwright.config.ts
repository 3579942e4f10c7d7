// Playwright e2e: Debian's Chromium against a real `dman agent` (with its embedded server) and
// temp homes; the Electron spec runs where an Electron binary exists and skips with a reason
// elsewhere. Each test starts its own agent (tests/e2e/fixtures.ts), so no webServer here.
import { defineConfig } from '@playwright/test';

// Computed once in the runner; workers inherit it (the config is evaluated again in each worker).
process.env.PW_PORT ??= String(20000 + Math.floor(Math.random() * 20000));

export default defineConfig({
  testDir: 'tests/e2e',
  testMatch: '**/*.spec.ts',
  outputDir: 'test-results',
  globalSetup: './tests/e2e/globalSetup.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1200, height: 820 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
  },
});
