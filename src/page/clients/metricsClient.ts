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
);

/** Loads LPIPS graphs from a folder URL, picked files, or the cache. */
export function loadLpips(
  source: PackSource,
  onProgress: (p: JobProgress) => void = () => undefined,
): Promise<LpipsStatus> {
  return client.call((r) => r.loadLpips(source, Comlink.proxy(onProgress)));
}

/** Scores an in-between against the ground truth. */
export function scoreFrame(req: ScoreRequest): Promise<ScoreResult> {
  return client.call((r) => r.score(req));
}

/** Times each metric on one pair in the worker (benchmark page). */
export function benchmarkMetricsInWorker(req: ScoreRequest & { repeats: number }) {
  return client.call((r) => r.benchmark(req));
}

/** Loads LPIPS-VGG for a KDQ dataset evaluation from where LPIPS came from. */
export function loadLpipsVgg(source: PackSource) {
  return client.call((r) => r.loadLpipsVgg(source));
}

/** Scores one dataset item's columns (the dataset evaluation's scoring half). */
export function scoreEvalItem(req: EvalScoreRequest): Promise<ResultLine[]> {
  return client.call((r) => r.evalScore(req));
}
