/**
 * The inference worker: owns the ONNX Runtime Web sessions and runs the src/core pipeline off
 * the main thread. Pack files are read from the IndexedDB cache or fetched with byte progress,
 * verified against the manifest's sha256, cached, and turned into sessions once per variant;
 * runs are cancelled between denoising steps so sessions stay loaded.
 */
// First: the memory probe wraps WebAssembly / GPUDevice before ONNX Runtime uses them.
import { readMemory } from './memoryProbe';
import * as Comlink from 'comlink';
import { ort, ortFor, probeGpu } from './ortEnv';
import { bitmapToRgba, rgbaToPng } from './workerImages';
import { benchmarkVariant, type BenchmarkOptions } from '../core/benchmark';
import { checkGraphNames, SESSION_TUNING, wrapSession, type GraphRunner } from '../core/graph';
import type { RgbaImage } from '../core/image';
import { filesForVariant, type PackManifest, type VariantSpec } from '../core/manifest';
import {
  interpolate,
  prepareKeyframes,
  restoreFrame,
  RunCancelledError,
  type EncodedKeyframes,
} from '../core/pipeline';
import { CacheFullError, saveCachedPack } from '../shared/packCache';
import { obtainFile } from './packFiles';
import { throttleProgress } from '../core/progress';
import { sha256Hex } from '../core/sha256';
import type {
  BackendInfo,
  BackendName,
  BackendPreference,
  InferenceApi,
  LoadVariantRequest,
  LoadVariantResult,
  JobProgress,
  RunRequest,
  RunResult,
} from '../shared/protocol';

/** Picks the backend for a variant: WebGPU when a real adapter can run it, else WASM. */
async function chooseBackend(pref: BackendPreference, variant?: VariantSpec): Promise<BackendInfo> {
  const gpu = await probeGpu();
  const base = {
    webgpuAdapter: gpu.adapter,
    fallbackAdapter: gpu.fallback,
    shaderF16: gpu.shaderF16,
    wasmThreads: ort.env.wasm.numThreads ?? 1,
    crossOriginIsolated: self.crossOriginIsolated,
  };
  const fp16 = variant?.precision === 'fp16';
  const wasm = (reason: string): BackendInfo => ({ ...base, backend: 'wasm', reason });
  if (pref === 'wasm') return wasm('WASM was chosen in the settings.');
  if (!gpu.adapter)
    return wasm('No WebGPU adapter is available, so the model runs on the CPU (WASM).');
  if (fp16 && !gpu.shaderF16) {
    return wasm(
      'This GPU lacks shader-f16, which fp16 graphs need on WebGPU, so the fp16 variant runs on WASM.',
    );
  }
  if (pref === 'webgpu')
    return { ...base, backend: 'webgpu', reason: 'WebGPU was chosen in the settings.' };
  if (gpu.fallback) {
    return wasm(
      'The only WebGPU adapter is a software fallback, slower than WASM, so WASM is used.',
    );
  }
  return { ...base, backend: 'webgpu', reason: 'A WebGPU adapter is available.' };
}

// ---- Sessions -----------------------------------------------------------------------------------
interface LoadedGraph {
  runner: GraphRunner;
  backend: BackendName;
}
/** Sessions of the current pack, keyed by `<graph name>@<backend>`. */
const sessions = new Map<string, LoadedGraph>();
let sessionsPackKey = '';
let active: { manifest: PackManifest; variant: VariantSpec; backend: BackendName } | null = null;

async function createSession(
  what: string,
  bytes: Uint8Array,
  backend: BackendName,
): Promise<GraphRunner> {
  try {
    const rt = await ortFor(backend);
    const session = await rt.InferenceSession.create(bytes, {
      executionProviders: [backend],
      ...SESSION_TUNING,
    });
    return wrapSession(session, rt, what);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new Error(
      `Could not load ${what}: it is not a valid ONNX model for this runtime (${detail.slice(0, 300)})`,
      { cause: e },
    );
  }
}

async function releaseAll(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  await Promise.all(all.map((s) => s.runner.release().catch(() => undefined)));
}

/** The loaded variant's graphs; throws when nothing is loaded. */
function activeGraphs() {
  if (!active) throw new Error('No model is loaded. Choose a pack and a variant first.');
  const { manifest, variant, backend } = active;
  const get = (key: string) => {
    const s = sessions.get(`${key}@${backend}`);
    if (!s) throw new Error(`The ${key} session is not loaded.`);
    return s.runner;
  };
  return {
    manifest,
    variant,
    backend,
    graphs: {
      encoder: get('encoder'),
      decoder: get('decoder'),
      denoiser: get(`denoiser:${variant.denoiser}`),
      ...(manifest.graphs.motion ? { motion: get('motion') } : {}),
    },
  };
}

