/**
 * Transparent cels. Models see keyframes composited on white (`rgbaToTensor`) and return opaque
 * frames. When a key has an alpha channel, its in-betweens get one too:
 *
 * 1. **Alpha carried along the motion.** The keys' alpha mattes are warped to τ along the same
 *    motion the in-between follows — the pack's motion graph when it has one, else classical
 *    Farnebäck flows between the keys as composited on white — both ways, and mixed by τ
 *    (`flowWarpInbetween` on the mattes).
 * 2. **Colour un-composited from white.** The model's pixel is taken as the cel over white,
 *    p = a·c + (1 − a)·255, and solved for the cel's colour c = (p − (1 − a)·255) / a where a > 0.
 *
 * Limits: the matte follows the flow, not the model, so where the model draws something the flow
 * does not carry (a new shape, a big turn) the matte may cut it or leave a halo; a drawing whose
 * colour is near white at a soft edge un-composites less exactly; pixels with alpha under 1/255 come
 * back fully transparent. Scoring keeps using RGB composited on white (docs/metrics.md).
 */
import { classicalMotion, flowWarpInbetween } from '../flowWarp';
import type { FloatTensor } from '../graph';
import { createRgbaImage, type RgbaImage } from '../image';

/** True when any pixel of `image` is not fully opaque. */
export function hasAlpha(image: RgbaImage): boolean {
  for (let i = 3; i < image.data.length; i += 4) if (image.data[i]! < 255) return true;
  return false;
}

/** The alpha matte as a grey opaque image (what the flow warp moves). */
function matte(image: RgbaImage): RgbaImage {
  const out = createRgbaImage(image.width, image.height);
  for (let i = 0; i < image.data.length; i += 4) {
    const a = image.data[i + 3]!;
    out.data[i] = a;
    out.data[i + 1] = a;
    out.data[i + 2] = a;
    out.data[i + 3] = 255;
  }
  return out;
}

/** `image` over white, opaque (what the model saw; what a video without alpha shows). */
export function overWhite(image: RgbaImage): RgbaImage {
  const out = createRgbaImage(image.width, image.height);
  for (let i = 0; i < image.data.length; i += 4) {
    const a = image.data[i + 3]!;
    for (let c = 0; c < 3; c++) {
      out.data[i + c] = Math.round((image.data[i + c]! * a + 255 * (255 - a)) / 255);
    }
    out.data[i + 3] = 255;
  }
  return out;
}

/** Motion between two keys for carrying alpha: Farnebäck on the keys over white. */
export function alphaMotion(start: RgbaImage, end: RgbaImage): FloatTensor {
  return classicalMotion(overWhite(start), overWhite(end));
}

/**
 * `frame` (the model's opaque in-between at τ, same size as the keys) with alpha carried from the
 * keys along `motion` [1, 4, H, W] (flows start→end, end→start) and its colour un-composited from
 * white.
 */
export function carryAlpha(
  frame: RgbaImage,
  start: RgbaImage,
  end: RgbaImage,
  tau: number,
  motion: FloatTensor,
): RgbaImage {
  if (frame.width !== start.width || frame.height !== start.height) {
    throw new Error(
      `carryAlpha: the in-between is ${frame.width}×${frame.height} but the keys are ${start.width}×${start.height}`,
    );
  }
  const alpha = flowWarpInbetween(matte(start), matte(end), motion, tau);
  const out = createRgbaImage(frame.width, frame.height);
  for (let i = 0; i < frame.data.length; i += 4) {
    const a = alpha.data[i]!;
    if (a === 0) continue; // stays (0, 0, 0, 0)
    for (let c = 0; c < 3; c++) {
      const p = frame.data[i + c]!;
      // p = a·c/255 + 255 − a, solved for c (the clamped array clamps and rounds).
      out.data[i + c] = ((p - 255 + a) * 255) / a;
    }
    out.data[i + 3] = a;
  }
  return out;
}
