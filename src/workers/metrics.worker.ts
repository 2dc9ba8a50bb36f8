/**
 * The metrics worker: PSNR, SSIM (RGB and luma) and LPIPS (AlexNet, SqueezeNet) of a result against
 * its ground truth, off the main thread, with the same src/core code as the CLI. LPIPS graphs are
 * third-party weights built by models/training/export_lpips.py: loaded from the server's
 * /models/lpips/ when present, or from a folder the person picks, verified and cached in IndexedDB.
 */
import * as Comlink from 'comlink';
import { benchmarkMetrics } from '../core/benchmark';
import { MANIFEST_TIMEOUT_MS, withinTime } from '../core/fetchFailure';
import type { GraphRunner } from '../core/graph';
import { parseLpipsManifest, type LpipsBackbone } from '../core/lpips';
import { absDiffHeatmap } from '../core/metrics';
import { LPIPS_BACKBONE_NAMES, lpipsMapImage, scoreImages } from '../core/scoring';
import { getCachedPack, saveCachedPack } from '../shared/packCache';
import { createSession, probeGpu } from './ortEnv';
import { obtainFile } from './packFiles';
import { throttleProgress } from '../core/progress';
import { scoreColumn, type EvalScorers } from '../core/evaluation/datasetEval';
import type { ResultLine } from '../core/evaluation/datasetRun';
import type {
  EvalScoreRequest,
  BackendName,
  LpipsStatus,
  MetricsApi,
  PackSource,
  ScoreRequest,
  ScoreResult,
} from '../shared/protocol';
import { blobToRgba, rgbaToPng } from '../shared/images';

/** Cache id of the LPIPS graphs (keyed with each file's sha256 like any pack). */
const LPIPS_CACHE_ID = 'lpips-v0.1';
const HOW_TO_GET =
  'LPIPS is unavailable: build its graphs with `/usr/bin/python3 models/training/export_lpips.py` (see docs/metrics.md) or load them with "Load LPIPS graphs".';

/** The backbones the studio scores with (VGG is loaded apart, for the KDQ protocol). */
const BACKBONES = ['alex', 'squeeze'] as const;
const lpips = new Map<LpipsBackbone, GraphRunner>();
let lpipsBackend: BackendName | null = null;
/** LPIPS-VGG (the KDQ protocol's metric), loaded only when a dataset evaluation asks for it. */
let vgg: { runner: GraphRunner; minSide: number } | null = null;
/** Why `vgg` is null: how to build its graph. */
const VGG_HOW_TO =
  "LPIPS-VGG is not measured: its graph needs torchvision's ImageNet VGG-16 — build it with `/usr/bin/python3 models/training/export_lpips.py --vgg-weights vgg.pth vgg16-397923af.pth` (docs/metrics.md) and reload.";

/** The metric's graphs and missing-graph sentences as the dataset evaluation scores with them. */
function evalScorers(): EvalScorers {
  return {
    studio: {
      lpips: Object.fromEntries([...lpips].map(([backbone, runner]) => [backbone, { runner }])),
      lpipsMissing: (backbone) =>
        lpips.size ? `No LPIPS ${LPIPS_BACKBONE_NAMES[backbone]} graph is loaded.` : HOW_TO_GET,
    },
    vgg,
    vggMissing: VGG_HOW_TO,
  };
}

/**
 * The LPIPS manifest.json at `baseUrl`, given up after MANIFEST_TIMEOUT_MS with a message: a server
 * that takes the connection and never answers would leave the Evaluate panel looking for LPIPS
 * graphs forever, without its "load them from a folder" way out.
 */
function fetchManifest(baseUrl: string): Promise<unknown> {
  return withinTime(
    MANIFEST_TIMEOUT_MS,
    async (signal) => {
      const res = await fetch(new URL('manifest.json', baseUrl), { signal });
      if (!res.ok) throw new Error(`no LPIPS graphs at ${baseUrl} (${res.status})`);
      return (await res.json()) as unknown;
    },
    (cause) =>
      new Error(
        `no LPIPS graphs at ${baseUrl}: the server did not answer within ${MANIFEST_TIMEOUT_MS / 1000} s`,
        { cause },
      ),
  );
}

async function readManifest(source: PackSource): Promise<unknown> {
  if (source.kind === 'url') return fetchManifest(source.baseUrl);
  if (source.kind === 'files') {
    const m = source.files['manifest.json'];
    if (!m)
      throw new Error(
        'the chosen folder has no manifest.json (build it with models/training/export_lpips.py)',
      );
    return JSON.parse(await m.text());
  }
  const cached = await getCachedPack(LPIPS_CACHE_ID);
  if (!cached) throw new Error('no LPIPS graphs are cached');
  return cached.manifest;
}

