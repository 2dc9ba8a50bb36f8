/**
 * `inbetween eval` (issue 19): a pack's configurations and the anchors over a dataset folder in
 * onnxruntime-node, one JSON line per (item, configuration) appended to `<out>/results.jsonl` as
 * it goes, items whose frames cannot be read in `<out>/problems.jsonl`, the run's plan in
 * `<out>/run.json`. A shard (`i/n`) takes the items whose id hashes to i; `resume` skips what
 * `results.jsonl` already holds (a line cut short by a kill is dropped), so a run stopped at any
 * point and resumed ends with the same lines as one that never stopped, none twice.
 *
 * The work is src/core's: `interpolate` on fitted keyframes, `restoreFrame` back to the item's
 * size (studio protocol) or 512×320 (KDQ), and the metrics of src/core/metrics.ts and LPIPS.
 */
import { appendFileSync, existsSync, readFileSync, truncateSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describePick } from '../core/clip';
import {
  parseShard,
  shardOf,
  type DatasetItem,
  type SequenceMode,
} from '../core/evaluation/dataset';
import {
  ANCHORS,
  defaultReference,
  itemMetrics,
  KDQ_SIZE,
  planDatasetRun,
  PROTOCOLS,
  runIdentity,
  type FrameScores,
  type PlanOptions,
  type ProtocolId,
  type ResultLine,
  type RunConfig,
  type RunInfo,
} from '../core/evaluation/datasetRun';
import { flowWarpInbetween } from '../core/flowWarp';
import { createRgbaImage, resizeImage, type FitMode, type RgbaImage } from '../core/image';
import type { PackManifest } from '../core/manifest';
import type { GraphRunner } from '../core/graph';
import { computeLpips } from '../core/lpips';
import { psnr, ssim, SSIM_WINDOW } from '../core/metrics';
import {
  interpolate,
  prepareKeyframes,
  restoreFrame,
  type EncodedKeyframes,
  type PreparedKeyframes,
} from '../core/pipeline';
import { scoreImages, type ScoringOptions } from '../core/scoring';
import { loadDatasetItem, openDataset, type LoadedItem } from './dataset';
import {
  loadLpipsGraphs,
  loadVariantGraphs,
  readPackManifest,
  releaseVariantGraphs,
  type LoadedLpipsGraph,
  type LpipsGraphs,
} from './nodeRuntime';
import { lpipsScoringOptions } from './score';

export interface EvalOptions extends PlanOptions {
  pack: string;
  data: string;
  out: string;
  split?: string;
  sequence?: SequenceMode;
  protocol?: ProtocolId;
  fit?: FitMode;
  /** `i/n`, 0-based. */
  shard?: string;
  resume?: boolean;
  lpips?: string;
  threads?: number;
  /** Called after each (item, configuration) with lines done and the total this run will write. */
  onProgress?: (done: number, total: number, item: string) => void;
  /** Says things a person should know (a metric not measured, items skipped). */
  log?: (line: string) => void;
}

export interface EvalSummary {
  info: RunInfo;
  written: number;
  skipped: number;
  itemProblems: number;
}

const RESULTS = 'results.jsonl';
const PROBLEMS = 'problems.jsonl';
const RUN = 'run.json';

/** Per-pixel (1 − τ)·a + τ·b, rounded: the frame-blend anchor. */
export function blendAt(a: RgbaImage, b: RgbaImage, tau: number): RgbaImage {
  const out = createRgbaImage(a.width, a.height);
  for (let i = 0; i < a.data.length; i++)
    out.data[i] = Math.round((1 - tau) * a.data[i]! + tau * b.data[i]!);
  return out;
}

/** The lines already in a results file, by `item \0 config`; a last line cut short is removed. */
export function readResults(path: string): Map<string, ResultLine> {
  const done = new Map<string, ResultLine>();
  if (!existsSync(path)) return done;
  const text = readFileSync(path, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) truncateSync(path, Buffer.byteLength(text.slice(0, end)));
  for (const line of text.slice(0, end).split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as ResultLine;
    done.set(`${r.item}\u0000${r.config}`, r);
  }
  return done;
}

