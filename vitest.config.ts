import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{shared,engine,server,cli,main,preload,renderer,tests,bench,scripts}/**/*.test.{ts,tsx}'],
    exclude: ['node_modules/**', 'dist/**', 'tests/e2e/**'],
    globalSetup: ['tests/setup/global.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two test files at a time at least. Vitest's default (one fewer than the cores) runs them one
    // by one on a 2-core machine, where most of the long files wait on child processes, servers and
    // crash-and-restart rounds rather than compute: 657 s one by one, 391-420 s two at a time, all
    // passing (2026-11-25, 2 vCPUs). `npx vitest run --maxWorkers=1` runs them one by one again.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
