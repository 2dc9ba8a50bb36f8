/**
 * From per-triplet scores and timings to the evaluation's result: every table of the report (the
 * variants next to the anchors, each drawn set) and every check, as one plain-JSON record
 * (`EvaluationResult`, written as evaluation.json). The Markdown and the SVG are drawn from this
 * record alone (render.ts), so the two files cannot disagree. Pure: runs anywhere.
 *
 * A number that is not finite is stored as `null`: a PSNR mean is +∞ when some in-between equals
 * its ground truth, and the row then says how many (`psnrExact`) and the mean of the others.
 */
import { variantSizeBytes, type PackManifest } from '../manifest';
import type { MetricName } from '../metrics';
import { pairedDifference, significance } from '../pairedDifference';
import { mean, median } from '../stats';
import type { EvaluationConfig, EvaluationPlan, LoraSweep } from './plan';

/** One triplet's scores (`ImageScores` without the map); PSNR may be `Infinity`. */
export type MetricValues = Record<MetricName, number | null>;

/**
 * The rows that are not variants: the latent ablation and its ceiling (the true latent decoded),
 * anchors any method should beat, and the resampling ceiling.
 */
export const ANCHORS = {
  keyavg: "Keyframes' average latent, decoded (ablation: no denoiser)",
  truelatent: "True middle frame's latent, decoded (ceiling: a perfect denoiser)",
  flow: 'Flow warp (OpenCV Farnebäck, halfway; anchor)',
  blend: 'Frame blend (anchor)',
  repeat: 'Repeated start frame (anchor)',
  roundtrip: 'True middle frame, fitted and restored (ceiling)',
} as const;
export type AnchorId = keyof typeof ANCHORS;

/** Row id of a configuration run on keyframes letterboxed into the pack's frame (drawn sets). */
export const letterboxId = (configId: string) => `${configId}@letterbox`;

/** What one run over a set of triplets gives. */
export interface ScoredSet {
  triplets: number;
  /** Row id (config id, `letterboxId(config id)` or an anchor id) → one entry per triplet, in order. */
  scores: Record<string, MetricValues[]>;
  /** Config id → mean |Δ| in 8-bit levels of its in-between from the reference's, per triplet. */
  diffs: Record<string, number[]>;
  /**
   * Config id → the studio's collapse check (`detectCollapse`) of its latent std across the steps
   * against the reference's run on the same triplet and seed, per triplet; only configs at the
   * reference's step count.
   */
  collapse?: Record<string, CollapseSample[]>;
}

/** One run's collapse check against the reference's run on the same triplet. */
export interface CollapseSample {
  /** Final latent std over the reference's; null when not comparable. */
  finalStdRatio: number | null;
  collapsed: boolean;
}

/** The timings of one evaluation. */
export interface EvaluationTimings {
  /** Config id → ms per in-between: the benchmark's warm median, one per round. */
  perConfig: Record<string, number[]>;
  /** ms of each in-between of the reference and the fast variant, run alternately. */
  alternating: { reference: number[]; fast: number[] } | null;
  threads: number;
}

/** One row of a table. */
export interface ResultRow {
  id: string;
  label: string;
  kind: 'variant' | 'anchor' | 'ceiling';
  variant: string | null;
  steps: number | null;
  loraScale: number | null;
  /** Mean PSNR (dB) over the triplets; null when some are exact (+∞) — see `psnrExact`. */
  psnr: number | null;
  /** Triplets whose in-between has exactly the ground truth's RGB (PSNR +∞). */
  psnrExact: number;
  /** Mean PSNR of the other triplets when some are exact. */
  psnrOfOthers: number | null;
  ssim: number | null;
  ssimLuma: number | null;
  lpipsAlex: number | null;
  lpipsSqueeze: number | null;
  /** Mean |Δ| (8-bit levels) from the reference's in-between (variants only). */
  diffFromReference: number | null;
  /** Median ms per in-between (variants of the main table only). */
  msPerInbetween: number | null;
  /** Bytes of every file the variant loads (`variantSizeBytes`). */
  sizeBytes: number | null;
}

/** A paired difference reference − anchor with its 95% interval (null bounds: unbounded). */
export interface PairedSummary {
  mean: number | null;
  low: number | null;
  high: number | null;
  n: number;
  excluded: number;
  verdict: 'better' | 'worse' | 'within noise';
}

export interface MetricComparison {
  reference: number | null;
  anchor: number | null;
  /** The reference's mean is better (PSNR higher, LPIPS lower). */
  better: boolean;
  paired: PairedSummary | null;
}

export interface AnchorCheck {
  anchor: 'blend' | 'flow';
  psnr: MetricComparison;
  /** Null when LPIPS was not measured. */
  lpipsAlex: MetricComparison | null;
}