/** The last run's encoded keyframes, reused while the keyframes (pixels after fitting) and encoder stay. */
let encodedCache: { key: string; encoded: EncodedKeyframes } | null = null;

/** SHA-256 of the pixels: tells whether a re-run has the same fitted keyframes. */
async function hashPixels(img: RgbaImage): Promise<string> {
  const bytes = new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return `${img.width}x${img.height}:${await sha256Hex(bytes)}`;
}

/** Jobs asked to stop; checked between denoising steps and between a load's files. */
const cancelled = new Set<number>();
/** Loads in flight by job id: cancel aborts their downloads. */
const loadAborts = new Map<number, AbortController>();

/** Loads and runs one at a time: a second call waits for the first (cancel does not wait). */
let queue: Promise<unknown> = Promise.resolve();
function serial<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return (...args) => {
    const next = queue.then(() => fn(...args));
    queue = next.catch(() => undefined);
    return next;
  };
}

/** Loads one variant's graphs (see InferenceApi.loadVariant); `signal` aborts its downloads. */
async function loadGraphs(
  req: LoadVariantRequest,
  onProgress: (p: JobProgress) => void,
  signal: AbortSignal,
): Promise<LoadVariantResult> {
  const { manifest, source } = req;
  const variant = manifest.variants.find((v) => v.id === req.variantId);
  if (!variant) throw new Error(`Pack "${manifest.id}" has no variant "${req.variantId}".`);
  const backend = await chooseBackend(req.backend, variant);
  const progress = throttleProgress(onProgress);
  const warnings: string[] = [];
  // Sessions belong to a pack's exact files: any changed graph means a different pack.
  const { encoder, decoder, motion, denoisers } = manifest.graphs;
  const packKey = `${manifest.id}:${[encoder, decoder, ...(motion ? [motion] : []), ...Object.values(denoisers)].map((g) => g.sha256).join(',')}`;
  if (packKey !== sessionsPackKey) {
    await releaseAll();
    sessionsPackKey = packKey;
  }
  active = null;
  const files = filesForVariant(manifest, variant.id);
  const graphs = [
    {
      key: 'encoder',
      spec: manifest.graphs.encoder,
      what: `the VAE encoder (${manifest.graphs.encoder.file})`,
    },
    {
      key: 'decoder',
      spec: manifest.graphs.decoder,
      what: `the VAE decoder (${manifest.graphs.decoder.file})`,
    },
    ...(manifest.graphs.motion
      ? [
          {
            key: 'motion',
            spec: manifest.graphs.motion,
            what: `the motion graph (${manifest.graphs.motion.file})`,
          },
        ]
      : []),
    {
      key: `denoiser:${variant.denoiser}`,
      spec: manifest.graphs.denoisers[variant.denoiser]!,
      what: `the denoiser of variant "${variant.id}" (${manifest.graphs.denoisers[variant.denoiser]!.file})`,
    },
  ];
  const sessionMs: Record<string, number> = {};
  const downloadedFiles: string[] = [];
  const cachedFiles: string[] = [];
  for (const g of graphs) {
    const sessionKey = `${g.key}@${backend.backend}`;
    if (sessions.has(sessionKey)) continue;
    const own = files.filter(
      (f) => f.file === g.spec.file || g.spec.externalData?.some((x) => x.file === f.file),
    );
    const bytesByFile = new Map<string, Uint8Array>();
    for (const ref of own) {
      if (signal.aborted) throw new RunCancelledError();
      const got = await obtainFile(manifest.id, source, ref, progress, warnings, signal);
      (got.fromCache ? cachedFiles : downloadedFiles).push(ref.file);
      bytesByFile.set(ref.file, got.bytes);
    }
    if (signal.aborted) throw new RunCancelledError();
    progress({ kind: 'compile', graph: g.key }, true);
    const t0 = performance.now();
    let runner: GraphRunner;
    if (g.spec.externalData?.length) {
      const rt = await ortFor(backend.backend);
      const session = await rt.InferenceSession.create(bytesByFile.get(g.spec.file)!, {
        executionProviders: [backend.backend],
        ...SESSION_TUNING,
        externalData: g.spec.externalData.map((x) => ({
          path: x.file,
          data: bytesByFile.get(x.file)!,
        })),
      }).catch((e: unknown) => {
        throw new Error(`Could not load ${g.what}: ${(e as Error).message}`, { cause: e });
      });
      runner = wrapSession(session, rt, g.what);
    } else {
      runner = await createSession(g.what, bytesByFile.get(g.spec.file)!, backend.backend);
    }
    try {
      checkGraphNames(g.what, runner, g.spec.inputs, g.spec.outputs);
    } catch (e) {
      await runner.release().catch(() => undefined);
      throw e;
    }
    sessionMs[g.key] = performance.now() - t0;
    sessions.set(sessionKey, { runner, backend: backend.backend });
  }
  if (downloadedFiles.length > 0 && source.kind !== 'cache') {
    await saveCachedPack({
      packId: manifest.id,
      kind: 'pack',
      name: manifest.name,
      trained: manifest.trained,
      manifest,
      sourceLabel: source.label,
    }).catch((e: unknown) => {
      warnings.push(
        e instanceof CacheFullError
          ? e.message
          : `The pack could not be remembered: ${(e as Error).message}`,
      );
    });
  }
  active = { manifest, variant, backend: backend.backend };
  return { backend, sessionMs, downloadedFiles, cachedFiles, warnings };
}

