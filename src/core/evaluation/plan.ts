/**
 * What a pack evaluation runs, read from any pack's manifest: one configuration per variant (a LoRA
 * variant at several scales of its range), the reference variant the others are compared with
 * (`referenceVariant`: the manifest's first), the fast variant (the one with the fewest
 * `recommendedSteps`, when that is fewer than the reference's steps) and the half-precision
 * variants checked against the reference. No variant id is written in here.
 */
import { referenceVariant, variantSteps, type PackManifest, type VariantSpec } from '../manifest';

/** One row of the evaluation: a variant at its steps (and, for a LoRA variant, one scale). */
export interface EvaluationConfig {
  /** The row id: the variant id, or `<variant>@<scale>` for a LoRA variant. */
  id: string;
  label: string;
  variant: string;
  steps: number;
  loraScale?: number;
}

/** One LoRA variant's scale sweep. */
export interface LoraSweep {
  variant: string;
  label: string;
  scales: number[];
  /** The config id of each scale, in `scales` order. */
  configs: string[];
}

export interface EvaluationPlan {
  /** Every configuration, in manifest order (the reference's first). */
  configs: EvaluationConfig[];
  /** The configuration every other is compared with: the reference variant at its own steps. */
  reference: EvaluationConfig;
  /** The fast variant's configuration, or null when no variant needs fewer steps. */
  fast: EvaluationConfig | null;
  /** Variants in reduced precision (fp16, int8), each checked against the reference. */
  halfPrecision: EvaluationConfig[];
  loraSweeps: LoraSweep[];
  /** What the drawn sets and the contact sheet run: the reference, and the fast variant if any. */
  compared: EvaluationConfig[];
}

/**
 * The scales a LoRA variant is evaluated at: its range's minimum, default, midpoint and maximum
 * (sorted, without repeats) — 0, 0.15, 0.5, 1 for a range 0…1 with default 0.15.
 */
export function loraSweepScales(range: NonNullable<VariantSpec['loraScale']>): number[] {
  const scales = [range.min, range.default, (range.min + range.max) / 2, range.max];
  return [...new Set(scales)].sort((a, b) => a - b);
}

/** The evaluation plan of a pack (see the module comment for what is chosen and why). */
export function planEvaluation(manifest: PackManifest): EvaluationPlan {
  const configs: EvaluationConfig[] = [];
  const loraSweeps: LoraSweep[] = [];
  const own = new Map<string, EvaluationConfig>();
  for (const v of manifest.variants) {
    const steps = variantSteps(manifest, v);
    if (!v.loraScale) {
      const c = { id: v.id, label: v.label, variant: v.id, steps };
      configs.push(c);
      own.set(v.id, c);
      continue;
    }
    const scales = loraSweepScales(v.loraScale);
    const sweep = scales.map((s) => ({
      id: `${v.id}@${s}`,
      label: `${v.label}, scale ${s}`,
      variant: v.id,
      steps,
      loraScale: s,
    }));
    configs.push(...sweep);
    own.set(v.id, sweep[scales.indexOf(v.loraScale.default)]!);
    loraSweeps.push({ variant: v.id, label: v.label, scales, configs: sweep.map((c) => c.id) });
  }
  const refSpec = referenceVariant(manifest);
  const reference = own.get(refSpec.id)!;
  const fastSpec = manifest.variants
    .filter((v) => v.id !== refSpec.id && v.recommendedSteps !== undefined)
    .sort((a, b) => a.recommendedSteps! - b.recommendedSteps!)[0];
  const fast =
    fastSpec && variantSteps(manifest, fastSpec) < reference.steps ? own.get(fastSpec.id)! : null;
  const halfPrecision = manifest.variants
    .filter((v) => v.id !== refSpec.id && (v.precision === 'fp16' || v.precision === 'int8'))
    .map((v) => own.get(v.id)!);
  return {
    configs,
    reference,
    fast,
    halfPrecision,
    loraSweeps,
    compared: fast ? [reference, fast] : [reference],
  };
}
