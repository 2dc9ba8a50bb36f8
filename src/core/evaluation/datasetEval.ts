/**
 * A dataset evaluation's work (issue 19), one implementation for the CLI (src/node/evalDataset.ts,
 * onnxruntime-node) and the page (the Evaluate-dataset panel: the inference and metrics workers,
 * onnxruntime-web), so both give the same numbers for the same plan:
 *
 * - `generateItem` — one variant's configurations (and the anchors) on one item: `interpolate` on
 *   the fitted keyframes at the item's τ (KDQ: the clip frame `kdqClipFrame`), each frame restored
 *   to the item's size;
 * - `scoreColumn` — those frames against the ground truth under the protocol: one `ResultLine`;
 * - `runEvaluation` — the loop: variant by variant (one variant's graphs loaded at a time), item by
 *   item, skipping what is already done (resume), recording an item whose frames cannot be read as
 *   a problem and going on, and scoring item i while item i + 1 is generated.
 *
 * Pure apart from the graphs it is handed: no file system, no workers.
 */
import { describePick } from '../clip';
import type { Flow } from '../farneback';
import { tecoganCrop, tofDifference, tofFlows } from '../farnebackOpenCV';
import { anchorMotion, flowWarpInbetween } from '../flowWarp';
import type { GraphRunner } from '../graph';
import { createRgbaImage, cropImage, resizeImage, type FitChoice, type RgbaImage } from '../image';
import { computeLpips } from '../lpips';
import { clipLengthOf, type PackManifest } from '../manifest';
import { psnr, ssim, SSIM_WINDOW } from '../metrics';
import {
  interpolate,
  MAX_INBETWEENS,
  prepareKeyframes,
  restoreFrame,
  type EncodedKeyframes,
  type PipelineHooks,
  type PreparedKeyframes,
  type VariantGraphs,
} from '../pipeline';
import { scoreImages, type LpipsGraph, type ScoringOptions } from '../scoring';
import { shardOf, type DatasetDescription, type DatasetItem, type SequenceMode } from './dataset';
import {
  ANCHORS,
  defaultReference,
  itemMetrics,
  planDatasetRun,
  type PlanOptions,
  KDQ_SIZE,
  PROTOCOLS,
  type FrameScores,
  type ProtocolId,
  type ResultLine,
  type RunConfig,
  type RunInfo,
} from './datasetRun';

/** An item's frames, decoded: keyframes and ground truth, all of one size. */
export interface LoadedItem {
  start: RgbaImage;
  end: RgbaImage;
  truth: RgbaImage[];
}

/**
 * An item from its decoded frames in order (start, truth…, end); throws naming the sizes when
 * they differ within the item.
 */
export function assembleItem(paths: readonly string[], images: readonly RgbaImage[]): LoadedItem {
  const sizes = images.map((img) => `${img.width}×${img.height}`);
  if (new Set(sizes).size > 1) {
    const named = paths.map((p, i) => `${p.slice(p.lastIndexOf('/') + 1)} ${sizes[i]}`);
    throw new Error(`sizes differ within the item: ${named.join(', ')}`);
  }
  return { start: images[0]!, end: images.at(-1)!, truth: images.slice(1, -1) };
}

/** The item as the protocol scores it: KDQ resizes every frame (non-uniformly) to 512×320. */
export function itemForProtocol(item: LoadedItem, protocol: ProtocolId): LoadedItem {
  if (protocol !== 'kdq') return item;
  const [w, h] = KDQ_SIZE;
  return {
    start: resizeImage(item.start, w, h),
    end: resizeImage(item.end, w, h),
    truth: item.truth.map((t) => resizeImage(t, w, h)),
  };
}

/** Per-pixel (1 − τ)·a + τ·b, rounded: the frame-blend anchor. */
export function blendAt(a: RgbaImage, b: RgbaImage, tau: number): RgbaImage {
  const out = createRgbaImage(a.width, a.height);
  for (let i = 0; i < a.data.length; i++)
    out.data[i] = Math.round((1 - tau) * a.data[i]! + tau * b.data[i]!);
  return out;
}

/**
 * The clip frame (0-based) the KDQ protocol scores in a clip of `clipLength` frames: index T/2 for
 * an even T, as the research's evaluation takes it (frame 8 of 16, τ 8/15), and the exact middle
 * ⌊T/2⌋ (τ = ½) for an odd T.
 */
export function kdqClipFrame(clipLength: number): number {
  return Math.floor(clipLength / 2);
}

