/**
 * Image ↔ tensor conversion, resizing and fitting, checked against hand-computed pixel values.
 */
import { describe, expect, it } from 'vitest';
import {
  assertImageSize,
  createRgbaImage,
  fitImage,
  nativeFrameSize,
  planFit,
  resizeImage,
  rgbaToTensor,
  tensorToRgba,
  unfitImage,
  type RgbaImage,
} from './image';

/** Builds an image from a function of (x, y) → RGBA. */
function makeImage(
  width: number,
  height: number,
  f: (x: number, y: number) => [number, number, number, number],
): RgbaImage {
  const img = createRgbaImage(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) img.data.set(f(x, y), (y * width + x) * 4);
  }
  return img;
}

/** A smooth, fully opaque test picture (gradients and a slow sine). */
function makeSmoothImage(width: number, height: number): RgbaImage {
  return makeImage(width, height, (x, y) => [
    Math.round((255 * x) / (width - 1)),
    Math.round((255 * y) / (height - 1)),
    Math.round(127.5 + 100 * Math.sin((2 * Math.PI * (x + y)) / Math.max(width, height))),
    255,
  ]);
}

const pixelAt = (img: RgbaImage, x: number, y: number): number[] =>
  Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));

/** Mean absolute difference over the RGB channels of the rectangle (whole image by default). */
function computeMeanAbsError(
  a: RgbaImage,
  b: RgbaImage,
  rect = { x: 0, y: 0, width: a.width, height: a.height },
): number {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let sum = 0;
  for (let y = rect.y; y < rect.y + rect.height; y++) {
    for (let x = rect.x; x < rect.x + rect.width; x++) {
      for (let c = 0; c < 3; c++)
        sum += Math.abs(a.data[(y * a.width + x) * 4 + c]! - b.data[(y * b.width + x) * 4 + c]!);
    }
  }
  return sum / (rect.width * rect.height * 3);
}

describe('rgbaToTensor / tensorToRgba', () => {
  const allValues = makeImage(256, 1, (x) => [x, 255 - x, (x * 97) % 256, 255]);

  it.each([[[-1, 1]], [[0, 1]], [[-2.5, 3]]] as const)(
    'round-trips all 256 values per channel exactly in range %j',
    (range) => {
      const tensor = rgbaToTensor(allValues, range);
      expect(tensor).toHaveLength(3 * 256);
      const back = tensorToRgba(tensor, 256, 1, range);
      expect(Array.from(back.data)).toEqual(Array.from(allValues.data));
    },
  );

  it('lays out CHW and maps 0 → lo, 255 → hi', () => {
    const img = makeImage(2, 1, (x) => (x === 0 ? [0, 255, 51, 255] : [255, 0, 102, 255]));
    // plane R: [0, 255], plane G: [255, 0], plane B: [51, 102] → [-1, 1]
    expect(Array.from(rgbaToTensor(img, [-1, 1]))).toEqual(
      [-1, 1, 1, -1, -1 + (2 * 51) / 255, -1 + (2 * 102) / 255].map(Math.fround),
    );
  });

  it('composites alpha onto white', () => {
    const pixels: [number, number, number, number][] = [
      [0, 0, 0, 0], // fully transparent → white
      [0, 0, 0, 128], // half black over white → 127/255
      [200, 100, 50, 51], // c·51/255 + 255·204/255 = c/5 + 204
      [10, 20, 30, 255], // opaque: unchanged
    ];
    const img = makeImage(4, 1, (x) => pixels[x]!);
    const t = rgbaToTensor(img, [0, 1]);
    const plane = (c: number): number[] => Array.from(t.subarray(c * 4, c * 4 + 4));
    expect(plane(0)).toEqual([1, 127 / 255, 244 / 255, 10 / 255].map(Math.fround));
    expect(plane(1)).toEqual([1, 127 / 255, 224 / 255, 20 / 255].map(Math.fround));
    expect(plane(2)).toEqual([1, 127 / 255, 214 / 255, 30 / 255].map(Math.fround));
    expect(pixelAt(tensorToRgba(t, 4, 1, [0, 1]), 2, 0)).toEqual([244, 224, 214, 255]);
  });

  it('writes into `out` at `offset` and reads back from an offset', () => {
    const img = makeImage(2, 2, (x, y) => [x * 255, y * 255, 128, 255]);
    const out = new Float32Array(5 + 12 + 3).fill(7);
    const returned = rgbaToTensor(img, [-1, 1], out, 5);
    expect(returned).toBe(out);
    expect(Array.from(out.subarray(0, 5))).toEqual([7, 7, 7, 7, 7]);
    expect(Array.from(out.subarray(17))).toEqual([7, 7, 7]);
    expect(Array.from(tensorToRgba(out, 2, 2, [-1, 1], 5).data)).toEqual(Array.from(img.data));
    expect(() => rgbaToTensor(img, [-1, 1], new Float32Array(12), 1)).toThrow(/cannot hold/);
    expect(() => tensorToRgba(out, 2, 2, [-1, 1], 9)).toThrow(/has no 3×2×2 image at offset 9/);
  });

  it('clamps out-of-range values, rounds to nearest, alpha 255', () => {
    // range [0, 255] makes tensor values byte values directly.
    const t = Float32Array.of(-40, 300, 127.4, 127.6, NaN, 0.5, 0, 0, 0, 0, 0, 0);
    const img = tensorToRgba(t, 4, 1, [0, 255]);
    expect([0, 1, 2, 3].map((x) => img.data[x * 4])).toEqual([0, 255, 127, 128]);
    expect(img.data[4 * 4 - 4 + 3]).toBe(255);
    expect(Array.from({ length: 4 }, (_, x) => img.data[x * 4 + 3])).toEqual([255, 255, 255, 255]);
  });

  it('rejects an empty range', () => {
    expect(() => rgbaToTensor(allValues, [1, 1])).toThrow(/low < high/);
  });
});

