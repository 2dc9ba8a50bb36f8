/**
 * `npm run evaluate` on Node: a pack's variants on validation triplets (ATD-12K layout,
 * `<set>/<split>/<clip>/frame{1,2,3}.png`) in onnxruntime-node, in four parts — plan (from the
 * manifest, src/core/evaluation/plan.ts), run (every configuration and the anchors scored on each
 * triplet), time (the studio's benchmark), render (src/core/evaluation: tables, checks, Markdown,
 * SVG) — and the files: REPORT.md, evaluation.json (every table and check of the report) and the
 * LoRA-sweep SVG.
 *
 * The same src/core code as the studio and the CLI does the work: keyframes fitted as the studio
 * fits them by default (`auto`: at their own size when that frame is no bigger than the pack's,
 * else letterboxed into it), the in-between at τ = ½ mapped back to the triplet's size and scored
 * against frame2 with `scoreImages` — never resized for metrics.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { benchmarkVariant } from '../core/benchmark';
import {
  planEvaluation,
  type EvaluationConfig,
  type EvaluationPlan,
  type LoraSweep,
} from '../core/evaluation/plan';
import { renderReport, sweepSheetName, sweepSvg, sweepSvgName } from '../core/evaluation/render';
import {
  drawnTable,
  evaluationChecks,
  mainTable,
  letterboxId,
  type EvaluationResult,
  type EvaluationTimings,
  type MetricValues,
  type ScoredSet,
} from '../core/evaluation/summary';
import { detectCollapse } from '../core/collapse';
import { anchorMotion, flowWarpInbetween } from '../core/flowWarp';
import type { FloatTensor } from '../core/graph';
import { createRgbaImage, resizeImage, type FitPlan, type RgbaImage } from '../core/image';
import type { PackManifest } from '../core/manifest';
import { METRIC_NAMES } from '../core/metrics';
import {
  decodeLatent,
  decoderReferences,
  encodeKeyframe,
  GROUND_TRUTH_TAU,
  interpolate,
  prepareKeyframes,
  restoreFrame,
  type EncodedKeyframes,
  type InterpolationResult,
  type PreparedKeyframes,
  type StepRecord,
} from '../core/pipeline';
import { GaussianRng } from '../core/rng';
import { scoreImages, type ScoringOptions } from '../core/scoring';
import {
  loadLpipsGraphs,
  loadVariantGraphs,
  readPackManifest,
  readPng,
  writePng,
  type LpipsGraphs,
  releaseVariantGraphs,
} from './nodeRuntime';
import { lpipsScoringOptions } from './score';

/** The repository root: paths in the report are relative to it. */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

const TRIPLET = ['frame1.png', 'frame2.png', 'frame3.png'] as const;

/** A pack opened for evaluation: its manifest, every variant's graphs, the LPIPS graphs. */
export interface EvaluationContext {
  packDir: string;
  manifest: PackManifest;
  plan: EvaluationPlan;
  variants: Map<string, Awaited<ReturnType<typeof loadVariantGraphs>>>;
  lpips: LpipsGraphs;
  scoring: ScoringOptions;
  seed: number;
  threads: number;
}

/** Loads the pack's variants and the LPIPS graphs (missing LPIPS graphs: LPIPS is reported as —). */
export async function openEvaluation(opts: {
  pack: string;
  lpips: string;
  seed: number;
  threads: number;
}): Promise<EvaluationContext> {
  const packDir = resolve(opts.pack);
  const manifest = await readPackManifest(packDir);
  const lpips = await loadLpipsGraphs(opts.lpips, opts.threads);
  const variants: EvaluationContext['variants'] = new Map();
  const ctx: EvaluationContext = {
    packDir,
    manifest,
    plan: planEvaluation(manifest),
    variants,
    lpips,
    scoring: lpipsScoringOptions(lpips),
    seed: opts.seed,
    threads: opts.threads,
  };
  try {
    for (const v of manifest.variants)
      variants.set(v.id, await loadVariantGraphs(packDir, manifest, v.id, opts.threads));
  } catch (e) {
    await closeEvaluation(ctx);
    throw e;
  }
  return ctx;
}

/** Releases every session. */
export async function closeEvaluation(ctx: EvaluationContext): Promise<void> {
  for (const v of ctx.variants.values()) await releaseVariantGraphs(v.graphs);
  ctx.variants.clear();
  if (ctx.lpips.available)
    for (const g of Object.values(ctx.lpips.graphs)) await g.runner.release();
}

