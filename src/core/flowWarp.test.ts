import { describe, expect, it } from 'vitest';
import { classicalMotion, flowWarpInbetween } from './flowWarp';
import { createRgbaImage, type RgbaImage } from './image';

/** A horizontal ramp with a vertical stripe pattern, shifted right by `dx` px. */
function picture(w: number, h: number, dx: number): RgbaImage {
  const img = createRgbaImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const u = x - dx;
      const p = (y * w + x) * 4;
      img.data[p] = (u * 5) & 255;
      img.data[p + 1] = Math.floor(u / 3) % 2 ? 200 : 40;
      img.data[p + 2] = y * 4;
      img.data[p + 3] = 255;
    }
  return img;
}

function uniformMotion(w: number, h: number, f01: [number, number], f10: [number, number]) {
  const plane = w * h;
  const data = new Float32Array(4 * plane);
  data.fill(f01[0], 0, plane);
  data.fill(f01[1], plane, 2 * plane);
  data.fill(f10[0], 2 * plane, 3 * plane);
  data.fill(f10[1], 3 * plane, 4 * plane);
  return { data, dims: [1, 4, h, w] };
}

describe('flowWarpInbetween', () => {
  it('puts content moving 8 px right at +4 px halfway and +2 px at τ = ¼', () => {
    const [w, h] = [48, 16];
    const start = picture(w, h, 0);
    const end = picture(w, h, 8);
    const motion = uniformMotion(w, h, [8, 0], [-8, 0]);
    for (const [tau, dx] of [
      [0.5, 4],
      [0.25, 2],
    ] as const) {
      const out = flowWarpInbetween(start, end, motion, tau);
      const want = picture(w, h, dx);
      let worst = 0;
      for (let y = 0; y < h; y++)
        for (let x = 10; x < w - 10; x++)
          for (let c = 0; c < 3; c++) {
            const p = (y * w + x) * 4 + c;
            worst = Math.max(worst, Math.abs(out.data[p]! - want.data[p]!));
          }
      expect(worst, `τ = ${tau}`).toBeLessThanOrEqual(1);
    }
  });

  it('refuses motion of another size', () => {
    const img = picture(8, 8, 0);
    expect(() => flowWarpInbetween(img, img, uniformMotion(8, 4, [0, 0], [0, 0]))).toThrow(
      /need motion \[1, 4, 8, 8\], got \[1, 4, 4, 8\]/,
    );
  });

  it('with classical motion, beats the blend on a disc that moves 6 px', () => {
    const [w, h] = [64, 64];
    const disc = (cx: number) => {
      const img = createRgbaImage(w, h);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const inside = Math.hypot(x - cx, y - 32) < 12;
          const p = (y * w + x) * 4;
          img.data[p] = inside ? 220 : 30;
          img.data[p + 1] = inside ? 60 + x * 2 : 90;
          img.data[p + 2] = 120;
          img.data[p + 3] = 255;
        }
      return img;
    };
    const [start, mid, end] = [disc(26), disc(29), disc(32)];
    const motion = classicalMotion(start, end);
    expect(motion.dims).toEqual([1, 4, h, w]);
    const plane = w * h;
    const centre = 32 * w + 29;
    expect(motion.data[centre]!).toBeGreaterThan(4); // start→end: rightwards
    expect(motion.data[2 * plane + centre]!).toBeLessThan(-4); // end→start: leftwards
    const err = (img: RgbaImage) => {
      let s = 0;
      for (let i = 0; i < img.data.length; i++)
        if (i % 4 !== 3) s += Math.abs(img.data[i]! - mid.data[i]!);
      return s;
    };
    const blend = createRgbaImage(w, h);
    for (let i = 0; i < blend.data.length; i++)
      blend.data[i] = Math.round((start.data[i]! + end.data[i]!) / 2);
    expect(err(flowWarpInbetween(start, end, motion, 0.5))).toBeLessThan(err(blend) / 2);
  });
});
