/**
 * Farnebäck's dense optical flow (SCIA 2003) in plain TypeScript: the same computation as the
 * studio's PyTorch version, models/training/classical_flow.py (whose graph was the `cel` pack's
 * motion estimate before it learned its own), for carrying alpha between keys (`classicalMotion`).
 * Gray = BT.601 luma; a pyramid by 2×2 averaging; at each level the polynomial expansion (a
 * Gaussian-weighted least-squares fit over ±`polyRadius` px, borders replicated), then
 * `iterations` updates: the second image's coefficients warped by the current flow (bilinear, edges
 * clamped), the five entries of AᵀA and Aᵀ∆b averaged over a `window`² box, and solved.
 *
 * Not OpenCV's `calcOpticalFlowFarneback`: OpenCV blurs and resamples its pyramid and down-weights
 * samples outside the image, so flows differ by tenths of a pixel on drawn frames. Where a number
 * must be OpenCV's (the evaluation's flow-warp anchor, TecoGAN's tOF), `farnebackOpenCV.ts` computes it.
 */
import type { RgbaImage } from './image';

export interface FarnebackOptions {
  levels?: number;
  iterations?: number;
  window?: number;
  polyRadius?: number;
  polySigma?: number;
}

/** The default settings: levels 3, ×½, window 15, 3 iterations, polynomial ±5 px, σ 1.2. */
export const DEFAULT_FLOW: Required<FarnebackOptions> = {
  levels: 3,
  iterations: 3,
  window: 15,
  polyRadius: 5,
  polySigma: 1.2,
};

/** A dense flow: u (x) and v (y) in pixels, from image a to image b: a(p) ≈ b(p + flow(p)). */
export interface Flow {
  width: number;
  height: number;
  u: Float32Array;
  v: Float32Array;
}

interface Plane {
  w: number;
  h: number;
  d: Float32Array;
}

/**
 * The polynomial expansion's least-squares solution: the fit of f(x, y) ≈ c + b₁x + b₂y + a₁₁x² +
 * a₂₂y² + a₁₂xy under Gaussian weights w is (BᵀWB)⁻¹BᵀW f. Every column of BᵀW, w(x)w(y)·xᵖyᑫ, is
 * separable, so the expansion is six separable correlations (of the image with w·xᵖ ⊗ w·yᑫ) mixed
 * by the rows of (BᵀWB)⁻¹ — the same numbers as the 2-D kernels, at a sixth of the work.
 */
const BASIS: readonly (readonly [number, number])[] = [
  [0, 0],
  [1, 0],
  [0, 1],
  [2, 0],
  [0, 2],
  [1, 1],
];

function polyMix(radius: number, sigma: number): { mix: Float64Array[]; taps: Float64Array[] } {
  // 1-D taps w(t)·tᵖ for p = 0, 1, 2.
  const taps = [0, 1, 2].map((p) => {
    const k = new Float64Array(2 * radius + 1);
    for (let t = -radius; t <= radius; t++)
      k[t + radius] = Math.exp(-(t * t) / (2 * sigma * sigma)) * t ** p;
    return k;
  });
  // G = BᵀWB: G[i][j] = Σ w·basis_i·basis_j = Σ_x w(x)x^(pi+pj) · Σ_y w(y)y^(qi+qj).
  const moment = (e: number) => {
    let m = 0;
    for (let t = -radius; t <= radius; t++) m += Math.exp(-(t * t) / (2 * sigma * sigma)) * t ** e;
    return m;
  };
  const g = BASIS.map(([pi, qi]) => BASIS.map(([pj, qj]) => moment(pi + pj) * moment(qi + qj)));
  const inv = invertMatrix(g);
  // Rows 1…5 of G⁻¹: (b₁, b₂, a₁₁, a₂₂, a₁₂).
  return { mix: [1, 2, 3, 4, 5].map((i) => Float64Array.from(inv[i]!)), taps };
}