/**
 * Triplet folders under `dir` (those holding frame1/2/3.png), in name order or, with
 * `shuffleSeed`, in a seeded random order; at most `limit`.
 */
export async function listTriplets(
  dir: string,
  limit: number,
  shuffleSeed?: number,
): Promise<string[]> {
  const names = (await readdir(dir)).sort();
  if (shuffleSeed !== undefined) {
    const rng = new GaussianRng(shuffleSeed);
    for (let i = names.length - 1; i > 0; i--) {
      const j = Math.floor(rng.nextUniform() * (i + 1));
      [names[i], names[j]] = [names[j]!, names[i]!];
    }
  }
  const clips: string[] = [];
  for (const n of names) {
    if (clips.length >= limit) break;
    if (TRIPLET.every((f) => existsSync(join(dir, n, f)))) clips.push(join(dir, n));
  }
  return clips;
}

/** Per-pixel average of two frames (rounded): the "frame blend" anchor. */
export function blendFrames(a: RgbaImage, b: RgbaImage): RgbaImage {
  const out = createRgbaImage(a.width, a.height);
  for (let i = 0; i < a.data.length; i++) out.data[i] = Math.round((a.data[i]! + b.data[i]!) / 2);
  return out;
}

/** Mean |a − b| over R, G, B in 8-bit levels. */
export function meanAbsDiff(a: RgbaImage, b: RgbaImage): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    for (let c = 0; c < 3; c++) s += Math.abs(a.data[i + c]! - b.data[i + c]!);
    n += 3;
  }
  return s / n;
}

/**
 * Runs each config on one keyframe pair (one in-between at τ = ½, the given seed), encoding the
 * keyframes once; yields each result in config order.
 */
async function* runConfigs(
  ctx: EvaluationContext,
  prepared: PreparedKeyframes,
  configs: readonly EvaluationConfig[],
  seed = ctx.seed,
): AsyncGenerator<[EvaluationConfig, InterpolationResult]> {
  let encoded: EncodedKeyframes | undefined;
  for (const c of configs) {
    const g = ctx.variants.get(c.variant)!;
    const res = await interpolate({
      manifest: ctx.manifest,
      variant: g.variant,
      graphs: g.graphs,
      keyframes: prepared,
      settings: {
        count: 1,
        steps: c.steps,
        seed,
        ...(c.loraScale !== undefined ? { loraScale: c.loraScale } : {}),
      },
      hooks: {},
      encoded,
    });
    encoded = res.encoded;
    yield [c, res];
  }
}

/**
 * The classical flow warp at τ = ½ (OpenCV's Farnebäck flows, `anchorMotion`) of the fitted keyframes,
 * restored like the models' frames.
 */
function flowWarpFrame(prepared: PreparedKeyframes, like: RgbaImage) {
  const motion = anchorMotion(prepared.start, prepared.end);
  const warped = flowWarpInbetween(prepared.start, prepared.end, motion, GROUND_TRUTH_TAU);
  return restoreFrame(warped, prepared.plan, like);
}

/**
 * The latent ablation's two frames, each a latent decoded at τ = ½ by the variant's decoder with the
 * same references as the models' and restored like their frames: the mean of the two keyframes'
 * latents (`average`: no denoiser at all) and the true middle frame's latent, fitted like the keyframes
 * and encoded by the variant's encoder (`truth`: its ceiling, what a perfect denoiser would give with
 * this decoder; null without an encoder graph). Null for packs whose keyframes are not encoded to one
 * latent each (clip packs).
 */
async function ablationFrames(
  ctx: EvaluationContext,
  variant: string,
  prepared: PreparedKeyframes,
  encoded: EncodedKeyframes,
  truth: RgbaImage,
  like: RgbaImage,
): Promise<{ average: RgbaImage; truth: RgbaImage | null } | null> {
  const { manifest } = ctx;
  const graphs = ctx.variants.get(variant)!.graphs;
  if (manifest.frames.mode !== 'position' || encoded.clip) return null;
  const references = decoderReferences(manifest, prepared, encoded.motion);
  const decode = async (latent: FloatTensor) => {
    const frame = await decodeLatent(
      manifest,
      graphs.decoder,
      latent,
      references,
      GROUND_TRUTH_TAU,
    );
    return restoreFrame(frame, prepared.plan, like);
  };
  const a = encoded.start.data;
  const b = encoded.end.data;
  const avg = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) avg[i] = (a[i]! + b[i]!) / 2;
  const fitted = prepareKeyframes(manifest, truth, truth, 'auto').start;
  return {
    average: await decode({ data: avg, dims: encoded.start.dims }),
    truth: graphs.encoder
      ? await decode(await encodeKeyframe(manifest, graphs.encoder, fitted))
      : null,
  };
}

