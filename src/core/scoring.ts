/**
 * Scoring in one place: every metric the studio reports (`METRIC_NAMES`: PSNR, SSIM on RGB and on
 * luma, LPIPS with AlexNet and with SqueezeNet) of one image against another, under the one
 * convention of docs/metrics.md. The metrics worker (the page), `src/node/score.ts` (the CLI) and
 * the pack evaluation all call `scoreImages`; they differ only in where the images and the LPIPS
 * graphs come from and how they show the result.
 *
 * Rules, in one place: two images of different sizes are an error (nothing is resized); a metric
 * that cannot be measured — an image under SSIM's 11-pixel window or under an LPIPS backbone's
 * smallest side, or no graph for a backbone — is `null` with one sentence saying why in
 * `unavailable`, and the other metrics are still measured. PSNR always has a value (`Infinity`
 * when the RGB is identical).
 */
import type { GraphRunner } from './graph';
import { assertRgbaImage, type RgbaImage } from './image';
import { computeLpips, LPIPS_MIN_SIDE, type LpipsBackbone, type LpipsResult } from './lpips';
import { heatmapColor, psnr, ssim, SSIM_WINDOW, type MetricName } from './metrics';

/** The metric name of each LPIPS backbone. */
export const LPIPS_METRIC: Readonly<Record<LpipsBackbone, 'lpipsAlex' | 'lpipsSqueeze'>> = {
  alex: 'lpipsAlex',
  squeeze: 'lpipsSqueeze',
};

/** The backbones' names as people read them. */
export const LPIPS_BACKBONE_NAMES: Readonly<Record<LpipsBackbone, string>> = {
  alex: 'AlexNet',
  squeeze: 'SqueezeNet',
};

/** One loaded LPIPS graph. */
export interface LpipsGraph {
  runner: GraphRunner;
  /** Smallest side it measures (its manifest's `minSide`); default `LPIPS_MIN_SIDE[backbone]`. */
  minSide?: number;
}

export interface ScoringOptions {
  /** The LPIPS graphs to run; a backbone without one is reported unavailable. */
  lpips?: Partial<Record<LpipsBackbone, LpipsGraph>>;
  /** Why a backbone has no graph (one sentence, e.g. how to build them). */
  lpipsMissing?: (backbone: LpipsBackbone) => string;
  /** The two images' names in the size error, e.g. ['The ground truth', 'the in-between']. */
  names?: readonly [string, string];
}

/** Every metric of one image against another: one name per metric (`METRIC_NAMES`) everywhere. */
export interface ImageScores {
  width: number;
  height: number;
  /** dB; `Infinity` when the RGB of the two images is identical. */
  psnr: number;
  ssim: number | null;
  ssimLuma: number | null;
  lpipsAlex: number | null;
  lpipsSqueeze: number | null;
  /** One sentence for each metric whose value is `null`, saying why. */
  unavailable: Partial<Record<MetricName, string>>;
  /** LPIPS-Alex's spatial map (`lpips.LPIPS(spatial=True)`), when LPIPS-Alex was measured. */
  lpipsAlexMap: LpipsResult | null;
}

/**
 * Throws one line when the two images differ in size — metrics never resize:
 * "A is 64×64 but B is 512×320: metrics need two images of the same size (images are never resized)".
 */
export function assertSameSize(
  a: RgbaImage,
  b: RgbaImage,
  names: readonly [string, string] = ['the first image', 'the second image'],
): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(
      `${names[0]} is ${a.width}×${a.height} but ${names[1]} is ${b.width}×${b.height}: metrics need two images of the same size (images are never resized)`,
    );
  }
}

/** The sentence for a backbone with no graph when the caller gives none. */
const noGraph = (backbone: LpipsBackbone) =>
  `No LPIPS ${LPIPS_BACKBONE_NAMES[backbone]} graph is loaded.`;

/**
 * Scores `b` against `a` with every metric (all five are symmetric; the order only names the
 * images in the size error). Throws when the sizes differ or an image is malformed; a metric that
 * cannot be measured is `null` with its reason in `unavailable`.
 */
export async function scoreImages(
  a: RgbaImage,
  b: RgbaImage,
  opts: ScoringOptions = {},
): Promise<ImageScores> {
  const names = opts.names ?? ['the first image', 'the second image'];
  assertRgbaImage(a, names[0]);
  assertRgbaImage(b, names[1]);
  assertSameSize(a, b, names);
  const { width, height } = a;
  const size = `${width}×${height}`;
  const unavailable: Partial<Record<MetricName, string>> = {};

  const ssimOf = (channel: 'rgb' | 'luma'): number | null => {
    if (width >= SSIM_WINDOW && height >= SSIM_WINDOW) return ssim(a, b, { channel });
    unavailable[channel === 'rgb' ? 'ssim' : 'ssimLuma'] =
      `SSIM needs images at least ${SSIM_WINDOW}×${SSIM_WINDOW} pixels (its Gaussian window), these are ${size}.`;
    return null;
  };

  const lpipsOf = async (backbone: LpipsBackbone): Promise<LpipsResult | null> => {
    const key = LPIPS_METRIC[backbone];
    const graph = opts.lpips?.[backbone];
    if (!graph) {
      unavailable[key] = (opts.lpipsMissing ?? noGraph)(backbone);
      return null;
    }
    const minSide = graph.minSide ?? LPIPS_MIN_SIDE[backbone];
    if (width < minSide || height < minSide) {
      unavailable[key] =
        `LPIPS with ${LPIPS_BACKBONE_NAMES[backbone]} needs images at least ${minSide}×${minSide} pixels, these are ${size}.`;
      return null;
    }
    return computeLpips(graph.runner, a, b, { minSide });
  };

  const scores = {
    psnr: psnr(a, b),
    ssim: ssimOf('rgb'),
    ssimLuma: ssimOf('luma'),
  };
  const alex = await lpipsOf('alex');
  const squeeze = await lpipsOf('squeeze');
  return {
    width,
    height,
    ...scores,
    lpipsAlex: alex?.distance ?? null,
    lpipsSqueeze: squeeze?.distance ?? null,
    unavailable,
    lpipsAlexMap: alex,
  };
}

/** An LPIPS spatial map drawn on the heatmap ramp (distances 0…1, clamped at 1), opaque RGBA. */
export function lpipsMapImage(map: LpipsResult): RgbaImage {
  const { width, height } = map;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = heatmapColor(Math.min(1, Math.max(0, map.map[i]!)) * 255);
    data[i * 4] = r;
    data[i * 4 + 1] = g;
    data[i * 4 + 2] = b;
    data[i * 4 + 3] = 255;
  }
  return { width, height, data };
}
