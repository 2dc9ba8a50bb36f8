/**
 * LPIPS (Zhang et al. 2018, v0.1) through the ONNX graphs built by
 * models/training/export_lpips.py, on any runtime behind `GraphRunner` (onnxruntime-web in the
 * worker, onnxruntime-node in the CLI and tests). Convention (docs/metrics.md): RGB of the 8-bit
 * images mapped to [-1, 1] as x / 127.5 − 1 — `lpips.im2tensor` exactly — alpha ignored, no
 * resizing; AlexNet is the default backbone, SqueezeNet the light one, VGG-16 the one the
 * ToonCrafter research reported (dataset evaluations under its protocol; built only where
 * torchvision's VGG-16 weights are at hand).
 */
import { z } from 'zod';
import type { FloatTensor, GraphRunner } from './graph';
import { assertRgbaImage, type RgbaImage } from './image';
import { packFileName } from './manifest';

/** The backbones the studio's scoring reports (METRIC_NAMES: lpipsAlex, lpipsSqueeze). */
export type LpipsBackbone = 'alex' | 'squeeze';
/** Every backbone an LPIPS folder may hold: also VGG-16, for dataset evaluations. */
export type LpipsGraphBackbone = LpipsBackbone | 'vgg';

/** Tensor names of the exported graphs (role → name, as in the manifest). */
export const LPIPS_INPUTS = { imageA: 'in0', imageB: 'in1' } as const;
export const LPIPS_OUTPUTS = { distance: 'distance', distanceMap: 'distance_map' } as const;

/**
 * Smallest width and height each backbone can measure: every pooling stage needs at least one
 * output pixel. ONNX Runtime does not always refuse smaller inputs (AlexNet at 30 px returns a
 * meaningless number), so `computeLpips` checks before running.
 */
export const LPIPS_MIN_SIDE: Readonly<Record<LpipsGraphBackbone, number>> = {
  alex: 31,
  squeeze: 17,
  vgg: 16,
};

/** x / 127.5 − 1 for every 8-bit value, rounded to float32 once (as the reference's tensor is). */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, x) => x / 127.5 - 1);

/**
 * RGBA → the graph's input: CHW float32 RGB in [-1, 1], value x ↦ x / 127.5 − 1 (alpha ignored:
 * the stored R, G, B are used, not composited). Length 3·width·height; add the batch dimension
 * [1, 3, height, width] when feeding it.
 */
export function imageToLpipsTensor(img: RgbaImage): Float32Array {
  assertRgbaImage(img, 'LPIPS image');
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  const d = img.data;
  for (let p = 0; p < plane; p++) {
    out[p] = TO_UNIT[d[p * 4]!]!;
    out[plane + p] = TO_UNIT[d[p * 4 + 1]!]!;
    out[2 * plane + p] = TO_UNIT[d[p * 4 + 2]!]!;
  }
  return out;
}

export interface LpipsResult {
  /** The LPIPS distance (0 = identical; larger = more different), as `lpips.LPIPS()(a, b)`. */
  distance: number;
  /**
   * The spatial map, width·height values row-major: the sum over layers of each layer's
   * linear-layer map, resized bilinearly to the image size — `lpips.LPIPS(spatial=True)`. Its mean
   * is close to, not exactly, `distance`.
   */
  map: Float32Array;
  width: number;
  height: number;
}

function outputOf(
  results: Record<string, FloatTensor>,
  name: string,
  length: number,
  dims: readonly number[],
): Float32Array {
  const t = results[name];
  if (!t) {
    throw new Error(
      `the LPIPS graph returned no "${name}" (it returned ${Object.keys(results).join(', ') || 'nothing'})`,
    );
  }
  if (t.data.length !== length || t.dims.join('×') !== dims.join('×')) {
    throw new Error(
      `the LPIPS graph's "${name}" has shape [${t.dims.join(', ')}] (${t.data.length} values), expected [${dims.join(', ')}]`,
    );
  }
  return t.data;
}

