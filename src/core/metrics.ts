/**
 * Image-quality metrics for comparing an in-between with its ground-truth frame, with one
 * convention everywhere (docs/metrics.md, ../shared/DESIGN.md "Metric conventions"):
 *
 * - PSNR: RGB channels of the 8-bit images, MSE over all pixels and the three channels, peak 255 —
 *   scikit-image `peak_signal_noise_ratio(a, b, data_range=255)` on uint8 RGB.
 * - SSIM: Wang et al. with an 11-tap Gaussian window (σ = 1.5, truncate 3.5), K1 = 0.01,
 *   K2 = 0.03, data range 255, population (not sample) covariances, statistics filtered over the
 *   whole image with scipy's 'reflect' border rule, then averaged over the valid region only (5
 *   pixels cropped from every border); per RGB channel and the mean of the three — exactly
 *   scikit-image 0.19.3 `structural_similarity(a, b, channel_axis=2, gaussian_weights=True,
 *   sigma=1.5, use_sample_covariance=False, data_range=255)`. The luma variant runs the same
 *   computation on Y = 0.299 R + 0.587 G + 0.114 B (BT.601, kept as float, not rounded).
 *
 * For the ToonCrafter-KDQ evaluation protocol (docs/metrics.md), `ssim` also computes scikit-image's
 * *defaults* (`structural_similarity(a, b, data_range=255)`): a 7×7 uniform window (scipy
 * `uniform_filter`, 'reflect'), sample covariances (× 49/48), 3 pixels cropped — per RGB channel
 * (`window: 'uniform7'`), or on OpenCV's 8-bit grayscale (`channel: 'gray'`: cv2.cvtColor
 * RGB2GRAY on uint8, OpenCV 4's 15-bit fixed point: (9798 R + 19235 G + 3735 B + 16384) >> 15).
 *
 * Alpha is ignored: the metrics read the stored R, G, B bytes of each pixel, as the reference
 * does after loading a PNG as RGB (PIL `convert('RGB')` and OpenCV's `imread` drop alpha without
 * compositing). Both images must be the same size; nothing is resized. Pure TypeScript, no DOM.
 */
import { assertRgbaImage, type RgbaImage } from './image';

/**
 * The metrics the studio reports, in the order they are shown, each under one name everywhere: the
 * scoring result (`src/core/scoring.ts`), the metrics worker's answer, `inbetween score --json`,
 * run.json and the evaluation's tables.
 */
export const METRIC_NAMES = ['psnr', 'ssim', 'ssimLuma', 'lpipsAlex', 'lpipsSqueeze'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** A short label for every metric the studio reports, shown next to each number. */
export interface MetricConvention extends Record<MetricName, string> {
  psnr: string;
  ssim: string;
  ssimLuma: string;
  /** LPIPS with the default AlexNet backbone. */
  lpipsAlex: string;
  /** LPIPS with the light SqueezeNet backbone. */
  lpipsSqueeze: string;
}

export const METRIC_CONVENTIONS: MetricConvention = {
  psnr: 'PSNR (RGB, uint8, peak 255)',
  ssim: 'SSIM (RGB mean, Gaussian σ=1.5, 11 taps, valid region)',
  ssimLuma: 'SSIM (luma BT.601, Gaussian σ=1.5, 11 taps, valid region)',
  lpipsAlex: 'LPIPS v0.1 (AlexNet, inputs [-1,1], no resize)',
  lpipsSqueeze: 'LPIPS v0.1 (SqueezeNet, inputs [-1,1], no resize)',
};

/** Gaussian window of the SSIM: σ = 1.5, truncated at 3.5 σ → radius 5, 11 taps. */
export const SSIM_SIGMA = 1.5;
export const SSIM_TRUNCATE = 3.5;
/** Half-width of the window: int(3.5 · 1.5 + 0.5) = 5 (scipy's rule). */
export const SSIM_RADIUS = Math.trunc(SSIM_TRUNCATE * SSIM_SIGMA + 0.5);
/** Window side, 11: images smaller than this on either side have no SSIM. */
export const SSIM_WINDOW = 2 * SSIM_RADIUS + 1;

const K1 = 0.01;
const K2 = 0.03;
const DATA_RANGE = 255;
const C1 = (K1 * DATA_RANGE) ** 2;
const C2 = (K2 * DATA_RANGE) ** 2;

/** scipy.ndimage's normalised 1-D Gaussian (`_gaussian_kernel1d`, order 0). */
function gaussianKernel(sigma: number, radius: number): Float64Array {
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 / (sigma * sigma)) * i * i);
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] = k[i]! / sum;
  return k;
}

