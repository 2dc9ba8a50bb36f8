/**
 * Everything that crosses the boundary between the page and the inference worker: plain data,
 * typed arrays, Blobs and ImageBitmaps only. The page imports this module and the worker's API
 * type (with `import type`), never the worker's code.
 */
import type { DatasetItem } from '../core/evaluation/dataset';
import type { GeneratedColumn, LoadedItem } from '../core/evaluation/datasetEval';
import type { ProtocolId, ResultLine, RunConfig } from '../core/evaluation/datasetRun';
import type { FitChoice, FitPlan, RgbaImage } from '../core/image';
import type { PackManifest } from '../core/manifest';
import type { BenchmarkOptions, BenchmarkResult, MetricsBenchmark } from '../core/benchmark';
import type { ResolvedControls } from '../core/clip';
import type { RunSettings, RunTimings, StepRecord } from '../core/pipeline';
import type { SamplerName } from '../core/samplers';
import type { ImageScores } from '../core/scoring';

/** What the worker's memory probe read: WASM heap and WebGPU buffer peak. */
export interface MemoryReading {
  /** Bytes of WASM linear memory in this worker; null before any instance exists. */
  wasmHeapBytes: number | null;
  /** Most WebGPU buffer bytes live at once; null when no buffer was ever created here. */
  gpuPeakBytes: number | null;
}

/** Where a pack's files come from. */
export type PackSource =
  /** A folder on a web server: files are fetched relative to `baseUrl` (ending in "/"). */
  | { kind: 'url'; baseUrl: string; label: string }
  /** A folder the person dropped or picked: relative file name → file. */
  | { kind: 'files'; files: Record<string, Blob>; label: string }
  /** Files come from the IndexedDB cache; one never cached there is fetched from `baseUrl` (the web
   * folder the pack was first loaded from), or, without one, is an error. */
  | { kind: 'cache'; label: string; baseUrl?: string };

export type BackendName = 'webgpu' | 'wasm';
export type BackendPreference = 'auto' | BackendName;

/** What the worker found and chose. */
export interface BackendInfo {
  backend: BackendName;
  /** One sentence: why this backend. */
  reason: string;
  webgpuAdapter: boolean;
  fallbackAdapter: boolean;
  shaderF16: boolean;
  wasmThreads: number;
  crossOriginIsolated: boolean;
}

/** One typed progress shape for the whole job (src/core/progress.ts), throttled by the worker. */
export type { JobProgress } from '../core/progress';
import type { JobProgress } from '../core/progress';

export interface LoadVariantRequest {
  /** With a job id, `cancel(jobId)` stops the load, downloads included. */
  jobId?: number;
  manifest: PackManifest;
  source: PackSource;
  variantId: string;
  backend: BackendPreference;
}

export interface LoadVariantResult {
  backend: BackendInfo;
  /** Session creation time per graph that was (re)created, ms. */
  sessionMs: Record<string, number>;
  downloadedFiles: string[];
  cachedFiles: string[];
  warnings: string[];
}

export interface RunRequest {
  jobId: number;
  /**
   * The variant the caller loaded for this run. Loading and running are two calls: another job's
   * load can come between them, and the run must then fail rather than run the other variant.
   */
  variantId: string;
  start: ImageBitmap;
  end: ImageBitmap;
  fitMode: FitChoice;
  settings: RunSettings;
}

export interface RunFrame {
  position: number;
  /** PNG at the keyframes' size. */
  png: Blob;
  width: number;
  height: number;
}

export interface RunResult {
  jobId: number;
  packId: string;
  variantId: string;
  backend: BackendName;
  frames: RunFrame[];
  stepStats: StepRecord[];
  timesteps: number[];
  sampler: SamplerName;
  loraScale: number | null;
  /** The model's part: encode, denoise and decode (src/core/pipeline.ts). */
  timings: RunTimings;
  /**
   * The job's time in the worker that is not the model's, ms: the keyframes read, fitted and
   * hashed, the frames restored to the keyframes' size and PNG-encoded.
   */
  imageMs: number;
  fitPlan: FitPlan;
  /** The keyframes as the model saw them (after fitting), PNG. */
  fittedStart: Blob;
  fittedEnd: Blob;
  /**
   * Clip packs (format 2): which clip frames were shown ("frames 5, 8, 11 of the 16-frame clip …")
   * and the controls the run used.
   */
  clip?: { pickedText: string; controls: ResolvedControls; clipLength: number };
}

/** One item of a dataset evaluation for the loaded variant (src/core/evaluation/datasetEval.ts). */
export interface EvalGenerateRequest {
  jobId: number;
  /** The variant the request is for; the worker refuses it when another is loaded. */
  variantId: string;
  item: { tau: number[] };
  /** The keyframes as the protocol scores them (KDQ: already 512×320). */
  loaded: { start: RgbaImage; end: RgbaImage };
  fit: FitChoice;
  protocol: ProtocolId;
  configs: RunConfig[];
  anchors: string[];
  flowConfig: RunConfig;
}

