/**
 * PSNR / SSIM / heatmap against scikit-image 0.19.3: every pair in
 * ../shared/data/metrics-reference.json (read at run time, never copied into the project), plus
 * small synthetic images whose scikit-image values were computed once and written below.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import type { RgbaImage } from './image';
import {
  HEATMAP_RAMP,
  METRIC_CONVENTIONS,
  METRIC_NAMES,
  absDiffHeatmap,
  heatmapColor,
  psnr,
  ssim,
} from './metrics';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHARED = resolve(REPO, '..', 'shared');
const REFERENCE = join(SHARED, 'data', 'metrics-reference.json');

interface ReferencePair {
  a: string;
  b: string;
  size: [number, number, number];
  psnr_rgb_uint8: number;
  ssim_rgb_gauss: number;
  ssim_y_gauss: number;
  ssim_gray_uniform7_kdq: number;
  ssim_rgb_uniform7: number;
}

function readReference(): ReferencePair[] {
  let text: string;
  try {
    text = readFileSync(REFERENCE, 'utf8');
  } catch (e) {
    throw new Error(
      `metric reference values are missing: ${REFERENCE} (../shared/data beside the repository) could not be read`,
      { cause: e },
    );
  }
  return (JSON.parse(text) as { pairs: ReferencePair[] }).pairs;
}

/** Decodes PNG bytes to 8-bit RGBA the way the studio's Node side does (pngjs). */
function decodePng(bytes: Buffer): RgbaImage {
  const png = PNG.sync.read(bytes);
  return { width: png.width, height: png.height, data: new Uint8ClampedArray(png.data) };
}

const readPng = (path: string): RgbaImage => decodePng(readFileSync(path));

function makeImage(
  width: number,
  height: number,
  f: (x: number, y: number, c: number) => number,
  alpha: (x: number, y: number) => number = () => 255,
): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) data[p + c] = f(x, y, c);
      data[p + 3] = alpha(x, y);
    }
  }
  return { width, height, data };
}

/** The synthetic pair also generated in Python for the hard-coded scikit-image values below. */
function syntheticPair(width: number, height: number): [RgbaImage, RgbaImage] {
  const v = (x: number, y: number, c: number) =>
    (x * 37 + y * 91 + c * 53 + ((x * y) % 17) * 7) % 256;
  const a = makeImage(width, height, v);
  const b = makeImage(width, height, (x, y, c) =>
    Math.min(255, Math.max(0, v(x, y, c) + ((x + 2 * y + c) % 5) * 11 - 20)),
  );
  return [a, b];
}

describe('metrics-reference.json parity (scikit-image 0.19.3)', () => {
  const pairs = readReference();

  it('has pairs to check', () => {
    expect(pairs.length).toBeGreaterThan(0);
  });

  for (const pair of pairs) {
    it(`${pair.a} vs ${pair.b}`, () => {
      const a = readPng(join(SHARED, pair.a));
      const b = readPng(join(SHARED, pair.b));
      expect([a.height, a.width, 3]).toEqual(pair.size);
      const p = psnr(a, b);
      const s = ssim(a, b);
      const sy = ssim(a, b, { channel: 'luma' });
      expect(Math.abs(p - pair.psnr_rgb_uint8)).toBeLessThan(1e-3);
      expect(Math.abs(s - pair.ssim_rgb_gauss)).toBeLessThan(1e-4);
      expect(Math.abs(sy - pair.ssim_y_gauss)).toBeLessThan(1e-4);
      // The ToonCrafter-KDQ protocol's SSIMs: scikit-image's defaults on OpenCV's gray and on RGB.
      const kdq = ssim(a, b, { channel: 'gray', window: 'uniform7' });
      const rgb7 = ssim(a, b, { window: 'uniform7' });
      expect(Math.abs(kdq - pair.ssim_gray_uniform7_kdq)).toBeLessThan(1e-4);
      expect(Math.abs(rgb7 - pair.ssim_rgb_uniform7)).toBeLessThan(1e-4);
      expect(Math.abs(kdq - pair.ssim_gray_uniform7_kdq)).toBeLessThan(1e-9);
      expect(Math.abs(rgb7 - pair.ssim_rgb_uniform7)).toBeLessThan(1e-9);
      // The implementation follows scikit-image's float64 arithmetic, so it is far closer.
      expect(Math.abs(p - pair.psnr_rgb_uint8)).toBeLessThan(1e-9);
      expect(Math.abs(s - pair.ssim_rgb_gauss)).toBeLessThan(1e-9);
      expect(Math.abs(sy - pair.ssim_y_gauss)).toBeLessThan(1e-9);
    });
  }
});

