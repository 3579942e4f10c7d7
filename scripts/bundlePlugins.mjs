// esbuild plugins of dist/cli.cjs (scripts/build.mjs): stand-ins that load a module on first use
// instead of at start, where a dependency loads something every one-shot command pays for and
// almost none uses. Each stand-in behaves as what it stands for (bundlePlugins.test.ts).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/**
 * A plugin that hands the modules `importer` matches (all when null) a stand-in for the module
 * `spec` matches: `contents`, CommonJS, which loads the real module when first called. With
 * `external`, the real one stays outside the bundle (the stand-in's own require of it).
 */
function standIn(name, spec, importer, contents, { external = false, also } = {}) {
  return {
    name,
    setup(b) {
      b.onResolve({ filter: spec }, (args) => {
        if (args.namespace === name) return external ? { path: args.path, external: true } : undefined;
        return importer === null || importer.test(args.importer) ? { path: args.path, namespace: name } : undefined;
      });
      b.onLoad({ filter: /.*/, namespace: name }, () => ({ contents, loader: 'js', resolveDir: root }));
      also?.(b);
    },
  };
}

/**
 * pino requires thread-stream (external: its worker runs by file path) when it loads, though only
 * a transport (pino-pretty on a terminal) ever constructs one: loading it from node_modules cost
 * every one-shot command ~3 ms. In dist/cli.cjs, pino gets a stand-in that loads the real one on
 * first `new` (pino's only use of it).
 */
export const lazyThreadStream = standIn('lazy-thread-stream', /^thread-stream$/, null,
  "let real;\nmodule.exports = function ThreadStream(opts) { real ??= require('thread-stream'); return new real(opts); };\n",
  { external: true });

/**
 * sonic-boom (pino's destination) requires node:assert when it loads, for one assert() when a
 * stream closes: loading assert cost every one-shot command ~0.5 ms. In dist/cli.cjs, sonic-boom
 * gets a stand-in that calls the real assert, loaded on that first call.
 */
export const lazyAssertForSonicBoom = standIn('lazy-assert', /^assert$/, /[\\/]node_modules[\\/]sonic-boom[\\/]/,
  "let real;\nmodule.exports = function assert(value, message) { real ??= require('node:assert'); return real(value, message); };\n");

/**
 * commander requires node:child_process when it loads, for the one spawn() of an executable
 * subcommand (`dman` has none): loading child_process (and dgram, which it loads) cost every
 * one-shot command ~0.6 ms. In dist/cli.cjs, commander gets a stand-in whose spawn loads the real
 * one: spawn only, the one member commander uses; the build fails when that changes.
 */
export const lazyChildProcessForCommander = standIn('lazy-child-process', /^(node:)?child_process$/, /[\\/]node_modules[\\/]commander[\\/]/,
  "let real;\nexports.spawn = function spawn(...args) { real ??= require('node:child_process'); return real.spawn(...args); };\n",
  {
    also(b) {
      b.onLoad({ filter: /[\\/]node_modules[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        const used = new Set([...text.matchAll(/childProcess\.(\w+)/g)].map((m) => m[1]));
        const requires = text.match(/require\(['"](node:)?child_process['"]\)/g) ?? [];
        if (!text.includes("const childProcess = require('node:child_process');") || requires.length !== 1 || used.size !== 1 || !used.has('spawn')) {
          throw new Error(`commander uses child_process otherwise than childProcess.spawn (${[...used].join(', ') || 'no childProcess.x'}): update lazyChildProcessForCommander in scripts/bundlePlugins.mjs`);
        }
        return undefined;
      });
    },
  });

/**
 * zod exports every locale of its error messages from its index (z.locales: ~60 modules), and
 * dist/cli.cjs evaluated all of them at start, ~5 ms (zod is wrapped for lazy init there, so
 * esbuild cannot drop the unused namespace). dman uses only the English messages, which zod
 * imports directly (classic/schemas.js imports locales/en.js). In dist/cli.cjs the namespace is a
 * stand-in whose members load their locale on first access, so z.locales still has every one.
 */
export const lazyZodLocales = {
  name: 'lazy-zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => (/[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), args.path), namespace: 'lazy-zod-locales' } : undefined));
    // An ES module re-exporting the getters (`export *` leaves out the CommonJS `default`, which
    // `import * as` of a CommonJS module would add), ...
    b.onLoad({ filter: /.*/, namespace: 'lazy-zod-locales' }, (args) => ({ contents: `export * from ${JSON.stringify(`lazy-zod-locale-getters:${args.path}`)};\n`, loader: 'js' }));
    b.onResolve({ filter: /^lazy-zod-locale-getters:/ }, (args) => ({ path: args.path.slice('lazy-zod-locale-getters:'.length), namespace: 'lazy-zod-locale-getters' }));
    // ... and a CommonJS module with one getter per locale, which loads it on first access.
    b.onLoad({ filter: /.*/, namespace: 'lazy-zod-locale-getters' }, (args) => {
      const lines = readFileSync(args.path, 'utf8').split('\n').filter((l) => l.trim() !== '');
      const members = lines.map((l) => /^export \{ default as (\w+) \} from "(\.\/[\w-]+\.js)";$/.exec(l));
      // A form this does not know (zod changed its index): fail the build rather than lose a locale.
      if (members.length === 0 || members.some((m) => m === null)) throw new Error(`${args.path} is not a list of \`export { default as x } from "./x.js"\`: update lazyZodLocales in scripts/bundlePlugins.mjs`);
      // In code-unit order, as the members of a module namespace are.
      members.sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
      return {
        contents: members.map(([, name, file]) => `Object.defineProperty(exports, ${JSON.stringify(name)}, { enumerable: true, get: () => require(${JSON.stringify(file)}).default });`).join('\n'),
        loader: 'js',
        resolveDir: dirname(args.path),
      };
    });
  },
};

/**
 * zod's fromJSONSchema (which dman does not call) builds its keyword tables when zod loads:
 * ~1 ms of every start in dist/cli.cjs. A stand-in loads the real module on the first call.
 */
export const lazyZodFromJsonSchema = {
  name: 'lazy-zod-from-json-schema',
  setup(b) {
    b.onResolve({ filter: /^\.\/from-json-schema\.js$/ }, (args) => (/[\\/]node_modules[\\/]zod[\\/]v4[\\/]classic[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), args.path), namespace: 'lazy-zod-from-json-schema' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy-zod-from-json-schema' }, (args) => ({
      contents: `let real;\nexport function fromJSONSchema(schema, params) { real ??= require(${JSON.stringify(args.path)}); return real.fromJSONSchema(schema, params); }\n`,
      loader: 'js',
      resolveDir: dirname(args.path),
    }));
  },
};
