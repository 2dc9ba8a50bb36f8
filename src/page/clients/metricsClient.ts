/** The one module that talks to the metrics worker (PSNR, SSIM, LPIPS off the main thread). */
import * as Comlink from 'comlink';
import { createWorkerClient } from './workerClient';
import type { ResultLine } from '../../core/evaluation/datasetRun';
import type {
  EvalScoreRequest,
  LpipsStatus,
  MetricsApi,
  PackSource,
  JobProgress,
  ScoreRequest,
  ScoreResult,
} from '../../shared/protocol';

const client = createWorkerClient<MetricsApi>(
  'metrics',
  () =>
    new Worker(new URL('../../workers/metrics.worker.ts', import.meta.url), {
      type: 'module',
      name: 'metrics',
    }),
  () => {
    // The worker went away (a crash, a force stop) with its LPIPS graphs: they load again in the
    // next worker before its first score, instead of that score coming back without LPIPS.
    if (loadedFrom && !deferred) deferred = { ...loadedFrom, loading: null };
  },
);

/**
 * LPIPS graphs found (their manifest read) but not loaded: they load before the first call that
 * scores, so that a page that never scores never spends a core on them — on two cores, loading
 * them at start-up made the first in-between wait about twice as long.
 */
let deferred: {
  source: PackSource;
  onLoaded: (status: LpipsStatus | Error) => void;
  loading: Promise<void> | null;
} | null = null;

/** Where the LPIPS graphs in the worker came from, to load them again after the worker stops. */
let loadedFrom: { source: PackSource; onLoaded: (status: LpipsStatus | Error) => void } | null =
  null;

/** Remembers `source` as the LPIPS graphs' origin when `status` says some were loaded. */
function remember(
  source: PackSource,
  onLoaded: (status: LpipsStatus | Error) => void,
  status: LpipsStatus,
): void {
  if (status.available.length) loadedFrom = { source, onLoaded };
}

/** Reads a source's LPIPS manifest in the worker without loading any graph. */
export function findLpips(source: PackSource): Promise<LpipsStatus> {
  return client.call((r) => r.findLpips(source));
}

/**
 * Loads the LPIPS graphs of `source` before the next score; `onLoaded` hears how that went (the
 * status, or the error that stopped it).
 */
export function loadLpipsWhenNeeded(
  source: PackSource,
  onLoaded: (status: LpipsStatus | Error) => void,
): void {
  deferred = { source, onLoaded, loading: null };
  loadedFrom = null;
}

const loadInWorker = (source: PackSource, onProgress: (p: JobProgress) => void) =>
  client.call((r) => r.loadLpips(source, Comlink.proxy(onProgress)));

/** Runs the deferred LPIPS load, once; scoring goes on without LPIPS (and says why) if it fails. */
function lpipsLoaded(): Promise<void> {
  const d = deferred;
  if (!d) return Promise.resolve();
  d.loading ??= loadInWorker(d.source, () => undefined)
    .then(
      (status) => {
        remember(d.source, d.onLoaded, status);
        d.onLoaded(status);
      },
      (e: unknown) => d.onLoaded(e as Error),
    )
    .finally(() => {
      if (deferred === d) deferred = null;
    });
  return d.loading;
}

/**
 * Loads LPIPS graphs from a folder URL, picked files, or the cache, now. Should the worker stop
 * later, they load again before its next score and `onReloaded` hears how that went.
 */
export async function loadLpips(
  source: PackSource,
  onProgress: (p: JobProgress) => void = () => undefined,
  onReloaded: (status: LpipsStatus | Error) => void = () => undefined,
): Promise<LpipsStatus> {
  deferred = null;
  loadedFrom = null;
  const status = await loadInWorker(source, onProgress);
  remember(source, onReloaded, status);
  return status;
}

/** Stops the metrics worker at once (Force stop); its LPIPS graphs load again before the next score. */
export function stopMetricsWorker(reason: string): void {
  client.terminate(reason);
}

/** Scores an in-between against the ground truth. */
export async function scoreFrame(req: ScoreRequest): Promise<ScoreResult> {
  await lpipsLoaded();
  return client.call((r) => r.score(req));
}

/** Times each metric on one pair in the worker (benchmark page). */
export async function benchmarkMetricsInWorker(req: ScoreRequest & { repeats: number }) {
  await lpipsLoaded();
  return client.call((r) => r.benchmark(req));
}

/** Loads LPIPS-VGG for a KDQ dataset evaluation from where LPIPS came from. */
export async function loadLpipsVgg(source: PackSource) {
  await lpipsLoaded();
  return client.call((r) => r.loadLpipsVgg(source));
}

/** Scores one dataset item's columns (the dataset evaluation's scoring half). */
export async function scoreEvalItem(req: EvalScoreRequest): Promise<ResultLine[]> {
  await lpipsLoaded();
  return client.call((r) => r.evalScore(req));
}
