// uPlot's script and stylesheet for the dashboard charts, read from node_modules at run time.
// The standalone binary has no node_modules: scripts/sea.mjs replaces this module with one that
// carries both files inlined (its esbuild plugin matches this file's name; keep the export's shape).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** Reads uPlot's minified script and stylesheet; null when the package cannot be found. */
export function loadUplotAssets(): { js: string | Buffer; css: string | Buffer } | null {
  try {
    const require = createRequire(import.meta.url);
    return {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css')),
    };
  } catch {
    return null;
  }
}