/** One column of the table for one item: a configuration's (or anchor's) frames at the item's size. */
export interface GeneratedColumn {
  /** A configuration id or an anchor id. */
  config: string;
  frames: RgbaImage[];
  /** Model time (denoise + decode), ms; absent for anchors. */
  ms?: number;
  /** Clip packs: which clip frames were scored. */
  picked?: string;
}

export interface GenerateRequest {
  manifest: PackManifest;
  /** The loaded graphs of the configurations' one variant. */
  graphs: VariantGraphs;
  item: Pick<DatasetItem, 'tau'>;
  /** The item's frames, already as the protocol scores them (`itemForProtocol`). */
  loaded: Pick<LoadedItem, 'start' | 'end'>;
  fit: FitChoice;
  protocol: ProtocolId;
  /** Configurations of one variant to run. */
  configs: readonly RunConfig[];
  /** Anchors to make as well. */
  anchors: readonly string[];
  /** The configuration whose variant the runs load (the first of the group's). */
  flowConfig: RunConfig;
  hooks?: Pick<PipelineHooks, 'isCancelled'>;
}

/** Runs one variant's configurations and makes the anchors on one item (see the module comment). */
export async function generateItem(req: GenerateRequest): Promise<GeneratedColumn[]> {
  const { manifest, graphs, loaded, item } = req;
  const variant = manifest.variants.find((v) => v.id === req.flowConfig.variant)!;
  const clip = clipLengthOf(manifest);
  let prepared: PreparedKeyframes | null = null;
  const prepare = () =>
    (prepared ??= prepareKeyframes(manifest, loaded.start, loaded.end, req.fit));
  let encoded: EncodedKeyframes | undefined;
  const run = async (c: RunConfig) => {
    const res = await interpolate({
      manifest,
      variant,
      graphs,
      keyframes: prepare(),
      settings: {
        count: item.tau.length,
        steps: c.steps,
        seed: c.seed,
        ...(c.loraScale !== null ? { loraScale: c.loraScale } : {}),
        ...(c.guidanceScale !== null ? { guidanceScale: c.guidanceScale } : {}),
        ...(req.protocol === 'kdq' && clip !== null ? { clipFrames: [kdqClipFrame(clip)] } : {}),
      },
      ...(encoded ? { encoded } : {}),
      ...(req.hooks ? { hooks: req.hooks } : {}),
    });
    encoded = res.encoded;
    return res;
  };
  const out: GeneratedColumn[] = [];
  for (const c of req.configs) {
    const res = await run(c);
    out.push({
      config: c.id,
      frames: res.modelFrames.map((f) => restoreFrame(f, prepare().plan, loaded.start)),
      ms: Math.round((res.timings.denoiseMs + res.timings.decodeMs) * 10) / 10,
      ...(res.clip ? { picked: describePick(res.clip.picked, clip!) } : {}),
    });
  }
  for (const a of req.anchors) {
    let frames: RgbaImage[];
    if (a === 'anchor:blend') frames = item.tau.map((t) => blendAt(loaded.start, loaded.end, t));
    else if (a === 'anchor:repeat') frames = item.tau.map(() => loaded.start);
    else if (a === 'anchor:flow') {
      const p = prepare();
      const motion = anchorMotion(p.start, p.end);
      frames = item.tau.map((t) =>
        restoreFrame(flowWarpInbetween(p.start, p.end, motion, t), p.plan, loaded.start),
      );
    } else throw new Error(`unknown anchor "${a}"`);
    out.push({ config: a, frames });
  }
  return out;
}

/** The LPIPS graphs a protocol scores with, and why one is missing. */
export interface EvalScorers {
  /** The studio protocol's scoring (LPIPS-Alex; also tLP). */
  studio: ScoringOptions;
  /** KDQ's LPIPS-VGG, or null with `vggMissing` saying why. */
  vgg: LpipsGraph | null;
  vggMissing: string;
}