/** A fit that hands the keyframes to the model as they are: no resampling, no padding. */
function asTheyAre(plan: FitPlan): boolean {
  const { srcWidth: w, srcHeight: h } = plan;
  return (
    [plan.dstWidth, plan.scaledWidth].every((v) => v === w) &&
    [plan.dstHeight, plan.scaledHeight].every((v) => v === h)
  );
}

/**
 * Scores every config and the anchors on each triplet, the keyframes fitted as the studio does by
 * default (`auto`). `drawn` adds the fit-and-restore ceiling, the latent ablation (the keyframes'
 * average latent decoded, and its ceiling: the true middle frame's latent decoded) and every config on
 * the keyframes letterboxed into the pack's frame.
 */
export async function scoreTriplets(
  ctx: EvaluationContext,
  configs: readonly EvaluationConfig[],
  clips: readonly string[],
  opts: { drawn?: boolean; onTriplet?: (done: number) => void } = {},
): Promise<ScoredSet> {
  const { manifest } = ctx;
  const scores: Record<string, MetricValues[]> = {};
  const diffs: Record<string, number[]> = {};
  const collapse: NonNullable<ScoredSet['collapse']> = {};
  const score = async (id: string, truth: RgbaImage, frame: RgbaImage) => {
    const s = await scoreImages(truth, frame, ctx.scoring);
    (scores[id] ??= []).push(
      Object.fromEntries(METRIC_NAMES.map((k) => [k, s[k]])) as MetricValues,
    );
  };
  for (const [n, clip] of clips.entries()) {
    const [f1, gt, f3] = await Promise.all(TRIPLET.map((f) => readPng(join(clip, f))));
    const prepared = prepareKeyframes(manifest, f1!, f3!, 'auto');
    await score('blend', gt!, blendFrames(f1!, f3!));
    await score('repeat', gt!, f1!);
    if (opts.drawn) {
      // The true middle frame through the same fit → model size → restore mapping: what any
      // model's frame loses to resampling alone under this protocol (a ceiling).
      const roundTrip = prepareKeyframes(manifest, gt!, gt!, 'auto');
      await score('roundtrip', gt!, restoreFrame(roundTrip.start, roundTrip.plan, gt!));
    }
    let referenceFrame: RgbaImage | undefined;
    let referenceStats: StepRecord[] | undefined;
    let ablation: Awaited<ReturnType<typeof ablationFrames>> | undefined;
    for await (const [c, res] of runConfigs(ctx, prepared, configs)) {
      const frame = restoreFrame(res.modelFrames[0]!, prepared.plan, f1!);
      if (c.id === ctx.plan.reference.id) [referenceFrame, referenceStats] = [frame, res.stepStats];
      if (referenceFrame) (diffs[c.id] ??= []).push(meanAbsDiff(frame, referenceFrame));
      if (referenceStats && c.steps === ctx.plan.reference.steps) {
        const v = detectCollapse(res.stepStats, referenceStats);
        (collapse[c.id] ??= []).push({ finalStdRatio: v.finalStdRatio, collapsed: v.collapsed });
      }
      await score(c.id, gt!, frame);
      if (opts.drawn && ablation === undefined)
        ablation = await ablationFrames(ctx, c.variant, prepared, res.encoded, gt!, f1!);
    }
    if (ablation) {
      await score('keyavg', gt!, ablation.average);
      if (ablation.truth) await score('truelatent', gt!, ablation.truth);
    }
    // The classical anchor (packs with a motion graph, as the REPORT has always had it).
    if (manifest.graphs.motion) await score('flow', gt!, flowWarpFrame(prepared, f1!));
    if (opts.drawn) {
      // The same configs on the keyframes letterboxed into the pack's frame (the fit before Auto);
      // keyframes of the pack's own size go in as they are either way: the same frames and scores.
      const boxed = prepareKeyframes(manifest, f1!, f3!, 'letterbox');
      if (asTheyAre(boxed.plan) && asTheyAre(prepared.plan)) {
        for (const c of configs) (scores[letterboxId(c.id)] ??= []).push(scores[c.id]!.at(-1)!);
      } else {
        for await (const [c, res] of runConfigs(ctx, boxed, configs)) {
          await score(letterboxId(c.id), gt!, restoreFrame(res.modelFrames[0]!, boxed.plan, f1!));
        }
      }
    }
    opts.onTriplet?.(n + 1);
  }
  return { triplets: clips.length, scores, diffs, collapse };
}

