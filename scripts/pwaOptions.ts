/**
 * The studio as an installable, offline-capable web app (vite-plugin-pwa generating a Workbox
 * service worker). After one visit online, the service worker holds everything a run needs — the
 * app, ONNX Runtime's runtime files (/ort/) and the bundled packs that are small enough to carry
 * (the trained `cel` pack and the `tiny` test pack) — so the studio and its kiosk start and run with
 * the network off, also after the browser restarts.
 *
 * Updates never swap under a person: `registerType: 'prompt'` leaves a new version waiting until
 * someone presses the page's "Update" (src/page/pwa/). Navigations are answered with the cached
 * index.html (any query, e.g. `?kiosk`); bench.html and the pack files are not navigations.
 */
import type { VitePWAOptions } from 'vite-plugin-pwa';

/** The largest file precached: ORT's native-WebGPU (asyncify) .wasm is 27 MB. */
const MAX_PRECACHED_BYTES = 64 * 1024 * 1024;

export const pwaOptions: Partial<VitePWAOptions> = {
  registerType: 'prompt',
  // Registered by src/page/pwa/pwaActions.ts (which shows the update prompt), not by an injected script.
  injectRegister: false,
  manifest: {
    name: 'Inbetween Studio',
    short_name: 'Inbetween',
    description: 'In-between frames of cartoon keyframes from diffusion models in your browser',
    start_url: './',
    scope: './',
    display: 'standalone',
    background_color: '#f4f4f6',
    theme_color: '#1f2a44',
    icons: [{ src: 'favicon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }],
    // The installed app opens the studio; its shortcut (the app icon's menu) opens the booth.
    shortcuts: [
      {
        name: 'Booth (kiosk)',
        short_name: 'Booth',
        description: 'The demo-booth screen: attract loop, big buttons, runs offline',
        url: './?kiosk',
        icons: [{ src: 'favicon.svg', sizes: 'any', type: 'image/svg+xml' }],
      },
    ],
  },
  workbox: {
    globPatterns: [
      '*.{html,svg,webmanifest}',
      'assets/*.{js,css,wasm}',
      'samples/**/*.{png,json}',
      'ort/*.{mjs,wasm}',
      'models/index.json',
      'models/cel/*',
      'models/tiny/*',
    ],
    // The benchmark page of the test build is never a navigation the app answers.
    globIgnores: ['bench.html', 'assets/bench-*'],
    maximumFileSizeToCacheInBytes: MAX_PRECACHED_BYTES,
    navigateFallback: 'index.html',
    navigateFallbackDenylist: [/^\/bench/, /^\/models\//, /^\/ort\//],
    cleanupOutdatedCaches: true,
    // The first visit's page is controlled at once, so a later update can take it over (and reload)
    // when the person presses Update; a new version itself still waits (skipWaiting: false).
    clientsClaim: true,
    skipWaiting: false,
  },
};
