/**
 * The studio's one zustand store, made of typed slices. Only serialisable data lives here:
 * images are object URLs, live handles (the worker, Blobs of keyframes and pack folders) live in
 * the modules that own them. Components read through the small selectors at the bottom.
 */
import { create } from 'zustand';
import type { FitMode, FitPlan } from '../../core/image';
import type { PackManifest } from '../../core/manifest';
import type { RunTimings, StepRecord } from '../../core/pipeline';
import type { BackendInfo, BackendName, BackendPreference } from '../../shared/protocol';

export type Slot = 'start' | 'end';

export interface KeyframeInfo {
  id: string;
  name: string;
  /** Object URL of the original file. */
  url: string;
  width: number;
  height: number;
}

export interface PackOption {
  /** Unique key for this source of a pack (a pack id may come from several places). */
  key: string;
  packId: string;
  name: string;
  trained: boolean;
  origin: 'bundled' | 'url' | 'local' | 'cache';
  label: string;
}

export interface Message {
  id: number;
  level: 'error' | 'warning' | 'info';
  /** Which part of the page it is about: "keyframes", "pack", "run", "cache". */
  scope: string;
  text: string;
}

export interface FrameView {
  url: string;
  width: number;
  height: number;
  position: number;
}

export interface RunView {
  jobId: number;
  packId: string;
  variantId: string;
  backend: BackendName;
  frames: FrameView[];
  stepStats: StepRecord[];
  timesteps: number[];
  timings: RunTimings;
  loraScale: number | null;
  stepsRequested: number;
  seed: number;
  fitPlan: FitPlan;
  fittedStartUrl: string;
  fittedEndUrl: string;
  /**
   * Where the time of a run made here went, ms, from pressing Run to the frames on screen (null for
   * a run reopened from the history): `totalMs` is all of it; `loadMs` loading the model (0 when it
   * was loaded), `imageMs` reading, fitting, restoring and encoding images in the worker; the
   * model's own part is `timings.totalMs`.
   */
  wall: { totalMs: number; loadMs: number; imageMs: number } | null;
}

/** The scores of one run's τ = 0.5 in-between against the ground truth. */
export interface ScoreRow {
  jobId: number;
  variantId: string;
  loraScale: number | null;
  steps: number;
  seed: number;
  backend: BackendName;
  /** dB; Infinity when identical. */
  psnr: number;
  ssim: number;
  ssimLuma: number;
  lpipsAlex: number | null;
  lpipsSqueeze: number | null;
  lpipsNote: string | null;
  resultUrl: string;
  heatmapUrl: string;
  lpipsMapUrl: string | null;
}

/** What the latent plot keeps of a finished run (this session, newest last). */
export interface RunTrace {
  jobId: number;
  label: string;
  variantId: string;
  loraScale: number | null;
  seed: number;
  stepStats: StepRecord[];
}

/** One row of a sweep: a variant at one LoRA scale and step count, with its frames. */
export interface SweepRow {
  key: string;
  variantId: string;
  loraScale: number | null;
  steps: number;
  frames: FrameView[];
  /** Scores of the τ = 0.5 in-between when a ground truth is set. */
  psnr: number | null;
  ssim: number | null;
  lpipsAlex: number | null;
  finalStd: number;
}

/** A run as listed in the history panel (the frames themselves stay in IndexedDB). */
export interface HistoryEntry {
  id: string;
  createdAt: number;
  packId: string;
  variantId: string;
  loraScale: number | null;
  steps: number;
  seed: number;
  count: number;
  keyframes: string;
  sizeBytes: number;
  psnr: number | null;
  lpipsAlex: number | null;
}

/** One row of the efficiency table: a variant measured on this machine and backend. */
export interface EfficiencyRow {
  variantId: string;
  precision: string;
  backend: BackendName;
  /** Denoiser file size (bytes). */
  denoiserBytes: number;
  /** All graphs the variant loads (encoder + decoder + denoiser). */
  totalBytes: number;
  /** Denoiser session creation, ms (null when it was already loaded). */
  sessionMs: number | null;
  stepMs: number;
  decodeMs: number;
  inbetweenMs: number;
  steps: number;
  size: [number, number];
  /** WASM linear memory of the worker that loaded and ran only this variant (bytes; null: not exposed). */
  wasmHeapBytes: number | null;
  /** Most WebGPU buffer bytes live at once while it ran (null: no WebGPU buffers here). */
  gpuPeakBytes: number | null;
}

export type RunStatus =
  'idle' | 'loading' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'error';

