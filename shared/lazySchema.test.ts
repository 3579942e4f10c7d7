import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configFileSchema, modernConfigSchema } from './config/schema.js';
import { lazySchema } from './lazySchema.js';
import * as p from './protocol.js';

describe('lazySchema', () => {
  it('builds on the first call only and returns that same schema after', () => {
    let builds = 0;
    const get = lazySchema(() => { builds += 1; return z.object({ a: z.string() }); });
    expect(builds).toBe(0);
    const first = get();
    expect(get()).toBe(first);
    expect(builds).toBe(1);
  });

  it('keeps the protocol schemas one graph: a schema built on another holds that same instance', () => {
    expect(p.commitOkSchema().shape.entries.element).toBe(p.entrySchema());
    expect(p.changesReplySchema().shape.entries.element).toBe(p.entrySchema());
    expect(p.commitConflictSchema().shape.current.unwrap()).toBe(p.entrySchema());
    expect(p.commitConflictReplySchema().shape.conflicts.element).toBe(p.commitConflictSchema());
    expect(p.commitRequestSchema().shape.ops.element).toBe(p.commitOpSchema());
    expect(p.historyReplySchema().shape.versions.element).toBe(p.versionSchema());
    expect(p.versionSchema()).toBe(p.entrySchema());
    expect(p.tokenCreateReplySchema().shape.info).toBe(p.tokenInfoSchema());
  });

  it('gives the modern config schema the same field schemas as the file schema', () => {
    const modern = modernConfigSchema().shape;
    for (const key of ['server_url', 'storage_driver', 'listen', 'redis', 'db', 'track', 'conflict_policy', 'groups', 'retention', 'mass_change', 'secrets'] as const) {
      expect(modern[key], key).toBe(configFileSchema.shape[key]);
    }
    expect(Object.keys(modern)).not.toContain('include');
    expect(Object.keys(modern).some((k) => /^(redis|maria)_/.test(k))).toBe(false);
  });
});
