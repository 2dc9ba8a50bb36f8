/**
 * Run and Cancel: loads the chosen variant in the worker when it is not loaded yet (with byte
 * progress), runs it on the keyframes, and shows the result. Every job has an id; a result or
 * error from a job that is no longer current is dropped. Cancel stops the job between denoising
 * steps and keeps the model loaded; when a job does not stop, the page offers to stop the worker.
 */
import {
  cancelRun,
  isVariantLoaded,
  loadVariant,
  nextJobId,
  runInterpolation,
} from '../clients/inferenceClient';
import {
  FORCE_STOPPED_MESSAGE,
  offerForceStopLater,
  stopWorkersByForce,
} from '../common/forceStop';
import { modelFrameSize } from '../../core/pipeline';
import { decodeKeyframe, keyframeBlob } from '../keyframes/keyframeActions';
import { packSource } from '../packs/packActions';
import {
  clearMessages,
  patch,
  refuseWhileWorkerBusy,
  say,
  selectWorkerJob,
  useStudio,
} from '../state/store';
import { traceInputs } from '../plots/traces';
import type { FrameView, RunTrace, RunView } from './runSlice';
import type { SettingsState } from './settingsSlice';
import type { JobProgress, RunFrame, RunResult } from '../../shared/protocol';
import {
  appendTrace,
  cancelPatch,
  isCurrentJob,
  loadProgressState,
  runProgressPatch,
} from './runJob';

function isCurrent(jobId: number): boolean {
  return isCurrentJob(useStudio.getState().run, jobId);
}

function onLoadProgress(jobId: number, p: JobProgress): void {
  if (!isCurrent(jobId)) return;
  if (p.kind === 'warning') {
    say('warning', 'cache', p.message);
    return;
  }
  const load = loadProgressState(useStudio.getState().packs.load, p);
  if (load) patch('packs', { load });
}

function onRunProgress(jobId: number, p: JobProgress): void {
  const change = runProgressPatch(useStudio.getState().run, jobId, p);
  if (change) patch('run', change);
}

/** Object URLs (owned by the caller) for a run's PNG frames. */
export function toFrameViews(frames: RunFrame[]): FrameView[] {
  return frames.map((f) => ({
    url: URL.createObjectURL(f.png),
    width: f.width,
    height: f.height,
    position: f.position,
  }));
}

function toView(
  r: RunResult,
  stepsRequested: number,
  seed: number,
  wall: RunView['wall'],
  keys: RunView['keys'],
): RunView {
  return {
    jobId: r.jobId,
    packId: r.packId,
    variantId: r.variantId,
    backend: r.backend,
    frames: toFrameViews(r.frames),
    stepStats: r.stepStats,
    timesteps: r.timesteps,
    sampler: r.sampler,
    timings: r.timings,
    loraScale: r.loraScale,
    stepsRequested,
    seed,
    fitPlan: r.fitPlan,
    fittedStartUrl: URL.createObjectURL(r.fittedStart),
    fittedEndUrl: URL.createObjectURL(r.fittedEnd),
    keys,
    wall,
    ...(r.clip ? { clip: r.clip } : {}),
  };
}

/** Revokes the object URLs of a view that leaves the screen. */
export function revokeView(v: RunView | null): void {
  if (!v) return;
  for (const f of v.frames) URL.revokeObjectURL(f.url);
  URL.revokeObjectURL(v.fittedStartUrl);
  URL.revokeObjectURL(v.fittedEndUrl);
}

/** What a run needs from the page, checked; null (with the reason said) when it cannot start. */
function runInputs() {
  const s = useStudio.getState();
  const { start, end, fitMode } = s.keyframes;
  const { manifest, variantId, selectedKey } = s.packs;
  if (!start || !end) {
    say('error', 'run', 'Add a start and an end keyframe first.');
    return null;
  }
  if (!manifest || !variantId || !selectedKey) {
    say('error', 'run', 'Choose a model pack with a valid manifest first.');
    return null;
  }
  const source = packSource(selectedKey);
  const startBlob = keyframeBlob(start.id);
  const endBlob = keyframeBlob(end.id);
  if (!source || !startBlob || !endBlob) return null;
  if (start.width !== end.width || start.height !== end.height) {
    say(
      'error',
      'run',
      `The keyframes have different sizes (${start.width}×${start.height} and ${end.width}×${end.height}).`,
    );
    return null;
  }
  try {
    modelFrameSize(manifest, start.width, start.height, fitMode);
  } catch (e) {
    say('error', 'run', (e as Error).message);
    return null;
  }
  return {
    manifest,
    variantId,
    source,
    startBlob,
    endBlob,
    fitMode,
    settings: { ...s.settings },
  };
}

/** Loads the variant unless the worker holds it; returns the time it took (0 when loaded). */
async function ensureLoaded(
  jobId: number,
  { manifest, variantId, source, settings }: NonNullable<ReturnType<typeof runInputs>>,
): Promise<number> {
  if (isVariantLoaded(manifest, variantId, settings.backend)) return 0;
  const t0 = performance.now();
  patch('packs', {
    load: { active: true, label: 'Loading the model…', loadedBytes: 0, totalBytes: 0 },
  });
  const loaded = await loadVariant(
    { jobId, manifest, source, variantId, backend: settings.backend },
    (p) => onLoadProgress(jobId, p),
  ).finally(() =>
    patch('packs', { load: { active: false, label: '', loadedBytes: 0, totalBytes: 0 } }),
  );
  patch('packs', { backend: loaded.backend });
  for (const w of loaded.warnings) say('warning', 'cache', w);
  return performance.now() - t0;
}

