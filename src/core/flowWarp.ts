/**
 * The classical flow-warp in-between, an evaluation anchor: both keyframes warped along dense flows
 * to position τ (linear motion, Super SloMo's approximation) and mixed by τ. With the bundled pack's
 * motion graph (Farnebäck flows start→end and end→start) this is the "optical-flow warp, both
 * directions, halfway" baseline that issue #3 quotes for anime cels.
 */
import type { FloatTensor } from './graph';
import { createRgbaImage, type RgbaImage } from './image';

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
