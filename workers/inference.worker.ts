/**
 * The inference worker: owns the ONNX Runtime Web sessions and runs the src/core pipeline off
 * the main thread. Pack files are read from the IndexedDB cache or fetched with byte progress,
 * verified against the manifest's sha256, cached, and turned into sessions once per variant;
 * runs are cancelled between denoising steps so sessions stay loaded.
 */
import * as Comlink from 'comlink';
import * as ort from 'onnxruntime-web';
import { benchmarkVariant } from '../src/core/benchmark';
import { checkGraphNames, wrapSession, type GraphRunner } from '../src/core/graph';
import type { RgbaImage } from '../src/core/image';
import { filesForVariant, type PackManifest, type VariantSpec } from '../src/core/manifest';
import {
  interpolate,
  prepareKeyframes,
  restoreFrame,
  type PipelineProgress,
} from '../src/core/pipeline';
import { verifyPackFile } from '../src/core/sha256';
import {
  CacheFullError,
  readCachedFile,
  saveCachedPack,
  writeCachedFile,
} from '../src/packs/packCache';
import type {
  BackendInfo,
  BackendName,
  BackendPreference,
  InferenceApi,
  LoadVariantRequest,
  LoadVariantResult,
  PackSource,
  ProgressEvent,
  RunRequest,
  RunResult,
} from './protocol';

// ---- ORT environment: set once, before the first session exists. -------------------------------
// Runtime files are self-hosted under /ort/ (see scripts/packAssetsPlugin.ts), never a CDN. Setting
// wasmPaths also keeps ORT's pthread workers from re-running this module (they would otherwise start
// from this chunk's URL and hang the production build).
ort.env.wasm.wasmPaths = new URL(`${import.meta.env.BASE_URL}ort/`, self.location.origin).href;
ort.env.wasm.numThreads = self.crossOriginIsolated
  ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1))
  : 1;
ort.env.logLevel = 'error';

interface GpuProbe {
  adapter: boolean;
  fallback: boolean;
  shaderF16: boolean;
}
let gpuProbe: Promise<GpuProbe> | null = null;

function probeGpu(): Promise<GpuProbe> {
  gpuProbe ??= (async () => {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (!gpu) return { adapter: false, fallback: false, shaderF16: false };
    try {
      const adapter = (await gpu.requestAdapter()) as {
        features: Set<string>;
        info?: { isFallbackAdapter?: boolean };
        isFallbackAdapter?: boolean;
      } | null;
      if (!adapter) return { adapter: false, fallback: false, shaderF16: false };
      return {
        adapter: true,
        fallback: Boolean(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter),
        shaderF16: adapter.features.has('shader-f16'),
      };
    } catch {
      return { adapter: false, fallback: false, shaderF16: false };
    }
  })();
  return gpuProbe;
}

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

// ---- Progress throttling: ~10 updates a second; stage changes and warnings always pass. ---------
function throttle(send: (p: ProgressEvent) => void): (p: ProgressEvent, force?: boolean) => void {
  let last = 0;
  let lastKind = '';
  return (p, force = false) => {
    const t = performance.now();
    if (force || p.kind !== lastKind || p.kind === 'warning' || t - last >= 100) {
      last = t;
      lastKind = p.kind;
      send(p);
    }
  };
}

// ---- Pack files ---------------------------------------------------------------------------------
async function fetchWithProgress(
  url: string,
  file: string,
  totalBytes: number,
  report: (loaded: number) => void,
): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`Could not download ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!res.ok)
    throw new Error(
      `Could not download ${file}: the server answered ${res.status} ${res.statusText}`,
    );
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    report(loaded);
    // A file far larger than promised is not the manifest's file: stop before filling memory.
    if (loaded > totalBytes * 2 + 1024) {
      await reader.cancel();
      throw new Error(`${file} is larger than the ${totalBytes} bytes the manifest says`);
    }
  }
  const out = new Uint8Array(loaded);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

async function obtainFile(
  manifest: PackManifest,
  source: PackSource,
  ref: { file: string; sizeBytes: number; sha256: string },
  progress: (p: ProgressEvent, force?: boolean) => void,
  warnings: string[],
): Promise<{ bytes: Uint8Array; fromCache: boolean }> {
  let cached: Awaited<ReturnType<typeof readCachedFile>> = { status: 'miss' };
  try {
    cached = await readCachedFile(manifest.id, ref.sha256);
  } catch (e) {
    warnings.push(
      `The model cache could not be read (${(e as Error).message}); downloading instead.`,
    );
  }
  if (cached.status === 'hit') {
    progress({ kind: 'cache-hit', file: ref.file, sizeBytes: ref.sizeBytes }, true);
    return { bytes: cached.bytes, fromCache: true };
  }
  if (cached.status === 'evicted') {
    const msg = `${ref.file} had been removed from the browser's cache (storage was evicted); it is fetched again.`;
    warnings.push(msg);
    progress({ kind: 'warning', message: msg }, true);
  }
  let bytes: Uint8Array;
  if (source.kind === 'cache') {
    throw new Error(
      `${ref.file} is no longer in the browser's cache (it was cleared or evicted). Load the pack again from its folder or URL.`,
    );
  } else if (source.kind === 'url') {
    const url = new URL(ref.file, source.baseUrl).href;
    progress({ kind: 'download', file: ref.file, loadedBytes: 0, totalBytes: ref.sizeBytes }, true);
    bytes = await fetchWithProgress(url, ref.file, ref.sizeBytes, (loaded) =>
      progress({
        kind: 'download',
        file: ref.file,
        loadedBytes: loaded,
        totalBytes: ref.sizeBytes,
      }),
    );
    progress(
      {
        kind: 'download',
        file: ref.file,
        loadedBytes: bytes.byteLength,
        totalBytes: ref.sizeBytes,
      },
      true,
    );
  } else {
    const blob = source.files[ref.file];
    if (!blob)
      throw new Error(`The pack folder has no file ${ref.file}, which the manifest names.`);
    bytes = new Uint8Array(await blob.arrayBuffer());
  }
  progress({ kind: 'verify', file: ref.file }, true);
  await verifyPackFile(ref.file, bytes, ref);
  try {
    await writeCachedFile(manifest.id, ref.sha256, ref.file, bytes);
  } catch (e) {
    const msg =
      e instanceof CacheFullError
        ? e.message
        : `${ref.file} could not be cached: ${(e as Error).message}`;
    if (!warnings.includes(msg)) {
      warnings.push(msg);
      progress({ kind: 'warning', message: msg }, true);
    }
  }
  return { bytes, fromCache: false };
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
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
    });
    return wrapSession(session, ort);
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
    },
  };
}