const api: MetricsApi = {
  benchmark: (req) => benchmark(req),

  async findLpips(source): Promise<LpipsStatus> {
    try {
      const manifest = parseLpipsManifest(await readManifest(source));
      const listed = BACKBONES.filter((b) => manifest.graphs[b]);
      const none = 'its manifest lists neither the alex nor the squeeze graph';
      return { available: listed, message: listed.length ? null : none, backend: null };
    } catch (e) {
      return { available: [], message: (e as Error).message, backend: null };
    }
  },
  async loadLpips(source, onProgress): Promise<LpipsStatus> {
    let manifest;
    try {
      manifest = parseLpipsManifest(await readManifest(source));
    } catch (e) {
      return { available: [...lpips.keys()], message: (e as Error).message, backend: lpipsBackend };
    }
    const gpu = await probeGpu();
    const backend: BackendName = gpu.adapter && !gpu.fallback ? 'webgpu' : 'wasm';
    const warnings: string[] = [];
    const progress = throttleProgress(onProgress);
    for (const backbone of BACKBONES) {
      const spec = manifest.graphs[backbone];
      if (!spec || (lpips.has(backbone) && lpipsBackend === backend)) continue;
      const { bytes } = await obtainFile(LPIPS_CACHE_ID, source, spec, progress, warnings);
      const what = `the LPIPS ${backbone} graph (${spec.file})`;
      lpips.set(backbone, await createSession(what, backend, bytes));
    }
    lpipsBackend = backend;
    if (source.kind !== 'cache') {
      await saveCachedPack({
        packId: LPIPS_CACHE_ID,
        kind: 'lpips',
        name: 'LPIPS v0.1 graphs',
        trained: true,
        manifest,
        sourceLabel: source.label,
      }).catch(() => undefined);
    }
    return { available: [...lpips.keys()], message: warnings[0] ?? null, backend };
  },

  async loadLpipsVgg(source) {
    if (vgg) return { available: true, message: null };
    try {
      const manifest = parseLpipsManifest(await readManifest(source));
      const spec = manifest.graphs.vgg;
      if (!spec) return { available: false, message: VGG_HOW_TO };
      const gpu = await probeGpu();
      const backend: BackendName = gpu.adapter && !gpu.fallback ? 'webgpu' : 'wasm';
      const warnings: string[] = [];
      const { bytes } = await obtainFile(LPIPS_CACHE_ID, source, spec, () => undefined, warnings);
      const runner = await createSession(`the LPIPS vgg graph (${spec.file})`, backend, bytes);
      vgg = { runner, minSide: spec.minSide };
      return { available: true, message: warnings[0] ?? null };
    } catch (e) {
      return { available: false, message: `${VGG_HOW_TO} (${(e as Error).message})` };
    }
  },

  async evalScore(req: EvalScoreRequest): Promise<ResultLine[]> {
    const scorers = evalScorers();
    const lines: ResultLine[] = [];
    for (const column of req.columns)
      lines.push(await scoreColumn(req.item, column, req.loaded, req.protocol, scorers));
    return lines;
  },

  async score(req: ScoreRequest): Promise<ScoreResult> {
    const t0 = performance.now();
    const [result, gt] = await Promise.all([blobToRgba(req.result), blobToRgba(req.groundTruth)]);
    const s = await scoreImages(gt, result, {
      names: ['The ground truth', 'the in-between'],
      lpips: Object.fromEntries([...lpips].map(([backbone, runner]) => [backbone, { runner }])),
      lpipsMissing: (backbone) =>
        lpips.size ? `No LPIPS ${LPIPS_BACKBONE_NAMES[backbone]} graph is loaded.` : HOW_TO_GET,
    });
    // The page's score row has no place for a missing SSIM yet: such a frame is refused whole.
    if (s.ssim === null || s.ssimLuma === null) throw new Error(s.unavailable.ssim);
    const notes = new Set([s.unavailable.lpipsAlex, s.unavailable.lpipsSqueeze]);
    notes.delete(undefined);
    return {
      width: s.width,
      height: s.height,
      psnr: s.psnr,
      ssim: s.ssim,
      ssimLuma: s.ssimLuma,
      lpipsAlex: s.lpipsAlex,
      lpipsSqueeze: s.lpipsSqueeze,
      lpipsNote: notes.size ? [...notes].join(' ') : null,
      heatmap: await rgbaToPng(absDiffHeatmap(result, gt)),
      lpipsMap: s.lpipsAlexMap ? await rgbaToPng(lpipsMapImage(s.lpipsAlexMap)) : null,
      elapsedMs: performance.now() - t0,
    };
  },
};

/** Times each metric on one pair, LPIPS included when loaded. */
async function benchmark(req: ScoreRequest & { repeats: number }) {
  const [a, b] = await Promise.all([blobToRgba(req.result), blobToRgba(req.groundTruth)]);
  return benchmarkMetrics(
    a,
    b,
    { alex: lpips.get('alex'), squeeze: lpips.get('squeeze') },
    req.repeats,
  );
}

if (!self.name?.startsWith('em-pthread')) {
  Comlink.expose(api);
}
