/**
 * A dataset evaluation's plan, protocols and records (issue 19), shared by the CLI
 * (`inbetween eval`, src/node/evalDataset.ts) and the report (`inbetween report`,
 * datasetReport.ts). Pure: no file system.
 *
 * A run scores every item of a dataset (dataset.ts) with every configuration of its plan —
 * variants × LoRA scales × guidance scales × step counts × seeds — and the anchors (frame blend,
 * repeated frame, and the classical Farnebäck flow warp, for every pack), under one stated protocol,
 * writing one JSON line per (item, configuration).
 */
import { referenceVariant, variantSteps, type PackManifest } from '../manifest';
import { maxSteps } from '../samplers';

/** How frames are prepared and scored: docs/metrics.md "Evaluation protocols" defines each. */
export type ProtocolId = 'studio' | 'kdq';

export interface Protocol {
  id: ProtocolId;
  label: string;
  /** The metrics a line holds, in table order. */
  metrics: readonly string[];
  /** One paragraph, printed under every table made with it. */
  definition: string;
}

export const PROTOCOLS: Readonly<Record<ProtocolId, Protocol>> = {
  studio: {
    id: 'studio',
    label: 'studio',
    metrics: ['psnr', 'ssim', 'lpipsAlex'],
    definition:
      "Studio protocol: keyframes fitted to the pack's frame as the run's fit says (letterboxed by default), each in-between at its ground truth's τ (τ = ½ for triplets; clip packs: the nearest clip frame) mapped back to the item's size; PSNR on uint8 RGB (peak 255), SSIM on RGB with an 11-tap Gaussian window (σ 1.5, population covariances, mean of R, G, B), LPIPS v0.1 AlexNet on [-1, 1] inputs; nothing resized for scoring; an item's value is the mean over its frames, an exact frame's PSNR (∞) left out unless every frame is exact.",
  },
  kdq: {
    id: 'kdq',
    label: 'ToonCrafter-KDQ',
    metrics: ['psnr', 'ssimGray7', 'lpipsVgg'],
    definition:
      "ToonCrafter-KDQ protocol (the research's own evaluation): every frame resized non-uniformly to 512×320 before the model and before scoring; the prediction is the in-between at τ = ½ (clip packs: clip frame index T/2 rounded down, from 0 — index 8 of 16 at τ = 8/15, the middle frame when T is odd); PSNR on uint8 RGB, SSIM with scikit-image's defaults (7×7 uniform window, sample covariances) on OpenCV's grayscale, LPIPS v0.1 VGG on [-1, 1] inputs (— where the LPIPS-VGG graph is not built: it needs torchvision's ImageNet VGG-16). Triplets only.",
  },
};

/** The size every frame is resized to under the KDQ protocol. */
export const KDQ_SIZE = [512, 320] as const;

/** One model configuration of a plan. */
export interface RunConfig {
  /** Canonical and stable: `variant=base;lora=0.15;cfg=7.5;steps=10;seed=1` (absent parts left out). */
  id: string;
  variant: string;
  loraScale: number | null;
  guidanceScale: number | null;
  steps: number;
  seed: number;
}

/** The anchors a run scores beside the model's configurations. */
export const ANCHORS = ['anchor:blend', 'anchor:repeat', 'anchor:flow'] as const;
export type AnchorId = (typeof ANCHORS)[number];

export interface PlanOptions {
  /** Variant ids (default: every variant). */
  variants?: string[];
  /** Scales for LoRA variants (default: the variant's default scale). */
  loraScales?: number[];
  /** Guidance scales for packs with guidance (default: the manifest's default). */
  guidance?: number[];
  /** Step counts (default: each variant's recommended steps, else the scheduler's default). */
  steps?: number[];
  /** Seeds (default: [1]). */
  seeds?: number[];
}

export function configId(c: Omit<RunConfig, 'id'>): string {
  return [
    `variant=${c.variant}`,
    c.loraScale !== null ? `lora=${c.loraScale}` : null,
    c.guidanceScale !== null ? `cfg=${c.guidanceScale}` : null,
    `steps=${c.steps}`,
    `seed=${c.seed}`,
  ]
    .filter(Boolean)
    .join(';');
}

/**
 * Every configuration of a plan, checked against the pack; throws naming a bad option. A value
 * given twice (seeds 1,1; variants a,a) makes one configuration, not two of the same id.
 */
