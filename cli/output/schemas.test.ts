import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { buildOutputJsonSchema, cliOutputSchemas, schemaFileText, type CliOutputName } from './schemas.js';

const dir = new URL('../../docs/schemas/', import.meta.url);
const names = Object.keys(cliOutputSchemas()) as CliOutputName[];

describe('docs/schemas (the --json outputs of the sync commands)', () => {
  it('match the zod schemas (regenerate with DMAN_UPDATE_SCHEMA=1 npx vitest run cli/output/schemas.test.ts)', async () => {
    if (process.env.DMAN_UPDATE_SCHEMA === '1') {
      await mkdir(dir, { recursive: true });
      for (const n of names) await writeFile(new URL(`${n}.schema.json`, dir), schemaFileText(n));
    }
    for (const n of names) {
      const onDisk = await readFile(new URL(`${n}.schema.json`, dir), 'utf8').catch(() => '');
      expect(onDisk, `docs/schemas/${n}.schema.json is stale`).toBe(schemaFileText(n));
    }
  });

  it('accept a real-shaped document and reject a broken one', () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(buildOutputJsonSchema('compare'));
    expect(validate({ ok: true, lines: [{ user: 'alice', path: '.bashrc', state: 'modify', direction: 'remote' }] })).toBe(true);
    expect(validate({ ok: true, lines: [{ user: 'alice', path: '.bashrc', state: 'changed', direction: 'remote' }] })).toBe(false);
    const sync = ajv.compile(buildOutputJsonSchema('sync'));
    expect(sync({ ok: true })).toBe(false);
  });
});