const api: InferenceApi = {
  loadVariant: serial(
    async (
      req: LoadVariantRequest,
      onProgress: (p: JobProgress) => void,
    ): Promise<LoadVariantResult> => {
      const { jobId } = req;
      const abort = new AbortController();
      if (jobId !== undefined) {
        // Cancelled while it waited in the queue.
        if (cancelled.delete(jobId)) throw new RunCancelledError();
        loadAborts.set(jobId, abort);
      }
      try {
        return await loadGraphs(req, onProgress, abort.signal);
      } finally {
        if (jobId !== undefined) {
          loadAborts.delete(jobId);
          cancelled.delete(jobId);
        }
      }
    },
  ),

  benchmark: serial(async (opts: BenchmarkOptions) => {
    const { manifest, variant, backend, graphs } = activeGraphs();
    const result = await benchmarkVariant(manifest, variant, graphs, opts);
    return { ...result, backend, memory: readMemory() };
  }),

  run: serial(async (req: RunRequest, onProgress: (p: JobProgress) => void): Promise<RunResult> => {
    const { manifest, variant, backend, graphs } = activeGraphs();
    const progress = throttleProgress(onProgress);
    const tJob = performance.now();
    try {
      const start = bitmapToRgba(req.start);
      const end = bitmapToRgba(req.end);
      const prepared = prepareKeyframes(manifest, start, end, req.fitMode);
      const latentKey = `${manifest.id}:${manifest.graphs.encoder.sha256}:${manifest.graphs.motion?.sha256 ?? ''}:${await hashPixels(prepared.start)}:${await hashPixels(prepared.end)}`;
      const reuse = encodedCache?.key === latentKey ? encodedCache.encoded : undefined;
      const result = await interpolate({
        manifest,
        variant,
        graphs,
        keyframes: prepared,
        settings: req.settings,
        hooks: {
          isCancelled: () => cancelled.has(req.jobId),
          onProgress: progress,
        },
        encoded: reuse,
      });
      encodedCache = { key: latentKey, encoded: result.encoded };
      const frames = [];
      for (let i = 0; i < result.modelFrames.length; i++) {
        const restored = restoreFrame(result.modelFrames[i]!, prepared.plan, start);
        frames.push({
          position: result.positions[i]!,
          png: await rgbaToPng(restored),
          width: restored.width,
          height: restored.height,
        });
      }
      const fittedStart = await rgbaToPng(prepared.start);
      const fittedEnd = await rgbaToPng(prepared.end);
      const jobMs = performance.now() - tJob;
      return {
        jobId: req.jobId,
        packId: manifest.id,
        variantId: variant.id,
        backend,
        frames,
        stepStats: result.stepStats,
        timesteps: result.timesteps,
        loraScale: result.loraScale,
        timings: result.timings,
        imageMs: jobMs - result.timings.totalMs,
        fitPlan: prepared.plan,
        fittedStart,
        fittedEnd,
      };
    } finally {
      req.start.close();
      req.end.close();
      cancelled.delete(req.jobId);
    }
  }),

  cancel(jobId: number) {
    cancelled.add(jobId);
    loadAborts.get(jobId)?.abort();
  },
};

// ORT's pthread workers are started from the same script URL in some builds; only the real worker exposes the API.
if (!self.name?.startsWith('em-pthread')) {
  Comlink.expose(api);
}
