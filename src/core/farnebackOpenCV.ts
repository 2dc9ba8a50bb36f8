/**
 * OpenCV's `calcOpticalFlowFarneback` (video/src/optflowgf.cpp, the CPU path with the box window,
 * flags 0) written again in plain TypeScript, so that the evaluation's flow-warp anchor is the very
 * warp that independent evaluations quote ("Farnebäck flow warp, OpenCV: 5 levels, window 21, 5
 * iterations, poly_n 7, σ 1.5"). `src/core/farneback.ts` is the studio's own, simpler Farnebäck (a
 * pyramid by 2×2 averaging, no border weights); its flows differ from OpenCV's by tenths of a pixel on
 * drawn frames, enough to move a warp's PSNR by a few tenths of a dB.
 *
 * What OpenCV does, step by step, and this file with it:
 * - gray: `cvtColor(RGB2GRAY)` on uint8, OpenCV 4's 15-bit fixed point (the same as `metrics.ts`);
 * - levels: while a side × pyrScaleᵏ stays at 32 px or more, up to `levels` (so `levels` 5 on a
 *   512×320 frame gives 3 reduced levels plus the frame itself);
 * - each level k, coarse to fine, from the full-resolution gray image: a Gaussian blur of σ =
 *   (1/scale − 1)/2 (kernel size round(5σ) | 1, at least 3; σ 0 at the finest level, which OpenCV
 *   turns into its fixed 3-tap kernel ¼ ½ ¼), borders reflected (BORDER_REFLECT_101), then a bilinear
 *   resize to round(side × scale) (pixel centres aligned, edges clamped);
 * - the flow of the coarser level resized the same way and divided by pyrScale (zero at the coarsest);
 * - the polynomial expansion over ±`polyN` px with Gaussian weights of σ `polySigma` (OpenCV's
 *   FarnebackPolyExp: separable, borders replicated, the six coefficients mixed by four entries of the
 *   inverse moment matrix);
 * - `iterations` times: the five entries of AᵀA and Aᵀ∆b per pixel (the second image's coefficients
 *   sampled bilinearly at the current flow; where that falls outside the image, the first image's
 *   alone; the five outermost rows and columns down-weighted by OpenCV's 0.14, 0.14, 0.4472…), their
 *   mean over a `winsize`² box (borders replicated), and the 2×2 solve with OpenCV's 1e-3 on the
 *   determinant; the matrices are rebuilt from the new flow except after the last iteration.
 *
 * Arithmetic is in doubles where OpenCV's is partly in floats, so flows agree to a few thousandths of a
 * pixel, not bit for bit (`farnebackOpenCV.test.ts` compares with OpenCV itself).
 */
import type { RgbaImage } from './image';
import { invertMatrix, type Flow } from './farneback';
import { opencvGray } from './metrics';

/** `calcOpticalFlowFarneback`'s parameters, by OpenCV's names. */
export interface OpenCvFarnebackParams {
  pyrScale: number;
  levels: number;
  winsize: number;
  iterations: number;
  polyN: number;
  polySigma: number;
}

/** The settings issue #20's independent evaluation names for its flow-warp anchor. */
export const ISSUE20_FLOW: OpenCvFarnebackParams = {
  pyrScale: 0.5,
  levels: 5,
  winsize: 21,
  iterations: 5,
  polyN: 7,
  polySigma: 1.5,
};

/**
 * TecoGAN's tOF settings (its metrics.py: `calcOpticalFlowFarneback(prev, next, None, 0.5, 3, 15, 3,
 * 5, 1.2, 0)` on `cvtColor(RGB2GRAY)`).
 */
export const TECOGAN_FLOW: OpenCvFarnebackParams = {
  pyrScale: 0.5,
  levels: 3,
  winsize: 15,
  iterations: 3,
  polyN: 5,
  polySigma: 1.2,
};

interface Plane {
  w: number;
  h: number;
  d: Float64Array;
}

/** cvRound: to the nearest integer, halves to even (as lrint does). */
function cvRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** OpenCV 4's RGB2GRAY on uint8 (`metrics.ts`'s `opencvGray`) as a plane. */
function grayPlane(img: RgbaImage): Plane {
  return { w: img.width, h: img.height, d: opencvGray(img) };
}