/** Jobs asked to stop; checked between denoising steps. */
const cancelled = new Set<number>();

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

const api: InferenceApi = {
  async probe() {
    return chooseBackend('auto');
  },

  loadVariant: serial(
    async (
      req: LoadVariantRequest,
      onProgress: (p: ProgressEvent) => void,
    ): Promise<LoadVariantResult> => {
      const { manifest, source } = req;
      const variant = manifest.variants.find((v) => v.id === req.variantId);
      if (!variant) throw new Error(`Pack "${manifest.id}" has no variant "${req.variantId}".`);
      const backend = await chooseBackend(req.backend, variant);
      const progress = throttle(onProgress);
      const warnings: string[] = [];
      const packKey = `${manifest.id}@${manifest.version}:${JSON.stringify(manifest.graphs).length}:${manifest.graphs.encoder.sha256}`;
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
          const got = await obtainFile(manifest, source, ref, progress, warnings);
          (got.fromCache ? cachedFiles : downloadedFiles).push(ref.file);
          bytesByFile.set(ref.file, got.bytes);
        }
        progress({ kind: 'compile', graph: g.key }, true);
        const t0 = performance.now();
        let runner: GraphRunner;
        if (g.spec.externalData?.length) {
          const session = await ort.InferenceSession.create(bytesByFile.get(g.spec.file)!, {
            executionProviders: [backend.backend],
            externalData: g.spec.externalData.map((x) => ({
              path: x.file,
              data: bytesByFile.get(x.file)!,
            })),
          }).catch((e: unknown) => {
            throw new Error(`Could not load ${g.what}: ${(e as Error).message}`, { cause: e });
          });
          runner = wrapSession(session, ort);
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
        await saveCachedPack({ packId: manifest.id, manifest, sourceLabel: source.label }).catch(
          (e: unknown) => {
            warnings.push(
              e instanceof CacheFullError
                ? e.message
                : `The pack could not be remembered: ${(e as Error).message}`,
            );
          },
        );
      }
      active = { manifest, variant, backend: backend.backend };
      return { backend, sessionMs, downloadedFiles, cachedFiles, warnings };
    },
  ),

  benchmark: serial(async (opts: { repeats: number; steps?: number }) => {
    const { manifest, variant, backend, graphs } = activeGraphs();
    return { ...(await benchmarkVariant(manifest, variant, graphs, opts)), backend };
  }),

  run: serial(
    async (req: RunRequest, onProgress: (p: ProgressEvent) => void): Promise<RunResult> => {
      const { manifest, variant, backend, graphs } = activeGraphs();
      const progress = throttle(onProgress);
      try {
        const start = bitmapToRgba(req.start);
        const end = bitmapToRgba(req.end);
        const prepared = prepareKeyframes(manifest, start, end, req.fitMode);
        const result = await interpolate(manifest, variant, graphs, prepared, req.settings, {
          isCancelled: () => cancelled.has(req.jobId),
          onProgress: (p: PipelineProgress) => {
            if (p.stage === 'denoise')
              progress(
                {
                  kind: 'denoise',
                  step: p.step,
                  totalSteps: p.totalSteps,
                  batch: p.batch,
                  totalBatches: p.totalBatches,
                },
                p.step === p.totalSteps,
              );
            else if (p.stage === 'encode')
              progress({ kind: 'encode', done: p.done, total: p.total });
            else progress({ kind: 'decode', frame: p.frame, total: p.total }, true);
          },
        });
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
        return {
          jobId: req.jobId,
          packId: manifest.id,
          variantId: variant.id,
          backend,
          frames,
          steps: result.steps,
          timesteps: result.timesteps,
          loraScale: result.loraScale,
          timings: result.timings,
          fitPlan: prepared.plan,
          fittedStart: await rgbaToPng(prepared.start),
          fittedEnd: await rgbaToPng(prepared.end),
        };
      } finally {
        req.start.close();
        req.end.close();
        cancelled.delete(req.jobId);
      }
    },
  ),

  cancel(jobId: number) {
    cancelled.add(jobId);
  },
};

function bitmapToRgba(bmp: ImageBitmap): RgbaImage {
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx)
    throw new Error('This browser cannot read image pixels in a worker (no OffscreenCanvas 2D).');
  ctx.drawImage(bmp, 0, 0);
  const img = ctx.getImageData(0, 0, bmp.width, bmp.height);
  return { width: img.width, height: img.height, data: img.data };
}

async function rgbaToPng(img: RgbaImage): Promise<Blob> {
  const canvas = new OffscreenCanvas(img.width, img.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('This browser cannot draw images in a worker (no OffscreenCanvas 2D).');
  ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

// ORT's pthread workers are started from the same script URL in some builds; only the real worker exposes the API.
if (!self.name?.startsWith('em-pthread')) {
  Comlink.expose(api);
}
