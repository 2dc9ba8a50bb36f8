/**
 * The inference worker: owns the ONNX Runtime Web sessions and runs the src/core pipeline off
 * the main thread. Pack files are read from the IndexedDB cache or fetched with byte progress,
 * verified against the manifest's sha256, cached, and turned into sessions once per variant;
 * runs are cancelled between denoising steps so sessions stay loaded.
 */
// First: the memory probe wraps WebAssembly / GPUDevice before ONNX Runtime uses them.
import { readMemory } from './memoryProbe';
import * as Comlink from 'comlink';
import { createSession, probeGpu, WASM_THREADS } from './ortEnv';
import { bitmapToRgba, rgbaToPng } from '../shared/images';
import { gapFrames } from '../core/sequence/plan';
import { benchmarkVariant, timeInbetweens, type BenchmarkOptions } from '../core/benchmark';
import { checkClipGraphs } from '../core/clip';
import { externalDataLocation } from '../core/externalData';
import { checkGraphNames, type FloatTensor, type GraphRunner } from '../core/graph';
import { readPackTokenizer, type PromptTokenizer } from '../core/text';
import { readPackConstant } from '../core/npy';
import { estimateMemory, graphBytes, sessionsToRelease } from '../core/memoryEstimate';
import type { RgbaImage } from '../core/image';
import {
  clipLengthOf,
  filesForVariant,
  graphsForVariant,
  type PackManifest,
  type VariantGraph,
  type VariantSpec,
} from '../core/manifest';
import {
  interpolate,
  prepareKeyframes,
  RunCancelledError,
  type EncodedKeyframes,
  type VariantGraphs,
} from '../core/pipeline';
import { CacheFullError, getCachedPack, saveCachedPack } from '../shared/packCache';
import { obtainFile } from './packFiles';
import { throttleProgress } from '../core/progress';
import { sha256Hex } from '../core/sha256';
import { generateItem, type GeneratedColumn } from '../core/evaluation/datasetEval';
import type {
  EvalGenerateRequest,
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
    wasmThreads: WASM_THREADS,
    crossOriginIsolated: self.crossOriginIsolated,
  };
  const fp16 = variant?.precision === 'fp16';
  const wasm = (reason: string): BackendInfo => ({ ...base, backend: 'wasm', reason });
  if (pref === 'wasm') return wasm('WASM was chosen in the settings.');
  if (variant?.precision === 'int8')
    return wasm(
      'int8 graphs are made for CPUs (ONNX Runtime fuses them into int8 kernels there), so this variant runs on WASM.',
    );
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
  /** Its weights (the graph file and its external data), for `sessionsToRelease`. */
  bytes: number;
}
/** Sessions of the current pack, keyed by `<graph name>@<backend>`. */
const sessions = new Map<string, LoadedGraph>();
/** Format 2's constant tensors of the current pack, by name (kept with its sessions). */
const constants = new Map<string, FloatTensor>();
/** Format 2's tokeniser of the current pack (packs with `text`). */
let tokenizer: PromptTokenizer | null = null;
let sessionsPackKey = '';
let active: {
  manifest: PackManifest;
  /** The manifest as JSON: keyframe latents are reused only under the same one. */
  manifestKey: string;
  variant: VariantSpec;
  backend: BackendName;
} | null = null;

async function releaseAll(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  constants.clear();
  tokenizer = null;
  await Promise.all(all.map((s) => s.runner.release().catch(() => undefined)));
}

/** The loaded variant's graphs; throws when nothing is loaded. */
function activeGraphs() {
  if (!active) throw new Error('No model is loaded. Choose a pack and a variant first.');
  const { manifest, manifestKey, variant, backend } = active;
  return { manifest, manifestKey, variant, backend, graphs: graphsOf(manifest, variant, backend) };
}

/** A variant's loaded sessions (and constants) on `backend`; throws naming a missing one. */
function graphsOf(
  manifest: PackManifest,
  variant: VariantSpec,
  backend: BackendName,
): VariantGraphs {
  const get = (key: string) => {
    const s = sessions.get(`${key}@${backend}`);
    if (!s) throw new Error(`The ${key} session is not loaded.`);
    return s.runner;
  };
  const stages: Record<string, GraphRunner> = {};
  for (const [name, stage] of Object.entries(manifest.stages ?? {}))
    stages[name] = get(`stage:${stage.file}`);
  return {
    ...(manifest.graphs.encoder ? { encoder: get('encoder') } : {}),
    decoder: get(variant.decoder === undefined ? 'decoder' : `decoder:${variant.decoder}`),
    denoiser: get(`denoiser:${variant.denoiser}`),
    ...(manifest.graphs.motion ? { motion: get('motion') } : {}),
    ...(manifest.stages ? { stages, constants: Object.fromEntries(constants) } : {}),
    ...(tokenizer ? { tokenizer } : {}),
  };
}

/** The last run's encoded keyframes, reused while the keyframes (pixels after fitting) and the manifest stay. */
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