/** The inverse of a small square matrix, by Gauss–Jordan elimination with partial pivoting. */
export function invertMatrix(a: readonly (readonly number[])[]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...row.map((_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    const piv = m[c]![c]!;
    for (let j = 0; j < 2 * n; j++) m[c]![j]! /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      if (f !== 0) for (let j = 0; j < 2 * n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return m.map((row) => row.slice(n));
}

function gray(img: RgbaImage): Plane {
  const n = img.width * img.height;
  const d = new Float32Array(n);
  for (let p = 0; p < n; p++)
    d[p] = 0.299 * img.data[p * 4]! + 0.587 * img.data[p * 4 + 1]! + 0.114 * img.data[p * 4 + 2]!;
  return { w: img.width, h: img.height, d };
}

function halve(p: Plane): Plane {
  const w = Math.floor(p.w / 2);
  const h = Math.floor(p.h / 2);
  const d = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = 2 * y * p.w + 2 * x;
      d[y * w + x] = (p.d[i]! + p.d[i + 1]! + p.d[i + p.w]! + p.d[i + p.w + 1]!) / 4;
    }
  return { w, h, d };
}

const clampi = (i: number, n: number) => (i < 0 ? 0 : i >= n ? n - 1 : i);

/** The polynomial expansion: five planes (b₁, b₂, a₁₁, a₂₂, a₁₂), borders replicated. */
function expand(
  p: Plane,
  poly: { mix: Float64Array[]; taps: Float64Array[] },
  radius: number,
): Float32Array[] {
  const { w, h, d } = p;
  const n = 2 * radius + 1;
  // Vertical passes with w·yᑫ (q = 0, 1, 2), then horizontal with w·xᵖ for each basis function.
  const vert = poly.taps.map((k) => {
    const out = new Float64Array(w * h);
    for (let y = 0; y < h; y++)
      for (let j = 0; j < n; j++) {
        const kj = k[j]!;
        if (kj === 0) continue;
        const src = clampi(y + j - radius, h) * w;
        const dst = y * w;
        for (let x = 0; x < w; x++) out[dst + x]! += kj * d[src + x]!;
      }
    return out;
  });
  const planes = BASIS.map(([px, qy]) => {
    const k = poly.taps[px]!;
    const src = vert[qy]!;
    const out = new Float64Array(w * h);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += k[i]! * src[row + clampi(x + i - radius, w)]!;
        out[row + x] = s;
      }
    }
    return out;
  });
  return poly.mix.map((coef) => {
    const out = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) {
      let s = 0;
      for (let j = 0; j < planes.length; j++) s += coef[j]! * planes[j]![i]!;
      out[i] = s;
    }
    return out;
  });
}

/** The five distinct entries of AᵀA and Aᵀ∆b at every pixel for the current flow. */
function matrices(
  r0: Float32Array[],
  r1: Float32Array[],
  u: Float32Array,
  v: Float32Array,
  w: number,
  h: number,
) {
  const m = [0, 1, 2, 3, 4].map(() => new Float32Array(w * h));
  const s = new Float64Array(5);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const fu = u[i]!;
      const fv = v[i]!;
      // The second image's coefficients at (x + u, y + v): bilinear, coordinates clamped.
      const cx = Math.min(Math.max(x + fu, 0), w - 1);
      const cy = Math.min(Math.max(y + fv, 0), h - 1);
      const x0 = Math.floor(cx);
      const y0 = Math.floor(cy);
      const x1 = Math.min(x0 + 1, w - 1);
      const y1 = Math.min(y0 + 1, h - 1);
      const ax = cx - x0;
      const ay = cy - y0;
      const i00 = y0 * w + x0;
      const i01 = y0 * w + x1;
      const i10 = y1 * w + x0;
      const i11 = y1 * w + x1;
      for (let c = 0; c < 5; c++) {
        const q = r1[c]!;
        const top = q[i00]! * (1 - ax) + q[i01]! * ax;
        const bottom = q[i10]! * (1 - ax) + q[i11]! * ax;
        s[c] = top * (1 - ay) + bottom * ay;
      }
      const a11 = (r0[2]![i]! + s[2]!) * 0.5;
      const a22 = (r0[3]![i]! + s[3]!) * 0.5;
      const a12 = (r0[4]![i]! + s[4]!) * 0.25;
      const db1 = (r0[0]![i]! - s[0]!) * 0.5 + a11 * fu + a12 * fv;
      const db2 = (r0[1]![i]! - s[1]!) * 0.5 + a12 * fu + a22 * fv;
      m[0]![i] = a11 * a11 + a12 * a12;
      m[1]![i] = a12 * (a11 + a22);
      m[2]![i] = a12 * a12 + a22 * a22;
      m[3]![i] = a11 * db1 + a12 * db2;
      m[4]![i] = a12 * db1 + a22 * db2;
    }
  return m;
}