/** " · cfg 7.5" for runs of a pack with guidance, else nothing. */
function guidanceLabel(view: RunView): string {
  const g = view.clip?.controls.guidanceScale;
  return g === null || g === undefined ? '' : ` · cfg ${g.toFixed(1)}`;
}

/** The settings a run sends the worker: the page's settings that apply to this pack. */
export function runSettingsOf(settings: SettingsState, steps = settings.steps) {
  return {
    count: settings.count,
    steps,
    seed: settings.seed,
    ...(settings.loraScale !== null ? { loraScale: settings.loraScale } : {}),
    ...(settings.guidanceScale !== null ? { guidanceScale: settings.guidanceScale } : {}),
    ...(Object.keys(settings.scalars).length ? { scalars: { ...settings.scalars } } : {}),
    ...(settings.promptId !== null ? { promptId: settings.promptId } : {}),
    ...(settings.promptText !== '' ? { promptText: settings.promptText } : {}),
    ...(settings.sampler !== null ? { sampler: settings.sampler } : {}),
  };
}

/** Puts a finished run on screen (replacing the last one) and adds its trace to the plot. */
function showResult(view: RunView): void {
  revokeView(useStudio.getState().run.result);
  const trace = {
    jobId: view.jobId,
    label: `${view.variantId}${view.loraScale !== null ? ` @${view.loraScale.toFixed(2)}` : ''}${guidanceLabel(view)} · seed ${view.seed} · #${view.jobId}`,
    variantId: view.variantId,
    loraScale: view.loraScale,
    seed: view.seed,
    inputs: traceInputs(view, view.keys ? `${view.keys.start}/${view.keys.end}` : ''),
    stepStats: view.stepStats,
  };
  patch('run', {
    status: 'done',
    stage: 'done',
    result: view,
    stuck: false,
    traces: withTrace(trace),
  });
}

/** Runs the chosen variant on the two keyframes. */
export async function startRun(): Promise<void> {
  if (refuseWhileWorkerBusy('run')) return;
  const inputs = runInputs();
  if (!inputs) return;
  const { startBlob, endBlob, fitMode, settings } = inputs;
  const { start, end } = useStudio.getState().keyframes;
  const keys = start && end ? { start: start.id, end: end.id } : null;
  const jobId = nextJobId();
  const tPressed = performance.now();
  clearMessages('run');
  patch('run', {
    status: 'loading',
    jobId,
    stage: 'load',
    step: 0,
    totalSteps: settings.steps,
    stuck: false,
  });
  try {
    const loadMs = await ensureLoaded(jobId, inputs);
    if (!isCurrent(jobId)) return;
    if (useStudio.getState().run.status === 'cancelling') {
      // The load finished just as Cancel was pressed: stop here, the model stays loaded.
      rerunPending = false;
      patch('run', { status: 'cancelled', stage: '', stuck: false });
      return;
    }
    patch('run', { status: 'running', stage: 'encode' });
    const [startBmp, endBmp] = await Promise.all([
      decodeKeyframe(startBlob),
      decodeKeyframe(endBlob),
    ]);
    const result = await runInterpolation(
      {
        jobId,
        variantId: inputs.variantId,
        start: startBmp,
        end: endBmp,
        fitMode,
        settings: runSettingsOf(settings),
      },
      (p) => onRunProgress(jobId, p),
    );
    if (!isCurrent(jobId)) return; // stale: a newer job replaced this one
    const view = toView(
      result,
      settings.steps,
      settings.seed,
      {
        totalMs: performance.now() - tPressed,
        loadMs,
        imageMs: result.imageMs,
      },
      keys,
    );
    showResult(view);
    if (rerunPending) {
      rerunPending = false;
      void startRun();
    }
  } catch (e) {
    if (!isCurrent(jobId)) return;
    const err = e as Error;
    rerunPending = false;
    if (err.name === 'RunCancelledError') {
      patch('run', { status: 'cancelled', stage: '', stuck: false });
      return;
    }
    patch('run', { status: 'error', stage: '', stuck: false });
    say('error', 'run', err.message);
  }
}

/** The plot's traces with `trace` appended (the newest TRACE_LIMIT are kept). */
export function withTrace(trace: RunTrace): RunTrace[] {
  return appendTrace(useStudio.getState().run.traces, trace);
}

/** Set when the LoRA scale moved during a run: the latest position runs when that run ends. */
let rerunPending = false;

/**
 * Live LoRA scale: re-runs with the current settings once a result exists. While a run is in
 * flight, positions in between are dropped and only the latest runs next; the previous result
 * stays on screen until the new one replaces it.
 */
export function requestLiveRerun(): void {
  const s = useStudio.getState();
  if (!s.run.result) return;
  const job = selectWorkerJob(s);
  if (job === 'run') {
    rerunPending = true;
    return;
  }
  // Another job (a sweep, the scene…) holds the workers: the slider waits for the next Run.
  if (job === null) void startRun();
}

/** Cancels the current job. The model stays loaded. */
export function cancelCurrentRun(): void {
  const { run } = useStudio.getState();
  const jobId = run.jobId;
  const change = cancelPatch(run);
  if (!change) return;
  rerunPending = false;
  patch('run', change);
  cancelRun(jobId);
  offerForceStopLater(
    () => {
      const r = useStudio.getState().run;
      return r.jobId === jobId && r.status === 'cancelling';
    },
    () => patch('run', { stuck: true }),
  );
}

/** Stops the worker by force (a job that does not respond to cancel). */
export function forceStop(): void {
  rerunPending = false;
  stopWorkersByForce(false);
  patch('run', { status: 'cancelled', stage: '', stuck: false, jobId: nextJobId() });
  say('info', 'run', FORCE_STOPPED_MESSAGE);
}