/** Scores one column's frames against the item's ground truth under the protocol. */
export async function scoreColumn(
  item: Pick<DatasetItem, 'id' | 'split' | 'category' | 'tau'>,
  column: GeneratedColumn,
  loaded: LoadedItem,
  protocol: ProtocolId,
  scorers: EvalScorers,
): Promise<ResultLine> {
  const names = PROTOCOLS[protocol].metrics;
  const unavailable: Record<string, string> = {};
  const scored: FrameScores[] = [];
  const { frames } = column;
  for (const [i, frame] of frames.entries()) {
    const truth = loaded.truth[i]!;
    if (protocol === 'studio') {
      const s = await scoreImages(truth, frame, {
        ...scorers.studio,
        names: ['the ground truth', 'the in-between'],
      });
      for (const m of names) {
        const why = s.unavailable[m as keyof typeof s.unavailable];
        if (why) unavailable[m] = why;
      }
      scored.push({
        tau: item.tau[i]!,
        metrics: { psnr: s.psnr, ssim: s.ssim, lpipsAlex: s.lpipsAlex },
      });
    } else {
      const vgg = scorers.vgg;
      if (!vgg) unavailable['lpipsVgg'] = scorers.vggMissing;
      const lpipsVgg = vgg
        ? (
            await computeLpips(vgg.runner, truth, frame, {
              ...(vgg.minSide !== undefined ? { minSide: vgg.minSide } : {}),
            })
          ).distance
        : null;
      scored.push({
        tau: item.tau[i]!,
        metrics: {
          psnr: psnr(truth, frame),
          ssimGray7: ssim(truth, frame, { channel: 'gray', window: 'uniform7' }),
          lpipsVgg,
        },
      });
    }
  }
  const { metrics, exactFrames } = itemMetrics(scored, names);
  const { width: w, height: h } = loaded.start;
  if (protocol === 'studio' && frames.length >= 2 && w >= SSIM_WINDOW && h >= SSIM_WINDOW) {
    const alex = scorers.studio.lpips?.alex;
    // tLP scores TecoGAN's crop of each frame: that is what LPIPS must fit.
    const [x0, x1] = tecoganCrop(w);
    const [y0, y1] = tecoganCrop(h);
    const min = alex?.minSide ?? 31;
    const fits = alex && x1 - x0 >= min && y1 - y0 >= min;
    const t = await temporalMetrics(
      [loaded.start, ...frames, loaded.end],
      [loaded.start, ...loaded.truth, loaded.end],
      fits ? alex.runner : null,
    );
    Object.assign(metrics, t);
    if (t.tLP === null)
      unavailable['tLP'] = scorers.studio.lpipsMissing?.('alex') ?? 'no LPIPS graph';
  }
  return {
    item: item.id,
    config: column.config,
    split: item.split,
    category: item.category,
    frames: scored,
    metrics,
    ...(Object.keys(exactFrames).length ? { exactFrames } : {}),
    ...(Object.keys(unavailable).length ? { unavailable } : {}),
    ...(column.picked ? { picked: column.picked } : {}),
    ...(column.ms !== undefined ? { ms: column.ms } : {}),
  };
}

/** Flows between ground-truth frames, kept while the frames live: one item's columns share them. */
const truthFlows = new WeakMap<RgbaImage, WeakMap<RgbaImage, Flow>>();
/**
 * The tOF flows of each consecutive pair of the ground truth (`tofFlows`), from the cache when it has
 * them all.
 */
function cachedFlows(truth: readonly RgbaImage[]): Flow[] {
  const pairs = truth.slice(1).map((b, t) => [truth[t]!, b] as const);
  const cached = pairs.map(([a, b]) => truthFlows.get(a)?.get(b));
  if (cached.every((f) => f !== undefined)) return cached;
  const flows = tofFlows(truth);
  pairs.forEach(([a, b], t) => {
    let inner = truthFlows.get(a);
    if (!inner) truthFlows.set(a, (inner = new WeakMap()));
    inner.set(b, flows[t]!);
  });
  return flows;
}

/** The frame cut to TecoGAN's centred crop (`tecoganCrop` on each side). */
function tecoganCropImage(img: RgbaImage): RgbaImage {
  const [x0, x1] = tecoganCrop(img.width);
  const [y0, y1] = tecoganCrop(img.height);
  return cropImage(img, x0, y0, x1 - x0, y1 - y0);
}

/**
 * Temporal metrics of a predicted sequence against the ground truth's, each over the consecutive
 * pairs of the whole sequence, keyframes included (docs/metrics.md "Temporal metrics"):
 * `ssimF2F` — frame-to-frame SSIM of the prediction (the AnimateDiff-LoRA research's consistency
 * measure); `ssimF2FTruth` — the same of the ground truth, the value to compare it with; `tLP` —
 * TecoGAN's temporal LPIPS as its metrics.py reports it (tLP×100): 100 · mean
 * |LPIPS(p[t−1], p[t]) − LPIPS(g[t−1], g[t])| with LPIPS-Alex on TecoGAN's centred crop (`crop_8x8`);
 * `tOF` — TecoGAN's temporal optical-flow difference, the mean norm of OF(p[t−1], p[t]) −
 * OF(g[t−1], g[t]) over the same crop, with OpenCV's Farnebäck at TecoGAN's settings
 * (src/core/farnebackOpenCV.ts).
 */