/** Runs (or resumes) an evaluation; see the module comment. */
export async function evaluateDataset(opts: EvalOptions): Promise<EvalSummary> {
  const protocolId = opts.protocol ?? 'studio';
  const protocol = PROTOCOLS[protocolId];
  if (!protocol) throw new Error(`--protocol must be studio or kdq, got "${String(protocolId)}"`);
  const fit = opts.fit ?? 'letterbox';
  const log = opts.log ?? (() => undefined);
  const manifest = await readPackManifest(opts.pack);
  const configs = planDatasetRun(manifest, opts);
  const sequence = opts.sequence ?? 'triplets';
  const dataset = await openDataset(opts.data, {
    ...(opts.split !== undefined ? { split: opts.split } : {}),
    sequence,
  });
  if (protocolId === 'kdq' && dataset.items.some((i) => i.truth.length !== 1)) {
    throw new Error(
      'the ToonCrafter-KDQ protocol scores triplets (one in-between); this dataset has longer gaps',
    );
  }
  const shard = opts.shard !== undefined ? parseShard(opts.shard) : null;
  const items = shard
    ? dataset.items.filter((i) => shardOf(i.id, shard.count) === shard.index)
    : dataset.items;
  const anchors = ANCHORS.filter((a) => a !== 'anchor:flow' || manifest.graphs.motion);
  const info: RunInfo = {
    format: 'inbetween-eval',
    version: 1,
    pack: { id: manifest.id, version: manifest.version, dir: resolve(opts.pack) },
    dataset: {
      dir: resolve(opts.data),
      split: opts.split ?? null,
      sequence: sequence === 'triplets' ? 'triplets' : `every:${sequence.keyframesEvery}`,
      items: dataset.items.length,
    },
    protocol: protocolId,
    fit,
    configs,
    anchors: [...anchors],
    reference: defaultReference(manifest, configs),
    shard,
    items: items.map((i) => i.id),
    datasetProblems: dataset.problems,
  };

  await mkdir(opts.out, { recursive: true });
  const resultsPath = resolve(opts.out, RESULTS);
  const problemsPath = resolve(opts.out, PROBLEMS);
  const runPath = resolve(opts.out, RUN);
  if (existsSync(runPath)) {
    if (!opts.resume) {
      throw new Error(
        `${opts.out} already holds a run (run.json): pass --resume to go on with it, or another --out`,
      );
    }
    const before = JSON.parse(await readFile(runPath, 'utf8')) as RunInfo;
    if (
      runIdentity(before) !== runIdentity(info) ||
      JSON.stringify(before.shard) !== JSON.stringify(info.shard)
    ) {
      throw new Error(
        `${opts.out} holds another run (pack, dataset, protocol, plan or shard differ); it cannot be resumed with these options`,
      );
    }
  }
  await writeFile(runPath, JSON.stringify(info, null, 2) + '\n');
  const done = readResults(resultsPath);
  const failed = new Set((await readJsonLines<{ item: string }>(problemsPath)).map((p) => p.item));
  const columns = [...configs.map((c) => c.id), ...anchors];
  const todo = items.filter(
    (i) => !failed.has(i.id) && columns.some((c) => !done.has(`${i.id}\u0000${c}`)),
  );
  const total = todo.reduce(
    (n, i) => n + columns.filter((c) => !done.has(`${i.id}\u0000${c}`)).length,
    0,
  );

  // Sessions for the variants the plan uses, LPIPS for the protocol's metric.
  const variants = new Map<string, Awaited<ReturnType<typeof loadVariantGraphs>>>();
  let scoring: ScoringOptions = {};
  let lpips: LpipsGraphs | null = null;
  if (todo.length > 0) {
    for (const v of new Set(configs.map((c) => c.variant)))
      variants.set(v, await loadVariantGraphs(opts.pack, manifest, v, opts.threads));
    const lpipsDir = opts.lpips ?? resolve(import.meta.dirname, '../../models/lpips');
    lpips = await loadLpipsGraphs(lpipsDir, opts.threads);
    if (protocolId === 'studio') {
      scoring = lpipsScoringOptions(lpips);
      if (!lpips.available) log(`LPIPS is not measured: ${scoring.lpipsMissing?.('alex') ?? ''}`);
    } else if (!(lpips.available && lpips.graphs.vgg)) {
      scoring = { lpipsMissing: () => vggMissing(lpipsDir) };
      log(`LPIPS-VGG is not measured (its column is —): ${vggMissing(lpipsDir)}`);
    }
  }
  const vgg = lpips?.available ? (lpips.graphs.vgg ?? null) : null;

  let written = 0;
  let itemProblems = 0;
  try {
    for (const item of todo) {
      let loaded: LoadedItem;
      try {
        loaded = await loadDatasetItem(opts.data, item);
        if (protocolId === 'kdq') loaded = resizeItem(loaded);
      } catch (e) {
        appendFileSync(
          problemsPath,
          JSON.stringify({ item: item.id, message: (e as Error).message }) + '\n',
        );
        itemProblems++;
        log(`skipped ${item.id}: ${(e as Error).message}`);
        continue;
      }
      const emit = (line: ResultLine) => {
        appendFileSync(
          resultsPath,
          JSON.stringify(line, (_k, v) => (v === Infinity ? 'Infinity' : v)) + '\n',
        );
        done.set(`${item.id}\u0000${line.config}`, line);
        written++;
        opts.onProgress?.(written, total, item.id);
      };
      let prepared: PreparedKeyframes | null = null;
      const encodedBy = new Map<string, EncodedKeyframes>();
      const prepare = () =>
        (prepared ??= prepareKeyframes(manifest, loaded.start, loaded.end, fit));
      for (const c of configs) {
        if (done.has(`${item.id}\u0000${c.id}`)) continue;
        const r = await runConfig(
          manifest,
          variants,
          c,
          item,
          prepare(),
          encodedBy.get(c.variant),
          protocolId,
        );
        encodedBy.set(c.variant, r.encoded);
        const frames = r.frames.map((f) => restoreFrame(f, prepare().plan, loaded.start));
        emit(
          await scoreLine(item, c.id, frames, loaded, protocolId, scoring, vgg, {
            ms: r.ms,
            picked: r.picked,
          }),
        );
      }
      for (const a of anchors) {
        if (done.has(`${item.id}\u0000${a}`)) continue;
        let frames: RgbaImage[];
        if (a === 'anchor:blend')
          frames = item.tau.map((t) => blendAt(loaded.start, loaded.end, t));
        else if (a === 'anchor:repeat') frames = item.tau.map(() => loaded.start);
        else {
          let enc = encodedBy.values().next().value as EncodedKeyframes | undefined;
          if (!enc) {
            const c = configs[0]!;
            enc = (
              await runConfig(
                manifest,
                variants,
                { ...c, steps: 1 },
                item,
                prepare(),
                undefined,
                protocolId,
              )
            ).encoded;
          }
          const p = prepare();
          frames = item.tau.map((t) =>
            restoreFrame(flowWarpInbetween(p.start, p.end, enc!.motion!, t), p.plan, loaded.start),
          );
        }
        emit(await scoreLine(item, a, frames, loaded, protocolId, scoring, vgg, {}));
      }
    }
  } finally {
    for (const v of variants.values()) await releaseVariantGraphs(v.graphs);
    if (lpips?.available) for (const g of Object.values(lpips.graphs)) await g.runner.release();
  }
  return { info, written, skipped: items.length - todo.length, itemProblems };
}

