/**
 * Paired differences of a per-item metric between two methods scored on the same items (the
 * evaluation report's "does the baseline beat the flow warp" checks). A difference of means over
 * 60 triplets is noisy — one in-between per triplet from one seed moves a triplet's PSNR by tenths
 * of a decibel (up to 0.7 dB measured on the cel pack) — so a check states the mean paired
 * difference with its 95% confidence interval, and whether that interval excludes zero, instead of
 * a bare "a > b".
 */

/** Mean of a − b over the items both score finitely, with a two-sided 95% confidence interval. */
export interface PairedDifference {
  /** Mean of the per-item differences a − b. */
  mean: number;
  /** 95% confidence interval of that mean (Student's t with n − 1 degrees of freedom). */
  low: number;
  high: number;
  /** Items used. */
  n: number;
  /** Items left out because a value was missing or not finite (e.g. PSNR of an exact frame). */
  excluded: number;
}

const Z975 = 1.959963984540054;

/**
 * The 0.975 quantile of Student's t with `df` degrees of freedom: tabulated for df ≤ 4, else the
 * Cornish–Fisher expansion around the normal quantile (within 0.12% for df ≥ 5).
 */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) throw new Error(`tQuantile975: degrees of freedom must be ≥ 1, got ${df}`);
  const table = [12.706204736174707, 4.302652729749464, 3.182446305284263, 2.776445105197799];
  if (Number.isInteger(df) && df <= table.length) return table[df - 1]!;
  const z = Z975;
  const z3 = z ** 3;
  const z5 = z ** 5;
  const z7 = z ** 7;
  return (
    z +
    (z3 + z) / (4 * df) +
    (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) +
    (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3)
  );
}

/**
 * Paired difference a[i] − b[i] over the items where both are finite numbers. With fewer than two
 * such items the interval is (−∞, ∞).
 */
export function pairedDifference(
  a: readonly (number | null)[],
  b: readonly (number | null)[],
): PairedDifference {
  if (a.length !== b.length) {
    throw new Error(
      `pairedDifference: ${a.length} values against ${b.length}; pair them item by item`,
    );
  }
  const d: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x != null && y != null && Number.isFinite(x) && Number.isFinite(y)) d.push(x - y);
  }
  const n = d.length;
  const excluded = a.length - n;
  if (n === 0) return { mean: NaN, low: -Infinity, high: Infinity, n, excluded };
  const mean = d.reduce((s, v) => s + v, 0) / n;
  if (n < 2) return { mean, low: -Infinity, high: Infinity, n, excluded };
  const variance = d.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  const half = tQuantile975(n - 1) * Math.sqrt(variance / n);
  return { mean, low: mean - half, high: mean + half, n, excluded };
}

/** Whether the 95% interval lies wholly above (`'above'`) or below (`'below'`) zero, or spans it. */
export function significance(p: PairedDifference): 'above' | 'below' | 'spans zero' {
  if (p.low > 0) return 'above';
  if (p.high < 0) return 'below';
  return 'spans zero';
}
