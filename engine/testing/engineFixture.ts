// Test helpers: an EffectiveConfig for a temp home, and two engines sharing one remote.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EffectiveConfig } from '../../shared/config/schema.js';
import type { ConflictPolicy } from '../plan/planSync.js';

/** Builds a minimal EffectiveConfig for one user `alice` with `home`. */
export function testConfig(home: string, over: Partial<EffectiveConfig> & { policy?: ConflictPolicy; track?: string[] } = {}): EffectiveConfig {
  const track = over.track ?? ['**'];
  return {
    server_url: 'http://127.0.0.1:1', storage_driver: 'disk', listen: '127.0.0.1:0',
    redis: { db: 0, tls: false, tls_insecure_skip_verify: false },
    db: { tls: false, tls_insecure_skip_verify: false },
    track, users: { alice: { home, track } },
    conflict_policy: over.policy ?? 'ask', groups: {}, retention: { versions: 20, days: 30 },
    device: 'dev', mass_change: { ratio: 0.5, min_files: 10 }, secrets: { allow: [] },
    ...over,
  } as EffectiveConfig;
}

/** Makes temp dirs and removes them all at the end. */
export function tempDirs(): { make(prefix: string): Promise<string>; cleanup(): Promise<void> } {
  const dirs: string[] = [];
  return {
    async make(prefix) { const d = await mkdtemp(join(tmpdir(), prefix)); dirs.push(d); return d; },
    async cleanup() { await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))); },
  };
}
