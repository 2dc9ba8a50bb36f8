/** The kiosk slice: what the booth screen shows (src/page/kiosk/). */

/** A sample pair of the booth (public/samples/kiosk/index.json, drawn by scripts/make-samples.ts). */
export interface KioskPair {
  id: string;
  title: string;
  caption: string;
  startUrl: string;
  endUrl: string;
}

/** One big player on the screen: a run's keyframes and in-betweens, looping. */
export interface KioskPanel {
  key: string;
  /** e.g. "Student · 4 steps". */
  label: string;
  /** e.g. "310 ms per in-between". */
  detail: string;
  /** Start keyframe, in-betweens, end keyframe. */
  frames: string[];
  /** A line under the player (a collapse flagged), or ''. */
  note: string;
}

/** One curve of the latent plot: mean latent std after each denoising step. */
export interface KioskTrace {
  key: string;
  label: string;
  /** Index = step (0 is the initial noise); null where the step has not been seen (yet). */
  std: (number | null)[];
  /** Whether the run is still denoising. */
  live: boolean;
}

export interface KioskStats {
  /** Runs finished since the page opened. */
  runs: number;
  failures: number;
  /** Times the worker was restarted (a crash, a stall, or memory growth). */
  restarts: number;
  /** Wall time of the last run, ms (load included when there was one). */
  lastRunMs: number | null;
  /** From opening the page to the first in-between on screen, ms. */
  firstInbetweenMs: number | null;
  jsHeapBytes: number | null;
  wasmHeapBytes: number | null;
}

export interface KioskState {
  /** Attract: the booth plays by itself; visitor: someone touched it. */
  mode: 'attract' | 'visitor';
  /** starting: first load and run; warming: the other variants warm up; ready; running: a visitor's run. */
  phase: 'starting' | 'warming' | 'ready' | 'running';
  pairs: KioskPair[];
  /** The chosen sample pair's id, or 'own' for the visitor's drawings. */
  pairId: string | null;
  own: { startUrl: string; endUrl: string | null } | null;
  variantId: string | null;
  loraScale: number;
  panels: KioskPanel[];
  traces: KioskTrace[];
  /** The attract loop's caption ('' for visitors). */
  caption: string;
  /** One short friendly line: what is happening, or what went wrong. */
  line: string;
  stats: KioskStats;
}

export const initialKiosk: KioskState = {
  mode: 'attract',
  phase: 'starting',
  pairs: [],
  pairId: null,
  own: null,
  variantId: null,
  loraScale: 0,
  panels: [],
  traces: [],
  caption: '',
  line: '',
  stats: {
    runs: 0,
    failures: 0,
    restarts: 0,
    lastRunMs: null,
    firstInbetweenMs: null,
    jsHeapBytes: null,
    wasmHeapBytes: null,
  },
};