export interface HalfPrecisionCheck {
  config: string;
  label: string;
  psnrDiff: number | null;
  lpipsAlexDiff: number | null;
  /** Within 0.1 dB PSNR and 0.005 LPIPS-Alex of the reference. */
  pass: boolean;
}

export interface FastCheck {
  config: string;
  label: string;
  steps: number;
  referenceSteps: number;
  /** Reference − fast, dB. */
  psnrDrop: number | null;
  /** Within 0.5 dB PSNR of the reference. */
  quality: boolean;
  speedup: number | null;
  /** At least 4× faster per in-between. */
  faster: boolean;
  referenceMs: number | null;
  fastMs: number | null;
  inbetweens: number;
}

export interface LoraCheck {
  variant: string;
  label: string;
  scales: number[];
  /** Mean |Δ| from the reference at each scale. */
  diffs: (number | null)[];
  /** Mean final latent std over the reference's (same triplet and seed) at each scale. */
  finalStdRatios: (number | null)[];
  /** Triplets the studio's collapse check flags at each scale, of `triplets`. */
  collapsed: number[];
  triplets: number;
  /** The distance from the reference never shrinks as the scale grows. */
  growsWithScale: boolean;
}

export interface EvaluationChecks {
  anchors: AnchorCheck[];
  halfPrecision: HalfPrecisionCheck[];
  fast: FastCheck | null;
  lora: LoraCheck[];
}

/** One compared configuration against one anchor on a drawn set, triplet by triplet. */
export interface DrawnPaired {
  config: string;
  label: string;
  anchor: 'flow' | 'blend' | 'keyavg' | 'truelatent';
  psnr: PairedSummary;
  /** Null when LPIPS was not measured. */
  lpipsAlex: PairedSummary | null;
}

export interface DrawnTable {
  /** The set's folder, relative to the repository. */
  dir: string;
  triplets: number;
  rows: ResultRow[];
  /**
   * Each compared configuration (fitted) minus the flow warp, minus frame blend, minus the keyframes'
   * average latent decoded (the latent ablation: what the denoiser adds) and minus the true middle
   * frame's latent decoded (what a perfect denoiser would add beyond it).
   */
  paired?: DrawnPaired[];
  /** Every row's scores triplet by triplet (evaluation.json only; not in the Markdown). */
  perTriplet?: PerTripletScores;
}

/** The metrics kept triplet by triplet for a drawn set. */
export const PER_TRIPLET_METRICS = ['psnr', 'ssim', 'lpipsAlex'] as const;

/**
 * A drawn set's scores triplet by triplet, so that two reports can be compared clip by clip and a
 * set can be split by what its clips show (`models/training/report_strata.py`). Values keep six
 * significant digits.
 */
export interface PerTripletScores {
  /** The triplets' folder names, in the order of every row's values. */
  triplets: string[];
  /**
   * Row id (as in `rows`) → metric → one value per triplet: null where the metric was not measured
   * or, for PSNR, where the in-between equals the true middle frame (+∞).
   */
  rows: Record<string, Record<(typeof PER_TRIPLET_METRICS)[number], (number | null)[]>>;
}

/** evaluation.json: every table and check of REPORT.md, and what the report says about its run. */
export interface EvaluationResult {
  pack: { id: string; name: string; size: [number, number]; multipleOf: number };
  /** YYYY-MM-DD. */
  date: string;
  /** The triplets' folder (`<data>/<split>`), relative to the repository. */
  data: string;
  triplets: number;
  seed: number;
  threads: number;
  /** Config ids. */
  reference: string;
  fast: string | null;
  /** Variants (plan order), then the anchors. */
  table: ResultRow[];
  checks: EvaluationChecks;
  loraSweeps: (LoraSweep & {
    svg: string;
    /** The sweep's contact sheet (PNG beside the report) and the triplets its rows show. */
    sheet?: { file: string; triplets: string[] };
  })[];
  drawn: DrawnTable[];
  /** The commands that rebuild this report. */
  reproduce: string[];
}

export const finiteOrNull = (x: number | null | undefined): number | null =>
  x !== null && x !== undefined && Number.isFinite(x) ? x : null;

/** Mean of one metric over a row's triplets; null when any value is missing (may be +∞). */
export function meanMetric(values: readonly MetricValues[], k: MetricName): number | null {
  const xs = values.map((x) => x[k]);
  return xs.length && xs.every((v) => v !== null) ? mean(xs as number[]) : null;
}

