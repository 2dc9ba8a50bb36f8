import { describe, expect, it } from 'vitest';
import { createRgbaImage, type RgbaImage } from '../image';
import { alphaMotion, carryAlpha, hasAlpha, overWhite } from './alpha';

/** A transparent 64×64 cel with an outlined, striped 16×16 drawing at (x, 24). */
function cel(x: number, opaqueBackground = false): RgbaImage {
  const img = createRgbaImage(64, 64, opaqueBackground ? [255, 255, 255, 255] : undefined);
  for (let y = 24; y < 40; y++) {
    for (let i = x; i < x + 16; i++) {
      const edge = y === 24 || y === 39 || i === x || i === x + 15;
      const stripe = (i - x) % 4 < 2;
      img.data.set(
        edge ? [0, 0, 0, 255] : stripe ? [220, 40, 40, 255] : [40, 40, 200, 255],
        (y * 64 + i) * 4,
      );
    }
  }
  return img;
}

const alphaAt = (img: RgbaImage, x: number, y: number) => img.data[(y * img.width + x) * 4 + 3]!;

describe('transparent cels', () => {
  it('tells transparent keys from opaque ones', () => {
    expect(hasAlpha(cel(8))).toBe(true);
    expect(hasAlpha(cel(8, true))).toBe(false);
  });

  it('carries the keys’ alpha along the motion and un-composites the colour from white', () => {
    const start = cel(16);
    const end = cel(32);
    const truth = cel(24); // the drawing halfway
    const out = carryAlpha(overWhite(truth), start, end, 0.5, alphaMotion(start, end));
    // Opaque where the drawing is at τ = ½, transparent where it was and will be (no ghosts).
    expect(alphaAt(out, 31, 31)).toBeGreaterThan(230);
    expect(alphaAt(out, 17, 31)).toBeLessThan(25);
    expect(alphaAt(out, 46, 31)).toBeLessThan(25);
    expect(alphaAt(out, 5, 5)).toBe(0);
    // Where the matte is opaque the colour is the drawing's own.
    const p = (31 * 64 + 30) * 4;
    expect(Math.abs(out.data[p]! - truth.data[p]!)).toBeLessThan(30);
    // Over white again it is the model's frame, within rounding, where the matte is solid (where it
    // is not, a colour past black or white is clamped: the documented limit).
    let worst = 0;
    const back = overWhite(out);
    const model = overWhite(truth);
    for (let i = 0; i < back.data.length; i += 4) {
      if (out.data[i + 3]! === 255)
        for (let c = 0; c < 3; c++)
          worst = Math.max(worst, Math.abs(back.data[i + c]! - model.data[i + c]!));
    }
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('gives a half-covered pixel its own colour back, not the white it was shown over', () => {
    const key = createRgbaImage(32, 32);
    key.data.set([10, 120, 200, 128], (5 * 32 + 7) * 4);
    const out = carryAlpha(overWhite(key), key, key, 0.5, alphaMotion(key, key));
    const p = (5 * 32 + 7) * 4;
    expect(out.data[p + 3]).toBe(128);
    for (const [c, want] of [10, 120, 200].entries())
      expect(Math.abs(out.data[p + c]! - want)).toBeLessThanOrEqual(2);
  });

  it('refuses an in-between of another size', () => {
    const k = cel(16);
    expect(() => carryAlpha(createRgbaImage(32, 32), k, k, 0.5, alphaMotion(k, k))).toThrow(
      /in-between is 32×32 but the keys are 64×64/,
    );
  });
});