/** Mean over a window² box, counting only samples inside the image (vertical, then horizontal). */
function box(src: Float32Array, w: number, h: number, window: number): Float32Array {
  const p = Math.floor(window / 2);
  const tmp = new Float64Array(w * h);
  const col = new Float64Array(w);
  // Vertical: a running sum per column over rows [y − p, y + p] ∩ image.
  for (let y = 0; y < Math.min(p, h); y++) for (let x = 0; x < w; x++) col[x]! += src[y * w + x]!;
  for (let y = 0; y < h; y++) {
    if (y + p < h) for (let x = 0; x < w; x++) col[x]! += src[(y + p) * w + x]!;
    if (y - p - 1 >= 0) for (let x = 0; x < w; x++) col[x]! -= src[(y - p - 1) * w + x]!;
    const count = Math.min(h - 1, y + p) - Math.max(0, y - p) + 1;
    for (let x = 0; x < w; x++) tmp[y * w + x] = col[x]! / count;
  }
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    let sum = 0;
    for (let x = 0; x < Math.min(p, w); x++) sum += tmp[row + x]!;
    for (let x = 0; x < w; x++) {
      if (x + p < w) sum += tmp[row + x + p]!;
      if (x - p - 1 >= 0) sum -= tmp[row + x - p - 1]!;
      out[row + x] = sum / (Math.min(w - 1, x + p) - Math.max(0, x - p) + 1);
    }
  }
  return out;
}

/** ×2 bilinear (align_corners = false, edges clamped) of a flow component, values doubled. */
function upsample(src: Float32Array, w: number, h: number, W: number, H: number): Float32Array {
  const out = new Float32Array(W * H);
  const at = (i: number, n: number) => clampi(i, n);
  for (let Y = 0; Y < H; Y++) {
    const yc = Math.floor(Y / 2);
    const yn = Y % 2 === 0 ? at(yc - 1, h) : at(yc + 1, h);
    const y0 = at(yc, h);
    for (let X = 0; X < W; X++) {
      const xc = Math.floor(X / 2);
      const xn = X % 2 === 0 ? at(xc - 1, w) : at(xc + 1, w);
      const x0 = at(xc, w);
      const v =
        0.75 * (0.75 * src[y0 * w + x0]! + 0.25 * src[y0 * w + xn]!) +
        0.25 * (0.75 * src[yn * w + x0]! + 0.25 * src[yn * w + xn]!);
      out[Y * W + X] = v * 2;
    }
  }
  return out;
}

/**
 * The flow from `a` to `b` (same size). Where a side is not a multiple of 2^(levels − 1) the
 * pyramid's sizes round down and the upsampled flow is clamped at the far edge (the PyTorch
 * version takes only multiples).
 */
export function farnebackFlow(a: RgbaImage, b: RgbaImage, opts: FarnebackOptions = {}): Flow {
  const o = { ...DEFAULT_FLOW, ...opts };
  if (a.width !== b.width || a.height !== b.height)
    throw new Error(
      `optical flow needs two images of one size, got ${a.width}×${a.height} and ${b.width}×${b.height}`,
    );
  const poly = polyMix(o.polyRadius, o.polySigma);
  const pyr: [Plane, Plane][] = [[gray(a), gray(b)]];
  for (let l = 1; l < o.levels; l++) {
    const [pa, pb] = pyr[l - 1]!;
    pyr.push([halve(pa), halve(pb)]);
  }
  let u: Float32Array | null = null;
  let v: Float32Array | null = null;
  let pw = 0;
  let ph = 0;
  for (let l = o.levels - 1; l >= 0; l--) {
    const [ga, gb] = pyr[l]!;
    const { w, h } = ga;
    const r0 = expand(ga, poly, o.polyRadius);
    const r1 = expand(gb, poly, o.polyRadius);
    if (u === null || v === null) {
      u = new Float32Array(w * h);
      v = new Float32Array(w * h);
    } else {
      u = upsample(u, pw, ph, w, h);
      v = upsample(v, pw, ph, w, h);
    }
    let m = matrices(r0, r1, u, v, w, h);
    for (let it = 0; it < o.iterations; it++) {
      const [g11, g12, g22, h1, h2] = m.map((x) => box(x, w, h, o.window)) as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      const nu = new Float32Array(w * h);
      const nv = new Float32Array(w * h);
      for (let i = 0; i < w * h; i++) {
        const idet = 1 / (g11[i]! * g22[i]! - g12[i]! * g12[i]! + 1e-3);
        nu[i] = (g22[i]! * h1[i]! - g12[i]! * h2[i]!) * idet;
        nv[i] = (g11[i]! * h2[i]! - g12[i]! * h1[i]!) * idet;
      }
      u = nu;
      v = nv;
      if (it + 1 < o.iterations) m = matrices(r0, r1, u, v, w, h);
    }
    pw = w;
    ph = h;
  }
  return { width: pw, height: ph, u: u!, v: v! };
}