const KERNEL = gaussianKernel(SSIM_SIGMA, SSIM_RADIUS);

/** An SSIM window: its 1-D taps (applied along both axes) and the covariance normalisation. */
interface SsimWindow {
  kernel: Float64Array;
  radius: number;
  /** 1 for population covariances; N/(N−1) for sample covariances over the N-pixel window. */
  covNorm: number;
}

/** The studio's window: Gaussian σ = 1.5, 11 taps, population covariances. */
const GAUSSIAN_WINDOW: SsimWindow = { kernel: KERNEL, radius: SSIM_RADIUS, covNorm: 1 };
/** scikit-image's default window: 7×7 uniform, sample covariances (49/48). */
const UNIFORM7_WINDOW: SsimWindow = {
  kernel: new Float64Array(7).fill(1 / 7),
  radius: 3,
  covNorm: 49 / 48,
};

/**
 * Mean SSIM of two single-channel float64 planes (skimage's computation, one channel).
 *
 * skimage filters the whole image (scipy.ndimage, mode 'reflect') and then averages the SSIM map
 * over the valid region only — the border of the window's radius cropped. Inside that region every
 * tap of the window falls inside the image, so no reflected value is ever used: this computes the
 * valid region alone, one row at a time, with the same sums in the same order (vertical pass, then
 * horizontal, taps in order) — the same float64 result, without the five image-sized filtered
 * copies.
 */
function ssimPlane(
  x: Float64Array,
  y: Float64Array,
  width: number,
  height: number,
  win: SsimWindow,
): number {
  const r = win.radius;
  const kernel = win.kernel;
  const taps = kernel.length;
  // Vertical sums of the current row: x, y, x², y², xy.
  const vx = new Float64Array(width);
  const vy = new Float64Array(width);
  const vxx = new Float64Array(width);
  const vyy = new Float64Array(width);
  const vxy = new Float64Array(width);
  const norm = win.covNorm;
  let sum = 0;
  for (let row = r; row < height - r; row++) {
    const top = (row - r) * width;
    for (let c = 0; c < width; c++) {
      let sx = 0;
      let sy = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let t = 0, i = top + c; t < taps; t++, i += width) {
        const k = kernel[t]!;
        const a = x[i]!;
        const b = y[i]!;
        sx += k * a;
        sy += k * b;
        sxx += k * (a * a);
        syy += k * (b * b);
        sxy += k * (a * b);
      }
      vx[c] = sx;
      vy[c] = sy;
      vxx[c] = sxx;
      vyy[c] = syy;
      vxy[c] = sxy;
    }
    let rowSum = 0;
    for (let c = r; c < width - r; c++) {
      let mx = 0;
      let my = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let t = 0; t < taps; t++) {
        const k = kernel[t]!;
        const j = c - r + t;
        mx += k * vx[j]!;
        my += k * vy[j]!;
        sxx += k * vxx[j]!;
        syy += k * vyy[j]!;
        sxy += k * vxy[j]!;
      }
      const varX = norm * (sxx - mx * mx);
      const varY = norm * (syy - my * my);
      const cov = norm * (sxy - mx * my);
      const a1 = 2 * mx * my + C1;
      const a2 = 2 * cov + C2;
      const b1 = mx * mx + my * my + C1;
      const b2 = varX + varY + C2;
      rowSum += (a1 * a2) / (b1 * b2);
    }
    sum += rowSum;
  }
  return sum / ((height - 2 * r) * (width - 2 * r));
}

