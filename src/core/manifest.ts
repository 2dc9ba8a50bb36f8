/**
 * The model-pack contract: a zod schema for `manifest.json`, validated before any graph is
 * downloaded or run. A pack is data (JSON + ONNX); nothing in it is executed as code, so every
 * field is checked here, file names included (no path traversal, no URLs, no absolute paths).
 *
 * The prose version of this contract, for researchers, is docs/model-pack.md.
 */
import { z } from 'zod';

/** The only value `format` may take; bump `FORMAT_VERSION` on breaking changes. */
export const PACK_FORMAT = 'inbetween-pack';
export const FORMAT_VERSION = 1;

/** Largest graph file the studio accepts (2 GiB: ONNX protobuf limit without external data). */
const MAX_FILE_BYTES = 2 ** 31;
/** Largest image side a pack may declare. */
const MAX_IMAGE_SIDE = 4096;

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1–64 characters of a-z, 0-9, ".", "_" or "-"');

/**
 * A file name inside the pack folder: plain relative path segments, no "..", no leading "/",
 * no backslashes, no URL scheme. Sub-folders are allowed ("weights/denoiser.onnx").
 */
export const packFileName = z
  .string()
  .min(1)
  .max(200)
  .refine((s) => !s.includes('\\'), 'must not contain backslashes')
  .refine((s) => !s.startsWith('/'), 'must be relative to the pack folder, not absolute')
  .refine((s) => !/^[a-z][a-z0-9+.-]*:/i.test(s), 'must be a file name, not a URL')
  .refine(
    (s) => s.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..'),
    'must not contain "..", "." or empty path segments',
  )
  .refine((s) => /^[A-Za-z0-9._/-]+$/.test(s), 'may only use A-Z, a-z, 0-9, ".", "_", "-" and "/"');

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (sha256)');
const sizeBytes = z.number().int().positive().max(MAX_FILE_BYTES, 'is larger than 2 GiB');
const side = z.number().int().min(8).max(MAX_IMAGE_SIDE);
const tensorName = z.string().min(1).max(128);

const fileRef = z.strictObject({ file: packFileName, sizeBytes, sha256 });

/** One ONNX graph: its file, integrity data, and the tensor names it uses for each role. */
const graphSpec = z.strictObject({
  file: packFileName,
  sizeBytes,
  sha256,
  /** ONNX external-data files that sit beside the graph (large weights). */
  externalData: z.array(fileRef).max(64).optional(),
  /** role → tensor name in the ONNX graph. */
  inputs: z.record(z.string(), tensorName),
  outputs: z.record(z.string(), tensorName),
});

const encoderSpec = graphSpec.extend({
  inputs: z.strictObject({ image: tensorName }),
  outputs: z.strictObject({ latent: tensorName }),
});
const decoderSpec = graphSpec
  .extend({
    inputs: z.strictObject({
      /** Unscaled latent, [1, C, h, w]. */
      latent: tensorName,
      /**
       * Optional keyframe references (ToonCrafter-style detail injection): the fitted start and end
       * keyframes, [1, 3, H, W] in `image.valueRange`. Both or neither.
       */
      startImage: tensorName.optional(),
      endImage: tensorName.optional(),
      /**
       * Optional motion estimate: the output of `graphs.motion` for this pair of keyframes (the
       * studio runs that graph once per pair and passes its result with every decode).
       */
      motion: tensorName.optional(),
      /** Optional in-between position τ ∈ (0, 1) of the frame being decoded, [1] float32. */
      position: tensorName.optional(),
    }),
    outputs: z.strictObject({ image: tensorName }),
  })
  .refine((g) => (g.inputs.startImage === undefined) === (g.inputs.endImage === undefined), {
    message: 'startImage and endImage must be given together',
    path: ['inputs'],
  })
  .refine((g) => g.inputs.motion === undefined || g.inputs.startImage !== undefined, {
    message: 'a decoder with a motion input also takes startImage and endImage',
    path: ['inputs', 'motion'],
  });