describe('resizeImage', () => {
  it('is an exact copy when the size is unchanged', () => {
    const img = makeImage(7, 5, (x, y) => [x * 30, y * 50, (x * y) % 256, 100 + x]);
    const out = resizeImage(img, 7, 5);
    expect(out.data).not.toBe(img.data);
    expect(Array.from(out.data)).toEqual(Array.from(img.data));
  });

  it.each([
    [40, 30, 80, 60], // 2× up
    [40, 30, 29, 17], // mild down (bilinear)
    [40, 30, 7, 4], // > 2× down (area)
    [40, 30, 100, 9], // up in x, area down in y
    [40, 30, 13, 30], // one axis only
  ])('keeps a constant image constant: %i×%i → %i×%i', (w, h, nw, nh) => {
    for (const colour of [
      [12, 200, 77, 255],
      [250, 3, 128, 128],
    ] as [number, number, number, number][]) {
      const out = resizeImage(createRgbaImage(w, h, colour), nw, nh);
      expect([out.width, out.height]).toEqual([nw, nh]);
      const bad = Array.from({ length: nw * nh }, (_, p) => p).filter(
        (p) => pixelAt(out, p % nw, Math.floor(p / nw)).join() !== colour.join(),
      );
      expect(bad).toEqual([]);
    }
  });

  it('samples bilinearly at pixel centres', () => {
    const img = makeImage(2, 1, (x) => [x * 255, 0, 0, 255]);
    // centres map to source x = −0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
    const up = resizeImage(img, 4, 1);
    expect([0, 1, 2, 3].map((x) => up.data[x * 4])).toEqual([0, 64, 191, 255]);
    // 2× down averages pairs.
    const row = makeImage(4, 1, (x) => [[0, 100, 200, 250][x]!, 0, 0, 255]);
    const down = resizeImage(row, 2, 1);
    expect([down.data[0], down.data[4]]).toEqual([50, 225]);
  });

  it('area-averages large reductions so a 1-pixel line does not vanish', () => {
    // White 8×8 with a black vertical line at column 3; 4× down: column 0 covers source 0..3.
    const img = makeImage(8, 8, (x) => (x === 3 ? [0, 0, 0, 255] : [255, 255, 255, 255]));
    const out = resizeImage(img, 2, 2);
    expect(pixelAt(out, 0, 0)).toEqual([191, 191, 191, 255]); // (3·255 + 0) / 4 = 191.25
    expect(pixelAt(out, 1, 1)).toEqual([255, 255, 255, 255]);
    // 3× down, non-integer coverage elsewhere: a line at column 4 of 12 → (2·255)/3 = 170.
    const img3 = makeImage(12, 3, (x) => (x === 4 ? [0, 0, 0, 255] : [255, 255, 255, 255]));
    expect(pixelAt(resizeImage(img3, 4, 1), 1, 0)).toEqual([170, 170, 170, 255]);
    // 2.5× down: output 0 covers source [0, 2.5): a line at column 2 has weight 0.5/2.5.
    const img25 = makeImage(5, 1, (x) => (x === 2 ? [0, 0, 0, 255] : [255, 255, 255, 255]));
    const out25 = resizeImage(img25, 2, 1);
    expect([out25.data[0], out25.data[4]]).toEqual([204, 204]);
  });

  it('interpolates in premultiplied alpha (transparent pixels do not darken edges)', () => {
    const img = makeImage(2, 1, (x) => (x === 0 ? [255, 0, 0, 255] : [0, 0, 0, 0]));
    const up = resizeImage(img, 4, 1);
    expect(pixelAt(up, 1, 0)).toEqual([255, 0, 0, 191]); // not [191, 0, 0, 191]
    expect(pixelAt(up, 3, 0)).toEqual([0, 0, 0, 0]);
  });
});