export function planDatasetRun(manifest: PackManifest, opts: PlanOptions = {}): RunConfig[] {
  const variants = opts.variants ?? manifest.variants.map((v) => v.id);
  const configs = new Map<string, RunConfig>();
  const seeds = opts.seeds ?? [1];
  for (const s of seeds) {
    if (!Number.isInteger(s) || s < 0 || s > 0xffffffff)
      throw new Error(`seed ${s} is not a whole number from 0 to 4294967295`);
  }
  const g = manifest.guidance?.scale;
  if (opts.guidance && !g) throw new Error(`pack "${manifest.id}" has no classifier-free guidance`);
  for (const x of opts.guidance ?? []) {
    if (!(x >= g!.min && x <= g!.max))
      throw new Error(`guidance scale ${x} is outside this pack's range ${g!.min}…${g!.max}`);
  }
  for (const id of variants) {
    const v = manifest.variants.find((x) => x.id === id);
    if (!v) {
      throw new Error(
        `pack "${manifest.id}" has no variant "${id}" (it has ${manifest.variants.map((x) => x.id).join(', ')})`,
      );
    }
    const range = v.loraScale;
    const scales: (number | null)[] = range ? (opts.loraScales ?? [range.default]) : [null];
    for (const s of scales) {
      if (range && !(s! >= range.min && s! <= range.max))
        throw new Error(`LoRA scale ${s} is outside ${id}'s range ${range.min}…${range.max}`);
    }
    const guidance: (number | null)[] = g ? (opts.guidance ?? [g.default]) : [null];
    const steps = opts.steps ?? [variantSteps(manifest, v)];
    for (const n of steps) {
      if (!Number.isInteger(n) || n < 1 || n > maxSteps(manifest.scheduler))
        throw new Error(
          `steps ${n} must be a whole number from 1 to ${maxSteps(manifest.scheduler)}`,
        );
    }
    for (const loraScale of scales)
      for (const guidanceScale of guidance)
        for (const n of steps)
          for (const seed of seeds) {
            const c = { variant: id, loraScale, guidanceScale, steps: n, seed };
            configs.set(configId(c), { id: configId(c), ...c });
          }
  }
  if (opts.loraScales && [...configs.values()].every((c) => c.loraScale === null)) {
    throw new Error(
      `LoRA scales were given, but none of the variants evaluated (${[...new Set(variants)].join(', ')}) has a LoRA`,
    );
  }
  return [...configs.values()];
}

/** The configuration other configurations are compared with by default: the reference variant's first. */
export function defaultReference(manifest: PackManifest, configs: readonly RunConfig[]): string {
  const ref = referenceVariant(manifest).id;
  return (configs.find((c) => c.variant === ref) ?? configs[0]!).id;
}

/** One ground-truth frame's scores. */
export interface FrameScores {
  tau: number;
  /** Metric name → value, null when it could not be measured (the reason in `unavailable`). */
  metrics: Record<string, number | null>;
}

/** One line of results.jsonl: an item scored with one configuration (or anchor). */
export interface ResultLine {
  item: string;
  config: string;
  split: string | null;
  category: string | null;
  frames: FrameScores[];
  /** The item's value per metric: `itemMetrics` of its frames (and a sequence's temporal metrics). */
  metrics: Record<string, number | null>;
  /**
   * Per metric, the frames left out of the item's mean for being exact (PSNR ∞) beside finite
   * ones; absent when none were.
   */
  exactFrames?: Record<string, number>;
  /** Why a metric is null, once per metric. */
  unavailable?: Record<string, string>;
  /** Clip packs: which clip frames were scored ("frame 8 of the 16-frame clip (τ 0.47)"). */
  picked?: string;
  /** Model time for the item (denoise + decode), ms; absent for anchors. */
  ms?: number;
}

/**
 * An item's value per metric: the mean over its frames, null when any frame lacks the metric. An
 * exact frame (PSNR ∞) is left out of the mean of the others and counted in `exactFrames`; an item
 * whose frames are all exact is ∞.
 */
export function itemMetrics(
  frames: readonly FrameScores[],
  names: readonly string[],
): { metrics: Record<string, number | null>; exactFrames: Record<string, number> } {
  const metrics: Record<string, number | null> = {};
  const exactFrames: Record<string, number> = {};
  const mean = (x: readonly number[]) => x.reduce((a, b) => a + b, 0) / x.length;
  for (const m of names) {
    const v = frames.map((f) => f.metrics[m] ?? null);
    if (v.includes(null)) {
      metrics[m] = null;
      continue;
    }
    const finite = (v as number[]).filter((x) => Number.isFinite(x));
    if (finite.length > 0 && finite.length < v.length) exactFrames[m] = v.length - finite.length;
    metrics[m] = finite.length > 0 ? mean(finite) : mean(v as number[]);
  }
  return { metrics, exactFrames };
}

/** What run.json says about a run: enough to merge shards and check a resume. */
export interface RunInfo {
  format: 'inbetween-eval';
  version: 1;
  pack: { id: string; version: string; dir: string };
  dataset: { dir: string; split: string | null; sequence: string; items: number };
  protocol: ProtocolId;
  fit: string;
  configs: RunConfig[];
  anchors: string[];
  reference: string;
  shard: { index: number; count: number } | null;
  /** The items this run (shard) covers, in order. */
  items: string[];
  /** Items the dataset could not give (missing frames, symlink loops), with why. */
  datasetProblems: { id: string; message: string }[];
}

/** The part of RunInfo two runs must share to be resumed into each other or merged. */
export function runIdentity(r: RunInfo): string {
  return JSON.stringify({
    pack: [r.pack.id, r.pack.version],
    dataset: [r.dataset.split, r.dataset.sequence, r.dataset.items],
    protocol: r.protocol,
    fit: r.fit,
    configs: r.configs.map((c) => c.id),
    anchors: r.anchors,
    shards: r.shard?.count ?? null,
  });
}
