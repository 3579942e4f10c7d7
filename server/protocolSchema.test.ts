import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildProtocolJsonSchema } from './protocolSchema.js';

const file = new URL('../docs/protocol.schema.json', import.meta.url);

describe('docs/protocol.schema.json', () => {
  it('matches the zod schemas (regenerate with DMAN_UPDATE_SCHEMA=1 npx vitest run server/protocolSchema.test.ts)', async () => {
    const fresh = `${JSON.stringify(buildProtocolJsonSchema(), null, 2)}\n`;
    if (process.env.DMAN_UPDATE_SCHEMA === '1') await writeFile(file, fresh);
    const onDisk = await readFile(file, 'utf8').catch(() => '');
    expect(onDisk, 'docs/protocol.schema.json is stale: run DMAN_UPDATE_SCHEMA=1 npx vitest run server/protocolSchema.test.ts').toBe(fresh);
  });

  it('describes the commit request with its path rules and precondition', () => {
    const defs = buildProtocolJsonSchema().$defs as Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
    expect(defs.CommitRequest!.required).toContain('ops');
    expect(defs.CommitOp!.required).toEqual(expect.arrayContaining(['path', 'baseRev']));
    expect(Object.keys(defs)).toEqual(expect.arrayContaining(['Entry', 'ErrorReply', 'SeedCompareRequest', 'HealthReply']));
  });
});