/**
 * Speed: warm medians from the studio's own benchmark (src/core/benchmark.ts: keyframes encoded,
 * one warm-up, then denoise all steps + decode), every configuration timed in this one run, in
 * `rounds` alternating rounds so that drift on a shared machine hits each alike. Then the fast
 * variant's speed-up, a ratio of a slow and a fast timing that a noisy stretch hitting one but not
 * the other moves far: reference and fast in-betweens alternate one by one on `clip`
 * (`alternating` of each, after one warm-up pair).
 */
export async function timeConfigs(
  ctx: EvaluationContext,
  clip: string | undefined,
  opts: { rounds?: number; repeats?: number; alternating?: number } = {},
): Promise<EvaluationTimings> {
  const { manifest, plan } = ctx;
  const perConfig: Record<string, number[]> = {};
  for (let round = 0; round < (opts.rounds ?? 3); round++) {
    for (const c of plan.configs) {
      const g = ctx.variants.get(c.variant)!;
      const b = await benchmarkVariant(manifest, g.variant, g.graphs, {
        repeats: opts.repeats ?? 5,
        steps: c.steps,
      });
      (perConfig[c.id] ??= []).push(b.inbetweenMs);
    }
  }
  let alternating: EvaluationTimings['alternating'] = null;
  if (plan.fast && clip) {
    const [f1, f3] = await Promise.all(
      ['frame1.png', 'frame3.png'].map((f) => readPng(join(clip, f))),
    );
    const keyframes = prepareKeyframes(manifest, f1!, f3!, 'letterbox');
    const pair = [plan.reference, plan.fast];
    alternating = { reference: [], fast: [] };
    for (let k = -1; k < (opts.alternating ?? 15); k++) {
      for await (const [c, res] of runConfigs(ctx, keyframes, pair, k + 1)) {
        if (k < 0) continue; // warm-up
        const ms = res.timings.denoiseMs + res.timings.decodeMs;
        alternating[c.id === plan.reference.id ? 'reference' : 'fast'].push(ms);
      }
    }
  }
  return { perConfig, alternating, threads: ctx.threads };
}

/**
 * Contact sheet: one row per keyframe pair (`pairsDir/<pair>/{start,end}.png`) — start, each listed
 * config's in-between, the flow warp (packs with a motion graph), blend, end.
 */
export async function contactSheet(
  ctx: EvaluationContext,
  pairsDir: string,
  out: string,
  configs: readonly EvaluationConfig[] = ctx.plan.compared,
): Promise<string> {
  const { manifest } = ctx;
  const pairs = (await readdir(pairsDir))
    .sort()
    .filter(
      (p) => existsSync(join(pairsDir, p, 'start.png')) && existsSync(join(pairsDir, p, 'end.png')),
    );
  if (!pairs.length)
    throw new Error(`no keyframe pairs (<pair>/start.png and end.png) under ${pairsDir}`);
  const flowCol = manifest.graphs.motion !== undefined;
  const rows: RgbaImage[][] = [];
  for (const p of pairs) {
    const start = await readPng(join(pairsDir, p, 'start.png'));
    const end = await readPng(join(pairsDir, p, 'end.png'));
    const { prepared, frames } = await inbetweenRow(ctx, start, end, configs);
    const flow = flowCol ? [flowWarpFrame(prepared, start)] : [];
    rows.push([start, ...frames, ...flow, blendFrames(start, end), end]);
  }
  await writeSheet(rows, out);
  return `contact sheet: ${out} (columns: start, ${configs.map((c) => c.label).join(', ')}${flowCol ? ', flow warp' : ''}, blend, end)`;
}