describe('psnr and ssim', () => {
  // scikit-image 0.19.3 on syntheticPair(w, h): [psnr, ssim rgb, ssim luma]. 11×11 is the smallest
  // size with an SSIM (a 1×1 valid region); the odd sizes exercise the reflected borders.
  const expected: [number, number, [number, number, number]][] = [
    [11, 11, [24.388118508725984, 0.9765529022117713, 0.9773563065723905]],
    [13, 17, [24.40509892450569, 0.9767076400227358, 0.9804371858740016]],
    [40, 23, [24.450192874639967, 0.9781939970736294, 0.979366114449987]],
  ];
  for (const [w, h, [p, s, sy]] of expected) {
    it(`matches scikit-image on a synthetic ${w}×${h} pair`, () => {
      const [a, b] = syntheticPair(w, h);
      expect(psnr(a, b)).toBeCloseTo(p, 9);
      expect(ssim(a, b)).toBeCloseTo(s, 9);
      expect(ssim(a, b, { channel: 'rgb' })).toBeCloseTo(s, 9);
      expect(ssim(a, b, { channel: 'luma' })).toBeCloseTo(sy, 9);
    });
  }

  it('identical images: PSNR Infinity, SSIM 1', () => {
    const [a] = syntheticPair(32, 24);
    const copy = { ...a, data: new Uint8ClampedArray(a.data) };
    expect(psnr(a, copy)).toBe(Infinity);
    expect(ssim(a, copy)).toBeCloseTo(1, 12);
    expect(ssim(a, copy, { channel: 'luma' })).toBeCloseTo(1, 12);
    const flat = makeImage(16, 16, () => 0);
    expect(ssim(flat, flat)).toBe(1);
  });

  it('is symmetric and orders a small change above a large one', () => {
    const [a, b] = syntheticPair(40, 23);
    expect(psnr(a, b)).toBe(psnr(b, a));
    expect(ssim(a, b)).toBeCloseTo(ssim(b, a), 14);
    const slight = makeImage(40, 23, (x, y, c) => a.data[(y * 40 + x) * 4 + c]! ^ 1);
    expect(psnr(a, slight)).toBeGreaterThan(psnr(a, b));
    expect(ssim(a, slight)).toBeGreaterThan(ssim(a, b));
    // One level off everywhere: MSE 1 → 10·log10(255²).
    expect(psnr(a, slight)).toBeCloseTo(20 * Math.log10(255), 12);
  });

  it('throws on images smaller than the 11-pixel window', () => {
    const [a, b] = syntheticPair(10, 30);
    expect(() => ssim(a, b)).toThrow(/at least 11×11 pixels.*got 10×30/);
    const [c, d] = syntheticPair(30, 10);
    expect(() => ssim(c, d, { channel: 'luma' })).toThrow(/at least 11×11/);
    // PSNR has no window.
    expect(Number.isFinite(psnr(a, b))).toBe(true);
  });

  it('throws on a size mismatch instead of resizing', () => {
    const [a] = syntheticPair(32, 24);
    const [b] = syntheticPair(24, 32);
    expect(() => psnr(a, b)).toThrow(/same size.*32×24 and 24×32/);
    expect(() => ssim(a, b)).toThrow(/same size/);
    expect(() => absDiffHeatmap(a, b)).toThrow(/same size/);
  });

  it('throws on malformed pixel data', () => {
    const bad: RgbaImage = { width: 4, height: 4, data: new Uint8ClampedArray(10) };
    expect(() => psnr(bad, bad)).toThrow(/10 bytes.*expected 64/);
    const [a, b] = syntheticPair(16, 16);
    expect(() => ssim(a, b, { channel: 'lab' as any })).toThrow(/'rgb', 'luma' or 'gray'/);
    expect(() => ssim(a, b, { window: 'box' as any })).toThrow(/'gaussian' or 'uniform7'/);
  });

  it('the uniform window needs 7 pixels a side, the Gaussian 11', () => {
    const [a, b] = syntheticPair(8, 7);
    expect(ssim(a, b, { window: 'uniform7' })).toBeGreaterThan(0.5);
    expect(() => ssim(a, b)).toThrow(/at least 11×11 pixels \(its Gaussian window/);
    const [c, d] = syntheticPair(6, 9);
    expect(() => ssim(c, d, { window: 'uniform7' })).toThrow(
      /at least 7×7 pixels \(its uniform window/,
    );
  });

  it('ignores alpha: only the stored R, G, B count', () => {
    const [a, b] = syntheticPair(40, 23);
    const alphaA = makeImage(
      40,
      23,
      (x, y, c) => a.data[(y * 40 + x) * 4 + c]!,
      (x, y) => (x * 7 + y * 13) % 256,
    );
    const alphaB = makeImage(
      40,
      23,
      (x, y, c) => b.data[(y * 40 + x) * 4 + c]!,
      (x, y) => (x < 20 ? 0 : 255 - y),
    );
    expect(psnr(alphaA, alphaB)).toBe(psnr(a, b));
    expect(ssim(alphaA, alphaB)).toBe(ssim(a, b));
    expect(ssim(alphaA, alphaB, { channel: 'luma' })).toBe(ssim(a, b, { channel: 'luma' }));
    // Same RGB, different alpha: identical for the metrics.
    expect(psnr(a, alphaA)).toBe(Infinity);
    expect(absDiffHeatmap(a, alphaA).data).toEqual(absDiffHeatmap(a, a).data);
  });

  it('measures a 16-bit PNG after its decoder reduces it to 8 bits (round(v / 257))', () => {
    const width = 24;
    const height = 16;
    const png = new PNG({ width, height, bitDepth: 16, colorType: 6, inputColorType: 6 });
    const words = new Uint16Array(width * height * 4);
    for (let i = 0; i < words.length; i++) {
      // Include values whose high byte alone (v >> 8) would round the other way.
      words[i] = i % 4 === 3 ? 40000 + i : (i * 4099 + 0xff) % 65536;
    }
    png.data = Buffer.from(words.buffer);
    const bytes = PNG.sync.write(png, {
      bitDepth: 16,
      colorType: 6,
      inputColorType: 6,
      inputHasAlpha: true,
    });
    expect(bytes.readUInt8(24)).toBe(16); // IHDR bit depth: a real 16-bit PNG
    const decoded = decodePng(bytes);
    expect(decoded.width).toBe(width);
    let differsFromHighByte = 0;
    for (let i = 0; i < words.length; i++) {
      expect(decoded.data[i]).toBe(Math.round(words[i]! / 257));
      if (decoded.data[i] !== words[i]! >> 8) differsFromHighByte++;
    }
    expect(differsFromHighByte).toBeGreaterThan(0);
    // The metrics see exactly the 8-bit image the decoder made.
    const eight = makeImage(width, height, (x, y, c) =>
      Math.round(words[(y * width + x) * 4 + c]! / 257),
    );
    const [other] = syntheticPair(width, height);
    expect(psnr(decoded, other)).toBe(psnr(eight, other));
    expect(ssim(decoded, other)).toBe(ssim(eight, other));
    expect(psnr(decoded, eight)).toBe(Infinity);
  });
});

describe('absDiffHeatmap', () => {
  it('maps mean |a − b| over RGB to the documented ramp', () => {
    const black = makeImage(3, 2, () => 0);
    const white = makeImage(3, 2, () => 255);
    const grey64 = makeImage(3, 2, () => 64);
    const mixed = makeImage(3, 2, (x, _y, c) => (c === 0 ? 48 * x : 0)); // mean diff 16·x
    const same = absDiffHeatmap(black, black);
    expect(same.width).toBe(3);
    expect(same.height).toBe(2);
    expect(Array.from(same.data.subarray(0, 4))).toEqual([0, 0, 4, 255]);
    expect(Array.from(absDiffHeatmap(black, white).data.subarray(0, 4))).toEqual([
      252, 255, 164, 255,
    ]);
    // sqrt(64 / 255) ≈ 0.501: just past the middle stop.
    const mid = Array.from(absDiffHeatmap(grey64, black).data.subarray(0, 3));
    const stop = HEATMAP_RAMP[2]!;
    for (let c = 0; c < 3; c++) expect(Math.abs(mid[c]! - stop[c]!)).toBeLessThanOrEqual(1);
    const m = absDiffHeatmap(mixed, black);
    expect(Array.from(m.data.subarray(4, 8))).toEqual([...heatmapColor(16), 255]);
    expect(Array.from(m.data.subarray(8, 12))).toEqual([...heatmapColor(32), 255]);
  });

  it('ramp is monotonic in brightness (up to rounding to whole levels)', () => {
    let last = -1;
    for (let d = 0; d <= 255; d++) {
      const [r, g, b] = heatmapColor(d);
      const y = 0.299 * r + 0.587 * g + 0.114 * b;
      expect(y).toBeGreaterThanOrEqual(last - 0.5);
      last = y;
    }
  });
});

describe('METRIC_CONVENTIONS', () => {
  it('labels every metric', () => {
    expect(METRIC_CONVENTIONS.psnr).toBe('PSNR (RGB, uint8, peak 255)');
    for (const label of Object.values(METRIC_CONVENTIONS)) expect(label.length).toBeGreaterThan(5);
    expect(METRIC_CONVENTIONS.lpipsAlex).toMatch(/v0\.1.*AlexNet/);
  });

  it('has one label per metric name, in the order shown', () => {
    expect(Object.keys(METRIC_CONVENTIONS)).toEqual([...METRIC_NAMES]);
  });
});