/** Why LPIPS-VGG has no value, and how to build its graph. */
function vggMissing(dir: string): string {
  return `no LPIPS-VGG graph in ${dir}: build it with /usr/bin/python3 models/training/export_lpips.py --vgg-weights vgg.pth vgg16-397923af.pth (torchvision's ImageNet VGG-16; docs/metrics.md)`;
}

/** KDQ: every frame resized (non-uniformly) to 512×320. */
function resizeItem(item: LoadedItem): LoadedItem {
  const [w, h] = KDQ_SIZE;
  return {
    start: resizeImage(item.start, w, h),
    end: resizeImage(item.end, w, h),
    truth: item.truth.map((t) => resizeImage(t, w, h)),
  };
}

/** One configuration on one item: the model-size in-betweens at the item's τ (or KDQ's clip frame). */
async function runConfig(
  manifest: PackManifest,
  variants: Map<string, Awaited<ReturnType<typeof loadVariantGraphs>>>,
  c: RunConfig,
  item: DatasetItem,
  keyframes: PreparedKeyframes,
  encoded: EncodedKeyframes | undefined,
  protocol: ProtocolId,
): Promise<{ frames: RgbaImage[]; encoded: EncodedKeyframes; ms: number; picked?: string }> {
  const g = variants.get(c.variant)!;
  const clip = manifest.frames.mode === 'clip' ? manifest.frames.clipLength : null;
  const res = await interpolate({
    manifest,
    variant: g.variant,
    graphs: g.graphs,
    keyframes,
    settings: {
      count: item.truth.length,
      steps: c.steps,
      seed: c.seed,
      ...(c.loraScale !== null ? { loraScale: c.loraScale } : {}),
      ...(c.guidanceScale !== null ? { guidanceScale: c.guidanceScale } : {}),
      ...(protocol === 'kdq' && clip !== null ? { clipFrames: [clip / 2] } : {}),
    },
    ...(encoded ? { encoded } : {}),
  });
  return {
    frames: res.modelFrames,
    encoded: res.encoded,
    ms: res.timings.denoiseMs + res.timings.decodeMs,
    ...(res.clip ? { picked: describePick(res.clip.picked, clip!) } : {}),
  };
}