describe('planFit', () => {
  it('letterboxes landscape, portrait and same-aspect sources', () => {
    expect(planFit(1920, 1080, 512, 512, 'letterbox')).toEqual({
      mode: 'letterbox',
      srcWidth: 1920,
      srcHeight: 1080,
      dstWidth: 512,
      dstHeight: 512,
      scale: 512 / 1920,
      scaledWidth: 512,
      scaledHeight: 288,
      offsetX: 0,
      offsetY: 112,
      contentRect: { x: 0, y: 112, width: 512, height: 288 },
    });
    const portrait = planFit(1080, 1920, 512, 512, 'letterbox');
    expect([
      portrait.scaledWidth,
      portrait.scaledHeight,
      portrait.offsetX,
      portrait.offsetY,
    ]).toEqual([288, 512, 112, 0]);
    expect(portrait.contentRect).toEqual({ x: 112, y: 0, width: 288, height: 512 });
    const same = planFit(1024, 768, 512, 384, 'letterbox');
    expect([same.scale, same.scaledWidth, same.scaledHeight, same.offsetX, same.offsetY]).toEqual([
      0.5, 512, 384, 0, 0,
    ]);
    // Odd spare pixel: 100×51 → 64×64 scales to 64×33 (32.64 rounded), bars 15 above, 16 below.
    const odd = planFit(100, 51, 64, 64, 'letterbox');
    expect([odd.scaledWidth, odd.scaledHeight, odd.offsetX, odd.offsetY]).toEqual([64, 33, 0, 15]);
  });

  it('centre-crops landscape, portrait and same-aspect sources', () => {
    const land = planFit(1920, 1080, 512, 512, 'crop');
    expect(land.scale).toBe(512 / 1080);
    // 1920·512/1080 = 910.2 → 910; (910 − 512) / 2 = 199 cut on each side.
    expect([land.scaledWidth, land.scaledHeight, land.offsetX, land.offsetY]).toEqual([
      910, 512, -199, 0,
    ]);
    expect(land.contentRect).toEqual({ x: 0, y: 0, width: 512, height: 512 });
    const portrait = planFit(1080, 1920, 512, 512, 'crop');
    expect([
      portrait.scaledWidth,
      portrait.scaledHeight,
      portrait.offsetX,
      portrait.offsetY,
    ]).toEqual([512, 910, 0, -199]);
    const same = planFit(1024, 768, 512, 384, 'crop');
    expect([same.scale, same.scaledWidth, same.scaledHeight, same.offsetX, same.offsetY]).toEqual([
      0.5, 512, 384, 0, 0,
    ]);
    // Upscaling crop with an odd spare: 640×480 → 512×512: 682.67 → 683 wide, 85 cut left, 86 right.
    const up = planFit(640, 480, 512, 512, 'crop');
    expect([up.scaledWidth, up.scaledHeight, up.offsetX, up.offsetY]).toEqual([683, 512, -85, 0]);
  });

  it('validates sizes and mode', () => {
    expect(() => planFit(0, 10, 64, 64, 'crop')).toThrow(/source image/);
    expect(() => planFit(10, 10, 64, 64.5, 'crop')).toThrow(/model frame/);
    expect(() => planFit(10, 10, 64, 64, 'stretch' as never)).toThrow(/unknown fit mode "stretch"/);
  });
});