/** Releases every session when the pack changed: sessions belong to a pack's exact files. */
async function keepSessionsOf(manifest: PackManifest): Promise<void> {
  // Every file of every variant: graphs, stages and constants.
  const shas = new Set(
    manifest.variants.flatMap((v) => filesForVariant(manifest, v.id).map((f) => f.sha256)),
  );
  const packKey = `${manifest.id}:${[...shas].join(',')}`;
  if (packKey !== sessionsPackKey) {
    await releaseAll();
    sessionsPackKey = packKey;
  }
}

/** What a load did, file by file, for LoadVariantResult. */
interface LoadLog {
  sessionMs: Record<string, number>;
  downloadedFiles: string[];
  cachedFiles: string[];
  warnings: string[];
}

/** Obtains one graph's files (cache or download, verified) and creates its checked session. */
async function loadGraph(
  req: LoadVariantRequest,
  g: VariantGraph,
  backend: BackendName,
  progress: (p: JobProgress, force?: boolean) => void,
  signal: AbortSignal,
  log: LoadLog,
): Promise<GraphRunner> {
  const bytes = new Map<string, Uint8Array>();
  for (const ref of [g.spec, ...(g.spec.externalData ?? [])]) {
    if (signal.aborted) throw new RunCancelledError();
    const got = await obtainFile(req.manifest.id, req.source, ref, progress, log.warnings, signal);
    (got.fromCache ? log.cachedFiles : log.downloadedFiles).push(ref.file);
    bytes.set(ref.file, got.bytes);
  }
  if (signal.aborted) throw new RunCancelledError();
  progress({ kind: 'compile', graph: g.key }, true);
  const t0 = performance.now();
  const external = (g.spec.externalData ?? []).map((x) => ({
    path: externalDataLocation(g.spec.file, x.file),
    data: bytes.get(x.file)!,
  }));
  const runner = await createSession(g.what, backend, bytes.get(g.spec.file)!, external);
  try {
    checkGraphNames(g.what, runner, g.inputs, g.outputs);
  } catch (e) {
    await runner.release().catch(() => undefined);
    throw e;
  }
  log.sessionMs[g.key] = performance.now() - t0;
  return runner;
}