/** Scores an item's predicted frames against its ground truth under the protocol. */
async function scoreLine(
  item: DatasetItem,
  config: string,
  frames: RgbaImage[],
  loaded: LoadedItem,
  protocol: ProtocolId,
  scoring: ScoringOptions,
  vgg: LoadedLpipsGraph | null,
  extra: { ms?: number; picked?: string },
): Promise<ResultLine> {
  const names = PROTOCOLS[protocol].metrics;
  const unavailable: Record<string, string> = {};
  const scored: FrameScores[] = [];
  for (const [i, frame] of frames.entries()) {
    const truth = loaded.truth[i]!;
    if (protocol === 'studio') {
      const s = await scoreImages(truth, frame, {
        ...scoring,
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
      if (!vgg) unavailable['lpipsVgg'] = scoring.lpipsMissing?.('alex') ?? 'no LPIPS-VGG graph';
      const lpipsVgg = vgg
        ? (await computeLpips(vgg.runner, truth, frame, { minSide: vgg.spec.minSide })).distance
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
  const metrics = itemMetrics(scored, names);
  const { width: w, height: h } = loaded.start;
  if (protocol === 'studio' && frames.length >= 2 && w >= SSIM_WINDOW && h >= SSIM_WINDOW) {
    const alex = scoring.lpips?.alex;
    const fits = alex && w >= (alex.minSide ?? 31) && h >= (alex.minSide ?? 31);
    const t = await temporalMetrics(
      [loaded.start, ...frames, loaded.end],
      [loaded.start, ...loaded.truth, loaded.end],
      fits ? alex.runner : null,
    );
    Object.assign(metrics, t);
    if (t.tLP === null) unavailable['tLP'] = scoring.lpipsMissing?.('alex') ?? 'no LPIPS graph';
  }
  return {
    item: item.id,
    config,
    split: item.split,
    category: item.category,
    frames: scored,
    metrics,
    ...(Object.keys(unavailable).length ? { unavailable } : {}),
    ...(extra.picked ? { picked: extra.picked } : {}),
    ...(extra.ms !== undefined ? { ms: Math.round(extra.ms * 10) / 10 } : {}),
  };
}

/**
 * Temporal metrics of a predicted sequence against the ground truth's, each over the consecutive
 * pairs of the whole sequence, keyframes included (docs/metrics.md "Temporal metrics"):
 * `ssimF2F` — frame-to-frame SSIM of the prediction (the AnimateDiff-LoRA research's consistency
 * measure); `ssimF2FTruth` — the same of the ground truth, the value to compare it with; `tLP` —
 * TecoGAN's temporal LPIPS, mean |LPIPS(p[t−1], p[t]) − LPIPS(g[t−1], g[t])| with LPIPS-Alex.
 */
export async function temporalMetrics(
  pred: readonly RgbaImage[],
  truth: readonly RgbaImage[],
  lpipsAlex: GraphRunner | null,
): Promise<{ ssimF2F: number; ssimF2FTruth: number; tLP: number | null }> {
  let f2f = 0;
  let f2fTruth = 0;
  let tlp = 0;
  const pairs = pred.length - 1;
  for (let t = 1; t < pred.length; t++) {
    f2f += ssim(pred[t - 1]!, pred[t]!);
    f2fTruth += ssim(truth[t - 1]!, truth[t]!);
    if (lpipsAlex) {
      const a = await computeLpips(lpipsAlex, pred[t - 1]!, pred[t]!);
      const b = await computeLpips(lpipsAlex, truth[t - 1]!, truth[t]!);
      tlp += Math.abs(a.distance - b.distance);
    }
  }
  return {
    ssimF2F: f2f / pairs,
    ssimF2FTruth: f2fTruth / pairs,
    tLP: lpipsAlex ? tlp / pairs : null,
  };
}

/** The complete JSON lines of a file (none when it does not exist; a line cut short is left out). */
async function readJsonLines<T>(
  path: string,
  reviver?: (key: string, value: unknown) => unknown,
): Promise<T[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim().endsWith('}'))
    .map((l) => JSON.parse(l, reviver) as T);
}

/** Reads a run folder: run.json, results.jsonl (∞ restored) and problems.jsonl. */
export async function readRun(dir: string): Promise<{
  info: RunInfo;
  lines: ResultLine[];
  itemProblems: { item: string; message: string }[];
}> {
  const runPath = resolve(dir, RUN);
  if (!existsSync(runPath))
    throw new Error(`${dir} holds no run.json: is it an inbetween eval --out folder?`);
  const info = JSON.parse(await readFile(runPath, 'utf8')) as RunInfo;
  const lines = await readJsonLines<ResultLine>(resolve(dir, RESULTS), (_k, v) =>
    v === 'Infinity' ? Infinity : v,
  );
  const itemProblems = await readJsonLines<{ item: string; message: string }>(
    resolve(dir, PROBLEMS),
  );
  return { info, lines, itemProblems };
}