describe('fitImage / unfitImage', () => {
  it('letterbox fills bars with white by default, or with padColor', () => {
    const img = createRgbaImage(40, 20, [10, 20, 30, 255]);
    const plan = planFit(40, 20, 32, 32, 'letterbox'); // 32×16 at y = 8
    const fitted = fitImage(img, plan);
    expect([fitted.width, fitted.height]).toEqual([32, 32]);
    expect(pixelAt(fitted, 5, 7)).toEqual([255, 255, 255, 255]);
    expect(pixelAt(fitted, 5, 8)).toEqual([10, 20, 30, 255]);
    expect(pixelAt(fitted, 31, 23)).toEqual([10, 20, 30, 255]);
    expect(pixelAt(fitted, 31, 24)).toEqual([255, 255, 255, 255]);
    expect(pixelAt(fitImage(img, plan, [0, 0, 0, 255]), 0, 0)).toEqual([0, 0, 0, 255]);
  });

  it('crop takes the centre of the scaled source', () => {
    // Three vertical bands, 10 px each; crop 30×10 → 10×10 keeps the middle band.
    const img = makeImage(30, 10, (x) =>
      x < 10 ? [255, 0, 0, 255] : x < 20 ? [0, 255, 0, 255] : [0, 0, 255, 255],
    );
    const plan = planFit(30, 10, 10, 10, 'crop');
    expect([plan.scaledWidth, plan.offsetX]).toEqual([30, -10]);
    const fitted = fitImage(img, plan);
    const green = Array.from({ length: 100 }, (_, p) =>
      pixelAt(fitted, p % 10, Math.floor(p / 10)).join(),
    ).every((s) => s === '0,255,0,255');
    expect(green).toBe(true);
  });

  it('is exact on exact sizes (no scaling)', () => {
    const img = makeSmoothImage(64, 48);
    for (const mode of ['letterbox', 'crop'] as const) {
      const plan = planFit(64, 48, 64, 48, mode);
      const fitted = fitImage(img, plan);
      expect(Array.from(fitted.data)).toEqual(Array.from(img.data));
      expect(Array.from(unfitImage(fitted, plan).data)).toEqual(Array.from(img.data));
    }
  });

  it('native: each side rounds up to the multiple; the source sits centred at scale 1', () => {
    expect(nativeFrameSize(300, 200, 64)).toEqual([320, 256]);
    expect(nativeFrameSize(512, 320, 64)).toEqual([512, 320]);
    expect(nativeFrameSize(1, 1, 64)).toEqual([64, 64]);
    expect(() => nativeFrameSize(300, 200, 0)).toThrow(/multipleOf/);
    const plan = planFit(301, 200, 320, 256, 'native');
    expect(plan).toMatchObject({
      scale: 1,
      scaledWidth: 301,
      scaledHeight: 200,
      offsetX: 9, // 19 spare columns: 9 left, 10 right
      offsetY: 28,
      contentRect: { x: 9, y: 28, width: 301, height: 200 },
    });
    expect(() => planFit(300, 200, 256, 256, 'native')).toThrow(/smaller than the source/);
  });

  it('native pads with the edge pixels and gives the source back bit for bit', () => {
    const img = makeImage(5, 3, (x, y) => [10 * x, 50 * y, 7 * x + y, 255]);
    const plan = planFit(5, 3, 8, 8, 'native'); // offset (1, 2)
    const fitted = fitImage(img, plan);
    expect([fitted.width, fitted.height]).toEqual([8, 8]);
    expect(pixelAt(fitted, 1, 2)).toEqual(pixelAt(img, 0, 0));
    expect(pixelAt(fitted, 5, 4)).toEqual(pixelAt(img, 4, 2));
    expect(pixelAt(fitted, 0, 0)).toEqual(pixelAt(img, 0, 0)); // corner repeats the corner
    expect(pixelAt(fitted, 7, 7)).toEqual(pixelAt(img, 4, 2));
    expect(pixelAt(fitted, 7, 3)).toEqual(pixelAt(img, 4, 1)); // right edge repeats its row
    expect(pixelAt(fitted, 3, 0)).toEqual(pixelAt(img, 2, 0)); // top edge repeats its column
    const smooth = makeSmoothImage(301, 200);
    const p = planFit(301, 200, 320, 256, 'native');
    expect(Array.from(unfitImage(fitImage(smooth, p), p).data)).toEqual(Array.from(smooth.data));
  });

  it.each([
    [300, 200, 128, 128],
    [200, 300, 128, 128],
    [90, 60, 256, 256], // upscaling into the model frame
    [400, 300, 128, 96], // same aspect
  ])('letterbox round trip %i×%i → %i×%i stays close', (sw, sh, dw, dh) => {
    const img = makeSmoothImage(sw, sh);
    const plan = planFit(sw, sh, dw, dh, 'letterbox');
    const back = unfitImage(fitImage(img, plan), plan);
    expect([back.width, back.height]).toEqual([sw, sh]);
    expect(computeMeanAbsError(back, img)).toBeLessThan(0.3);
  });

  it.each([
    [300, 200, 128, 128],
    [200, 300, 128, 128],
    [90, 60, 256, 256],
    [400, 300, 128, 96],
  ])(
    'crop round trip %i×%i → %i×%i stays close inside the crop, background outside',
    (sw, sh, dw, dh) => {
      const img = makeSmoothImage(sw, sh);
      const plan = planFit(sw, sh, dw, dh, 'crop');
      const fitted = fitImage(img, plan);
      // With the source as background the whole image comes back.
      const withBg = unfitImage(fitted, plan, img);
      expect(computeMeanAbsError(withBg, img)).toBeLessThan(0.3);
      // Without one, outside the crop is white and inside matches.
      const plain = unfitImage(fitted, plan);
      const k = sw / plan.scaledWidth;
      const cropW = Math.round(dw * k);
      const cropX = Math.round(-plan.offsetX * k);
      const kY = sh / plan.scaledHeight;
      const cropH = Math.round(dh * kY);
      const cropY = Math.round(-plan.offsetY * kY);
      expect(
        computeMeanAbsError(plain, img, { x: cropX, y: cropY, width: cropW, height: cropH }),
      ).toBeLessThan(0.3);
      if (cropX > 0) expect(pixelAt(plain, 0, 0)).toEqual([255, 255, 255, 255]);
      if (cropY > 0) expect(pixelAt(plain, sw - 1, sh - 1)).toEqual([255, 255, 255, 255]);
    },
  );

  it('crop unfit keeps the background outside the crop', () => {
    const plan = planFit(30, 10, 10, 10, 'crop');
    const frame = createRgbaImage(10, 10, [0, 0, 0, 255]);
    const background = createRgbaImage(30, 10, [9, 8, 7, 255]);
    const out = unfitImage(frame, plan, background);
    expect(pixelAt(out, 9, 5)).toEqual([9, 8, 7, 255]);
    expect(pixelAt(out, 10, 5)).toEqual([0, 0, 0, 255]);
    expect(pixelAt(out, 19, 5)).toEqual([0, 0, 0, 255]);
    expect(pixelAt(out, 20, 5)).toEqual([9, 8, 7, 255]);
    expect(pixelAt(background, 15, 5)).toEqual([9, 8, 7, 255]); // not modified
    expect(() => unfitImage(frame, plan, createRgbaImage(29, 10))).toThrow(/background is 29×10/);
  });

  it('rejects images that do not match the plan', () => {
    const plan = planFit(40, 20, 32, 32, 'letterbox');
    expect(() => fitImage(createRgbaImage(41, 20), plan)).toThrow(
      /source image is 41×20 but the fit plan expects 40×20/,
    );
    expect(() => unfitImage(createRgbaImage(40, 20), plan)).toThrow(/model frame is 40×20/);
  });
});

