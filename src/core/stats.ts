/**
 * Latent statistics recorded at every denoising step: the studio plots them so a researcher can
 * see a run drift (std collapsing or exploding), and the pipeline uses them to stop a run that
 * produced NaN/Infinity or all zeros (e.g. fp16 graphs on an adapter without shader-f16) instead
 * of decoding garbage.
 */

/** Summary of a range of latent values; mean/std/min/max cover the finite values only. */
export interface LatentStats {
  mean: number;
  std: number;
  min: number;
  max: number;
  nonFinite: number;
}

/**
 * Statistics over data[offset, offset+length): mean/std (population std) / min / max over the
 * FINITE values only (NaN if none); nonFinite counts NaN and ±Infinity. One pass (Welford) in
 * float64. `length` defaults to the rest of the array.
 */
export function computeLatentStats(data: Float32Array, offset = 0, length?: number): LatentStats {
  const count = length ?? data.length - offset;
  if (
    !Number.isInteger(offset) ||
    offset < 0 ||
    !Number.isInteger(count) ||
    count < 0 ||
    offset + count > data.length
  ) {
    throw new Error(
      `range [${offset}, ${offset + count}) is outside an array of ${data.length} values`,
    );
  }
  let n = 0;
  let mean = 0;
  let m2 = 0;
  let min = Infinity;
  let max = -Infinity;
  let nonFinite = 0;
  const end = offset + count;
  for (let i = offset; i < end; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    n++;
    const delta = v - mean;
    mean += delta / n;
    m2 += delta * (v - mean);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (n === 0) return { mean: NaN, std: NaN, min: NaN, max: NaN, nonFinite };
  return { mean, std: Math.sqrt(m2 / n), min, max, nonFinite };
}

/**
 * The statistics of the same values multiplied by k > 0 (the sampler's c_in: EDM latents are
 * recorded at the scale the model sees them).
 */
export function scaleLatentStats(s: LatentStats, k: number): LatentStats {
  if (k === 1) return s;
  return {
    mean: s.mean * k,
    std: s.std * k,
    min: s.min * k,
    max: s.max * k,
    nonFinite: s.nonFinite,
  };
}

/** True when every value is exactly 0 (−0 included; NaN is not 0). True for an empty array. */
export function isAllZero(data: Float32Array): boolean {
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== 0) return false;
  }
  return true;
}

/** Arithmetic mean; NaN for an empty list. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Median (the mean of the two middle values of an even count); NaN for an empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
