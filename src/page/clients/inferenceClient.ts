/**
 * The one module that talks to the inference worker: lazy start, crash → clear error (see
 * workerClient.ts), keyframe bitmaps transferred rather than copied. It owns what every feature
 * shares about the worker: the job ids, and which variant the worker has loaded — so a run after
 * a sweep or an efficiency measurement knows whether it must load again.
 */
import * as Comlink from 'comlink';
import { createWorkerClient } from './workerClient';
import type { BenchmarkOptions } from '../../core/benchmark';
import { filesForVariant, type PackManifest } from '../../core/manifest';
import type { GeneratedColumn } from '../../core/evaluation/datasetEval';
import type {
  EvalGenerateRequest,
  BackendPreference,
  InferenceApi,
  LoadVariantRequest,
  LoadVariantResult,
  JobProgress,
  MemoryReading,
  RunRequest,
  RunResult,
} from '../../shared/protocol';

export { WorkerCrashedError } from './workerClient';

/** The variant the worker holds now; null before a load, during one, and after the worker stopped. */
let loadedKey: string | null = null;
/** How many times a live worker went away (crashed, or stopped by force) since the page opened. */
let workerStops = 0;

/** Times a worker crashed or was stopped since the page opened (the kiosk's restart count). */
export function workerStopCount(): number {
  return workerStops;
}

const client = createWorkerClient<InferenceApi>(
  'inference',
  () =>
    new Worker(new URL('../../workers/inference.worker.ts', import.meta.url), {
      type: 'module',
      name: 'inference',
    }),
  // A worker that crashed or was stopped took its sessions with it.
  () => {
    loadedKey = null;
    workerStops++;
  },
);

let lastJobId = 0;
/** A new job id for a load or run: unique across every feature that uses the worker. */
export function nextJobId(): number {
  return ++lastJobId;
}

/**
 * Identifies a variant as the worker loads it: the manifest as the worker reads it — its graphs by
 * sha256 (the same files from another source are the same model) and every setting it uses, so a
 * manifest edited and picked again is loaded again — and the backend asked for.
 */
export function loadedVariantKey(
  manifest: PackManifest,
  variantId: string,
  backend: BackendPreference,
): string {
  filesForVariant(manifest, variantId); // throws for a variant the pack lacks
  // The pack's name and description are for people: a renamed copy is the same model.
  const settings = JSON.stringify({ ...manifest, name: undefined, description: undefined });
  return `${backend}|${variantId}|${settings}`;
}

/** Whether the worker holds this variant (loaded with this backend preference) right now. */
export function isVariantLoaded(
  manifest: PackManifest,
  variantId: string,
  backend: BackendPreference,
): boolean {
  return loadedKey === loadedVariantKey(manifest, variantId, backend);
}

/** Loads (downloading, verifying and caching as needed) one variant's graphs. */
export async function loadVariant(
  req: LoadVariantRequest,
  onProgress: (p: JobProgress) => void,
): Promise<LoadVariantResult> {
  loadedKey = null;
  const result = await client.call((r) => r.loadVariant(req, Comlink.proxy(onProgress)));
  loadedKey = loadedVariantKey(req.manifest, req.variantId, req.backend);
  return result;
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

/** Times `count` in-betweens of the loaded variant in the worker (`npm run bench`'s rounds). */
export function timeLoadedInbetweens(count: number) {
  return client.call((r) => r.timeInbetweens(count));
}

/**
 * The worker's memory now (ONNX Runtime's WASM heap, WebGPU buffer peak), or null when no worker is
 * running or it does not answer within `timeoutMs` (a stuck worker must not stall the caller).
 */
export async function workerMemory(timeoutMs = 2000): Promise<MemoryReading | null> {
  const remote = client.current();
  if (!remote) return null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((res) => {
    timer = setTimeout(() => res(null), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve(remote.memory()), late]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
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

/** Generates one dataset item's columns with the loaded variant (the evaluation's model half). */
export function generateEvalItem(req: EvalGenerateRequest): Promise<GeneratedColumn[]> {
  return client.call((r) => r.evalGenerate(req));
}