describe('assertImageSize / createRgbaImage', () => {
  it('accepts positive integers up to 16384', () => {
    expect(() => assertImageSize(1, 1, 'tiny')).not.toThrow();
    expect(() => assertImageSize(16384, 16384, 'huge')).not.toThrow();
  });

  it('throws clear messages', () => {
    expect(() => assertImageSize(0, 10, 'start keyframe')).toThrow(
      'start keyframe: width and height must be positive whole numbers of pixels, got 0×10',
    );
    expect(() => assertImageSize(-4, 10, 'k')).toThrow(/positive whole numbers/);
    expect(() => assertImageSize(10.5, 10, 'k')).toThrow(/positive whole numbers/);
    expect(() => assertImageSize(NaN, 10, 'k')).toThrow(/positive whole numbers/);
    expect(() => assertImageSize(16385, 10, 'end keyframe')).toThrow(
      'end keyframe is 16385×10 pixels; the largest side allowed is 16384 pixels',
    );
    expect(() => assertImageSize(10, 20000, 'k')).toThrow(/largest side/);
  });

  it('creates filled images, transparent black by default', () => {
    const a = createRgbaImage(3, 2);
    expect(a.data).toHaveLength(24);
    expect(a.data.every((v) => v === 0)).toBe(true);
    const b = createRgbaImage(2, 2, [1, 2, 3, 4]);
    expect(Array.from(b.data)).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
    expect(() => createRgbaImage(0, 2)).toThrow(/positive whole numbers/);
  });
});