/** getGaussianKernel(ksize, sigma): OpenCV's fixed small kernels when σ ≤ 0, else sampled and normalised. */
function gaussianKernel(ksize: number, sigma: number): Float64Array {
  const small: Record<number, number[]> = {
    1: [1],
    3: [0.25, 0.5, 0.25],
    5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
    7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
  };
  if (sigma <= 0 && small[ksize]) return Float64Array.from(small[ksize]);
  const s = sigma > 0 ? sigma : ((ksize - 1) * 0.5 - 1) * 0.3 + 0.8;
  const k = new Float64Array(ksize);
  let sum = 0;
  for (let i = 0; i < ksize; i++) {
    const x = i - (ksize - 1) * 0.5;
    k[i] = Math.exp(-(x * x) / (2 * s * s));
    sum += k[i]!;
  }
  for (let i = 0; i < ksize; i++) k[i]! /= sum;
  return k;
}

/** BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba) for any index. */
function reflect101(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/**
 * GaussianBlur(ksize, σ, BORDER_REFLECT_101) of a plane, computed only where `rows` × `cols` (flags per
 * row and column) are set and zero elsewhere: a pyramid level's resize reads two source rows and columns
 * per pixel, so a coarse level blurs a few of them instead of the whole image. Vertical pass first.
 */
function gaussianBlur(
  p: Plane,
  ksize: number,
  sigma: number,
  rows: Uint8Array,
  cols: Uint8Array,
): Plane {
  const k = gaussianKernel(ksize, sigma);
  const r = (ksize - 1) / 2;
  const { w, h, d } = p;
  const vert = new Float64Array(w);
  const ext = Int32Array.from({ length: w + 2 * r }, (_, i) => reflect101(i - r, w));
  const wanted = Int32Array.from(Array.from(cols.keys()).filter((x) => cols[x]));
  const out = new Float64Array(w * h);
  for (let y = 0; y < h; y++) {
    if (!rows[y]) continue;
    vert.fill(0);
    for (let i = 0; i < ksize; i++) {
      const ki = k[i]!;
      const src = reflect101(y + i - r, h) * w;
      for (let x = 0; x < w; x++) vert[x]! += ki * d[src + x]!;
    }
    const dst = y * w;
    for (const x of wanted) {
      let sum = 0;
      for (let i = 0; i < ksize; i++) sum += k[i]! * vert[ext[x + i]!]!;
      out[dst + x] = sum;
    }
  }
  return { w, h, d: out };
}

/** For each output index along one side: the source index and the weight of the next one (INTER_LINEAR). */
function linearTaps(src: number, dst: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const scale = src / dst;
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const f = new Float64Array(dst);
  for (let x = 0; x < dst; x++) {
    let fx = (x + 0.5) * scale - 0.5;
    let sx = Math.floor(fx);
    fx -= sx;
    if (sx < 0) {
      fx = 0;
      sx = 0;
    }
    if (sx >= src - 1) {
      fx = 0;
      sx = src - 1;
    }
    i0[x] = sx;
    i1[x] = Math.min(sx + 1, src - 1);
    f[x] = fx;
  }
  return { i0, i1, f };
}

/** Flags for the `src` rows (or columns) that resizeLinear to `dst` of them reads. */
function read(src: number, dst: number): Uint8Array {
  const flags = new Uint8Array(src);
  if (src === dst) return flags.fill(1);
  const { i0, i1 } = linearTaps(src, dst);
  for (let x = 0; x < dst; x++) flags[i0[x]!] = flags[i1[x]!] = 1;
  return flags;
}

/** cv::resize(INTER_LINEAR) of a plane to w × h. */
function resizeLinear(p: Plane, w: number, h: number): Plane {
  if (p.w === w && p.h === h) return { w, h, d: Float64Array.from(p.d) };
  const tx = linearTaps(p.w, w);
  const ty = linearTaps(p.h, h);
  const out = new Float64Array(w * h);
  for (let y = 0; y < h; y++) {
    const r0 = ty.i0[y]! * p.w;
    const r1 = ty.i1[y]! * p.w;
    const fy = ty.f[y]!;
    for (let x = 0; x < w; x++) {
      const a = tx.i0[x]!;
      const b = tx.i1[x]!;
      const fx = tx.f[x]!;
      const top = p.d[r0 + a]! * (1 - fx) + p.d[r0 + b]! * fx;
      const bottom = p.d[r1 + a]! * (1 - fx) + p.d[r1 + b]! * fx;
      out[y * w + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return { w, h, d: out };
}

/** FarnebackPrepareGaussian: the taps g, x·g, x²·g and four entries of the inverse moment matrix. */
function polyWeights(n: number, sigmaIn: number) {
  const sigma = sigmaIn < 1.1920929e-7 ? n * 0.3 : sigmaIn;
  const g = new Float64Array(2 * n + 1);
  let s = 0;
  for (let x = -n; x <= n; x++) {
    g[x + n] = Math.exp(-(x * x) / (2 * sigma * sigma));
    s += g[x + n]!;
  }
  const xg = new Float64Array(2 * n + 1);
  const xxg = new Float64Array(2 * n + 1);
  for (let x = -n; x <= n; x++) {
    g[x + n]! /= s;
    xg[x + n] = x * g[x + n]!;
    xxg[x + n] = x * x * g[x + n]!;
  }
  // The moment matrix of the basis (1, x, y, x², y², xy) under the weights g(x)g(y).
  let g00 = 0;
  let g11 = 0;
  let g33 = 0;
  let g55 = 0;
  for (let y = -n; y <= n; y++)
    for (let x = -n; x <= n; x++) {
      const w = g[y + n]! * g[x + n]!;
      g00 += w;
      g11 += w * x * x;
      g33 += w * x ** 4;
      g55 += w * x * x * y * y;
    }
  const G = Array.from({ length: 6 }, () => new Array<number>(6).fill(0));
  G[0]![0] = g00;
  G[1]![1] = G[2]![2] = G[0]![3] = G[0]![4] = G[3]![0] = G[4]![0] = g11;
  G[3]![3] = G[4]![4] = g33;
  G[3]![4] = G[4]![3] = G[5]![5] = g55;
  const inv = invertMatrix(G);
  return { g, xg, xxg, ig11: inv[1]![1]!, ig03: inv[0]![3]!, ig33: inv[3]![3]!, ig55: inv[5]![5]! };
}

/**
 * FarnebackPolyExp: five coefficients per pixel, interleaved (pixel i's at 5i … 5i + 4), in OpenCV's
 * order — the y and x linear coefficients, the y² and x² coefficients, the xy coefficient — borders
 * replicated.
 */
function polyExp(p: Plane, n: number, sigma: number): Float64Array {
  const { w, h, d } = p;
  const { g, xg, xxg, ig11, ig03, ig33, ig55 } = polyWeights(n, sigma);
  const out = new Float64Array(5 * w * h);
  // One row's vertical sums (Σg·I, Σy·g·I, Σy²·g·I), with n replicated columns either side.
  const row0 = new Float64Array(w + 2 * n);
  const row1 = new Float64Array(w + 2 * n);
  const row2 = new Float64Array(w + 2 * n);
  for (let y = 0; y < h; y++) {
    const c = y * w;
    for (let x = 0; x < w; x++) {
      row0[x + n] = d[c + x]! * g[n]!;
      row1[x + n] = 0;
      row2[x + n] = 0;
    }
    for (let k = 1; k <= n; k++) {
      const up = Math.max(y - k, 0) * w;
      const down = Math.min(y + k, h - 1) * w;
      const g0 = g[n + k]!;
      const g1 = xg[n + k]!;
      const g2 = xxg[n + k]!;
      for (let x = 0; x < w; x++) {
        const a = d[up + x]!;
        const b = d[down + x]!;
        row0[x + n]! += g0 * (a + b);
        row1[x + n]! += g1 * (b - a);
        row2[x + n]! += g2 * (a + b);
      }
    }
    for (let k = 0; k < n; k++) {
      row0[k] = row0[n]!;
      row1[k] = row1[n]!;
      row2[k] = row2[n]!;
      row0[w + n + k] = row0[w + n - 1]!;
      row1[w + n + k] = row1[w + n - 1]!;
      row2[w + n + k] = row2[w + n - 1]!;
    }
    for (let x = 0; x < w; x++) {
      const xc = x + n;
      let b1 = row0[xc]! * g[n]!;
      let b2 = 0;
      let b3 = row1[xc]! * g[n]!;
      let b4 = 0;
      let b5 = row2[xc]! * g[n]!;
      let b6 = 0;
      for (let k = 1; k <= n; k++) {
        const gk = g[n + k]!;
        const t0 = row0[xc + k]! + row0[xc - k]!;
        b1 += t0 * gk;
        b4 += t0 * xxg[n + k]!;
        b2 += (row0[xc + k]! - row0[xc - k]!) * xg[n + k]!;
        b3 += (row1[xc + k]! + row1[xc - k]!) * gk;
        b6 += (row1[xc + k]! - row1[xc - k]!) * xg[n + k]!;
        b5 += (row2[xc + k]! + row2[xc - k]!) * gk;
      }
      const o = 5 * (c + x);
      out[o] = b3 * ig11;
      out[o + 1] = b2 * ig11;
      out[o + 2] = b1 * ig03 + b5 * ig33;
      out[o + 3] = b1 * ig03 + b4 * ig33;
      out[o + 4] = b6 * ig55;
    }
  }
  return out;
}

const BORDER = [0.14, 0.14, 0.4472, 0.4472, 0.4472];

/**
 * FarnebackUpdateMatrices: the five entries of AᵀA and Aᵀ∆b at every pixel for the flow (u, v), written
 * into `m` interleaved (pixel i's at 5i … 5i + 4), from the two images' expansions `r0` and `r1`
 * (`polyExp`'s interleaved coefficients).
 */
function updateMatrices(
  r0: Float64Array,
  r1: Float64Array,
  u: Float64Array,
  v: Float64Array,
  w: number,
  h: number,
  m: Float64Array,
): void {
  const w5 = 5 * w;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const i5 = 5 * i;
      const dx = u[i]!;
      const dy = v[i]!;
      let fx = x + dx;
      let fy = y + dy;
      const x1 = Math.floor(fx);
      const y1 = Math.floor(fy);
      let r2: number;
      let r3: number;
      let r4: number;
      let r5: number;
      let r6: number;
      if (x1 >= 0 && x1 < w - 1 && y1 >= 0 && y1 < h - 1) {
        fx -= x1;
        fy -= y1;
        const a00 = (1 - fx) * (1 - fy);
        const a01 = fx * (1 - fy);
        const a10 = (1 - fx) * fy;
        const a11 = fx * fy;
        const j = 5 * (y1 * w + x1);
        r2 = a00 * r1[j]! + a01 * r1[j + 5]! + a10 * r1[j + w5]! + a11 * r1[j + w5 + 5]!;
        r3 = a00 * r1[j + 1]! + a01 * r1[j + 6]! + a10 * r1[j + w5 + 1]! + a11 * r1[j + w5 + 6]!;
        r4 =
          (r0[i5 + 2]! +
            a00 * r1[j + 2]! +
            a01 * r1[j + 7]! +
            a10 * r1[j + w5 + 2]! +
            a11 * r1[j + w5 + 7]!) *
          0.5;
        r5 =
          (r0[i5 + 3]! +
            a00 * r1[j + 3]! +
            a01 * r1[j + 8]! +
            a10 * r1[j + w5 + 3]! +
            a11 * r1[j + w5 + 8]!) *
          0.5;
        r6 =
          (r0[i5 + 4]! +
            a00 * r1[j + 4]! +
            a01 * r1[j + 9]! +
            a10 * r1[j + w5 + 4]! +
            a11 * r1[j + w5 + 9]!) *
          0.25;
      } else {
        r2 = 0;
        r3 = 0;
        r4 = r0[i5 + 2]!;
        r5 = r0[i5 + 3]!;
        r6 = r0[i5 + 4]! * 0.5;
      }
      r2 = (r0[i5]! - r2) * 0.5;
      r3 = (r0[i5 + 1]! - r3) * 0.5;
      r2 += r4 * dy + r6 * dx;
      r3 += r6 * dy + r5 * dx;
      if (x < 5 || x >= w - 5 || y < 5 || y >= h - 5) {
        const s =
          (x < 5 ? BORDER[x]! : 1) *
          (x >= w - 5 ? BORDER[w - x - 1]! : 1) *
          (y < 5 ? BORDER[y]! : 1) *
          (y >= h - 5 ? BORDER[h - y - 1]! : 1);
        r2 *= s;
        r3 *= s;
        r4 *= s;
        r5 *= s;
        r6 *= s;
      }
      m[i5] = r4 * r4 + r6 * r6;
      m[i5 + 1] = (r4 + r5) * r6;
      m[i5 + 2] = r5 * r5 + r6 * r6;
      m[i5 + 3] = r4 * r2 + r6 * r3;
      m[i5 + 4] = r6 * r2 + r5 * r3;
    }
}

/**
 * One iteration's solve (FarnebackUpdateFlow_Blur): the mean of each of the five entries of `m`
 * (interleaved as `updateMatrices` writes them) over a block² box (borders replicated) and the 2×2 solve
 * with OpenCV's 1e-3 on the determinant, written into (u, v). Row by row: running sums down the columns
 * (`cols`, 5 × w interleaved, updated in place as the row moves down), then along the row, all five
 * entries at once, so no sum is stored for the whole frame.
 */
function boxSolve(
  m: Float64Array,
  w: number,
  h: number,
  block: number,
  cols: Float64Array,
  u: Float64Array,
  v: Float64Array,
): void {
  const r = Math.floor(block / 2);
  const inv = 1 / (block * block);
  const w5 = 5 * w;
  cols.fill(0, 0, w5);
  for (let k = -r; k <= r; k++) {
    const s = Math.min(Math.max(k, 0), h - 1) * w5;
    for (let x = 0; x < w5; x++) cols[x]! += m[s + x]!;
  }
  for (let y = 0; y < h; y++) {
    if (y > 0) {
      const add = Math.min(y + r, h - 1) * w5;
      const sub = Math.max(y - r - 1, 0) * w5;
      for (let x = 0; x < w5; x++) cols[x] = cols[x]! + m[add + x]! - m[sub + x]!;
    }
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    for (let k = -r; k <= r; k++) {
      const j = 5 * Math.min(Math.max(k, 0), w - 1);
      s0 += cols[j]!;
      s1 += cols[j + 1]!;
      s2 += cols[j + 2]!;
      s3 += cols[j + 3]!;
      s4 += cols[j + 4]!;
    }
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const a11 = s0 * inv;
      const a12 = s1 * inv;
      const a22 = s2 * inv;
      const b1 = s3 * inv;
      const b2 = s4 * inv;
      const idet = 1 / (a11 * a22 - a12 * a12 + 1e-3);
      u[row + x] = (a11 * b2 - a12 * b1) * idet;
      v[row + x] = (a22 * b1 - a12 * b2) * idet;
      const add = 5 * Math.min(x + r + 1, w - 1);
      const sub = 5 * Math.max(x - r, 0);
      s0 += cols[add]! - cols[sub]!;
      s1 += cols[add + 1]! - cols[sub + 1]!;
      s2 += cols[add + 2]! - cols[sub + 2]!;
      s3 += cols[add + 3]! - cols[sub + 3]!;
      s4 += cols[add + 4]! - cols[sub + 4]!;
    }
  }
}

/** The pyramid's sizes, coarse to fine: while a side × pyrScaleᵏ stays at 32 px or more, up to `levels`. */
function pyramidSizes(W: number, H: number, params: OpenCvFarnebackParams) {
  const { pyrScale } = params;
  if (!(pyrScale > 0 && pyrScale < 1))
    throw new Error(`pyrScale must be in (0, 1), got ${pyrScale}`);
  const minSize = 32;
  let levels = 0;
  for (let scale = 1; levels < params.levels; levels++) {
    scale *= pyrScale;
    if (W * scale < minSize || H * scale < minSize) break;
  }
  const sizes: { w: number; h: number; sigma: number; ksize: number }[] = [];
  for (let k = levels; k >= 0; k--) {
    let scale = 1;
    for (let i = 0; i < k; i++) scale *= pyrScale;
    const sigma = (1 / scale - 1) * 0.5;
    sizes.push({
      w: cvRound(W * scale),
      h: cvRound(H * scale),
      sigma,
      ksize: Math.max(cvRound(sigma * 5) | 1, 3),
    });
  }
  return sizes;
}

/** One image's polynomial expansion at every level of the pyramid, coarse to fine. */
function expansions(img: RgbaImage, params: OpenCvFarnebackParams): Float64Array[] {
  const gray = grayPlane(img);
  return pyramidSizes(img.width, img.height, params).map(({ w, h, sigma, ksize }) =>
    polyExp(
      resizeLinear(gaussianBlur(gray, ksize, sigma, read(gray.h, h), read(gray.w, w)), w, h),
      params.polyN,
      params.polySigma,
    ),
  );
}

/** The flow between two images from their expansions (`expansions`), coarse to fine. */
function flowOf(
  ea: Float64Array[],
  eb: Float64Array[],
  W: number,
  H: number,
  params: OpenCvFarnebackParams,
): Flow {
  const { pyrScale, winsize, iterations } = params;
  let u: Float64Array | null = null;
  let v: Float64Array | null = null;
  let pw = 0;
  let ph = 0;
  pyramidSizes(W, H, params).forEach(({ w, h }, level) => {
    if (u === null || v === null) {
      u = new Float64Array(w * h);
      v = new Float64Array(w * h);
    } else {
      u = resizeLinear({ w: pw, h: ph, d: u }, w, h).d.map((x) => x / pyrScale);
      v = resizeLinear({ w: pw, h: ph, d: v }, w, h).d.map((x) => x / pyrScale);
    }
    const r0 = ea[level]!;
    const r1 = eb[level]!;
    const m = new Float64Array(5 * w * h);
    const cols = new Float64Array(5 * w);
    updateMatrices(r0, r1, u, v, w, h, m);
    for (let it = 0; it < iterations; it++) {
      boxSolve(m, w, h, winsize, cols, u, v);
      if (it + 1 < iterations) updateMatrices(r0, r1, u, v, w, h, m);
    }
    pw = w;
    ph = h;
  });
  return { width: pw, height: ph, u: Float32Array.from(u!), v: Float32Array.from(v!) };
}

function checkPair(a: RgbaImage, b: RgbaImage): void {
  if (a.width !== b.width || a.height !== b.height)
    throw new Error(
      `optical flow needs two images of one size, got ${a.width}×${a.height} and ${b.width}×${b.height}`,
    );
}

/** The dense flow from `a` to `b` (same size) as OpenCV's `calcOpticalFlowFarneback` computes it. */
export function opencvFarneback(
  a: RgbaImage,
  b: RgbaImage,
  params: OpenCvFarnebackParams = ISSUE20_FLOW,
): Flow {
  checkPair(a, b);
  return flowOf(expansions(a, params), expansions(b, params), a.width, a.height, params);
}

/**
 * `opencvFarneback` both ways, [a→b, b→a]: the same two flows, each image's pyramid and polynomial
 * expansion made once for both.
 */
export function opencvFarnebackBothWays(
  a: RgbaImage,
  b: RgbaImage,
  params: OpenCvFarnebackParams = ISSUE20_FLOW,
): [Flow, Flow] {
  checkPair(a, b);
  const ea = expansions(a, params);
  const eb = expansions(b, params);
  return [flowOf(ea, eb, a.width, a.height, params), flowOf(eb, ea, a.width, a.height, params)];
}

/** The flow TecoGAN's tOF compares: OpenCV's Farnebäck at TecoGAN's settings. */
export function tofFlow(a: RgbaImage, b: RgbaImage): Flow {
  return opencvFarneback(a, b, TECOGAN_FLOW);
}

/**
 * `tofFlow` of every consecutive pair of a sequence, [f0→f1, f1→f2, …]: the same flows, each frame's
 * pyramid and polynomial expansion made once (a frame inside the sequence is the end of one pair and
 * the start of the next), and no more than two frames' expansions held at a time.
 */
export function tofFlows(frames: readonly RgbaImage[]): Flow[] {
  const flows: Flow[] = [];
  if (frames.length < 2) return flows;
  let prev = expansions(frames[0]!, TECOGAN_FLOW);
  for (let t = 1; t < frames.length; t++) {
    const a = frames[t - 1]!;
    const b = frames[t]!;
    checkPair(a, b);
    const next = expansions(b, TECOGAN_FLOW);
    flows.push(flowOf(prev, next, a.width, a.height, TECOGAN_FLOW));
    prev = next;
  }
  return flows;
}

/**
 * TecoGAN's `crop_8x8` along one side of n pixels: the centred span whose length is the largest
 * multiple of 32 at least 16 px shorter than n. Frames under 48 px on a side have no such span;
 * there the whole side is kept (TecoGAN's mean would be over nothing).
 */
export function tecoganCrop(n: number): [number, number] {
  let len = Math.floor(n / 32) * 32;
  while (len > n - 16) len -= 32;
  if (len <= 0) return [0, n];
  const start = Math.floor((n - len) / 2);
  return [start, start + len];
}

/**
 * TecoGAN's tOF for one pair of consecutive frames, from the prediction's flow and the truth's: the
 * mean over TecoGAN's centred crop (`crop_8x8`) of the norm of their difference.
 */
export function tofDifference(fp: Flow, fg: Flow): number {
  if (fp.width !== fg.width || fp.height !== fg.height)
    throw new Error(
      `tOF needs two flows of one size, got ${fp.width}×${fp.height} and ${fg.width}×${fg.height}`,
    );
  const [x0, x1] = tecoganCrop(fp.width);
  const [y0, y1] = tecoganCrop(fp.height);
  let s = 0;
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) {
      const i = y * fp.width + x;
      s += Math.hypot(fp.u[i]! - fg.u[i]!, fp.v[i]! - fg.v[i]!);
    }
  return s / ((x1 - x0) * (y1 - y0));
}
