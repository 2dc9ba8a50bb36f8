/// <reference types="vitest/config" />
/**
 * Vite config: React app + module workers, cross-origin isolation (COOP/COEP) on dev and preview
 * so ONNX Runtime's WASM backend can use threads, and one plugin that self-hosts what the studio
 * loads at run time — the bundled model packs under `models/` and ORT's .wasm/.mjs runtime files —
 * so nothing comes from a CDN — and the service worker (vite-plugin-pwa, scripts/pwaOptions.ts) that
 * precaches the app, ORT and the bundled pack so the studio and its kiosk start offline.
 */
import { defaultClientConditions, defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { VitePWA } from 'vite-plugin-pwa';
import { packAssetsPlugin } from './scripts/packAssetsPlugin.ts';
import { pwaOptions } from './scripts/pwaOptions.ts';

const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig(({ mode }) => ({
  plugins: [react(), packAssetsPlugin(), VitePWA(pwaOptions)],
  server: { headers: isolationHeaders },
  preview: { headers: isolationHeaders },
  // ORT's "extern wasm" build loads its .mjs/.wasm from ort.env.wasm.wasmPaths (our /ort/ copy)
  // instead of having Vite emit a second 28 MB copy of the .wasm.
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  worker: { format: 'es' },
  // Without this the dev server re-optimises ORT when a worker first imports it and reloads the page.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    target: 'es2022',
    // The benchmark page and its test API (bench/) exist only in the test build,
    // `vite build --mode test-pages` (npm test, npm run bench/soak), never in `npm run build`.
    rollupOptions: {
      input: {
        main: 'index.html',
        ...(mode === 'test-pages' ? { bench: 'bench.html' } : {}),
      } as Record<string, string>,
    },
    chunkSizeWarningLimit: 2000,
  },
  test: {
    include: ['src/**/*.test.ts', 'bench/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
  },
}));