/** A contact-sheet row's in-betweens: each config's at τ = ½ of the letterboxed keyframes, restored. */
async function inbetweenRow(
  ctx: EvaluationContext,
  start: RgbaImage,
  end: RgbaImage,
  configs: readonly EvaluationConfig[],
): Promise<{ prepared: PreparedKeyframes; frames: RgbaImage[] }> {
  const prepared = prepareKeyframes(ctx.manifest, start, end, 'letterbox');
  const frames: RgbaImage[] = [];
  for await (const [, res] of runConfigs(ctx, prepared, configs))
    frames.push(restoreFrame(res.modelFrames[0]!, prepared.plan, start));
  return { prepared, frames };
}

/** A grid of pictures, each fitted into a 256×160 cell, written as a PNG (at least one row). */
async function writeSheet(rows: readonly RgbaImage[][], out: string): Promise<void> {
  const tw = 256;
  const th = 160;
  const cols = Math.max(1, ...rows.map((r) => r.length));
  const sheet = createRgbaImage(cols * tw, rows.length * th);
  sheet.data.fill(255);
  for (const [row, images] of rows.entries()) {
    for (const [col, img] of images.entries()) {
      const t = resizeImage(img, tw, th);
      for (let y = 0; y < th; y++)
        sheet.data.set(
          t.data.subarray(y * tw * 4, (y + 1) * tw * 4),
          ((row * th + y) * sheet.width + col * tw) * 4,
        );
    }
  }
  await mkdir(dirname(out), { recursive: true });
  await writePng(out, sheet);
}

/** How many of the evaluation set's triplets (its first) a LoRA sweep's contact sheet shows. */
export const SWEEP_SHEET_TRIPLETS = 3;

/**
 * A LoRA sweep's contact sheet: one row per triplet — start, the in-between (τ = ½, the evaluation's
 * seed) at each scale of the sweep, end.
 */
export async function sweepSheet(
  ctx: EvaluationContext,
  sweep: LoraSweep,
  triplets: readonly string[],
  out: string,
): Promise<void> {
  const configs = sweep.configs.map((id) => ctx.plan.configs.find((c) => c.id === id)!);
  const rows: RgbaImage[][] = [];
  for (const clip of triplets) {
    const [start, end] = await Promise.all(
      ['frame1.png', 'frame3.png'].map((f) => readPng(join(clip, f))),
    );
    const { frames } = await inbetweenRow(ctx, start!, end!, configs);
    rows.push([start!, ...frames, end!]);
  }
  await writeSheet(rows, out);
}

export interface EvaluatePackOptions {
  /** The pack's folder. */
  pack: string;
  /** The triplet set's folder; triplets are read from `<data>/<split>`. */
  data: string;
  split: string;
  /** Triplets of the main set (the first, in name order). */
  limit: number;
  seed: number;
  lpips: string;
  threads: number;
  /** Drawn sets (`<set>/<split>`): a seeded random sample of `drawnLimit` triplets each. */
  drawn?: string[];
  drawnLimit?: number;
  /** Where REPORT.md goes (evaluation.json and the SVG beside it); default `<pack>/REPORT.md`. */
  report?: string;
  /** The command lines that rebuild this report (its Reproduce section). */
  reproduce: string[];
  /** The timing protocol (defaults: 3 rounds of 5 repeats, 15 alternating pairs). */
  timing?: { rounds?: number; repeats?: number; alternating?: number };
  /** Progress lines. */
  log?: (line: string) => void;
  /** The report's date (YYYY-MM-DD); default today. */
  date?: string;
}

/** The files an evaluation wrote. */
export interface EvaluationFiles {
  report: string;
  json: string;
  svgs: string[];
  /** The LoRA sweeps' contact sheets. */
  sheets: string[];
}

