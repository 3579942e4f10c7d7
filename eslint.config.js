// Boundaries of ARCHITECTURE.md, enforced: a wrong import fails `npm run lint`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'child_process', 'crypto', 'http', 'https', 'net', 'stream', 'stream/*', 'url', 'util', 'zlib', 'events', 'buffer', 'worker_threads', 'readline', 'tls', 'dns'];
const electron = { group: ['electron', 'electron/*'], message: 'Only main/ and preload/ may import electron (ARCHITECTURE.md: the layout).' };
const noNode = { group: nodeBuiltins, message: 'shared/ and renderer/ are browser code: no Node built-ins. Put Node code in engine/ or server/.' };
const entry = (name) => ({ group: [`**/${name}/*`, `**/${name}/**`, `${name}/*`], message: `Entry points never import each other: ${name}/ is an entry point. Share code through shared/ or engine/.` });
const restrict = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  // bench/gen-home.mjs is the team's shared workload generator, kept verbatim to compare figures.
  { ignores: ['node_modules/**', 'dist/**', 'release/**', 'test-results/**', 'playwright-report/**', 'tests/fixtures/**', '.dist-tmp-*/**', 'bench/gen-home.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  // The `dman` launcher is CommonJS (bin/package.json): it starts sooner than an ES module.
  { files: ['bin/**/*.js'], languageOptions: { sourceType: 'commonjs' }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
  { files: ['shared/**'], rules: restrict(electron, noNode, entry('engine'), entry('server'), entry('cli'), entry('main'), entry('preload'), entry('renderer')) },
  { files: ['engine/**'], rules: restrict(electron, entry('server'), entry('cli'), entry('main'), entry('preload'), entry('renderer')) },
  { files: ['server/**'], rules: restrict(electron, entry('cli'), entry('main'), entry('preload'), entry('renderer')) },
  { files: ['cli/**'], rules: restrict(electron, entry('main'), entry('preload'), entry('renderer')) },
  { files: ['main/**'], rules: restrict(entry('server'), entry('cli'), entry('renderer'), entry('preload')) },
  { files: ['preload/**'], rules: restrict(entry('engine'), entry('server'), entry('cli'), entry('renderer'), entry('main')) },
  {
    files: ['renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: restrict(electron, noNode, entry('engine'), entry('server'), entry('cli'), entry('main'), entry('preload')),
  },
);