/** Both images valid RGBA and the same size (metrics never resize). */
function assertSameSize(metric: string, a: RgbaImage, b: RgbaImage): void {
  assertRgbaImage(a, `${metric}: first image`);
  assertRgbaImage(b, `${metric}: second image`);
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(
      `${metric} needs two images of the same size, got ${a.width}×${a.height} and ${b.width}×${b.height} (images are never resized for metrics)`,
    );
  }
}

/**
 * Peak signal-to-noise ratio in dB: 10·log10(255² / MSE), the MSE taken over every pixel's R, G
 * and B (alpha ignored). Infinity when the RGB of the two images is identical.
 */
export function psnr(a: RgbaImage, b: RgbaImage): number {
  assertSameSize('PSNR', a, b);
  const da = a.data;
  const db = b.data;
  // Squared 8-bit differences are integers: the sum is exact in float64 up to 2^53.
  let sse = 0;
  for (let i = 0; i < da.length; i += 4) {
    const dr = da[i]! - db[i]!;
    const dg = da[i + 1]! - db[i + 1]!;
    const dbl = da[i + 2]! - db[i + 2]!;
    sse += dr * dr + dg * dg + dbl * dbl;
  }
  if (sse === 0) return Infinity;
  const mse = sse / (a.width * a.height * 3);
  return 10 * Math.log10((DATA_RANGE * DATA_RANGE) / mse);
}

/** SSIM's channels: R, G and B (mean of three), BT.601 luma as a float, or OpenCV's 8-bit gray. */
export type SsimChannel = 'rgb' | 'luma' | 'gray';

/**
 * cv2.cvtColor(RGB2GRAY) on uint8 (OpenCV 4): BT.601 weights in 15-bit fixed point, rounded. (The
 * 14-bit weights of older OpenCV, 4899/9617/1868, differ by one level on some pixels.)
 */
export function opencvGray(img: RgbaImage): Float64Array {
  const n = img.width * img.height;
  const d = img.data;
  const g = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    g[p] = (9798 * d[p * 4]! + 19235 * d[p * 4 + 1]! + 3735 * d[p * 4 + 2]! + 16384) >> 15;
  }
  return g;
}

/** One float64 plane per requested channel: R, G, B, BT.601 luma, or OpenCV's gray. */
function planes(img: RgbaImage, channel: SsimChannel): Float64Array[] {
  const n = img.width * img.height;
  const d = img.data;
  if (channel === 'gray') return [opencvGray(img)];
  if (channel === 'luma') {
    const y = new Float64Array(n);
    for (let p = 0; p < n; p++) {
      y[p] = 0.299 * d[p * 4]! + 0.587 * d[p * 4 + 1]! + 0.114 * d[p * 4 + 2]!;
    }
    return [y];
  }
  const out = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  for (let c = 0; c < 3; c++) {
    const plane = out[c]!;
    for (let p = 0; p < n; p++) plane[p] = d[p * 4 + c]!;
  }
  return out;
}

/**
 * Mean structural similarity (see the module comment for the exact conventions). `channel: 'rgb'`
 * (default) averages the SSIM of R, G and B; `'luma'` measures BT.601 luma; `'gray'` OpenCV's
 * 8-bit grayscale. `window: 'gaussian'` (default) is the studio's 11-tap Gaussian with population
 * covariances; `'uniform7'` scikit-image's defaults (7×7 uniform, sample covariances), which the
 * ToonCrafter-KDQ protocol uses. 1 for identical images. Throws when the images differ in size
 * or either side is under the window's width (11, or 7).
 */
