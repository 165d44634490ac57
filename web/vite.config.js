import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// Two pages, / (chat) and /dashboard, bundled for embedding into the kiln binary: no CDN, hashed
// asset names (kiln serves them with long cache lifetimes), JSX compiled for Preact by esbuild.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: process.env.KILN_WEB_OUT_DIR || 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 2000,
    reportCompressedSize: false,
    rollupOptions: {
      input: { index: resolve(import.meta.dirname, 'index.html'), dashboard: resolve(import.meta.dirname, 'dashboard.html') },
    },
  },
  // `npm run dev`: the pages with hot reload, the API from a running kiln (KILN_URL).
  server: {
    proxy: Object.fromEntries(['/v1', '/metrics', '/health'].map((p) =>
      [p, { target: process.env.KILN_URL || 'http://127.0.0.1:8000', changeOrigin: true }])),
  },
  test: { environment: 'node', include: ['test/**/*.test.js'] },
});