/**
 * Optional motion estimator, run once per keyframe pair: the fitted keyframes [1, 3, H, W] in
 * `image.valueRange` → a motion tensor [1, K, H, W] that the decoder takes as its `motion` input
 * (the bundled pack: K = 4, Farnebäck flows start→end and end→start in pixels).
 */
const motionSpec = graphSpec.extend({
  inputs: z.strictObject({ startImage: tensorName, endImage: tensorName }),
  outputs: z.strictObject({ motion: tensorName }),
});
const denoiserSpec = graphSpec.extend({
  inputs: z.strictObject({
    /** Noisy latents, [B, C, h, w] float32. */
    sample: tensorName,
    /** Timestep per batch item, [B] float32 (training-timestep units, 0…T-1). */
    timestep: tensorName,
    /** Scaled latent of the start keyframe, [B, C, h, w]. */
    startLatent: tensorName,
    /** Scaled latent of the end keyframe, [B, C, h, w]. */
    endLatent: tensorName,
    /** In-between position τ ∈ (0, 1) per batch item, [B] float32 (position mode only). */
    position: tensorName.optional(),
    /** Scalar LoRA scale, [1] float32, multiplying every adapter branch. */
    loraScale: tensorName.optional(),
  }),
  outputs: z.strictObject({ prediction: tensorName }),
});

const range = z
  .tuple([z.number().finite(), z.number().finite()])
  .refine(([lo, hi]) => lo < hi, 'must be [low, high] with low < high');

const imageRules = z
  .strictObject({
    /** [width, height] the graphs were trained at; keyframes are fitted to it. */
    defaultSize: z.tuple([side, side]),
    /** Width and height must be multiples of this. */
    multipleOf: z.number().int().min(1).max(512),
    /** Pixel value range the encoder expects and the decoder produces. */
    valueRange: range,
    channels: z.literal(3),
  })
  .refine((r) => r.defaultSize[0] % r.multipleOf === 0 && r.defaultSize[1] % r.multipleOf === 0, {
    message: 'must be a multiple of multipleOf',
    path: ['defaultSize'],
  });

const latentRules = z.strictObject({
  channels: z.number().int().min(1).max(64),
  /** Spatial downsampling of the VAE (8 for SD-style VAEs). */
  downsample: z.number().int().min(1).max(64),
  /** Latents are multiplied by this after encoding and divided before decoding. */
  scaleFactor: z.number().finite().positive(),
});

const schedulerSpec = z
  .strictObject({
    type: z.literal('ddim'),
    trainTimesteps: z.number().int().min(2).max(10000),
    betaSchedule: z.enum(['linear', 'scaled_linear']),
    betaStart: z.number().positive().lt(1),
    betaEnd: z.number().positive().lt(1),
    predictionType: z.enum(['epsilon', 'v_prediction']),
    timestepSpacing: z.enum(['leading', 'trailing']),
    /** Offset added to leading timesteps (diffusers `stepStatsoffset`). */
    stepsOffset: z.number().int().min(0).max(10).default(0),
    rescaleZeroTerminalSnr: z.boolean(),
    /** diffusers `set_alpha_to_one`: use ᾱ = 1 for the step after the last one. */
    setAlphaToOne: z.boolean().default(true),
    defaultSteps: z.number().int().min(1).max(1000),
    eta: z.number().min(0).max(1),
  })
  .refine((s) => s.betaStart < s.betaEnd, {
    message: 'betaStart must be smaller than betaEnd',
    path: ['betaStart'],
  })
  .refine((s) => s.defaultSteps <= s.trainTimesteps, {
    message: 'defaultSteps cannot exceed trainTimesteps',
    path: ['defaultSteps'],
  });

const framesSpec = z.discriminatedUnion('mode', [
  /** One denoising run per in-between, with τ given to the denoiser. */
  z.strictObject({ mode: z.literal('position'), maxBatch: z.number().int().min(1).max(64) }),
  /**
   * A fixed joint clip (ToonCrafter-style): the denoiser sees all `clipLength` frames at once,
   * keyframes at the ends. Described by the contract; not yet run by the studio.
   */
  z.strictObject({ mode: z.literal('clip'), clipLength: z.number().int().min(3).max(64) }),
]);