/** A table row from per-triplet scores. */
export function resultRow(
  id: string,
  label: string,
  values: readonly MetricValues[],
  extra: Partial<ResultRow> = {},
): ResultRow {
  const exact = values.filter((x) => x.psnr === Infinity).length;
  const others = values.filter((x) => x.psnr !== Infinity);
  return {
    id,
    label,
    kind: 'anchor',
    variant: null,
    steps: null,
    loraScale: null,
    psnr: finiteOrNull(meanMetric(values, 'psnr')),
    psnrExact: exact,
    psnrOfOthers: exact ? finiteOrNull(meanMetric(others, 'psnr')) : null,
    ssim: finiteOrNull(meanMetric(values, 'ssim')),
    ssimLuma: finiteOrNull(meanMetric(values, 'ssimLuma')),
    lpipsAlex: finiteOrNull(meanMetric(values, 'lpipsAlex')),
    lpipsSqueeze: finiteOrNull(meanMetric(values, 'lpipsSqueeze')),
    diffFromReference: null,
    msPerInbetween: null,
    sizeBytes: null,
    ...extra,
  };
}

function variantRow(
  manifest: PackManifest,
  c: EvaluationConfig,
  set: ScoredSet,
  id = c.id,
  label = c.label,
  timings?: EvaluationTimings,
): ResultRow {
  const diffs = set.diffs[id];
  const times = timings?.perConfig[c.id];
  return resultRow(id, label, set.scores[id] ?? [], {
    kind: 'variant',
    variant: c.variant,
    steps: c.steps,
    loraScale: c.loraScale ?? null,
    diffFromReference: diffs?.length ? mean(diffs) : null,
    msPerInbetween: times?.length ? median(times) : null,
    sizeBytes: variantSizeBytes(manifest, c.variant),
  });
}

/** The anchors present in a set, in the report's order. */
function anchorRows(set: ScoredSet, ids: readonly AnchorId[]): ResultRow[] {
  return ids
    .filter((id) => set.scores[id])
    .map((id) =>
      resultRow(id, ANCHORS[id], set.scores[id]!, {
        kind: id === 'roundtrip' || id === 'truelatent' ? 'ceiling' : 'anchor',
      }),
    );
}

/** The main table: every configuration, then the flow warp (if any), frame blend, repeated frame. */
export function mainTable(
  manifest: PackManifest,
  plan: EvaluationPlan,
  set: ScoredSet,
  timings: EvaluationTimings,
): ResultRow[] {
  return [
    ...plan.configs.map((c) => variantRow(manifest, c, set, c.id, c.label, timings)),
    ...anchorRows(set, ['flow', 'blend', 'repeat']),
  ];
}

/**
 * A drawn set's table: the compared configs as the studio fits by default (Auto), then letterboxed
 * into the pack's frame, the anchors, the ceiling.
 */
export function drawnTable(
  manifest: PackManifest,
  plan: EvaluationPlan,
  dir: string,
  set: ScoredSet,
  /** The triplets' folder names, in scoring order: adds `perTriplet`. */
  triplets?: readonly string[],
): DrawnTable {
  if (triplets && triplets.length !== set.triplets)
    throw new Error(`${triplets.length} triplet names for ${set.triplets} scored triplets`);
  const table: DrawnTable = {
    dir,
    triplets: set.triplets,
    rows: [
      ...plan.compared.map((c) => variantRow(manifest, c, set)),
      ...plan.compared.map((c) =>
        variantRow(
          manifest,
          c,
          set,
          letterboxId(c.id),
          `${c.label}, letterboxed into ${manifest.image.defaultSize.join('×')}`,
        ),
      ),
      ...anchorRows(set, ['keyavg', 'truelatent', 'flow', 'blend', 'repeat', 'roundtrip']),
    ],
    paired: plan.compared.flatMap((c) =>
      (['flow', 'blend', 'keyavg', 'truelatent'] as const)
        .filter((a) => set.scores[a]?.length)
        .map((anchor) => ({
          config: c.id,
          label: c.label,
          anchor,
          psnr: paired(set, c.id, anchor, 'psnr'),
          lpipsAlex: hasLpips(set, c.id, anchor) ? paired(set, c.id, anchor, 'lpipsAlex') : null,
        })),
    ),
  };
  if (triplets) table.perTriplet = perTripletScores(table.rows, set, triplets);
  return table;
}

const sixDigits = (x: number | null): number | null => {
  const v = finiteOrNull(x);
  return v === null ? null : Number(v.toPrecision(6));
};

function perTripletScores(
  rows: readonly ResultRow[],
  set: ScoredSet,
  triplets: readonly string[],
): PerTripletScores {
  const out: PerTripletScores = { triplets: [...triplets], rows: {} };
  for (const { id } of rows) {
    const values = set.scores[id] ?? [];
    out.rows[id] = Object.fromEntries(
      PER_TRIPLET_METRICS.map((k) => [
        k,
        triplets.map((_, i) => sixDigits(values[i]?.[k] ?? null)),
      ]),
    ) as PerTripletScores['rows'][string];
  }
  return out;
}

