// The dependency rule of ARCHITECTURE.md is enforced by ESLint: a wrong import fails `npm run lint`.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname });

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries', () => {
  const cases: Array<[string, string, boolean]> = [
    ['engine/x.ts', "import { app } from 'electron';\nexport const a = app;", true],
    ['server/x.ts', "import { app } from 'electron';\nexport const a = app;", true],
    ['cli/x.ts', "import { app } from 'electron';\nexport const a = app;", true],
    ['shared/x.ts', "import { readFileSync } from 'node:fs';\nexport const a = readFileSync;", true],
    ['shared/x.ts', "import { join } from 'path';\nexport const a = join;", true],
    ['renderer/x.ts', "import { readFileSync } from 'node:fs';\nexport const a = readFileSync;", true],
    ['engine/x.ts', "import { createServer } from '../server/app.js';\nexport const a = createServer;", true],
    ['engine/sub/x.ts', "import { createServer } from '../../server/http/app.js';\nexport const a = createServer;", true],
    ['shared/x.ts', "import { plan } from '../engine/plan.js';\nexport const a = plan;", true],
    ['renderer/x.ts', "import { plan } from '../engine/plan.js';\nexport const a = plan;", true],
    ['server/x.ts', "import { main } from '../cli/main.js';\nexport const a = main;", true],
    ['main/x.ts', "import { x } from '../server/app.js';\nexport const a = x;", true],
    // allowed
    ['main/x.ts', "import { app } from 'electron';\nexport const a = app;", false],
    ['preload/x.ts', "import { contextBridge } from 'electron';\nexport const a = contextBridge;", false],
    ['engine/x.ts', "import { readFileSync } from 'node:fs';\nexport const a = readFileSync;", false],
    ['engine/x.ts', "import { DmanError } from '../shared/errors.js';\nexport const a = DmanError;", false],
    ['cli/x.ts', "import { x } from '../server/app.js';\nexport const a = x;", false],
    ['renderer/x.ts', "import { DmanError } from '../shared/errors.js';\nexport const a = DmanError;", false],
  ];
  it.each(cases)('%s: %s → rejected=%s', async (file, code, rejected) => {
    const msgs = await restrictedImports(file, code);
    expect(msgs.length > 0).toBe(rejected);
  });
});