const loraScaleSpec = z
  .strictObject({
    default: z.number().finite(),
    min: z.number().finite(),
    max: z.number().finite(),
  })
  .refine((l) => l.min < l.max && l.default >= l.min && l.default <= l.max, {
    message: 'needs min < max and min ≤ default ≤ max',
  });

const variantSpec = z.strictObject({
  id,
  label: z.string().min(1).max(80),
  description: z.string().max(500).optional(),
  precision: z.enum(['fp32', 'fp16', 'int8']),
  /** Name of a graph in `graphs` with role denoiser. */
  denoiser: id,
  loraScale: loraScaleSpec.optional(),
  recommendedSteps: z.number().int().min(1).max(1000).optional(),
});

/** The full manifest schema. Unknown top-level fields are rejected so typos surface. */
export const manifestSchema = z
  .strictObject({
    format: z.literal(PACK_FORMAT),
    formatVersion: z.literal(FORMAT_VERSION),
    id,
    name: z.string().min(1).max(120),
    version: z.string().min(1).max(40),
    description: z.string().max(2000).optional(),
    /** false for randomly initialised packs (tests); the UI labels them as untrained. */
    trained: z.boolean(),
    license: z.string().max(200).optional(),
    image: imageRules,
    latent: latentRules,
    scheduler: schedulerSpec,
    frames: framesSpec,
    graphs: z.strictObject({
      encoder: encoderSpec,
      decoder: decoderSpec,
      motion: motionSpec.optional(),
      denoisers: z.record(id, denoiserSpec).refine((r) => Object.keys(r).length > 0, {
        message: 'needs at least one denoiser',
      }),
    }),
    variants: z.array(variantSpec).min(1).max(32),
  })
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    m.variants.forEach((v, i) => {
      if (seen.has(v.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['variants', i, 'id'],
          message: `duplicate variant id "${v.id}"`,
        });
      }
      seen.add(v.id);
      const graph = m.graphs.denoisers[v.denoiser];
      if (!graph) {
        ctx.addIssue({
          code: 'custom',
          path: ['variants', i, 'denoiser'],
          message: `names denoiser "${v.denoiser}", which is not in graphs.denoisers`,
        });
        return;
      }
      if (v.loraScale && !graph.inputs.loraScale) {
        ctx.addIssue({
          code: 'custom',
          path: ['variants', i, 'loraScale'],
          message: `has a LoRA scale but denoiser "${v.denoiser}" declares no loraScale input`,
        });
      }
      if (!v.loraScale && graph.inputs.loraScale) {
        ctx.addIssue({
          code: 'custom',
          path: ['variants', i, 'loraScale'],
          message: `is required: denoiser "${v.denoiser}" has a loraScale input`,
        });
      }
      if (m.frames.mode === 'position' && !graph.inputs.position) {
        ctx.addIssue({
          code: 'custom',
          path: ['graphs', 'denoisers', v.denoiser, 'inputs', 'position'],
          message: 'is required when frames.mode is "position"',
        });
      }
    });
    if (m.graphs.motion && !m.graphs.decoder.inputs.motion) {
      ctx.addIssue({
        code: 'custom',
        path: ['graphs', 'decoder', 'inputs', 'motion'],
        message: 'is required: the pack has a motion graph, and only the decoder uses its output',
      });
    }
    if (!m.graphs.motion && m.graphs.decoder.inputs.motion) {
      ctx.addIssue({
        code: 'custom',
        path: ['graphs', 'motion'],
        message: 'is required: the decoder declares a motion input',
      });
    }
    const { defaultSize, multipleOf } = m.image;
    const step = m.latent.downsample;
    if (multipleOf % step !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['image', 'multipleOf'],
        message: `must be a multiple of latent.downsample (${step})`,
      });
    }
    if (defaultSize[0] * defaultSize[1] > 4096 * 4096) {
      ctx.addIssue({
        code: 'custom',
        path: ['image', 'defaultSize'],
        message: 'is absurdly large',
      });
    }
  });