/** Remembers a pack read from a URL or folder so it can be reopened from the cache alone. */
async function rememberPack(req: LoadVariantRequest, warnings: string[]): Promise<void> {
  const { manifest, source } = req;
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

/** Loads one variant's graphs (see InferenceApi.loadVariant); `signal` aborts its downloads. */
async function loadGraphs(
  req: LoadVariantRequest,
  onProgress: (p: JobProgress) => void,
  signal: AbortSignal,
): Promise<LoadVariantResult> {
  const { manifest } = req;
  const variant = manifest.variants.find((v) => v.id === req.variantId);
  if (!variant) throw new Error(`Pack "${manifest.id}" has no variant "${req.variantId}".`);
  let backend = await chooseBackend(req.backend, variant);
  const progress = throttleProgress(onProgress);
  const log: LoadLog = { sessionMs: {}, downloadedFiles: [], cachedFiles: [], warnings: [] };
  // Before any download: will the variant fit the backend's memory?
  const deviceMemoryGiB = (navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? null;
  const batch = manifest.frames.mode === 'position' ? manifest.frames.maxBatch : 2;
  let memory = estimateMemory(manifest, variant.id, {
    backend: backend.backend,
    batch,
    deviceMemoryGiB,
  });
  if (memory.verdict === 'refuse' && backend.backend === 'wasm' && req.backend !== 'wasm') {
    const gpu = await probeGpu();
    if (gpu.adapter && !(variant.precision === 'fp16' && !gpu.shaderF16)) {
      backend = {
        ...backend,
        backend: 'webgpu',
        reason: 'The model does not fit in the 4 GiB WebAssembly can address, so WebGPU is used.',
      };
      memory = estimateMemory(manifest, variant.id, { backend: 'webgpu', batch, deviceMemoryGiB });
    }
  }
  if (memory.verdict === 'refuse') throw new Error(memory.message!);
  if (memory.verdict === 'warn') {
    log.warnings.push(memory.message!);
    progress({ kind: 'warning', message: memory.message! }, true);
  }
  await keepSessionsOf(manifest);
  active = null;
  const graphs = graphsForVariant(manifest, variant.id);
  // Other variants' sessions (or this one's on the other backend) make room when they would crowd it.
  const needed = new Set(graphs.map((g) => `${g.key}@${backend.backend}`));
  const loaded = new Map([...sessions].map(([key, s]) => [key, s.bytes]));
  for (const key of sessionsToRelease(loaded, needed, memory.weightsBytes)) {
    const s = sessions.get(key)!;
    sessions.delete(key);
    await s.runner.release().catch(() => undefined);
  }
  for (const g of graphs) {
    const sessionKey = `${g.key}@${backend.backend}`;
    if (sessions.has(sessionKey)) continue;
    const runner = await loadGraph(req, g, backend.backend, progress, signal, log);
    sessions.set(sessionKey, { runner, backend: backend.backend, bytes: graphBytes(g) });
  }
  for (const [name, spec] of Object.entries(manifest.constants ?? {})) {
    if (constants.has(name)) continue;
    if (signal.aborted) throw new RunCancelledError();
    const got = await obtainFile(manifest.id, req.source, spec, progress, log.warnings, signal);
    (got.fromCache ? log.cachedFiles : log.downloadedFiles).push(spec.file);
    constants.set(name, readPackConstant(name, spec, got.bytes));
  }
  if (manifest.text && !tokenizer) {
    if (signal.aborted) throw new RunCancelledError();
    const spec = manifest.text.tokenizer;
    const got = await obtainFile(manifest.id, req.source, spec, progress, log.warnings, signal);
    (got.fromCache ? log.cachedFiles : log.downloadedFiles).push(spec.file);
    tokenizer = readPackTokenizer(manifest.text, got.bytes);
  }
  if (manifest.frames.mode === 'clip') {
    const graphs = graphsOf(manifest, variant, backend.backend);
    checkClipGraphs(manifest, variant, {
      stages: graphs.stages ?? {},
      constants: graphs.constants ?? {},
      denoiser: graphs.denoiser,
      decoder: graphs.decoder,
    });
  }
  const manifestKey = JSON.stringify(manifest);
  // Remembered when files came in, or when the manifest changed with its files already cached (an
  // edited manifest of the same graphs would otherwise come back as the old one from the cache).
  if (req.source.kind !== 'cache') {
    const stored = log.downloadedFiles.length
      ? undefined
      : await getCachedPack(manifest.id).catch(() => undefined);
    if (!stored || JSON.stringify(stored.manifest) !== manifestKey)
      await rememberPack(req, log.warnings);
  }
  active = { manifest, manifestKey, variant, backend: backend.backend };
  return { backend, ...log };
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

  timeInbetweens: serial(async (count: number) => {
    const { manifest, variant, graphs } = activeGraphs();
    return timeInbetweens(manifest, variant, graphs, count);
  }),

  run: serial(async (req: RunRequest, onProgress: (p: JobProgress) => void): Promise<RunResult> => {
    const { manifest, manifestKey, variant, backend, graphs } = activeGraphs();
    const progress = throttleProgress(onProgress);
    const tJob = performance.now();
    try {
      if (variant.id !== req.variantId)
        throw new Error(
          `The ${req.variantId} variant is not loaded (${variant.id} is): another job loaded it meanwhile. Run again.`,
        );
      const start = bitmapToRgba(req.start);
      const end = bitmapToRgba(req.end);
      const prepared = prepareKeyframes(manifest, start, end, req.fitMode);
      // The same graphs under an edited manifest (latent scale, value range, classical flow…)
      // encode differently: the whole manifest is part of the key.
      const latentKey = `${manifestKey}:${await hashPixels(prepared.start)}:${await hashPixels(prepared.end)}`;
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
      // At the keyframes' size; transparent keyframes give transparent in-betweens.
      const restoredFrames = gapFrames(result, prepared, start, end);
      for (let i = 0; i < restoredFrames.length; i++) {
        const restored = restoredFrames[i]!;
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
        sampler: result.sampler,
        loraScale: result.loraScale,
        timings: result.timings,
        imageMs: jobMs - result.timings.totalMs,
        fitPlan: prepared.plan,
        fittedStart,
        fittedEnd,
        ...(result.clip
          ? {
              clip: {
                pickedText: result.clip.pickedText,
                controls: result.clip.controls,
                clipLength: clipLengthOf(manifest)!,
              },
            }
          : {}),
      };
    } finally {
      req.start.close();
      req.end.close();
      cancelled.delete(req.jobId);
    }
  }),

  evalGenerate: serial(async (req: EvalGenerateRequest): Promise<GeneratedColumn[]> => {
    const { manifest, variant, graphs } = activeGraphs();
    if (variant.id !== req.variantId)
      throw new Error(`The ${req.variantId} variant is not loaded (${variant.id} is).`);
    try {
      if (cancelled.has(req.jobId)) throw new RunCancelledError();
      return await generateItem({
        manifest,
        graphs,
        item: req.item,
        loaded: req.loaded,
        fit: req.fit,
        protocol: req.protocol,
        configs: req.configs,
        anchors: req.anchors,
        flowConfig: req.flowConfig,
        hooks: { isCancelled: () => cancelled.has(req.jobId) },
      });
    } finally {
      cancelled.delete(req.jobId);
    }
  }),

  cancel(jobId: number) {
    cancelled.add(jobId);
    loadAborts.get(jobId)?.abort();
  },

  memory() {
    return readMemory();
  },
};

// ORT's pthread workers are started from the same script URL in some builds; only the real worker exposes the API.
if (!self.name?.startsWith('em-pthread')) {
  Comlink.expose(api);
}