export async function temporalMetrics(
  pred: readonly RgbaImage[],
  truth: readonly RgbaImage[],
  lpipsAlex: GraphRunner | null,
): Promise<{ ssimF2F: number; ssimF2FTruth: number; tLP: number | null; tOF: number }> {
  let f2f = 0;
  let f2fTruth = 0;
  let tlp = 0;
  let tof = 0;
  const pairs = pred.length - 1;
  const predFlows = tofFlows(pred);
  const flowsOfTruth = cachedFlows(truth);
  const predCrops = lpipsAlex ? pred.map(tecoganCropImage) : [];
  const truthCrops = lpipsAlex ? truth.map(tecoganCropImage) : [];
  for (let t = 1; t < pred.length; t++) {
    f2f += ssim(pred[t - 1]!, pred[t]!);
    f2fTruth += ssim(truth[t - 1]!, truth[t]!);
    if (lpipsAlex) {
      const a = await computeLpips(lpipsAlex, predCrops[t - 1]!, predCrops[t]!);
      const b = await computeLpips(lpipsAlex, truthCrops[t - 1]!, truthCrops[t]!);
      tlp += Math.abs(a.distance - b.distance);
    }
    tof += tofDifference(predFlows[t - 1]!, flowsOfTruth[t - 1]!);
  }
  return {
    ssimF2F: f2f / pairs,
    ssimF2FTruth: f2fTruth / pairs,
    tLP: lpipsAlex ? (100 * tlp) / pairs : null,
    tOF: tof / pairs,
  };
}

/** The key of one (item, column) in a run's records. */
export const lineKey = (item: string, config: string) => `${item}\u0000${config}`;

/** The runner's view of where the work happens (Node in-process, or the page's workers). */
export interface EvalEngine {
  /** Reads and checks an item's frames (throws a one-line message naming the file or sizes). */
  loadItem(item: DatasetItem): Promise<LoadedItem>;
  /** Makes `variant` the one `generate` runs (loading its graphs, releasing the previous). */
  useVariant(variant: string): Promise<void>;
  /** `generateItem` with the current variant's graphs. */
  generate(
    req: Omit<GenerateRequest, 'manifest' | 'graphs' | 'fit' | 'protocol'>,
  ): Promise<GeneratedColumn[]>;
  /** `scoreColumn` for every column of one item. */
  score(item: DatasetItem, columns: GeneratedColumn[], loaded: LoadedItem): Promise<ResultLine[]>;
  /** Records a line (appends it to results.jsonl, or stores it in IndexedDB). */
  emit(line: ResultLine): Promise<void> | void;
  /** Records an item whose frames cannot be read. */
  problem(item: string, message: string): Promise<void> | void;
}

/** What `runEvaluation` needs besides the engine. */
export interface EvalLoop {
  info: RunInfo;
  /** The dataset's items this run covers (`info.items`, as items). */
  items: readonly DatasetItem[];
  /** Lines already recorded, by `lineKey`. */
  done: ReadonlySet<string>;
  /** Items already recorded as problems. */
  failed: ReadonlySet<string>;
  protocol: ProtocolId;
  /** Called after each line with lines written and the lines this run will write. */
  onProgress?: (done: number, total: number, item: string) => void;
  /** Checked between items (and, through `generate`'s hooks, between denoising steps). */
  isCancelled?: () => boolean;
}

/** The lines a run still has to write, with the variant each column runs on. */
export function remainingWork(loop: Pick<EvalLoop, 'info' | 'items' | 'done' | 'failed'>) {
  const { info } = loop;
  const variants = [...new Set(info.configs.map((c) => c.variant))];
  const groups = variants.map((variant, i) => ({
    variant,
    configs: info.configs.filter((c) => c.variant === variant),
    // The anchors need no graph: they are made once, on the first variant's pass.
    anchors: i === 0 ? info.anchors : [],
  }));
  let total = 0;
  for (const g of groups) {
    for (const item of loop.items) {
      if (loop.failed.has(item.id)) continue;
      for (const c of [...g.configs.map((x) => x.id), ...g.anchors])
        if (!loop.done.has(lineKey(item.id, c))) total++;
    }
  }
  return { groups, total };
}

