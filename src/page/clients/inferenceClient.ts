/**
 * The one module that talks to the inference worker: lazy start, crash → clear error (see
 * src/common/workerClient.ts), keyframe bitmaps transferred rather than copied.
 */
import * as Comlink from 'comlink';
import { createWorkerClient } from './workerClient';
import type { BenchmarkOptions } from '../../core/benchmark';
import type {
  InferenceApi,
  LoadVariantRequest,
  LoadVariantResult,
  JobProgress,
  RunRequest,
  RunResult,
} from '../../shared/protocol';

export { WorkerCrashedError } from './workerClient';

const client = createWorkerClient<InferenceApi>(
  'inference',
  () =>
    new Worker(new URL('../../workers/inference.worker.ts', import.meta.url), {
      type: 'module',
      name: 'inference',
    }),
);

let lastJobId = 0;
/** A new job id for a load or run: unique across every feature that uses the worker. */
export function nextJobId(): number {
  return ++lastJobId;
}

/** Loads (downloading, verifying and caching as needed) one variant's graphs. */
export function loadVariant(
  req: LoadVariantRequest,
  onProgress: (p: JobProgress) => void,
): Promise<LoadVariantResult> {
  return client.call((r) => r.loadVariant(req, Comlink.proxy(onProgress)));
}

/** Runs the loaded variant on two keyframes; the bitmaps are transferred (and closed) by the worker. */
export function runInterpolation(
  req: RunRequest,
  onProgress: (p: JobProgress) => void,
): Promise<RunResult> {
  return client.call((r) =>
    r.run(Comlink.transfer(req, [req.start, req.end]), Comlink.proxy(onProgress)),
  );
}

/** Times the loaded variant in the worker (benchmark page, efficiency figures), with the memory
 * figures the browser exposes (see src/workers/memoryProbe.ts). */
export function benchmarkLoadedVariant(opts: BenchmarkOptions) {
  return client.call((r) => r.benchmark(opts));
}

/** Asks the worker to stop job `jobId` after its current step; the model stays loaded. */
export function cancelRun(jobId: number): void {
  void client.current()?.cancel(jobId);
}

/**
 * Stops the worker at once — a hung or runaway job, or between jobs so the next one starts in a
 * fresh worker (per-variant memory figures); pending calls reject and the next call starts anew.
 */
export function stopWorker(reason: string): void {
  client.terminate(reason);
}
