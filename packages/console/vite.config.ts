import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The build lands in the server package, which serves it at `/` (packages/server/src/console-assets.ts).
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: fileURLToPath(new URL('../server/dist/console', import.meta.url)),
    emptyOutDir: true,
    // No inline module-preload polyfill script: the server's Content-Security-Policy allows no inline script.
    modulePreload: { polyfill: false },
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: { '/v1': 'http://127.0.0.1:7420' },
  },
});
