/**
 * Registers the service worker that makes the studio an offline-capable app (scripts/pwaOptions.ts)
 * and keeps the page's `pwa` slice current. A new version never takes over by itself: it waits
 * until the person presses Update (UpdatePrompt), so nothing reloads under a visitor or a run.
 * Checks for a new version on load and then hourly while the page is open.
 */
import { registerSW } from 'virtual:pwa-register';
import { flushSceneSave } from '../sequence/sequenceActions';
import { patch, selectWorkerJob, useStudio } from '../state/store';

const CHECK_EVERY_MS = 60 * 60 * 1000;

let applyUpdate: ((reload?: boolean) => Promise<void>) | null = null;

/** Starts the service worker once per page; failures only mean "no offline use here". */
export function startPwa(): void {
  if (applyUpdate || !('serviceWorker' in navigator)) {
    if (!('serviceWorker' in navigator))
      patch('pwa', { unavailable: 'This browser has no service workers.' });
    return;
  }
  applyUpdate = registerSW({
    immediate: true,
    onOfflineReady: () => patch('pwa', { offlineReady: true }),
    onNeedRefresh: () => patch('pwa', { updateReady: true }),
    onRegisteredSW: (_url, registration) => {
      if (!registration) return;
      if (registration.active) patch('pwa', { offlineReady: true });
      setInterval(() => void registration.update().catch(() => undefined), CHECK_EVERY_MS);
    },
    onRegisterError: (e: unknown) =>
      patch('pwa', { unavailable: e instanceof Error ? e.message : String(e) }),
  });
}

/** The person pressed Update: the waiting version takes over and the page reloads into it. */
export async function updateNow(): Promise<void> {
  // Nothing reloads under a job (the button waits for it), and a scene change about to be saved is saved.
  if (selectWorkerJob(useStudio.getState()) !== null) return;
  await flushSceneSave();
  // Reload once the new version controls the page. (vite-plugin-pwa reloads by itself only where a
  // version already controlled the page when it opened — not on the very first visit.)
  navigator.serviceWorker?.addEventListener('controllerchange', () => location.reload(), {
    once: true,
  });
  await applyUpdate?.(true);
}

/** The person chose to keep this version for now (the prompt comes back on the next load). */
export function dismissUpdate(): void {
  patch('pwa', { updateReady: false });
}
