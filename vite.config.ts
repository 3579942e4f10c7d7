// The renderer's build: React + Vite, rooted at renderer/, emitted to dist/renderer with relative
// URLs so the same files load from Electron's file:// and from the agent's http://.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: 'renderer',
  base: './',
  plugins: [react()],
  build: { outDir: '../dist/renderer', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1500 },
});
