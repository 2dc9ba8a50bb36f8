/**
 * The classical flow-warp in-between, an evaluation anchor: both keyframes warped along dense flows
 * to position τ (linear motion, Super SloMo's approximation) and mixed by τ. With `anchorMotion`
 * (OpenCV's own Farnebäck, start→end and end→start, at the settings issue #20's independent
 * evaluation names) this is the "optical-flow warp, both directions, halfway" baseline that issues #3
 * and #20 quote for anime cels. It is the same for every pack: a pack's own motion graph (the `cel`
 * pack's is a learned estimate) is the pack's business, not the anchor's. `classicalMotion`, the
 * studio's own lighter Farnebäck, carries alpha between keys (sequence/alpha.ts).
 */
import { farnebackFlow, type FarnebackOptions, type Flow } from './farneback';
import {
  ISSUE20_FLOW,
  opencvFarnebackBothWays,
  type OpenCvFarnebackParams,
} from './farnebackOpenCV';
import type { FloatTensor } from './graph';
import { createRgbaImage, type RgbaImage } from './image';

/**
 * `classicalMotion`'s settings: a 5-level pyramid, polynomial neighbourhood ±5 px with σ 1.2, a 15×15
 * window and 3 iterations per level — OpenCV's usual ones, and models/training/classical_flow.py's
 * defaults (the `cel` pack's motion graph before it learned its own).
 */
export const CLASSICAL_FLOW: Required<FarnebackOptions> = {
  levels: 5,
  iterations: 3,
  window: 15,
  polyRadius: 5,
  polySigma: 1.2,
};

/**
 * Classical motion for `flowWarpInbetween`: the studio's Farnebäck (`farneback.ts`) start→end
 * (channels 0–1) and end→start (2–3) in pixels, [1, 4, H, W]. Sizes must be multiples of 16 (the
 * pyramid's coarsest level); the studio's fitted keyframes are multiples of 64.
 */
export function classicalMotion(start: RgbaImage, end: RgbaImage): FloatTensor {
  return motionTensor(
    farnebackFlow(start, end, CLASSICAL_FLOW),
    farnebackFlow(end, start, CLASSICAL_FLOW),
  );
}

/**
 * The flow-warp anchor's motion: OpenCV's `calcOpticalFlowFarneback` (`farnebackOpenCV.ts`) at the
 * settings issue #20's independent evaluation names (pyramid ×½, 5 levels, window 21, 5 iterations,
 * poly_n 7, σ 1.5), start→end and end→start, [1, 4, H, W]. Any size.
 */
export function anchorMotion(start: RgbaImage, end: RgbaImage): FloatTensor {
  return opencvMotion(start, end, ISSUE20_FLOW);
}

/**
 * OpenCV's Farnebäck flows start→end and end→start at these settings, [1, 4, H, W] in pixels: the
 * flow-warp anchor's motion (`anchorMotion`), and what a motion graph with a `classicalMotion` input
 * takes (`pipeline.ts`'s `estimateMotion`, settings from the manifest's `classicalFlow`).
 */
export function opencvMotion(
  start: RgbaImage,
  end: RgbaImage,
  params: OpenCvFarnebackParams,
): FloatTensor {
  return motionTensor(...opencvFarnebackBothWays(start, end, params));
}

function motionTensor(f01: Flow, f10: Flow): FloatTensor {
  const { width: w, height: h } = f01;
  const plane = w * h;
  const data = new Float32Array(4 * plane);
  data.set(f01.u, 0);
  data.set(f01.v, plane);
  data.set(f10.u, 2 * plane);
  data.set(f10.v, 3 * plane);
  return { data, dims: [1, 4, h, w] };
}

/** Bilinear sample of channel c at (x, y), edges clamped. */
function sample(img: RgbaImage, x: number, y: number, c: number): number {
  const w = img.width;
  const h = img.height;
  const cx = Math.min(Math.max(x, 0), w - 1);
  const cy = Math.min(Math.max(y, 0), h - 1);
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(x0 + 1, w - 1);
  const y1 = Math.min(y0 + 1, h - 1);
  const fx = cx - x0;
  const fy = cy - y0;
  const d = img.data;
  const p = (xx: number, yy: number) => d[(yy * w + xx) * 4 + c]!;
  return (
    (p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) +
    (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy
  );
}

/**
 * The in-between at τ from two keyframes and `motion` [1, 4, H, W] (flows start→end in channels 0–1,
 * end→start in 2–3, in pixels, as the cel pack's motion graph returns them).
 */
export function flowWarpInbetween(
  start: RgbaImage,
  end: RgbaImage,
  motion: FloatTensor,
  tau = 0.5,
): RgbaImage {
  const { width: w, height: h } = start;
  if (
    end.width !== w ||
    end.height !== h ||
    motion.dims.length !== 4 ||
    motion.dims[1] !== 4 ||
    motion.dims[2] !== h ||
    motion.dims[3] !== w
  ) {
    throw new Error(
      `flowWarpInbetween: keyframes ${w}×${h} and ${end.width}×${end.height} need motion [1, 4, ${h}, ${w}], got [${motion.dims.join(', ')}]`,
    );
  }
  const plane = w * h;
  const m = motion.data;
  const out = createRgbaImage(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const f01x = m[i]!;
      const f01y = m[plane + i]!;
      const f10x = m[2 * plane + i]!;
      const f10y = m[3 * plane + i]!;
      // Backward flows from the in-between to either keyframe.
      const t0x = -(1 - tau) * tau * f01x + tau * tau * f10x;
      const t0y = -(1 - tau) * tau * f01y + tau * tau * f10y;
      const t1x = (1 - tau) * (1 - tau) * f01x - tau * (1 - tau) * f10x;
      const t1y = (1 - tau) * (1 - tau) * f01y - tau * (1 - tau) * f10y;
      for (let c = 0; c < 3; c++) {
        const v =
          (1 - tau) * sample(start, x + t0x, y + t0y, c) + tau * sample(end, x + t1x, y + t1y, c);
        out.data[i * 4 + c] = Math.round(v);
      }
      out.data[i * 4 + 3] = 255;
    }
  }
  return out;
}
