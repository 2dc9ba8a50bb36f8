/** The PWA slice: whether the studio works offline here, and whether a new version waits. */
export interface PwaState {
  /** The service worker holds the app, ORT and the bundled packs: the studio starts offline. */
  offlineReady: boolean;
  /** A new version is installed and waiting; it takes over only when the person presses Update. */
  updateReady: boolean;
  /** Why the service worker could not be registered (e.g. a private window, or blocked); null if fine. */
  unavailable: string | null;
}

export const initialPwa: PwaState = { offlineReady: false, updateReady: false, unavailable: null };