/**
 * Runs one LPIPS graph on two same-size images (never resized). `minSide` is the backbone's
 * smallest side (default `LPIPS_MIN_SIDE.alex`, 31; pass `LPIPS_MIN_SIDE.squeeze` or the
 * manifest's `minSide` for SqueezeNet). Throws on a size mismatch, too small an image, or a graph
 * whose inputs or outputs are not LPIPS's.
 */
export async function computeLpips(
  runner: GraphRunner,
  a: RgbaImage,
  b: RgbaImage,
  opts?: { minSide?: number },
): Promise<LpipsResult> {
  assertRgbaImage(a, 'LPIPS: first image');
  assertRgbaImage(b, 'LPIPS: second image');
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(
      `LPIPS needs two images of the same size, got ${a.width}×${a.height} and ${b.width}×${b.height} (images are never resized for metrics)`,
    );
  }
  const minSide = opts?.minSide ?? LPIPS_MIN_SIDE.alex;
  const { width, height } = a;
  if (width < minSide || height < minSide) {
    throw new Error(
      `LPIPS needs images at least ${minSide}×${minSide} pixels for this backbone, got ${width}×${height}`,
    );
  }
  for (const name of Object.values(LPIPS_INPUTS)) {
    if (!runner.inputNames.includes(name)) {
      throw new Error(
        `this graph is not an LPIPS graph: it has no input "${name}" (inputs: ${runner.inputNames.join(', ')})`,
      );
    }
  }
  const dims = [1, 3, height, width];
  const results = await runner.run({
    [LPIPS_INPUTS.imageA]: { data: imageToLpipsTensor(a), dims },
    [LPIPS_INPUTS.imageB]: { data: imageToLpipsTensor(b), dims },
  });
  const distance = outputOf(results, LPIPS_OUTPUTS.distance, 1, [1])[0]!;
  const map = outputOf(results, LPIPS_OUTPUTS.distanceMap, width * height, [1, 1, height, width]);
  return { distance, map, width, height };
}

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (sha256)');

const lpipsGraphSchema = z.object({
  file: packFileName,
  sizeBytes: z.number().int().positive(),
  sha256,
  backbone: z.enum(['alex', 'squeeze', 'vgg']),
  version: z.literal('0.1'),
  inputs: z.strictObject({ imageA: z.string().min(1), imageB: z.string().min(1) }),
  outputs: z.strictObject({ distance: z.string().min(1), distanceMap: z.string().min(1) }),
  minSide: z.number().int().positive(),
});

/** `manifest.json` written by export_lpips.py beside the graphs (extra fields are kept). */
export const lpipsManifestSchema = z.object({
  format: z.literal('lpips-onnx'),
  formatVersion: z.literal(1),
  version: z.literal('0.1'),
  default: z.enum(['alex', 'squeeze', 'vgg']),
  exporter: z.object({ sha256 }).optional(),
  graphs: z
    .object({
      alex: lpipsGraphSchema.optional(),
      squeeze: lpipsGraphSchema.optional(),
      vgg: lpipsGraphSchema.optional(),
    })
    .refine((g) => g.alex || g.squeeze || g.vgg, 'must describe at least one graph'),
});

export type LpipsManifest = z.infer<typeof lpipsManifestSchema>;
export type LpipsGraphSpec = z.infer<typeof lpipsGraphSchema>;

/** Validates an LPIPS manifest; throws an Error listing every problem. */
export function parseLpipsManifest(json: unknown): LpipsManifest {
  const r = lpipsManifestSchema.safeParse(json);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`invalid LPIPS manifest: ${problems.join('; ')}`);
  }
  for (const [key, g] of Object.entries(r.data.graphs)) {
    if (g && g.backbone !== key) {
      throw new Error(`invalid LPIPS manifest: graphs.${key} is a ${g.backbone} graph`);
    }
  }
  return r.data;
}