/** Plan → run → time → render for one pack, on an opened context; writes nothing. */
export async function evaluateOpenPack(
  ctx: EvaluationContext,
  opts: EvaluatePackOptions,
): Promise<EvaluationResult> {
  const log = opts.log ?? (() => undefined);
  const { manifest, plan } = ctx;
  const dataDir = resolve(opts.data, opts.split);
  const clips = await listTriplets(dataDir, opts.limit);
  if (!clips.length) throw new Error(`no triplets (frame1/2/3.png) under ${dataDir}`);
  const t0 = performance.now();
  const progress = (total: number) => (done: number) => {
    if (done % 10 === 0 || done === total)
      log(`${done}/${total} triplets (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  };
  const main = await scoreTriplets(ctx, plan.configs, clips, { onTriplet: progress(clips.length) });
  const timings = await timeConfigs(ctx, clips[0], opts.timing);

  const drawn = [];
  for (const setDir of opts.drawn ?? []) {
    const dir = resolve(setDir, opts.split);
    const setClips = await listTriplets(dir, opts.drawnLimit ?? 60, ctx.seed);
    if (!setClips.length) throw new Error(`no triplets (frame1/2/3.png) under ${dir}`);
    log(`drawn set ${relative(REPO_ROOT, dir)}: ${setClips.length} triplets`);
    const set = await scoreTriplets(ctx, plan.compared, setClips, {
      drawn: true,
      onTriplet: progress(setClips.length),
    });
    drawn.push(
      drawnTable(
        manifest,
        plan,
        relative(REPO_ROOT, dir),
        set,
        setClips.map((c) => basename(c)),
      ),
    );
  }

  return {
    pack: {
      id: manifest.id,
      name: manifest.name,
      size: [...manifest.image.defaultSize],
      multipleOf: manifest.image.multipleOf,
    },
    date: opts.date ?? new Date().toISOString().slice(0, 10),
    data: relative(REPO_ROOT, dataDir),
    triplets: clips.length,
    seed: ctx.seed,
    threads: ctx.threads,
    reference: plan.reference.id,
    fast: plan.fast?.id ?? null,
    table: mainTable(manifest, plan, main, timings),
    checks: evaluationChecks(plan, main, timings),
    loraSweeps: plan.loraSweeps.map((s) => ({
      ...s,
      svg: sweepSvgName(s, plan.loraSweeps.length),
      sheet: {
        file: sweepSheetName(s, plan.loraSweeps.length),
        triplets: clips.slice(0, SWEEP_SHEET_TRIPLETS).map((c) => relative(REPO_ROOT, c)),
      },
    })),
    drawn,
    reproduce: opts.reproduce,
  };
}

/** Writes REPORT.md, evaluation.json and the sweep SVGs of a result. */
export async function writeEvaluation(
  result: EvaluationResult,
  reportPath: string,
): Promise<EvaluationFiles> {
  const dir = dirname(reportPath);
  await mkdir(dir, { recursive: true });
  const svgs: string[] = [];
  const reference = result.table.find((r) => r.id === result.reference)!;
  for (const s of result.loraSweeps) {
    const path = join(dir, s.svg);
    await writeFile(
      path,
      sweepSvg(s, result.table, reference.id, reference.variant ?? reference.id),
    );
    svgs.push(path);
  }
  await writeFile(reportPath, renderReport(result));
  const json = join(dir, 'evaluation.json');
  await writeFile(json, evaluationJson(result));
  return { report: reportPath, json, svgs, sheets: [] };
}

/**
 * evaluation.json's text: indented, with every array of numbers on one line (the per-triplet scores
 * would otherwise take a line per number).
 */
export function evaluationJson(result: EvaluationResult): string {
  const text = JSON.stringify(result, null, 2);
  return (
    text.replace(
      /\[\s*((?:-?[\d.]+(?:e[+-]?\d+)?|null)(?:,\s*(?:-?[\d.]+(?:e[+-]?\d+)?|null))*)\s*\]/g,
      // Only what the indentation spread over lines: a string holds no raw line break.
      (whole: string, inner: string) =>
        whole.includes('\n') ? `[${inner.replace(/,\s+/g, ', ')}]` : whole,
    ) + '\n'
  );
}

/** The whole evaluation of a pack: open, evaluate, write, close. */
export async function evaluatePack(
  opts: EvaluatePackOptions,
): Promise<{ result: EvaluationResult; files: EvaluationFiles }> {
  const log = opts.log ?? (() => undefined);
  const ctx = await openEvaluation(opts);
  try {
    if (!ctx.lpips.available)
      log(`LPIPS graphs not found in ${opts.lpips}: run \`npm run lpips\` first`);
    const t0 = performance.now();
    const result = await evaluateOpenPack(ctx, opts);
    const files = await writeEvaluation(
      result,
      resolve(opts.report ?? join(ctx.packDir, 'REPORT.md')),
    );
    for (const s of result.loraSweeps) {
      if (!s.sheet) continue;
      const path = join(dirname(files.report), s.sheet.file);
      await sweepSheet(
        ctx,
        s,
        s.sheet.triplets.map((t) => resolve(REPO_ROOT, t)),
        path,
      );
      files.sheets.push(path);
    }
    const st = await stat(files.report);
    log(
      `wrote ${files.report} (${st.size} bytes) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
    return { result, files };
  } finally {
    await closeEvaluation(ctx);
  }
}
