/**
 * The one scoring module: every metric under its one name, the same numbers as the metric
 * functions and the reference values (../shared/data/metrics-reference.json, LPIPS through the real
 * graphs on onnxruntime-node), and the rules both the metrics worker and the CLI rely on — a size
 * mismatch throws, a metric that cannot be measured is null with its reason while the others are
 * still measured.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wrapSession, type GraphRunner } from './graph';
import { createRgbaImage, type RgbaImage } from './image';
import { parseLpipsManifest, type LpipsBackbone } from './lpips';
import { HEATMAP_RAMP, METRIC_NAMES, psnr, ssim } from './metrics';
import { assertSameSize, lpipsMapImage, scoreImages } from './scoring';
import {
  prepareLpipsGraphs,
  readReferencePairs,
  SHARED,
  type ReferencePair,
} from '../testing/lpipsFixture';

function readPng(path: string): RgbaImage {
  const png = PNG.sync.read(readFileSync(path));
  return { width: png.width, height: png.height, data: new Uint8ClampedArray(png.data) };
}

const runners: Partial<Record<LpipsBackbone, GraphRunner>> = {};
let reference: ReferencePair[] = [];
let cleanup: () => void = () => undefined;

beforeAll(async () => {
  reference = readReferencePairs();
  const graphs = prepareLpipsGraphs();
  cleanup = graphs.cleanup;
  const manifest = parseLpipsManifest(
    JSON.parse(readFileSync(join(graphs.dir, 'manifest.json'), 'utf8')),
  );
  for (const b of ['alex', 'squeeze'] as const) {
    const session = await ort.InferenceSession.create(join(graphs.dir, manifest.graphs[b]!.file), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 2,
    });
    runners[b] = wrapSession(session, ort, `LPIPS ${b}`);
  }
}, 300_000);

afterAll(async () => {
  for (const r of Object.values(runners)) await r.release();
  cleanup();
});

const lpips = () => ({ alex: { runner: runners.alex! }, squeeze: { runner: runners.squeeze! } });

describe('scoreImages', () => {
  it('gives every metric under its one name, matching the reference values', async () => {
    const pair = reference[0]!;
    const a = readPng(join(SHARED, pair.a));
    const b = readPng(join(SHARED, pair.b));
    const s = await scoreImages(a, b, { lpips: lpips() });
    for (const name of METRIC_NAMES) expect(typeof s[name], name).toBe('number');
    expect(s.psnr).toBe(psnr(a, b));
    expect(s.ssim).toBe(ssim(a, b));
    expect(s.ssimLuma).toBe(ssim(a, b, { channel: 'luma' }));
    expect(Math.abs(s.psnr - pair.psnr_rgb_uint8)).toBeLessThan(1e-3);
    expect(Math.abs(s.lpipsAlex! - pair['lpips_alex_v0.1'])).toBeLessThan(1e-4);
    expect(Math.abs(s.lpipsSqueeze! - pair['lpips_squeeze_v0.1'])).toBeLessThan(1e-4);
    expect(s.unavailable).toEqual({});
    expect(s.lpipsAlexMap).toMatchObject({ width: a.width, height: a.height });
    expect(s.lpipsAlexMap!.distance).toBe(s.lpipsAlex);
    expect([s.width, s.height]).toEqual([a.width, a.height]);
  });

  it('refuses two sizes with one line naming both images (nothing is resized)', async () => {
    const a = createRgbaImage(40, 30);
    const b = createRgbaImage(30, 40);
    await expect(
      scoreImages(a, b, { names: ['The ground truth', 'the in-between'] }),
    ).rejects.toThrow(
      'The ground truth is 40×30 but the in-between is 30×40: metrics need two images of the same size (images are never resized)',
    );
    expect(() => assertSameSize(a, a)).not.toThrow();
  });

  it('reports each metric it cannot measure with a reason and still measures the others', async () => {
    const small = createRgbaImage(20, 24, [10, 20, 30, 255]);
    const other = createRgbaImage(20, 24, [12, 20, 30, 255]);
    const s = await scoreImages(small, other, { lpips: lpips() });
    expect(s.psnr).toBeCloseTo(10 * Math.log10((255 * 255) / (4 / 3)), 9);
    expect(s.ssim).not.toBeNull();
    expect(s.lpipsAlex).toBeNull();
    expect(s.lpipsAlexMap).toBeNull();
    expect(s.unavailable).toEqual({
      lpipsAlex: 'LPIPS with AlexNet needs images at least 31×31 pixels, these are 20×24.',
    });
    expect(s.lpipsSqueeze).toBeGreaterThan(0);

    const tiny = createRgbaImage(10, 12);
    const t = await scoreImages(tiny, tiny, { lpips: lpips() });
    expect(t.psnr).toBe(Infinity);
    expect([t.ssim, t.ssimLuma, t.lpipsAlex, t.lpipsSqueeze]).toEqual([null, null, null, null]);
    expect(t.unavailable.ssim).toBe(
      'SSIM needs images at least 11×11 pixels (its Gaussian window), these are 10×12.',
    );
    expect(t.unavailable.ssimLuma).toBe(t.unavailable.ssim);
    expect(t.unavailable.lpipsSqueeze).toMatch(/SqueezeNet needs images at least 17×17/);
  });

  it("says why a backbone has no graph, in the caller's words", async () => {
    const img = createRgbaImage(64, 64, [200, 100, 50, 255]);
    const none = await scoreImages(img, img);
    expect(none.unavailable).toEqual({
      lpipsAlex: 'No LPIPS AlexNet graph is loaded.',
      lpipsSqueeze: 'No LPIPS SqueezeNet graph is loaded.',
    });
    const alexOnly = await scoreImages(img, img, {
      lpips: { alex: { runner: runners.alex! } },
      lpipsMissing: (b) => `build the ${b} graph`,
    });
    expect(alexOnly.lpipsAlex).toBeCloseTo(0, 7);
    expect(alexOnly.unavailable).toEqual({ lpipsSqueeze: 'build the squeeze graph' });
  });
});

describe('lpipsMapImage', () => {
  it('draws distances 0…1 on the heatmap ramp, clamped', () => {
    const map = Float32Array.from([0, 1, 5, -1]);
    const img = lpipsMapImage({ distance: 0, map, width: 2, height: 2 });
    const px = (i: number) => [...img.data.subarray(i * 4, i * 4 + 4)];
    expect(px(0)).toEqual([...HEATMAP_RAMP[0]!, 255]);
    expect(px(1)).toEqual([...HEATMAP_RAMP[4]!, 255]);
    expect(px(2)).toEqual(px(1));
    expect(px(3)).toEqual(px(0));
  });
});
