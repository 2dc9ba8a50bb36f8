/**
 * The one module that talks to the inference worker. It starts the worker lazily, wraps it with
 * comlink, transfers keyframe bitmaps instead of copying them, and turns a crashed worker into a
 * rejected promise with a clear message (comlink alone would leave the call pending forever).
 * The next call after a crash starts a fresh worker.
 */
import * as Comlink from 'comlink';
import type {
  BackendInfo,
  InferenceApi,
  LoadVariantRequest,
  LoadVariantResult,
  ProgressEvent,
  RunRequest,
  RunResult,
} from '../../workers/protocol';

/** The worker died (out of memory, a runtime abort, or it was stopped by force). */
export class WorkerCrashedError extends Error {
  constructor(detail: string) {
    super(
      `The inference worker stopped unexpectedly (${detail}). Its models were unloaded; press Run to start it again.`,
    );
    this.name = 'WorkerCrashedError';
  }
}

interface Live {
  worker: Worker;
  remote: Comlink.Remote<InferenceApi>;
  crashed: Promise<never>;
  fail: (e: Error) => void;
}
let live: Live | null = null;

function ensureWorker(): Live {
  if (live) return live;
  const worker = new Worker(new URL('../../workers/inference.worker.ts', import.meta.url), {
    type: 'module',
    name: 'inference',
  });
  let fail: (e: Error) => void = () => undefined;
  const crashed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  // Keep an unobserved crash from becoming an unhandled rejection.
  crashed.catch(() => undefined);
  const current: Live = { worker, remote: Comlink.wrap<InferenceApi>(worker), crashed, fail };
  const onCrash = (detail: string) => {
    if (live === current) live = null;
    current.fail(new WorkerCrashedError(detail));
    worker.terminate();
  };
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    onCrash(e.message || 'script error');
  });
  worker.addEventListener('messageerror', () => onCrash('a message could not be read'));
  live = current;
  return current;
}

async function call<T>(fn: (remote: Comlink.Remote<InferenceApi>) => Promise<T>): Promise<T> {
  const w = ensureWorker();
  return Promise.race([fn(w.remote), w.crashed]);
}

/** Which backend the worker would use, without loading a model. */
export function probeBackend(): Promise<BackendInfo> {
  return call((r) => r.probe());
}

/** Loads (downloading, verifying and caching as needed) one variant's graphs. */
export function loadVariant(
  req: LoadVariantRequest,
  onProgress: (p: ProgressEvent) => void,
): Promise<LoadVariantResult> {
  return call((r) => r.loadVariant(req, Comlink.proxy(onProgress)));
}

/** Runs the loaded variant on two keyframes; the bitmaps are transferred (and closed) by the worker. */
export function runInterpolation(
  req: RunRequest,
  onProgress: (p: ProgressEvent) => void,
): Promise<RunResult> {
  return call((r) => r.run(Comlink.transfer(req, [req.start, req.end]), Comlink.proxy(onProgress)));
}

/** Times the loaded variant in the worker (benchmark page, efficiency figures). */
export function benchmarkLoadedVariant(opts: { repeats: number; steps?: number }) {
  return call((r) => r.benchmark(opts));
}

/** Asks the worker to stop job `jobId` after its current step; the model stays loaded. */
export function cancelRun(jobId: number): void {
  void live?.remote.cancel(jobId);
}

/** Stops the worker at once (a hung or runaway job); the next call starts a new one. */
export function terminateWorker(reason = 'stopped by force'): void {
  if (!live) return;
  const current = live;
  live = null;
  current.worker.terminate();
  current.fail(new WorkerCrashedError(reason));
}