export type PackManifest = z.infer<typeof manifestSchema>;
export type VariantSpec = PackManifest['variants'][number];
export type GraphSpec = z.infer<typeof graphSpec>;
export type DenoiserSpec = z.infer<typeof denoiserSpec>;
export type SchedulerSpec = PackManifest['scheduler'];

/** The result of validating a manifest: the typed manifest, or one message per problem. */
export type ManifestResult = { ok: true; manifest: PackManifest } | { ok: false; errors: string[] };

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'manifest';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

/**
 * Validates parsed JSON against the pack contract. Each error names the field it is about,
 * e.g. `variants[1].denoiser: names denoiser "x", which is not in graphs.denoisers`.
 */
export function validateManifest(json: unknown): ManifestResult {
  const parsed = manifestSchema.safeParse(json);
  if (parsed.success) return { ok: true, manifest: parsed.data };
  const errors = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = formatPath(issue.path);
      return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    }
    return `${formatPath(issue.path)}: ${issue.message}`;
  });
  return { ok: false, errors };
}

/** Parses manifest text (JSON) and validates it; JSON syntax errors become one message. */
export function parseManifest(text: string): ManifestResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [`manifest.json is not valid JSON: ${(e as Error).message}`] };
  }
  return validateManifest(json);
}

/** One graph a variant runs, with the name its session is kept under and a phrase for messages. */
export interface VariantGraph {
  /** 'encoder', 'decoder', 'motion' or 'denoiser:<name>' — sessions are shared by this key. */
  key: string;
  role: 'encoder' | 'decoder' | 'motion' | 'denoiser';
  spec: GraphSpec;
  /** e.g. `the denoiser of variant "lora" (denoiser_lora.onnx)`. */
  what: string;
}

/** The graphs a variant runs, in load order: encoder, decoder, motion (when the pack has one), denoiser. */
export function graphsForVariant(m: PackManifest, variantId: string): VariantGraph[] {
  const variant = m.variants.find((v) => v.id === variantId);
  if (!variant) {
    throw new Error(
      `pack "${m.id}" has no variant "${variantId}" (it has ${m.variants.map((v) => v.id).join(', ')})`,
    );
  }
  const denoiser = m.graphs.denoisers[variant.denoiser];
  if (!denoiser) throw new Error(`variant "${variantId}" names a missing denoiser`);
  const list: VariantGraph[] = [
    { key: 'encoder', role: 'encoder', spec: m.graphs.encoder, what: 'the VAE encoder' },
    { key: 'decoder', role: 'decoder', spec: m.graphs.decoder, what: 'the VAE decoder' },
  ];
  if (m.graphs.motion) {
    list.push({ key: 'motion', role: 'motion', spec: m.graphs.motion, what: 'the motion graph' });
  }
  list.push({
    key: `denoiser:${variant.denoiser}`,
    role: 'denoiser',
    spec: denoiser,
    what: `the denoiser of variant "${variant.id}"`,
  });
  return list.map((g) => ({ ...g, what: `${g.what} (${g.spec.file})` }));
}

/** Every file a variant needs, encoder, decoder and motion graph included, with integrity data. */
export function filesForVariant(
  m: PackManifest,
  variantId: string,
): {
  role: VariantGraph['role'];
  file: string;
  sizeBytes: number;
  sha256: string;
}[] {
  return graphsForVariant(m, variantId).flatMap(({ role, spec }) => [
    { role, file: spec.file, sizeBytes: spec.sizeBytes, sha256: spec.sha256 },
    ...(spec.externalData ?? []).map((ext) => ({ role, ...ext })),
  ]);
}

/** Bytes a variant loads: every file of `filesForVariant` (motion graph and external data included). */
export function variantSizeBytes(m: PackManifest, variantId: string): number {
  return filesForVariant(m, variantId).reduce((sum, f) => sum + f.sizeBytes, 0);
}

/**
 * The variant every comparison is made against (the collapse check's baseline, the first in the
 * list): the pack contract puts the reference variant first.
 */
export function referenceVariant(m: PackManifest): VariantSpec {
  return m.variants[0]!;
}
