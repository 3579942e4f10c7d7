// Playwright config for the Electron spec alone (the release matrix runs it on Linux, Windows and
// macOS): no Chromium needed, so no apt-get install of it (playwright.config.ts's globalSetup
// would try that on Windows and macOS too), only the build the tray app runs from.
// Run: npx playwright test -c tests/e2e/electron.config.ts
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: 'electron.spec.ts',
  outputDir: '../../test-results/electron',
  globalSetup: './electronSetup.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  use: { trace: 'retain-on-failure' },
});
