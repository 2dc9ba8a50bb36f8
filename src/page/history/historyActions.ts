/**
 * Keeps the history panel in step with IndexedDB: saves every finished run (with its keyframes'
 * content hashes and, later, its scores), reopens a stored run into the viewer and the latent plot,
 * compares two runs side by side, deletes runs.
 */
import { keyframeBlob } from '../keyframes/keyframeActions';
import { traceInputs } from '../plots/traces';
import { revokeView, withTrace } from '../run/runActions';
import { sha256Hex } from '../../core/sha256';
import { isQuotaError } from '../../shared/packCache';
import { patch, say, selectIsBusy, useStudio } from '../state/store';
import type { FrameView, RunView } from '../run/runSlice';
import {
  clearRuns,
  deleteRun,
  getRun,
  listRuns,
  saveRun,
  setRunScores,
  type StoredRun,
} from './historyStore';

/** Refreshes the list from IndexedDB. */
export async function refreshHistory(): Promise<void> {
  try {
    patch('history', { entries: await listRuns() });
  } catch (e) {
    say('warning', 'history', `The run history could not be read: ${(e as Error).message}`);
  }
}

async function hashOf(id: string | undefined): Promise<string> {
  const blob = id ? keyframeBlob(id) : undefined;
  if (!blob) return 'unknown';
  return (await sha256Hex(new Uint8Array(await blob.arrayBuffer()))).slice(0, 16);
}

/** Historyid of a job: the run's id in the history. */
const historyIds = new Map<number, string>();

/** Says that a history action failed (IndexedDB unreadable, storage full…): nothing fails unseen. */
function historyFailed(action: string, e: unknown): void {
  const why = e instanceof Error ? e.message : String(e);
  say(
    'warning',
    'history',
    `${action} failed: ${isQuotaError(e) ? "the browser's storage for this page is full (remove old runs, or clear the model cache)" : why}.`,
  );
}

async function save(view: RunView): Promise<void> {
  try {
    await saveUnchecked(view);
  } catch (e) {
    historyFailed('Saving the run in the history', e);
  }
}

async function saveUnchecked(view: RunView): Promise<void> {
  const s = useStudio.getState();
  const frames = await Promise.all(view.frames.map(async (f) => (await fetch(f.url)).blob()));
  const [a, b] = await Promise.all([hashOf(s.keyframes.start?.id), hashOf(s.keyframes.end?.id)]);
  const id = `${Date.now().toString(36)}-${view.jobId}`;
  const run: StoredRun = {
    id,
    createdAt: Date.now(),
    packId: view.packId,
    variantId: view.variantId,
    loraScale: view.loraScale,
    steps: view.stepsRequested,
    seed: view.seed,
    count: view.frames.length,
    keyframes: `${a}…/${b}…`,
    sizeBytes: frames.reduce((n, f) => n + f.size, 0) + JSON.stringify(view.stepStats).length,
    psnr: null,
    lpipsAlex: null,
    backend: view.backend,
    positions: view.frames.map((f) => f.position),
    frames,
    frameSize: [view.frames[0]?.width ?? 0, view.frames[0]?.height ?? 0],
    stepStats: view.stepStats,
    timesteps: view.timesteps,
    sampler: view.sampler,
    timings: view.timings,
  };
  try {
    const dropped = await saveRun(run);
    historyIds.set(view.jobId, id);
    if (dropped)
      say(
        'info',
        'history',
        `The history keeps the newest runs only: ${dropped} old run${dropped > 1 ? 's were' : ' was'} removed.`,
      );
  } catch (e) {
    say('warning', 'history', (e as Error).message);
  }
  await refreshHistory();
}

let reopened = 0;

/** Object URLs (owned by the caller) for a stored run's frames. */
function storedFrameViews(r: StoredRun): FrameView[] {
  return r.frames.map((b, i) => ({
    url: URL.createObjectURL(b),
    width: r.frameSize[0],
    height: r.frameSize[1],
    position: r.positions[i]!,
  }));
}

