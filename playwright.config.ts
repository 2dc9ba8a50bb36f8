/**
 * Playwright drives Debian's Chromium (playwright-core cannot download browsers here) against the
 * built studio served by `vite preview`, with COOP/COEP so WASM runs threaded.
 */
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from './scripts/lib/chromium';

const PORT = Number(process.env.E2E_PORT ?? 4173);

export default defineConfig({
  testDir: 'e2e',
  timeout: 90_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: process.env.CI ? [['list']] : [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    launchOptions: { executablePath: chromiumPath(), args: CHROMIUM_ARGS },
    // A failed test keeps its trace (actions, console, network) and a screenshot. Recording the
    // trace's screencast and DOM snapshots cost every test ~17% of its time on two cores.
    trace: { mode: 'retain-on-failure', screenshots: false, snapshots: false },
    // The service worker (offline app) is tested in e2e/kiosk.spec.ts only: elsewhere it would
    // precache ~65 MB per test for nothing.
    serviceWorkers: 'block',
    screenshot: 'only-on-failure',
  },
  projects: [
    { name: 'chromium', testIgnore: 'webgpu.spec.ts' },
    {
      name: 'webgpu',
      testMatch: 'webgpu.spec.ts',
      use: {
        launchOptions: {
          executablePath: chromiumPath(),
          args: [...CHROMIUM_ARGS, '--enable-unsafe-webgpu'],
        },
      },
    },
  ],
  webServer: {
    command: `npx vite preview --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
});