export interface StudioState {
  keyframes: { start: KeyframeInfo | null; end: KeyframeInfo | null; fitMode: FitMode };
  packs: {
    options: PackOption[];
    selectedKey: string | null;
    manifest: PackManifest | null;
    manifestErrors: string[];
    variantId: string | null;
    backend: BackendInfo | null;
    /** Set while the chosen pack's manifest is being read: what for people. */
    reading: string | null;
    /** Loading a variant: what is happening, with byte progress for downloads. */
    load: { active: boolean; label: string; loadedBytes: number; totalBytes: number };
  };
  settings: {
    steps: number;
    seed: number;
    count: number;
    loraScale: number | null;
    /** Re-run (same seed, keyframes and loaded model) whenever the LoRA scale moves. */
    liveLora: boolean;
    backend: BackendPreference;
  };
  run: {
    status: RunStatus;
    jobId: number;
    stage: string;
    step: number;
    totalSteps: number;
    /** Set when a cancel did not take effect quickly: the page offers to stop the worker. */
    stuck: boolean;
    result: RunView | null;
    /** Latent statistics of recent runs, for overlaid plots (the most recent few). */
    traces: RunTrace[];
  };
  efficiency: { measuring: string | null; rows: EfficiencyRow[] };
  history: { entries: HistoryEntry[]; compare: FrameView[][] | null };
  sweep: {
    status: 'idle' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'error';
    seed: number;
    total: number;
    rows: SweepRow[];
  };
  evaluate: {
    groundTruth: KeyframeInfo | null;
    lpips: {
      state: 'loading' | 'ready' | 'unavailable';
      available: string[];
      message: string | null;
    };
    scoring: boolean;
    /** Newest first. */
    scores: ScoreRow[];
  };
  messages: Message[];
}

const initial: StudioState = {
  keyframes: { start: null, end: null, fitMode: 'letterbox' },
  packs: {
    options: [],
    selectedKey: null,
    manifest: null,
    manifestErrors: [],
    variantId: null,
    backend: null,
    reading: null,
    load: { active: false, label: '', loadedBytes: 0, totalBytes: 0 },
  },
  settings: { steps: 8, seed: 42, count: 3, loraScale: null, liveLora: true, backend: 'auto' },
  run: {
    status: 'idle',
    jobId: 0,
    stage: '',
    step: 0,
    totalSteps: 0,
    stuck: false,
    result: null,
    traces: [],
  },
  efficiency: { measuring: null, rows: [] },
  history: { entries: [], compare: null },
  sweep: { status: 'idle', seed: 0, total: 0, rows: [] },
  evaluate: {
    groundTruth: null,
    lpips: { state: 'loading', available: [], message: null },
    scoring: false,
    scores: [],
  },
  messages: [],
};

export const useStudio = create<StudioState>()(() => initial);

/** Shallow-merges into one slice. */
export function patch<K extends keyof StudioState>(slice: K, value: Partial<StudioState[K]>): void {
  useStudio.setState(
    (s) => ({ [slice]: { ...(s[slice] as object), ...value } }) as Partial<StudioState>,
  );
}

let nextMessageId = 1;
/** Shows a message; replaces earlier messages of the same scope and level. */
export function say(level: Message['level'], scope: string, text: string): void {
  useStudio.setState((s) => ({
    messages: [
      ...s.messages.filter((m) => !(m.scope === scope && m.level === level)),
      { id: nextMessageId++, level, scope, text },
    ],
  }));
}

/** Clears messages of a scope (all levels), e.g. when the person fixes the problem. */
export function clearMessages(scope: string): void {
  useStudio.setState((s) => ({ messages: s.messages.filter((m) => m.scope !== scope) }));
}

export function dismissMessage(id: number): void {
  useStudio.setState((s) => ({ messages: s.messages.filter((m) => m.id !== id) }));
}

// ---- selectors ----------------------------------------------------------------------------------
export const selectVariant = (s: StudioState) =>
  s.packs.manifest?.variants.find((v) => v.id === s.packs.variantId) ?? null;
export const selectSelectedPack = (s: StudioState) =>
  s.packs.options.find((o) => o.key === s.packs.selectedKey) ?? null;
export const selectIsBusy = (s: StudioState) =>
  s.run.status === 'loading' || s.run.status === 'running' || s.run.status === 'cancelling';
export const selectCanRun = (s: StudioState) =>
  Boolean(s.keyframes.start && s.keyframes.end && s.packs.manifest && s.packs.variantId) &&
  !selectIsBusy(s) &&
  s.efficiency.measuring === null &&
  s.sweep.status !== 'running' &&
  s.sweep.status !== 'cancelling';