/** Runs (or resumes) the loop of the module comment; returns the lines and problems written. */
export async function runEvaluation(
  loop: EvalLoop,
  engine: EvalEngine,
): Promise<{ written: number; problems: number; cancelled: boolean }> {
  const { groups, total } = remainingWork(loop);
  const done = new Set(loop.done);
  const failed = new Set(loop.failed);
  const cancelled = () => loop.isCancelled?.() ?? false;
  let written = 0;
  let problems = 0;
  for (const g of groups) {
    const columnsOf = (item: DatasetItem) => ({
      configs: g.configs.filter((c) => !done.has(lineKey(item.id, c.id))),
      anchors: g.anchors.filter((a) => !done.has(lineKey(item.id, a))),
    });
    const todo = loop.items.filter((item) => {
      if (failed.has(item.id)) return false;
      const c = columnsOf(item);
      return c.configs.length + c.anchors.length > 0;
    });
    if (todo.length === 0) continue;
    if (cancelled()) break;
    await engine.useVariant(g.variant);
    // Scoring of the previous item runs while the next is generated.
    let scoring: Promise<void> = Promise.resolve();
    const score = async (item: DatasetItem, columns: GeneratedColumn[], loaded: LoadedItem) => {
      for (const line of await engine.score(item, columns, loaded)) {
        await engine.emit(line);
        done.add(lineKey(item.id, line.config));
        written++;
        loop.onProgress?.(written, total, item.id);
      }
    };
    try {
      for (const item of todo) {
        if (cancelled()) break;
        let loaded: LoadedItem;
        try {
          loaded = itemForProtocol(await engine.loadItem(item), loop.protocol);
        } catch (e) {
          await engine.problem(item.id, (e as Error).message);
          failed.add(item.id);
          problems++;
          continue;
        }
        const want = columnsOf(item);
        const columns = await engine.generate({
          item,
          loaded,
          configs: want.configs,
          anchors: want.anchors,
          flowConfig: g.configs[0]!,
          ...(loop.isCancelled ? { hooks: { isCancelled: loop.isCancelled } } : {}),
        });
        await scoring;
        scoring = score(item, columns, loaded);
        // A failure surfaces at the next `await scoring`; keep it from being reported unhandled first.
        scoring.catch(() => undefined);
      }
    } finally {
      await scoring;
    }
  }
  return { written, problems, cancelled: cancelled() };
}

/** Everything that decides a run besides the pack and the dataset's files. */
export interface RunOptions extends PlanOptions {
  protocol: ProtocolId;
  fit: FitChoice;
  split: string | null;
  sequence: SequenceMode;
  shard: { index: number; count: number } | null;
  /** Where the pack and the dataset are, as run.json records them (a path, or a folder's name). */
  packDir: string;
  datasetDir: string;
}

/**
 * A run's record (run.json) and the items it covers, from the pack, the dataset's description and
 * the options; throws naming a bad option (a variant the pack lacks, KDQ on longer gaps, keyframes
 * further apart than the pack has in-betweens for) before anything is written.
 */
export function describeRun(
  manifest: PackManifest,
  dataset: DatasetDescription,
  opts: RunOptions,
): { info: RunInfo; items: DatasetItem[] } {
  if (!PROTOCOLS[opts.protocol])
    throw new Error(`the protocol must be studio or kdq, got "${String(opts.protocol)}"`);
  const configs = planDatasetRun(manifest, opts);
  if (opts.sequence !== 'triplets') {
    const k = opts.sequence.keyframesEvery;
    const clip = clipLengthOf(manifest);
    const most = clip !== null ? clip - 2 : MAX_INBETWEENS;
    if (k - 1 > most) {
      const pack = clip !== null ? `a ${clip}-frame clip pack` : 'a pack';
      throw new Error(
        `keyframes every ${k} frames asks for ${k - 1} in-betweens per item, and ${pack} makes at most ${most}: take keyframes every ${most + 1} frames or fewer`,
      );
    }
  }
  if (opts.protocol === 'kdq' && dataset.items.some((i) => i.truth.length !== 1)) {
    throw new Error(
      'the ToonCrafter-KDQ protocol scores triplets (one in-between); this dataset has longer gaps',
    );
  }
  const { shard } = opts;
  const items = shard
    ? dataset.items.filter((i) => shardOf(i.id, shard.count) === shard.index)
    : dataset.items;
  const info: RunInfo = {
    format: 'inbetween-eval',
    version: 1,
    pack: { id: manifest.id, version: manifest.version, dir: opts.packDir },
    dataset: {
      dir: opts.datasetDir,
      split: opts.split,
      sequence: opts.sequence === 'triplets' ? 'triplets' : `every:${opts.sequence.keyframesEvery}`,
      items: dataset.items.length,
    },
    protocol: opts.protocol,
    fit: opts.fit,
    configs,
    anchors: [...ANCHORS],
    reference: defaultReference(manifest, configs),
    shard,
    items: items.map((i) => i.id),
    datasetProblems: dataset.problems,
  };
  return { info, items };
}