/** The worker's API, exposed with comlink. */
export interface InferenceApi {
  /** Fetches (or reads from cache), verifies and loads the graphs of one variant. */
  loadVariant(
    req: LoadVariantRequest,
    onProgress: (p: JobProgress) => void,
  ): Promise<LoadVariantResult>;
  /** Runs the loaded variant. Rejects with name "RunCancelledError" when cancelled. */
  run(req: RunRequest, onProgress: (p: JobProgress) => void): Promise<RunResult>;
  /**
   * A dataset evaluation's item: the loaded variant's configurations and the anchors, frames at
   * the item's size. Rejects with name "RunCancelledError" when cancelled.
   */
  evalGenerate(req: EvalGenerateRequest): Promise<GeneratedColumn[]>;
  /** Times the loaded variant (ms per denoiser step, decode, in-between) on this backend. */
  benchmark(
    opts: BenchmarkOptions,
  ): Promise<BenchmarkResult & { backend: BackendName; memory: MemoryReading }>;
  /** Times `count` in-betweens of the loaded variant (`timeInbetweens` in src/core/benchmark.ts). */
  timeInbetweens(count: number): Promise<number[]>;
  /**
   * Asks job `jobId` to stop: a run after its current step, a load at once (its download is
   * aborted). Sessions already created stay loaded.
   */
  cancel(jobId: number): void;
  /**
   * The worker's memory as the browser exposes it (src/workers/memoryProbe.ts): ONNX Runtime's WASM
   * heap now, the most WebGPU buffer bytes live at once. Answered at once, also during a run.
   */
  memory(): MemoryReading;
}

// ---- Metrics worker -------------------------------------------------------------------------------

/** Which LPIPS graphs the metrics worker has loaded. */
export interface LpipsStatus {
  available: ('alex' | 'squeeze')[];
  /** Why LPIPS is unavailable or partial (one sentence for people), or null. */
  message: string | null;
  backend: BackendName | null;
}

export interface ScoreRequest {
  /** The in-between to score (PNG at the keyframes' size). */
  result: Blob;
  groundTruth: Blob;
}

/**
 * The scoring result of src/core/scoring.ts (`ImageScores`, one name per metric) as the page gets
 * it: images instead of the LPIPS map's numbers, and the reasons for missing LPIPS in one note.
 */
export interface ScoreResult extends Pick<
  ImageScores,
  'width' | 'height' | 'psnr' | 'lpipsAlex' | 'lpipsSqueeze'
> {
  /** The worker refuses a frame under SSIM's window (11 px a side), so SSIM always has a value. */
  ssim: number;
  ssimLuma: number;
  /** Why an LPIPS value is missing, or null. */
  lpipsNote: string | null;
  /** Per-pixel mean |result − ground truth| over RGB, colour-mapped (metrics.ts HEATMAP_RAMP), PNG. */
  heatmap: Blob;
  /** LPIPS-Alex spatial distance map, same ramp on 0…1, PNG; null without LPIPS. */
  lpipsMap: Blob | null;
  elapsedMs: number;
}

export interface EvalScoreRequest {
  item: Pick<DatasetItem, 'id' | 'split' | 'category' | 'tau'>;
  columns: GeneratedColumn[];
  loaded: LoadedItem;
  protocol: ProtocolId;
}

/** The metrics worker's API, exposed with comlink. */
export interface MetricsApi {
  /**
   * Reads and checks the LPIPS manifest of a source (URL, picked files or the cache) without
   * loading any graph: `available` lists the backbones it has (`backend` null).
   */
  findLpips(source: PackSource): Promise<LpipsStatus>;
  /** Loads the LPIPS graphs from a folder (URL or picked files) or the cache. */
  loadLpips(source: PackSource, onProgress: (p: JobProgress) => void): Promise<LpipsStatus>;
  /** Scores a result against a ground-truth frame (same size, else a clear error). */
  score(req: ScoreRequest): Promise<ScoreResult>;
  /**
   * Loads LPIPS-VGG (the ToonCrafter-KDQ protocol's metric) from the source LPIPS came from, when
   * its manifest lists it; says why not otherwise.
   */
  loadLpipsVgg(source: PackSource): Promise<{ available: boolean; message: string | null }>;
  /** Scores a dataset item's columns under a protocol (src/core/evaluation/datasetEval.ts). */
  evalScore(req: EvalScoreRequest): Promise<ResultLine[]>;
  /** Times each metric on one pair (benchmark). */
  benchmark(req: ScoreRequest & { repeats: number }): Promise<MetricsBenchmark>;
}