export function ssim(
  a: RgbaImage,
  b: RgbaImage,
  opts?: { channel?: SsimChannel; window?: 'gaussian' | 'uniform7' },
): number {
  const channel = opts?.channel ?? 'rgb';
  if (channel !== 'rgb' && channel !== 'luma' && channel !== 'gray') {
    throw new Error(`SSIM channel must be 'rgb', 'luma' or 'gray', got "${String(channel)}"`);
  }
  const windowName = opts?.window ?? 'gaussian';
  if (windowName !== 'gaussian' && windowName !== 'uniform7') {
    throw new Error(`SSIM window must be 'gaussian' or 'uniform7', got "${String(windowName)}"`);
  }
  const win = windowName === 'gaussian' ? GAUSSIAN_WINDOW : UNIFORM7_WINDOW;
  const side = 2 * win.radius + 1;
  assertSameSize('SSIM', a, b);
  if (a.width < side || a.height < side) {
    throw new Error(
      `SSIM needs images at least ${side}×${side} pixels (its ${windowName === 'gaussian' ? 'Gaussian' : 'uniform'} window is ${side} pixels wide), got ${a.width}×${a.height}`,
    );
  }
  const pa = planes(a, channel);
  const pb = planes(b, channel);
  let sum = 0;
  for (let c = 0; c < pa.length; c++) sum += ssimPlane(pa[c]!, pb[c]!, a.width, a.height, win);
  return sum / pa.length;
}

/**
 * The heatmap's colour ramp: five stops of matplotlib's "inferno" (perceptually uniform, dark to
 * bright), at t = 0, 0.25, 0.5, 0.75, 1, interpolated linearly in sRGB between stops.
 */
export const HEATMAP_RAMP: readonly (readonly [number, number, number])[] = [
  [0, 0, 4],
  [87, 16, 110],
  [188, 55, 84],
  [249, 142, 9],
  [252, 255, 164],
];

/**
 * Colour of a mean absolute difference d ∈ [0, 255] (8-bit levels): t = sqrt(d / 255) on the
 * inferno ramp. The square root spreads small differences (d = 16 → t = 0.25, d = 64 → t = 0.5,
 * d = 144 → t = 0.75) while keeping the scale absolute, so heatmaps of different frames compare.
 */
export function heatmapColor(d: number): [number, number, number] {
  const t = Math.sqrt(Math.min(255, Math.max(0, d)) / 255);
  const segments = HEATMAP_RAMP.length - 1;
  const s = Math.min(segments - 1, Math.floor(t * segments));
  const f = t * segments - s;
  const lo = HEATMAP_RAMP[s]!;
  const hi = HEATMAP_RAMP[s + 1]!;
  return [
    Math.round(lo[0] + f * (hi[0] - lo[0])),
    Math.round(lo[1] + f * (hi[1] - lo[1])),
    Math.round(lo[2] + f * (hi[2] - lo[2])),
  ];
}

/**
 * Per-pixel mean |a − b| over R, G and B (alpha ignored), drawn with `heatmapColor`: an opaque
 * RGBA image of the same size. Identical pixels are near-black (0, 0, 4); a full black/white
 * difference is pale yellow (252, 255, 164).
 */
export function absDiffHeatmap(a: RgbaImage, b: RgbaImage): RgbaImage {
  assertSameSize('Difference heatmap', a, b);
  // The mean of three integer differences takes 766 values: colour each once.
  const lut = new Uint8ClampedArray(766 * 3);
  for (let s = 0; s <= 765; s++) lut.set(heatmapColor(s / 3), s * 3);
  const da = a.data;
  const db = b.data;
  const out = new Uint8ClampedArray(da.length);
  for (let i = 0; i < da.length; i += 4) {
    const s =
      Math.abs(da[i]! - db[i]!) +
      Math.abs(da[i + 1]! - db[i + 1]!) +
      Math.abs(da[i + 2]! - db[i + 2]!);
    out[i] = lut[s * 3]!;
    out[i + 1] = lut[s * 3 + 1]!;
    out[i + 2] = lut[s * 3 + 2]!;
    out[i + 3] = 255;
  }
  return { width: a.width, height: a.height, data: out };
}
