/** The run slice: the current job, its progress and result, and the plot's traces. */
import type { FitPlan } from '../../core/image';
import type { RunTimings, StepRecord } from '../../core/pipeline';
import type { SamplerName } from '../../core/samplers';
import type { BackendName, RunResult } from '../../shared/protocol';

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
  sampler: SamplerName;
  timings: RunTimings;
  loraScale: number | null;
  stepsRequested: number;
  seed: number;
  fitPlan: FitPlan;
  fittedStartUrl: string;
  fittedEndUrl: string;
  /**
   * The ids of the keyframes the run was made from, while they are the ones loaded (a run reopened
   * from the history whose keyframes are not loaded now: null). The viewer frames the in-betweens
   * with the loaded keyframes only when they are these.
   */
  keys: { start: string; end: string } | null;
  /**
   * Where the time of a run made here went, ms, from pressing Run to the frames on screen (null for
   * a run reopened from the history): `totalMs` is all of it; `loadMs` loading the model (0 when it
   * was loaded), `imageMs` reading, fitting, restoring and encoding images in the worker; the
   * model's own part is `timings.totalMs`.
   */
  wall: { totalMs: number; loadMs: number; imageMs: number } | null;
  /** Clip packs: which clip frames were shown and the controls used (guidance, scalars, prompt). */
  clip?: RunResult['clip'];
}

/** What the latent plot keeps of a finished run (this session, newest last). */
export interface RunTrace {
  jobId: number;
  label: string;
  variantId: string;
  loraScale: number | null;
  seed: number;
  /** `traceInputs` of the run: only runs alike in these are compared for collapse. */
  inputs: string;
  stepStats: StepRecord[];
}

export type RunStatus =
  'idle' | 'loading' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'error';

export interface RunState {
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
}

export const initialRun: RunState = {
  status: 'idle',
  jobId: 0,
  stage: '',
  step: 0,
  totalSteps: 0,
  stuck: false,
  result: null,
  traces: [],
};