/** Opens a stored run in the viewer and the latent plot. */
export async function reopenRun(id: string): Promise<void> {
  // A run in progress would put its result over the reopened one (and Cancel would be lost).
  if (selectIsBusy(useStudio.getState())) {
    say('error', 'history', 'Wait for the run in progress (or cancel it) before reopening one.');
    return;
  }
  let r: StoredRun | undefined;
  try {
    r = await getRun(id);
  } catch (e) {
    historyFailed('Reading the run from the history', e);
    return;
  }
  if (!r) {
    say('error', 'history', 'That run is no longer in the history.');
    await refreshHistory();
    return;
  }
  const frames = storedFrameViews(r);
  const s = useStudio.getState();
  // The loaded keyframes frame the reopened in-betweens only when they are the run's own.
  const { start, end } = s.keyframes;
  const loaded = `${await hashOf(start?.id)}…/${await hashOf(end?.id)}…`;
  const keys = start && end && loaded === r.keyframes ? { start: start.id, end: end.id } : null;
  // Negative ids never collide with the ids of runs made in this session.
  const jobId = -++reopened;
  const view: RunView = {
    jobId,
    packId: r.packId,
    variantId: r.variantId,
    backend: r.backend as RunView['backend'],
    frames,
    stepStats: r.stepStats,
    timesteps: r.timesteps,
    sampler: r.sampler ?? 'ddim',
    timings: r.timings,
    loraScale: r.loraScale,
    stepsRequested: r.steps,
    seed: r.seed,
    fitPlan: s.run.result?.fitPlan ?? {
      mode: 'letterbox',
      srcWidth: 0,
      srcHeight: 0,
      dstWidth: 0,
      dstHeight: 0,
      scale: 1,
      scaledWidth: 0,
      scaledHeight: 0,
      offsetX: 0,
      offsetY: 0,
      contentRect: { x: 0, y: 0, width: 0, height: 0 },
    },
    fittedStartUrl: '',
    fittedEndUrl: '',
    keys,
    wall: null,
  };
  historyIds.set(jobId, id);
  const trace = {
    jobId,
    label: `${r.variantId}${r.loraScale !== null ? ` @${r.loraScale.toFixed(2)}` : ''} · seed ${r.seed} · saved`,
    variantId: r.variantId,
    loraScale: r.loraScale,
    seed: r.seed,
    // Named as this session's runs are when its keyframes are the ones on the page.
    inputs: traceInputs(view, keys ? `${keys.start}/${keys.end}` : r.keyframes),
    stepStats: r.stepStats,
  };
  revokeView(useStudio.getState().run.result);
  patch('run', {
    result: view,
    status: 'done',
    stage: 'done',
    traces: withTrace(trace),
  });
  say(
    'info',
    'history',
    `Reopened the ${r.variantId} run of ${new Date(r.createdAt).toLocaleString()}.`,
  );
}

/** Shows the in-betweens of two stored runs side by side. */
export async function compareRuns(ids: string[]): Promise<void> {
  let runs: (StoredRun | undefined)[];
  try {
    runs = await Promise.all(ids.map((id) => getRun(id)));
  } catch (e) {
    historyFailed('Reading the runs to compare from the history', e);
    return;
  }
  const old = useStudio.getState().history.compare;
  old?.flat().forEach((f) => URL.revokeObjectURL(f.url));
  patch('history', {
    compare: runs.filter((r): r is StoredRun => Boolean(r)).map(storedFrameViews),
  });
}

export async function removeRun(id: string): Promise<void> {
  try {
    await deleteRun(id);
  } catch (e) {
    historyFailed('Removing the run from the history', e);
  }
  await refreshHistory();
}

export async function removeAllRuns(): Promise<void> {
  try {
    await clearRuns();
  } catch (e) {
    historyFailed('Removing the runs from the history', e);
  }
  await refreshHistory();
}

let started = false;
/** Starts the history feature once: lists stored runs, saves new ones, records their scores. */
export function startHistory(): void {
  if (started) return;
  started = true;
  void refreshHistory();
  useStudio.subscribe((s, prev) => {
    const r = s.run.result;
    // Save runs made in this session (reopened ones are already stored).
    if (r && r !== prev.run.result && !historyIds.has(r.jobId) && r.fittedStartUrl) void save(r);
    if (s.evaluate.scores !== prev.evaluate.scores) {
      for (const row of s.evaluate.scores) {
        const id = historyIds.get(row.jobId);
        if (id)
          void setRunScores(id, row.psnr, row.lpipsAlex)
            .then(refreshHistory)
            .catch((e: unknown) => historyFailed("Saving a run's scores in the history", e));
      }
    }
  });
}