/** Both rows carry LPIPS-Alex on every triplet. */
const hasLpips = (set: ScoredSet, a: string, b: string): boolean =>
  [a, b].every((id) => meanMetric(set.scores[id] ?? [], 'lpipsAlex') !== null);

function paired(
  set: ScoredSet,
  reference: string,
  anchor: string,
  k: 'psnr' | 'lpipsAlex',
): PairedSummary {
  const values = (id: string) => (set.scores[id] ?? []).map((x) => x[k]);
  const p = pairedDifference(values(reference), values(anchor));
  const side = significance(p);
  const good = k === 'psnr' ? 'above' : 'below';
  return {
    mean: finiteOrNull(p.mean),
    low: finiteOrNull(p.low),
    high: finiteOrNull(p.high),
    n: p.n,
    excluded: p.excluded,
    verdict: side === 'spans zero' ? 'within noise' : side === good ? 'better' : 'worse',
  };
}

/** Every check of the report, from the main set's scores and the timings. */
export function evaluationChecks(
  plan: EvaluationPlan,
  set: ScoredSet,
  timings: EvaluationTimings,
): EvaluationChecks {
  const ref = plan.reference.id;
  const m = (id: string, k: MetricName) => meanMetric(set.scores[id] ?? [], k);
  const anchors: AnchorCheck[] = (['blend', 'flow'] as const)
    .filter((a) => set.scores[a])
    .map((a) => {
      const psnrRef = m(ref, 'psnr') ?? NaN;
      const psnrAnchor = m(a, 'psnr') ?? NaN;
      const lpRef = m(ref, 'lpipsAlex');
      const lpAnchor = m(a, 'lpipsAlex');
      return {
        anchor: a,
        psnr: {
          reference: finiteOrNull(psnrRef),
          anchor: finiteOrNull(psnrAnchor),
          better: psnrRef > psnrAnchor,
          paired: paired(set, ref, a, 'psnr'),
        },
        lpipsAlex:
          lpRef !== null && lpAnchor !== null
            ? {
                reference: lpRef,
                anchor: lpAnchor,
                better: lpRef < lpAnchor,
                paired: paired(set, ref, a, 'lpipsAlex'),
              }
            : null,
      };
    });

  const halfPrecision = plan.halfPrecision.map((c): HalfPrecisionCheck => {
    const dp = Math.abs((m(c.id, 'psnr') ?? NaN) - (m(ref, 'psnr') ?? NaN));
    const dl = Math.abs((m(c.id, 'lpipsAlex') ?? NaN) - (m(ref, 'lpipsAlex') ?? NaN));
    return {
      config: c.id,
      label: c.label,
      psnrDiff: finiteOrNull(dp),
      lpipsAlexDiff: finiteOrNull(dl),
      pass: dp <= 0.1 && dl <= 0.005,
    };
  });

  let fast: FastCheck | null = null;
  if (plan.fast) {
    const drop = (m(ref, 'psnr') ?? NaN) - (m(plan.fast.id, 'psnr') ?? NaN);
    const alt = timings.alternating;
    const referenceMs = alt ? median(alt.reference) : NaN;
    const fastMs = alt ? median(alt.fast) : NaN;
    const speedup = referenceMs / fastMs;
    fast = {
      config: plan.fast.id,
      label: plan.fast.label,
      steps: plan.fast.steps,
      referenceSteps: plan.reference.steps,
      psnrDrop: finiteOrNull(drop),
      quality: drop <= 0.5,
      speedup: finiteOrNull(speedup),
      faster: speedup >= 4,
      referenceMs: finiteOrNull(referenceMs),
      fastMs: finiteOrNull(fastMs),
      inbetweens: alt?.fast.length ?? 0,
    };
  }

  const lora = plan.loraSweeps.map((s): LoraCheck => {
    const diffs = s.configs.map((id) => {
      const d = set.diffs[id];
      return d?.length ? mean(d) : null;
    });
    const known = diffs.filter((d): d is number => d !== null);
    const collapse = s.configs.map((id) => set.collapse?.[id] ?? []);
    return {
      variant: s.variant,
      label: s.label,
      scales: s.scales,
      diffs,
      finalStdRatios: collapse.map((runs) => {
        const r = runs.map((x) => x.finalStdRatio);
        return r.length && r.every((x) => x !== null) ? mean(r as number[]) : null;
      }),
      collapsed: collapse.map((runs) => runs.filter((x) => x.collapsed).length),
      triplets: set.triplets,
      growsWithScale:
        known.length === diffs.length && known.every((d, i) => i === 0 || d >= known[i - 1]!),
    };
  });
  return { anchors, halfPrecision, fast, lora };
}
