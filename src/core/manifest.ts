/**
 * The model-pack contract: a zod schema for `manifest.json`, validated before any graph is
 * downloaded or run. A pack is data (JSON + ONNX); nothing in it is executed as code, so every
 * field is checked here, file names included (no path traversal, no URLs, no absolute paths).
 *
 * The prose version of this contract, for researchers, is docs/model-pack.md.
 */
import { z } from 'zod';
import { tokenIdsRole } from './graph';

/** The only value `format` may take; bump `FORMAT_VERSION` on breaking changes. */
export const PACK_FORMAT = 'inbetween-pack';
/**
 * The newest pack format the studio reads. Format 1: one in-between per position τ, a denoiser fed
 * the two keyframe latents. Format 2 adds conditioning stages, constant tensors, prompts, scalar
 * controls, classifier-free guidance and joint clips (`frames.mode: "clip"`, ToonCrafter-style).
 * Format-1 packs load and run unchanged.
 */
export const FORMAT_VERSION = 2;

/** Largest graph file the studio accepts (2 GiB: ONNX protobuf limit without external data). */
const MAX_FILE_BYTES = 2 ** 31;
/** Largest external-data file (4 GiB less a WebAssembly page: one browser buffer). */
const MAX_EXTERNAL_BYTES = 2 ** 32 - 65536;
/** Largest constant tensor a pack may ship (elements; 256 MiB of float32). */
const MAX_CONSTANT_ELEMENTS = 64 * 1024 * 1024;
/** The longest typed prompt the page and CLI take unless `text.maxChars` says otherwise. */
export const DEFAULT_MAX_PROMPT_CHARS = 1000;
/** A tokenizer.json's largest size (CLIP's is about 3.6 MB, large multilingual ones about 17 MB). */
const MAX_TOKENIZER_BYTES = 32 * 1024 * 1024;
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
/**
 * An external-data file: weights beside a graph, up to 4 GiB each (the most one browser buffer
 * holds; ONNX Runtime Web reads it into a WebAssembly.Memory). Bigger models split their weights
 * over several files.
 */
const externalDataRef = z.strictObject({
  file: packFileName,
  sizeBytes: z
    .number()
    .int()
    .positive()
    .max(MAX_EXTERNAL_BYTES, 'is larger than 4 GiB: split the external data into several files'),
  sha256,
});

/** One ONNX graph: its file, integrity data, and the tensor names it uses for each role. */
const graphSpec = z.strictObject({
  file: packFileName,
  sizeBytes,
  sha256,
  /** ONNX external-data files that sit beside the graph (large weights). */
  externalData: z.array(externalDataRef).max(64).optional(),
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
    /** Format 2: further inputs, tensor name → source (e.g. the VAE encoder stage's reference features). */
    feeds: z.record(tensorName, z.string()).optional(),
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
 * Settings of the classical optical flow the studio computes for a motion graph's `classicalMotion`
 * input: OpenCV's `calcOpticalFlowFarneback` (`farnebackOpenCV.ts`), its parameters by OpenCV's names
 * (`polyN` the expansion's half-width; OpenCV documents 5 and 7). Bounded so that a manifest cannot ask
 * for minutes of work per keyframe pair.
 */
const classicalFlowSpec = z.strictObject({
  method: z.literal('opencv-farneback'),
  pyrScale: z.number().min(0.25).max(0.8),
  levels: z.number().int().min(1).max(8),
  winsize: z.number().int().min(3).max(41),
  iterations: z.number().int().min(1).max(10),
  polyN: z.union([z.literal(5), z.literal(7)]),
  polySigma: z.number().min(0.5).max(2.5),
});
/**
 * Optional motion estimator, run once per keyframe pair: the fitted keyframes [1, 3, H, W] in
 * `image.valueRange` → a motion tensor [1, K, H, W] that the decoder takes as its `motion` input
 * (the bundled pack: K = 4, (m, −m) in pixels). With `classicalMotion` among its inputs it also takes
 * the classical flows start→end and end→start [1, 4, H, W] in pixels that the studio computes with
 * `classicalFlow`'s settings (both or neither).
 */
const motionSpec = graphSpec
  .extend({
    inputs: z.strictObject({
      startImage: tensorName,
      endImage: tensorName,
      classicalMotion: tensorName.optional(),
    }),
    outputs: z.strictObject({ motion: tensorName }),
    classicalFlow: classicalFlowSpec.optional(),
  })
  .refine((g) => (g.inputs.classicalMotion === undefined) === (g.classicalFlow === undefined), {
    message:
      'a motion graph with a classicalMotion input names the classical flow it takes in classicalFlow, and only then',
    path: ['classicalFlow'],
  });
const denoiserSpec = graphSpec.extend({
  inputs: z.strictObject({
    /** Noisy latents, [B, C, h, w] float32 (clip mode: [B, C, T, h, w]). */
    sample: tensorName,
    /** Timestep per batch item, [B] float32 (training-timestep units, 0…T-1). */
    timestep: tensorName,
    /** Scaled latent of the start keyframe, [B, C, h, w] (position mode). */
    startLatent: tensorName.optional(),
    /** Scaled latent of the end keyframe, [B, C, h, w] (position mode). */
    endLatent: tensorName.optional(),
    /**
     * Clip mode: the keyframes' scaled latents at frames 0 and T−1 and zeros between (or as
     * `conditionLatent` says), [B, C, T, h, w] (ToonCrafter's `c_concat`; the graph concatenates
     * it to the sample itself).
     */
    condition: tensorName.optional(),
    /** In-between position τ ∈ (0, 1) per batch item, [B] float32 (position mode only). */
    position: tensorName.optional(),
    /**
     * Optional, position mode: the motion graph's output for this pair of keyframes, [1, K, H, W]
     * at image resolution (the same tensor the decoder takes; one copy for the whole batch — the
     * graph pairs it with each item's `position`). Requires `graphs.motion`.
     */
    motion: tensorName.optional(),
    /** Scalar LoRA scale, [1] float32, multiplying every adapter branch. */
    loraScale: tensorName.optional(),
    /**
     * Format 2: the guidance scale per batch item, [B] float32, for CFG-distilled students that
     * take it as an input (guidance embedding): one pass per step, no unconditional pass.
     */
    guidance: tensorName.optional(),
  }),
  outputs: z.strictObject({ prediction: tensorName }),
  /**
   * Format 2, clip mode: what the studio concatenates after the noisy latent (scaled by the
   * sampler's c_in) along the channel axis to make the `sample` input — SVD/Framer-style
   * conditioning: `["condition", "mask"]` gives C + C + 1 channels, the condition latent and the
   * mask built as `conditionLatent` says.
   */
  concat: z
    .array(z.enum(['condition', 'mask']))
    .min(1)
    .max(2)
    .refine((a) => new Set(a).size === a.length, 'must not repeat an entry')
    .optional(),
  /**
   * Format 2, clip mode: how the studio builds the condition latent (the `condition` input, or the
   * one in `concat`). The defaults are ToonCrafter's: `latents: "scaled"` (the keyframes' latents
   * times `latent.scaleFactor`), `between: "zeros"` and `mask: "keyframes"` (1 at frames 0 and
   * T−1). SVD and Framer take the VAE's posterior mode as it is (`latents: "unscaled"`); Framer fills
   * the frames between the keyframes with its UNet's learned `mask_token` (`between:
   * "constant:<name>"`, a constant of `latent.channels` values) and marks the frames to generate
   * (`mask: "inbetweens"`: 1 between the keyframes, 0 at them).
   */
  conditionLatent: z
    .strictObject({
      /**
       * A stage output holding the whole condition latent, [1, C′, T, h, w] at the latent's frame
       * count (Wan 2.1: its VAE's encoding of the clip [start, zeros…, end]), instead of one
       * built from `keyframeLatents`; `latents` then says whether it is scaled, and `between` is
       * not used.
       */
      source: z.string().optional(),
      latents: z.enum(['scaled', 'unscaled']).optional(),
      between: z.string().optional(),
      mask: z.enum(['keyframes', 'inbetweens']).optional(),
    })
    .optional(),
  /**
   * Format 2, clip mode, flow matching: LTX-Video's conditioning by latent replacement instead of a
   * condition input. The start keyframe's latent replaces latent frame 0 of the noise, the end
   * keyframe's replaces the last latent frame (`end: "last"`, one latent frame per frame) or rides
   * as one extra latent frame appended after the clip (`end: "appended"`: LTX-Video's extra
   * conditioning tokens; the wrapper places them at the last frame and drops them from its output
   * or not, the studio drops that frame before decoding). The sampler never updates those frames;
   * before each step they are reset to the clean latent plus `noiseScale`·σ²·z (LTX-Video's
   * `image_cond_noise_scale`, 0.15 in its pipeline; default 0). The graph gets the plain sample and
   * the step's timestep; giving the kept frames timestep 0 (LTX's per-token timesteps) is the
   * wrapper's job.
   */
  replace: z
    .strictObject({
      end: z.enum(['last', 'appended']),
      noiseScale: z.number().finite().min(0).max(10).optional(),
    })
    .optional(),
  /** Format 2: further inputs, tensor name → source (a stage output, a constant, the prompt, a scalar). */
  feeds: z.record(tensorName, z.string()).optional(),
  /**
   * Format 2, with `guidance`: the inputs that change for the unconditional pass, tensor name →
   * source. Inputs not named here get the same value in both passes.
   */
  unconditional: z.record(tensorName, z.string()).optional(),
  /**
   * Format 2, with `guidance`: the condition latent the unconditional pass gets — "same" (ToonCrafter,
   * the default) or "zeros" (SVD and Framer: negative image latents are zeros — the keyframes'
   * latents only; a `conditionLatent.between` fill and the mask stay as in the conditional pass).
   */
  unconditionalCondition: z.enum(['same', 'zeros']).optional(),
  /**
   * Format 2: the largest batch the graph takes. With guidance and maxBatch ≥ 2 the conditional
   * and unconditional passes run as one call of batch 2.
   */
  maxBatch: z.number().int().min(1).max(64).optional(),
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
    /**
     * Format 2: the graphs take exactly `defaultSize` (exports with static spatial sizes, like
     * ToonCrafter's); the native fit is then refused with a message.
     */
    fixedSize: z.boolean().optional(),
  })
  .refine((r) => r.defaultSize[0] % r.multipleOf === 0 && r.defaultSize[1] % r.multipleOf === 0, {
    message: 'must be a multiple of multipleOf',
    path: ['defaultSize'],
  });

const latentRules = z.strictObject({
  // LTX-Video's latent has 128 channels.
  channels: z.number().int().min(1).max(256),
  /** Spatial downsampling of the VAE (8 for SD-style VAEs). */
  downsample: z.number().int().min(1).max(64),
  /** Latents are multiplied by this after encoding and divided before decoding. */
  scaleFactor: z.number().finite().positive(),
  /**
   * Format 2, clip mode: temporal compression k of a causal video VAE (Wan 2.1: 4, LTX-Video: 8).
   * The first frame has a latent frame of its own and every k frames after it share one, so a clip
   * of F frames has 1 + (F − 1)/k latent frames. Default 1: one latent frame per frame.
   */
  temporalDownsample: z.number().int().min(1).max(16).optional(),
});

const ddimSchedulerSpec = z
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
    /**
     * Format 2. Which ᾱ_prev a step uses: "stride" (diffusers: ᾱ[t − T/steps]) or "plan"
     * (ToonCrafter's DDIMSampler: ᾱ of the previous timestep the run visits). They differ only when
     * T/steps is not an integer.
     */
    previousTimestep: z.enum(['stride', 'plan']).optional(),
    /**
     * Format 2. ToonCrafter's `use_dynamic_rescale`: a scale s(t) = linspace(1, baseScale,
     * turningStep) then baseScale, and every step multiplies the predicted x₀ by s(t_prev)/s(t).
     */
    dynamicRescale: z
      .strictObject({
        baseScale: z.number().finite().positive(),
        turningStep: z.number().int().min(2).max(10000),
      })
      .optional(),
  })
  .refine((s) => s.betaStart < s.betaEnd, {
    message: 'betaStart must be smaller than betaEnd',
    path: ['betaStart'],
  })
  .refine((s) => s.defaultSteps <= s.trainTimesteps, {
    message: 'defaultSteps cannot exceed trainTimesteps',
    path: ['defaultSteps'],
  })
  // Zero terminal SNR makes ᾱ = 0 at timestep T−1, which trailing spacing visits first (leading
  // spacing too, at some step counts): x₀ = (x − √(1−ᾱ)·ε)/√ᾱ is then a division by zero, and
  // the first step turns the latents into NaN. v-prediction is finite there (x₀ = −v).
  .refine((s) => !(s.rescaleZeroTerminalSnr && s.predictionType === 'epsilon'), {
    message:
      'needs predictionType "v_prediction", not "epsilon": with zero terminal SNR ᾱ is 0 at the last training timestep, where an ε-prediction cannot give x₀ (DDIM divides by √ᾱ), so the first step gives NaN — diffusers and Lin et al. (2023) pair the rescale with v-prediction. Give the prediction type the model was trained with; an ε-prediction model takes rescaleZeroTerminalSnr: false',
    path: ['rescaleZeroTerminalSnr'],
  });

const betaSchedule = z.enum(['linear', 'scaled_linear']);

/**
 * Format 2. The EDM family (Karras et al. 2022) on Karras σ: SVD, Framer, or a Stable Diffusion
 * export sampled with "Karras" samplers. σ runs from σ_max to σ_min (given, or the training β
 * schedule's), then 0; the denoiser is preconditioned as `prediction` says.
 */
const edmSchedulerSpec = z
  .strictObject({
    type: z.literal('edm'),
    /** The pack's sampler; a run may pick another of the family. */
    sampler: z.enum(['euler', 'euler_ancestral', 'dpmpp_2m']),
    /** epsilon / v_prediction (SVD: σ_data 1), or edm (Karras' F-prediction with sigmaData). */
    prediction: z.enum(['epsilon', 'v_prediction', 'edm']),
    sigmaData: z.number().finite().positive().default(0.5),
    sigmaMin: z.number().finite().positive().optional(),
    sigmaMax: z.number().finite().positive().optional(),
    /** Or σ from a training β schedule (σ_t = √((1−ᾱ_t)/ᾱ_t)), needed for timestepInput "discrete". */
    trainTimesteps: z.number().int().min(2).max(10000).optional(),
    betaSchedule: betaSchedule.optional(),
    betaStart: z.number().positive().lt(1).optional(),
    betaEnd: z.number().positive().lt(1).optional(),
    rho: z.number().finite().positive().max(100).default(7),
    /** What the timestep input gets: ¼·ln σ (EDM's c_noise, SVD), σ, or the training timestep. */
    timestepInput: z.enum(['log_sigma', 'sigma', 'discrete']),
    /** Initial noise σ₀·z (k-diffusion), or √(σ₀²+1)·z (SVD's pipelines). */
    initNoise: z.enum(['sigma', 'sigma_vp']).default('sigma'),
    defaultSteps: z.number().int().min(1).max(1000),
    /** Euler-ancestral's η (1: the full ancestral step). */
    eta: z.number().min(0).max(1).default(1),
  })
  .superRefine((s, ctx) => {
    const beta = [s.trainTimesteps, s.betaSchedule, s.betaStart, s.betaEnd];
    const hasBeta = beta.some((v) => v !== undefined);
    const hasRange = s.sigmaMin !== undefined || s.sigmaMax !== undefined;
    const add = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [path], message });
    if (hasBeta && hasRange)
      add('sigmaMin', 'give sigmaMin/sigmaMax or a training β schedule, not both');
    else if (hasBeta && beta.some((v) => v === undefined))
      add(
        'trainTimesteps',
        'a training β schedule needs trainTimesteps, betaSchedule, betaStart and betaEnd',
      );
    else if (!hasBeta && (s.sigmaMin === undefined || s.sigmaMax === undefined))
      add('sigmaMin', 'needs sigmaMin and sigmaMax, or a training β schedule');
    else if (hasRange && !(s.sigmaMin! < s.sigmaMax!))
      add('sigmaMin', 'must be smaller than sigmaMax');
    if (
      hasBeta &&
      s.betaStart !== undefined &&
      s.betaEnd !== undefined &&
      !(s.betaStart < s.betaEnd)
    )
      add('betaStart', 'must be smaller than betaEnd');
    if (s.timestepInput === 'discrete' && !hasBeta)
      add(
        'timestepInput',
        '"discrete" needs the training β schedule (trainTimesteps, betaSchedule, …)',
      );
  });

/**
 * Format 2. LCM (Luo et al. 2023): consistency-distilled students, 1–8 steps on the
 * distillation's skipped timestep grid.
 */
const lcmSchedulerSpec = z
  .strictObject({
    type: z.literal('lcm'),
    trainTimesteps: z.number().int().min(2).max(10000),
    betaSchedule,
    betaStart: z.number().positive().lt(1),
    betaEnd: z.number().positive().lt(1),
    predictionType: z.enum(['epsilon', 'v_prediction']),
    /** The teacher's step grid the student was distilled on (diffusers' original_inference_steps). */
    originalSteps: z.number().int().min(1).max(1000).default(50),
    /** diffusers' timestep_scaling for the boundary conditions. */
    timestepScaling: z.number().finite().positive().default(10),
    defaultSteps: z.number().int().min(1).max(1000),
  })
  .refine((s) => s.betaStart < s.betaEnd, {
    message: 'betaStart must be smaller than betaEnd',
    path: ['betaStart'],
  })
  .refine((s) => s.originalSteps <= s.trainTimesteps, {
    message: 'originalSteps cannot exceed trainTimesteps',
    path: ['originalSteps'],
  })
  .refine((s) => s.defaultSteps <= s.originalSteps, {
    message: 'defaultSteps cannot exceed originalSteps',
    path: ['defaultSteps'],
  });

/**
 * Format 2. Flow matching (rectified flow: Wan 2.1, LTX-Video, SD3): the model predicts the
 * velocity noise − data at time σ ∈ (0, 1], fed as σ·trainTimesteps; σ is shifted by `shift`.
 */
const flowSchedulerSpec = z
  .strictObject({
    type: z.literal('flow'),
    trainTimesteps: z.number().int().min(1).max(10000).default(1000),
    /** Wan's sample_shift (SD3's shift; LTX's e^μ): σ' = shift·σ/(1 + (shift−1)·σ). */
    shift: z.number().finite().min(0.01).max(100),
    /**
     * The σ grid before the shift: "linear" (default; 1 − i/N, Wan, SD3) or "linear_quadratic"
     * (LTX-Video's condition pipeline: linear from 1 to 1 − `thresholdNoise` over the first half of
     * the steps, then quadratic down to 0).
     */
    schedule: z.enum(['linear', 'linear_quadratic']).optional(),
    /**
     * The family's default sampler: "flow_euler" (default), "flow_unipc" (Wan 2.1's default
     * solver, UniPC on its own σ grid) or "flow_dpmpp_2m" (Wan's "dpm++"); a run may pick another.
     */
    sampler: z.enum(['flow_euler', 'flow_unipc', 'flow_dpmpp_2m']).default('flow_euler'),
    /** The linear part's end of "linear_quadratic" (LTX-Video's threshold_noise, 0.025). */
    thresholdNoise: z.number().finite().gt(0).lt(0.5).optional(),
    defaultSteps: z.number().int().min(1).max(1000),
  })
  .refine((s) => s.thresholdNoise === undefined || s.schedule === 'linear_quadratic', {
    message: 'is used only with schedule "linear_quadratic"',
    path: ['thresholdNoise'],
  })
  .refine((s) => s.sampler !== 'flow_unipc' || s.schedule !== 'linear_quadratic', {
    message: 'UniPC runs on Wan\'s own σ grid, not on schedule "linear_quadratic"',
    path: ['sampler'],
  });

export const schedulerSchema = z.discriminatedUnion('type', [
  ddimSchedulerSpec,
  edmSchedulerSpec,
  lcmSchedulerSpec,
  flowSchedulerSpec,
]);

const framesSpec = z.discriminatedUnion('mode', [
  /** One denoising run per in-between, with τ given to the denoiser. */
  z.strictObject({ mode: z.literal('position'), maxBatch: z.number().int().min(1).max(64) }),
  /**
   * A fixed joint clip (ToonCrafter-style, format 2): the denoiser sees all `clipLength` frames at
   * once as a 5-D latent [B, C, T, h, w], the keyframes' latents given at frames 0 and T−1; the
   * T−2 frames between are the in-betweens.
   */
  // Wan 2.1 FLF2V makes 81 frames, LTX-Video 121 or more.
  z.strictObject({ mode: z.literal('clip'), clipLength: z.number().int().min(3).max(257) }),
]);

/** min < max and min ≤ default ≤ max: the rule of every control's range. */
const inRange = (r: { default: number; min: number; max: number }) =>
  r.min < r.max && r.default >= r.min && r.default <= r.max;

/** A control's range and default (a variant's LoRA scale, the guidance scale). */
const controlRange = z
  .strictObject({
    default: z.number().finite(),
    min: z.number().finite(),
    max: z.number().finite(),
  })
  .refine(inRange, { message: 'needs min < max and min ≤ default ≤ max' });

/** Format 2: classifier-free guidance, with a control for its scale (also a sweep axis). */
const guidanceSpec = z.strictObject({
  scale: controlRange,
  /** Guidance rescale φ (Lin et al. 2023; ToonCrafter's rescale_noise_cfg): 0 = off. */
  rescale: z.number().min(0).max(1).default(0),
  /**
   * Clip mode: SVD's per-frame guidance — the scale rises linearly from `from` at the clip's first
   * frame to the chosen scale at its last (SVD's min_guidance_scale → max_guidance_scale).
   */
  frameRamp: z.strictObject({ from: z.number().finite().min(0) }).optional(),
});

/** Format 2: a scalar conditioning input (ToonCrafter's frame stride `fs`), shown as a control. */
const scalarSpec = z
  .strictObject({
    label: z.string().min(1).max(80),
    description: z.string().max(300).optional(),
    default: z.number().finite(),
    min: z.number().finite(),
    max: z.number().finite(),
    /** Only whole numbers (the control steps by 1). */
    integer: z.boolean().default(false),
  })
  .refine(inRange, { message: 'needs min < max and min ≤ default ≤ max' })
  .refine((r) => !r.integer || Number.isInteger(r.default), {
    message: 'must be a whole number when integer is true',
    path: ['default'],
  });

/** Format 2: a tensor shipped in the pack as a NumPy `.npy` file (float32, C order). */
const constantSpec = z
  .strictObject({
    file: packFileName,
    sizeBytes,
    sha256,
    dtype: z.literal('float32'),
    shape: z
      .array(
        z
          .number()
          .int()
          .min(1)
          .max(1 << 20),
      )
      .min(1)
      .max(8),
  })
  .refine((c) => c.shape.reduce((a, b) => a * b, 1) <= MAX_CONSTANT_ELEMENTS, {
    message: `is too large (at most ${MAX_CONSTANT_ELEMENTS} elements)`,
    path: ['shape'],
  })
  .refine((c) => c.file.endsWith('.npy'), {
    message: 'must be a NumPy .npy file',
    path: ['file'],
  });

/**
 * Format 2: a graph run once per keyframe pair (a CLIP image encoder with its resampler, the VAE
 * encoder with the reference features its decoder takes). Its outputs are sources
 * (`stage:<name>/<output>`) for the denoiser, the decoder and other stages.
 */
const stageSpec = z.strictObject({
  file: packFileName,
  sizeBytes,
  sha256,
  externalData: z.array(externalDataRef).max(64).optional(),
  label: z.string().max(80).optional(),
  /** tensor name → source. */
  inputs: z.record(tensorName, z.string()),
  /** The output tensors other graphs may use. */
  outputs: z.array(tensorName).min(1).max(64),
});

/** Format 2: a prompt the pack ships precomputed (its embedding is a constant). */
const promptSpec = z.strictObject({
  id,
  label: z.string().min(1).max(120),
  constant: z.string().min(1).max(64),
});

/**
 * Format 2: a typed prompt. The studio tokenises the text with the pack's tokenizer.json (a Hugging
 * Face tokenizer, read as data), pads or cuts it to `contextLength` ids as OpenCLIP's tokenize does
 * (a cut sequence keeps its end token last; padding with `padId`), and feeds the ids to the stages
 * that take the `text` source; `embedding` names the stage output that then stands for `prompt`.
 */
const textSpec = z.strictObject({
  tokenizer: fileRef
    .extend({
      sizeBytes: z.number().int().positive().max(MAX_TOKENIZER_BYTES, 'is larger than 32 MiB'),
    })
    .refine((f) => f.file.endsWith('.json'), {
      message: 'must be a Hugging Face tokenizer.json (a .json file)',
      path: ['file'],
    }),
  contextLength: z.number().int().min(2).max(4096),
  padId: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  /** The stage output that is the typed prompt's embedding (`stage:<stage>/<output>`). */
  embedding: z.string().max(200),
  /** The longest text the page accepts (characters); 1000 by default. */
  maxChars: z.number().int().min(1).max(100_000).optional(),
});

const variantSpec = z.strictObject({
  id,
  label: z.string().min(1).max(80),
  description: z.string().max(500).optional(),
  precision: z.enum(['fp32', 'fp16', 'int8']),
  /** Name of a graph in `graphs` with role denoiser. */
  denoiser: id,
  /**
   * Name of a graph in `graphs.decoders` this variant decodes with instead of `graphs.decoder`
   * (e.g. an int8 decoder for the int8 variant); the default decoder when absent.
   */
  decoder: id.optional(),
  loraScale: controlRange.optional(),
  recommendedSteps: z.number().int().min(1).max(1000).optional(),
});

/** The manifest's fields. Unknown top-level fields are rejected so typos surface. */
const manifestBase = z.strictObject({
  format: z.literal(PACK_FORMAT),
  formatVersion: z.union([z.literal(1), z.literal(2)]),
  id,
  name: z.string().min(1).max(120),
  version: z.string().min(1).max(40),
  description: z.string().max(2000).optional(),
  /** false for randomly initialised packs (tests); the UI labels them as untrained. */
  trained: z.boolean(),
  license: z.string().max(200).optional(),
  image: imageRules,
  latent: latentRules,
  scheduler: schedulerSchema,
  frames: framesSpec,
  /** Format 2 (see the specs above). */
  guidance: guidanceSpec.optional(),
  scalars: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/), scalarSpec).optional(),
  constants: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/), constantSpec).optional(),
  prompts: z.array(promptSpec).min(1).max(64).optional(),
  text: textSpec.optional(),
  stages: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/), stageSpec).optional(),
  /**
   * The working memory (activations) of one in-between's calls at `atSize` (default: the pack's
   * size) and batch 1, summed over a variant's graphs, largest variant (`npm run pack:memory`);
   * `quadraticShare` is the part of it that grows with the square of the pixel area (attention over
   * all pixels), the rest grows with the area. The studio scales it by size and batch in its memory
   * estimate before loading (src/core/memoryEstimate.ts).
   */
  memory: z
    .strictObject({
      activationBytes: z
        .number()
        .int()
        .min(0)
        .max(2 ** 45),
      atSize: z.tuple([side, side]).optional(),
      quadraticShare: z.number().min(0).max(1).optional(),
    })
    .optional(),
  /**
   * Format 2: SVD's noise augmentation. The keyframe pixels that `stages` take (default: the
   * stage holding `keyframeLatents`, SVD's VAE encoder) get Gaussian noise whose std is this
   * scalar's value (seeded by the run's seed); feed the same scalar to the denoiser as its
   * augmentation level. Other stages (SVD's CLIP image encoder) see the keyframes as they are.
   */
  augmentation: z
    .strictObject({
      scalar: z.string().min(1).max(32),
      stages: z.array(z.string().min(1).max(32)).min(1).max(16).optional(),
    })
    .optional(),
  /**
   * Format 2, clip mode: the source of the keyframes' latents, [2, C, h, w] unscaled (start,
   * end); the studio multiplies them by latent.scaleFactor.
   */
  keyframeLatents: z.string().optional(),
  graphs: z.strictObject({
    /** The VAE encoder; format 2 clip packs encode in a stage instead. */
    encoder: encoderSpec.optional(),
    decoder: decoderSpec,
    /**
     * Alternative decoders a variant may name (`variants[].decoder`): another file of the same
     * graph — quantised, say — so each takes exactly the tensors `decoder` takes.
     */
    decoders: z.record(id, decoderSpec).optional(),
    motion: motionSpec.optional(),
    denoisers: z.record(id, denoiserSpec).refine((r) => Object.keys(r).length > 0, {
      message: 'needs at least one denoiser',
    }),
  }),
  variants: z.array(variantSpec).min(1).max(32),
});

/** The full manifest schema: the fields, then every rule that relates one field to another. */
export const manifestSchema = manifestBase.superRefine((m, ctx) => {
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
    if (v.recommendedSteps !== undefined && v.recommendedSteps > maxSteps(m.scheduler)) {
      ctx.addIssue({
        code: 'custom',
        path: ['variants', i, 'recommendedSteps'],
        message: `${v.recommendedSteps} is more than the scheduler allows (${maxSteps(m.scheduler)})`,
      });
    }
    const graph = m.graphs.denoisers[v.denoiser];
    if (!graph) {
      ctx.addIssue({
        code: 'custom',
        path: ['variants', i, 'denoiser'],
        message: `names denoiser "${v.denoiser}", which is not in graphs.denoisers`,
      });
      return;
    }
    if (v.decoder !== undefined && !m.graphs.decoders?.[v.decoder]) {
      ctx.addIssue({
        code: 'custom',
        path: ['variants', i, 'decoder'],
        message: `names decoder "${v.decoder}", which is not in graphs.decoders`,
      });
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
  });
  const tensors = (g: DecoderSpec) =>
    JSON.stringify([g.inputs, g.outputs, g.feeds ?? {}], (_, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
        : v,
    );
  for (const [name, alt] of Object.entries(m.graphs.decoders ?? {})) {
    if (tensors(alt) !== tensors(m.graphs.decoder)) {
      ctx.addIssue({
        code: 'custom',
        path: ['graphs', 'decoders', name],
        message:
          'must take and give the same tensors as graphs.decoder (inputs, outputs and feeds): it is another file of the same graph',
      });
    }
  }
  checkModeInputs(m, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
  checkWiring(m, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
  if (m.graphs.motion && !m.graphs.decoder.inputs.motion) {
    ctx.addIssue({
      code: 'custom',
      path: ['graphs', 'decoder', 'inputs', 'motion'],
      message: 'is required: the pack has a motion graph, and the decoder takes its output',
    });
  }
  if (!m.graphs.motion && m.graphs.decoder.inputs.motion) {
    ctx.addIssue({
      code: 'custom',
      path: ['graphs', 'motion'],
      message: 'is required: the decoder declares a motion input',
    });
  }
  // Each input of a graph is its own tensor: two roles under one name would have one overwrite the
  // other's data without a word (the studio fills the feeds by name).
  const graphsWithInputs: [
    string[],
    { inputs: object; feeds?: Record<string, string> } | undefined,
  ][] = [
    [['graphs', 'encoder'], m.graphs.encoder],
    [['graphs', 'decoder'], m.graphs.decoder],
    [['graphs', 'motion'], m.graphs.motion],
    ...Object.entries(m.graphs.decoders ?? {}).map(
      ([k, g]) => [['graphs', 'decoders', k], g] as [string[], typeof g],
    ),
    ...Object.entries(m.graphs.denoisers).map(
      ([k, g]) => [['graphs', 'denoisers', k], g] as [string[], typeof g],
    ),
  ];
  for (const [path, g] of graphsWithInputs) {
    if (!g) continue;
    const names = [
      ...Object.values(g.inputs).filter((v): v is string => typeof v === 'string'),
      ...Object.keys(g.feeds ?? {}),
    ];
    const repeated = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
    if (repeated.length)
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'inputs'],
        message: `names the tensor ${repeated.map((n) => `"${n}"`).join(', ')} for more than one input: each input needs its own`,
      });
  }
  for (const [name, d] of Object.entries(m.graphs.denoisers)) {
    if (!m.graphs.motion && d.inputs.motion)
      ctx.addIssue({
        code: 'custom',
        path: ['graphs', 'motion'],
        message: `is required: denoiser "${name}" declares a motion input`,
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

type Report = (path: (string | number)[], message: string) => void;

/** The role inputs each frame mode needs: position mode the keyframe latents and τ, clip mode the condition. */
function checkModeInputs(m: z.infer<typeof manifestBase>, report: Report): void {
  const mode = m.frames.mode;
  if (mode === 'clip' && m.formatVersion < 2) {
    report(
      ['frames', 'mode'],
      '"clip" needs formatVersion 2: a format-1 pack has no stages or keyframeLatents to run a clip from; re-export it as format 2',
    );
  }
  if (mode === 'position' && !m.graphs.encoder) {
    report(['graphs', 'encoder'], 'is required when frames.mode is "position"');
  }
  for (const [name, d] of Object.entries(m.graphs.denoisers)) {
    const at = (role: string) => ['graphs', 'denoisers', name, 'inputs', role];
    if (mode === 'position') {
      for (const role of ['startLatent', 'endLatent', 'position'] as const) {
        if (!d.inputs[role]) report(at(role), 'is required when frames.mode is "position"');
      }
      if (d.inputs.condition) report(at('condition'), 'is used only when frames.mode is "clip"');
    } else if (m.formatVersion >= 2) {
      const concatCondition = d.concat?.includes('condition') ?? false;
      if (!d.inputs.condition && !concatCondition && !d.replace)
        report(
          at('condition'),
          'is required when frames.mode is "clip" (or concat: ["condition", …] into the sample, or replace)',
        );
      if (d.inputs.condition && concatCondition)
        report(at('condition'), 'is given twice: as an input and in concat; keep one');
      for (const role of ['startLatent', 'endLatent', 'position'] as const) {
        if (d.inputs[role])
          report(
            at(role),
            'is not used when frames.mode is "clip" (the condition input carries the keyframes)',
          );
      }
    }
    if (mode !== 'position' && d.inputs.motion)
      report(at('motion'), 'is used only when frames.mode is "position"');
  }
  if (mode === 'clip' && m.formatVersion >= 2) {
    const dec = m.graphs.decoder.inputs;
    for (const role of ['startImage', 'endImage', 'motion', 'position'] as const) {
      if (dec[role])
        report(
          ['graphs', 'decoder', 'inputs', role],
          'is not used when frames.mode is "clip": give the decoder its references through feeds',
        );
    }
    if (!m.keyframeLatents)
      report(
        ['keyframeLatents'],
        'is required when frames.mode is "clip" (the stage output holding the keyframes\' latents)',
      );
    if (m.graphs.motion) report(['graphs', 'motion'], 'is not used when frames.mode is "clip"');
    const k = m.latent.temporalDownsample ?? 1;
    if ((m.frames.clipLength - 1) % k !== 0)
      report(
        ['latent', 'temporalDownsample'],
        `${k} does not divide clipLength − 1 (${m.frames.clipLength - 1}): a causal video VAE keeps the first frame and compresses every ${k} after it`,
      );
  } else if (m.latent.temporalDownsample !== undefined && m.latent.temporalDownsample !== 1) {
    report(
      ['latent', 'temporalDownsample'],
      mode === 'clip' ? 'needs formatVersion 2' : 'is used only when frames.mode is "clip"',
    );
  }
}

/**
 * The stages whose keyframe inputs get SVD's noise augmentation: `augmentation.stages`, else the
 * stage that holds `keyframeLatents` (the VAE encoder, as in SVD's pipeline, whose CLIP image
 * encoder sees the clean keyframes). Empty without augmentation.
 */
export function augmentedStages(m: PackManifest): Set<string> {
  if (!m.augmentation) return new Set();
  if (m.augmentation.stages) return new Set(m.augmentation.stages);
  const src = m.keyframeLatents !== undefined ? parseSource(m.keyframeLatents) : null;
  return new Set(src && !('error' in src) && src.kind === 'stage' ? [src.stage] : []);
}

/**
 * The number of latent frames of a clip pack's sample: 1 + (clipLength − 1)/k with the VAE's
 * temporal compression k (`latent.temporalDownsample`, default 1: one per frame).
 */
export function latentFrames(m: PackManifest): number {
  if (m.frames.mode !== 'clip') return 1;
  const k = m.latent.temporalDownsample ?? 1;
  return 1 + (m.frames.clipLength - 1) / k;
}

/**
 * The latent frames of the sample a clip denoiser takes: `latentFrames`, plus the appended end
 * keyframe of `replace.end: "appended"` (LTX-Video's extra conditioning tokens).
 */
export function sampleFrames(m: PackManifest, d: DenoiserSpec): number {
  return latentFrames(m) + (d.replace?.end === 'appended' ? 1 : 0);
}

/**
 * The latent frame that holds clip frame `index` (the first frame has its own; each later latent
 * frame holds the k frames before it, causal compression as in Wan's and LTX-Video's VAEs).
 */
export function latentFrameOf(m: PackManifest, index: number): number {
  const k = m.latent.temporalDownsample ?? 1;
  return Math.ceil(index / k);
}

/** Where a graph input's value comes from (format 2). */
export type Source =
  | { kind: 'keyframes'; which: 'start' | 'end' | 'pair' | 'blank' }
  | { kind: 'constant'; name: string }
  | { kind: 'stage'; stage: string; output: string }
  | { kind: 'prompt' }
  | { kind: 'text' }
  | { kind: 'scalar'; name: string };

/**
 * Parses a source string: `keyframes:start|end|pair|blank`, `constant:<name>`,
 * `stage:<stage>/<output>`, `prompt`, `text` (the typed prompt's token ids, for stages) or
 * `scalar:<name>`. Returns a message for anything else.
 */
export function parseSource(text: string): Source | { error: string } {
  const kf = /^keyframes:(start|end|pair|blank)$/.exec(text);
  if (kf) return { kind: 'keyframes', which: kf[1] as 'start' | 'end' | 'pair' | 'blank' };
  const c = /^constant:(.+)$/.exec(text);
  if (c) return { kind: 'constant', name: c[1]! };
  const st = /^stage:([^/]+)\/(.+)$/.exec(text);
  if (st) return { kind: 'stage', stage: st[1]!, output: st[2]! };
  if (text === 'prompt') return { kind: 'prompt' };
  if (text === 'text') return { kind: 'text' };
  const sc = /^scalar:(.+)$/.exec(text);
  if (sc) return { kind: 'scalar', name: sc[1]! };
  return {
    error: `"${text}" is not a source: use keyframes:start|end|pair|blank, constant:<name>, stage:<stage>/<output>, prompt, text or scalar:<name>`,
  };
}

/**
 * A denoiser's `replace` (LTX-Video's conditioning): clip mode, flow matching, no other way of
 * conditioning on the keyframes' latents, and an end frame of its own only when each frame has
 * its own latent frame.
 */
function checkReplace(
  m: z.infer<typeof manifestBase>,
  d: z.infer<typeof denoiserSpec>,
  path: (string | number)[],
  report: Report,
): void {
  const at = [...path, 'replace'];
  if (m.frames.mode !== 'clip') {
    report(at, 'is used only when frames.mode is "clip"');
    return;
  }
  if (m.scheduler.type !== 'flow')
    report(
      at,
      `needs scheduler.type "flow" (LTX-Video's rectified flow), not "${m.scheduler.type}": other families keep no clean frames in their sample`,
    );
  for (const [field, given] of [
    ['conditionLatent', d.conditionLatent],
    ['concat', d.concat],
    ['inputs.condition', d.inputs.condition],
    ['unconditionalCondition', d.unconditionalCondition],
  ] as const) {
    if (given !== undefined)
      report(
        [...path, ...field.split('.')],
        "is not used with replace: the keyframes' latents sit in the sample itself",
      );
  }
  const k = m.latent.temporalDownsample ?? 1;
  if (d.replace!.end === 'last' && k > 1)
    report(
      [...at, 'end'],
      `"last" needs one latent frame per frame; with latent.temporalDownsample ${k} the last latent frame holds ${k} frames, so append the end keyframe ("appended", as LTX-Video does)`,
    );
}

/** A denoiser's `conditionLatent`: clip mode only, a fill of C values, a mask that is concatenated. */
function checkConditionLatent(
  m: z.infer<typeof manifestBase>,
  d: z.infer<typeof denoiserSpec>,
  path: (string | number)[],
  check: (path: (string | number)[], text: string, allowKeyframes?: boolean) => Source | null,
  report: Report,
): void {
  const c = d.conditionLatent;
  if (d.replace) {
    checkReplace(m, d, path, report);
    return;
  }
  if ((m.latent.temporalDownsample ?? 1) > 1 && m.frames.mode === 'clip' && !c?.source)
    report(
      [...path, 'conditionLatent', 'source'],
      `is required with latent.temporalDownsample ${m.latent.temporalDownsample}: a causal video VAE encodes the last latent frame from the last frames together, so the condition must come whole from a stage`,
    );
  if (!c) return;
  const at = [...path, 'conditionLatent'];
  if (m.frames.mode === 'position') {
    report(at, 'is used only when frames.mode is "clip"');
    return;
  }
  if (c.mask !== undefined && !d.concat?.includes('mask'))
    report([...at, 'mask'], 'is used only when concat includes "mask"');
  if (c.source !== undefined) {
    const src = check([...at, 'source'], c.source, false);
    if (src && src.kind !== 'stage')
      report(
        [...at, 'source'],
        `must name a stage output (stage:<stage>/<output>), got "${c.source}"`,
      );
    if (c.between !== undefined)
      report([...at, 'between'], 'is not used with source: the stage gives the whole condition');
    if (d.unconditionalCondition === 'zeros')
      report(
        [...path, 'unconditionalCondition'],
        '"zeros" clears the keyframes\' latents, which a condition from source does not single out; the unconditional pass gets the same condition (Wan keeps y)',
      );
  }
  if (c.source === undefined && c.between !== undefined && c.between !== 'zeros') {
    const src = check([...at, 'between'], c.between, false);
    if (src && src.kind !== 'constant') {
      report([...at, 'between'], `must be "zeros" or "constant:<name>", got "${c.between}"`);
    } else if (src?.kind === 'constant') {
      const spec = m.constants?.[src.name];
      const n = spec ? spec.shape.reduce((a, b) => a * b, 1) : m.latent.channels;
      if (n !== m.latent.channels)
        report(
          [...at, 'between'],
          `constant "${src.name}" has ${n} values; the fill between the keyframes takes one per latent channel (${m.latent.channels})`,
        );
    }
  }
}

/** The format-2 fields a format-1 manifest may not use. */
const FORMAT2_FIELDS = [
  'guidance',
  'scalars',
  'constants',
  'prompts',
  'text',
  'stages',
  'keyframeLatents',
  'augmentation',
] as const;

/**
 * The format-2 fields that only clip mode reads. A pack of positions runs `denoiseFrames`, which
 * feeds its denoiser the sample, timestep, keyframe latents, τ, LoRA scale and motion estimate and
 * nothing else (stages and feeds, which could take the others, are refused in position mode).
 */
const CLIP_ONLY_FIELDS = [
  'guidance',
  'scalars',
  'prompts',
  'constants',
  'text',
  'keyframeLatents',
  'augmentation',
] as const;

/**
 * Format 2's wiring: every source names something that exists, stages form no cycle, guidance
 * says what changes for the unconditional pass, prompts name constants.
 */
function checkWiring(m: z.infer<typeof manifestBase>, report: Report): void {
  if (m.formatVersion < 2) {
    for (const f of FORMAT2_FIELDS) {
      if (m[f] !== undefined) report([f], 'needs formatVersion 2');
    }
    for (const [name, d] of Object.entries(m.graphs.denoisers)) {
      for (const f of [
        'feeds',
        'unconditional',
        'maxBatch',
        'concat',
        'conditionLatent',
        'unconditionalCondition',
        'replace',
      ] as const) {
        if (d[f] !== undefined) report(['graphs', 'denoisers', name, f], 'needs formatVersion 2');
      }
      if (d.inputs.guidance !== undefined)
        report(['graphs', 'denoisers', name, 'inputs', 'guidance'], 'needs formatVersion 2');
    }
    if (m.graphs.decoder.feeds) report(['graphs', 'decoder', 'feeds'], 'needs formatVersion 2');
    if (m.scheduler.type !== 'ddim') report(['scheduler', 'type'], 'needs formatVersion 2');
    else if (m.scheduler.dynamicRescale)
      report(['scheduler', 'dynamicRescale'], 'needs formatVersion 2');
    else if (m.scheduler.previousTimestep !== undefined)
      report(['scheduler', 'previousTimestep'], 'needs formatVersion 2');
    return;
  }
  const stages = m.stages ?? {};
  const constants = m.constants ?? {};
  const scalars = m.scalars ?? {};
  /**
   * With prompts listed a run may have no typed prompt, and the stages that encode one do not run
   * then: a denoiser, the decoder or the keyframe latents cannot take their outputs directly.
   */
  const typedPromptOnly = (path: (string | number)[], src: Source | null) => {
    if (
      m.text &&
      m.prompts &&
      src?.kind === 'stage' &&
      stages[src.stage] &&
      dependsOnText(stages, src.stage)
    )
      report(
        path,
        `takes stage "${src.stage}", which encodes the typed prompt and does not run without one (a run with one of the pack's prompts): take the "prompt" source, which is the typed prompt's embedding when there is one and the chosen prompt's otherwise`,
      );
  };
  const check = (path: (string | number)[], text: string, allowKeyframes = true): Source | null => {
    const src = parseSource(text);
    if ('error' in src) {
      report(path, src.error);
      return null;
    }
    if (src.kind === 'keyframes' && !allowKeyframes) {
      report(
        path,
        `takes keyframe pixels ("${text}"); only stages take keyframes — run them through a stage`,
      );
    } else if (src.kind === 'constant' && !constants[src.name]) {
      report(path, `names constant "${src.name}", which is not in constants`);
    } else if (src.kind === 'scalar' && !scalars[src.name]) {
      report(path, `names scalar "${src.name}", which is not in scalars`);
    } else if (src.kind === 'prompt' && !m.prompts && !m.text) {
      report(path, 'takes the prompt, but the pack lists no prompts and has no text encoder');
    } else if (src.kind === 'text' && !allowKeyframes) {
      report(path, 'takes token ids ("text"); only stages take them — encode them in a stage');
    } else if (src.kind === 'text' && !m.text) {
      report(path, 'takes the typed prompt\'s token ids, but the pack has no "text" (tokenizer)');
    } else if (src.kind === 'stage') {
      const stage = stages[src.stage];
      if (!stage) report(path, `names stage "${src.stage}", which is not in stages`);
      else if (!stage.outputs.includes(src.output))
        report(
          path,
          `names output "${src.output}" of stage "${src.stage}", which lists only ${stage.outputs.map((o) => `"${o}"`).join(', ')}`,
        );
    }
    return src;
  };

  // Stages: sources, then cycles (a stage input from another stage is an edge).
  const edges = new Map<string, { to: string; tensor: string }[]>();
  for (const [name, stage] of Object.entries(stages)) {
    const list: { to: string; tensor: string }[] = [];
    for (const [tensor, text] of Object.entries(stage.inputs)) {
      const src = check(['stages', name, 'inputs', tensor], text);
      if (src?.kind === 'stage' && stages[src.stage]) list.push({ to: src.stage, tensor });
    }
    if (Object.keys(stage.inputs).length === 0)
      report(['stages', name, 'inputs'], 'needs at least one input');
    edges.set(name, list);
  }
  const cycle = findCycle(edges);
  if (cycle) {
    report(
      ['stages', cycle.path[0]!, 'inputs', cycle.tensor],
      `forms a cycle: ${cycle.path.join(' → ')} (a stage cannot depend on its own output)`,
    );
  }

  if (m.frames.mode !== 'clip') {
    for (const f of CLIP_ONLY_FIELDS) {
      if (m[f] !== undefined)
        report(
          [f],
          'is used only when frames.mode is "clip": a pack of positions runs without it (the studio would show its controls and ignore them); remove it',
        );
    }
  }
  if (m.augmentation && !scalars[m.augmentation.scalar])
    report(
      ['augmentation', 'scalar'],
      `names scalar "${m.augmentation.scalar}", which is not in scalars`,
    );
  for (const [i, name] of (m.augmentation?.stages ?? []).entries()) {
    const stage = stages[name];
    if (!stage)
      report(['augmentation', 'stages', i], `names stage "${name}", which is not in stages`);
    else if (
      !Object.values(stage.inputs).some((t) => {
        const src = parseSource(t);
        return !('error' in src) && src.kind === 'keyframes';
      })
    )
      report(['augmentation', 'stages', i], `stage "${name}" takes no keyframes to add noise to`);
  }

  if (m.keyframeLatents !== undefined) {
    const src = check(['keyframeLatents'], m.keyframeLatents);
    typedPromptOnly(['keyframeLatents'], src);
    if (src && src.kind !== 'stage')
      report(['keyframeLatents'], 'must name a stage output (stage:<stage>/<output>)');
  }

  // Denoisers and decoder: feeds, unconditional, names.
  const graphFeeds = (
    path: (string | number)[],
    feeds: Record<string, string> | undefined,
    roleTensors: (string | undefined)[],
  ) => {
    for (const [tensor, text] of Object.entries(feeds ?? {})) {
      if (roleTensors.includes(tensor))
        report([...path, 'feeds', tensor], 'is already an input the studio fills by role');
      typedPromptOnly([...path, 'feeds', tensor], check([...path, 'feeds', tensor], text, false));
    }
  };
  for (const [name, d] of Object.entries(m.graphs.denoisers)) {
    const path = ['graphs', 'denoisers', name];
    graphFeeds(path, d.feeds, Object.values(d.inputs));
    if (d.inputs.guidance !== undefined && !m.guidance) {
      report(
        [...path, 'inputs', 'guidance'],
        "needs the pack's guidance (its scale range is the control this input takes)",
      );
    }
    if (m.guidance && d.inputs.guidance !== undefined) {
      for (const f of ['unconditional', 'unconditionalCondition'] as const) {
        if (d[f] !== undefined)
          report(
            [...path, f],
            'is not used: this denoiser takes the guidance scale as an input (one pass per step, no unconditional pass)',
          );
      }
    } else if (m.guidance && m.frames.mode === 'clip') {
      const unc = Object.entries(d.unconditional ?? {});
      if (unc.length === 0 && d.unconditionalCondition !== 'zeros')
        report(
          [...path, 'unconditional'],
          'is required with guidance: name the inputs that change for the unconditional pass and their sources (or give unconditionalCondition: "zeros")',
        );
      for (const [tensor, text] of unc) {
        if (!(d.feeds && tensor in d.feeds))
          report([...path, 'unconditional', tensor], "is not one of this denoiser's feeds");
        check([...path, 'unconditional', tensor], text, false);
      }
    } else if (d.unconditional) {
      report(
        [...path, 'unconditional'],
        m.frames.mode !== 'clip'
          ? 'is used only when frames.mode is "clip"'
          : 'is only used with guidance, which the pack does not declare',
      );
    }
    if (d.unconditionalCondition !== undefined && m.frames.mode !== 'clip')
      report([...path, 'unconditionalCondition'], 'is used only when frames.mode is "clip"');
    else if (d.unconditionalCondition !== undefined && !m.guidance)
      report(
        [...path, 'unconditionalCondition'],
        'is only used with guidance, which the pack does not declare',
      );
    if (m.frames.mode === 'position' && d.feeds)
      report([...path, 'feeds'], 'are run only in clip mode by this studio version');
    if (m.frames.mode === 'position' && d.inputs.guidance)
      report([...path, 'inputs', 'guidance'], 'is used only when frames.mode is "clip"');
    if (m.frames.mode === 'position' && d.concat)
      report([...path, 'concat'], 'is used only when frames.mode is "clip"');
    checkConditionLatent(m, d, path, check, report);
  }
  const denoisers = Object.values(m.graphs.denoisers);
  if (m.guidance && denoisers.every((d) => d.inputs.guidance !== undefined)) {
    if (m.guidance.frameRamp)
      report(
        ['guidance', 'frameRamp'],
        'is not used: every denoiser takes the guidance scale as an input (one scale per step, no unconditional pass to ramp)',
      );
    if (m.guidance.rescale > 0)
      report(
        ['guidance', 'rescale'],
        'is not used: every denoiser takes the guidance scale as an input (no unconditional pass to rescale against)',
      );
  }
  graphFeeds(['graphs', 'decoder'], m.graphs.decoder.feeds, Object.values(m.graphs.decoder.inputs));
  if (m.frames.mode === 'position' && (m.graphs.decoder.feeds || m.stages))
    report(['stages'], 'are run only in clip mode by this studio version');

  // The typed prompt's embedding comes from a stage that takes the token ids.
  if (m.text) {
    const src = check(['text', 'embedding'], m.text.embedding, false);
    if (src && src.kind !== 'stage') {
      report(['text', 'embedding'], 'must name a stage output (stage:<stage>/<output>)');
    } else if (src?.kind === 'stage' && stages[src.stage] && !dependsOnText(stages, src.stage)) {
      report(
        ['text', 'embedding'],
        `names stage "${src.stage}", which does not take the token ids (no input from "text")`,
      );
    }
  }
  for (const [name, d] of Object.entries(m.graphs.denoisers)) {
    for (const [tensor, text] of Object.entries(d.unconditional ?? {})) {
      const src = parseSource(text);
      if (
        !('error' in src) &&
        src.kind === 'stage' &&
        stages[src.stage] &&
        dependsOnText(stages, src.stage)
      )
        report(
          ['graphs', 'denoisers', name, 'unconditional', tensor],
          'depends on the typed prompt; the unconditional pass needs a fixed source (a constant)',
        );
    }
  }

  // Prompts name constants, ids are unique.
  const promptIds = new Set<string>();
  (m.prompts ?? []).forEach((p, i) => {
    if (promptIds.has(p.id)) report(['prompts', i, 'id'], `duplicate prompt id "${p.id}"`);
    promptIds.add(p.id);
    if (!constants[p.constant])
      report(
        ['prompts', i, 'constant'],
        `names constant "${p.constant}", which is not in constants`,
      );
  });
}

/**
 * Whether a stage takes the typed prompt's token ids, directly or through the stages it takes
 * inputs from (such stages run only when a run has a typed prompt).
 */
export function dependsOnText(
  stages: Record<string, { inputs: Record<string, string> }>,
  name: string,
  seen = new Set<string>(),
): boolean {
  if (seen.has(name)) return false;
  seen.add(name);
  for (const text of Object.values(stages[name]?.inputs ?? {})) {
    const src = parseSource(text);
    if ('error' in src) continue;
    if (src.kind === 'text') return true;
    if (src.kind === 'stage' && dependsOnText(stages, src.stage, seen)) return true;
  }
  return false;
}

/** The first cycle in a dependency map (node → nodes it depends on), as a path a → … → a. */
function findCycle(
  edges: Map<string, { to: string; tensor: string }[]>,
): { path: string[]; tensor: string } | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: { node: string; tensor: string }[] = [];
  const visit = (node: string): { path: string[]; tensor: string } | null => {
    state.set(node, 'open');
    for (const e of edges.get(node) ?? []) {
      stack.push({ node, tensor: e.tensor });
      if (state.get(e.to) === 'open') {
        const from = stack.findIndex((s) => s.node === e.to);
        const path = [...stack.slice(from).map((s) => s.node), e.to];
        return { path, tensor: stack[from]!.tensor };
      }
      if (!state.has(e.to)) {
        const found = visit(e.to);
        if (found) return found;
      }
      stack.pop();
    }
    state.set(node, 'done');
    return null;
  };
  for (const node of edges.keys()) {
    if (!state.has(node)) {
      const found = visit(node);
      if (found) return found;
    }
  }
  return null;
}

/**
 * The stages in an order that runs each after the stages it takes inputs from (the manifest was
 * validated acyclic).
 */
export function stageOrder(m: PackManifest): string[] {
  const stages = m.stages ?? {};
  const parsed = m.text ? parseSource(m.text.embedding) : null;
  const textStage = parsed && !('error' in parsed) && parsed.kind === 'stage' ? parsed.stage : null;
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const text of Object.values(stages[name]!.inputs)) {
      const src = parseSource(text);
      if ('error' in src) continue;
      if (src.kind === 'stage') visit(src.stage);
      // "prompt" is the typed prompt's embedding when the run has one: its stage comes first.
      if (src.kind === 'prompt' && textStage !== null && stages[textStage]) visit(textStage);
    }
    order.push(name);
  };
  Object.keys(stages).forEach(visit);
  return order;
}

export type PackManifest = z.infer<typeof manifestSchema>;
export type VariantSpec = PackManifest['variants'][number];
export type GraphSpec = z.infer<typeof graphSpec>;
export type DenoiserSpec = z.infer<typeof denoiserSpec>;
export type DecoderSpec = z.infer<typeof decoderSpec>;
export type MotionSpec = z.infer<typeof motionSpec>;
export type ClassicalFlowSpec = z.infer<typeof classicalFlowSpec>;
export type SchedulerSpec = PackManifest['scheduler'];
export type DdimSchedulerSpec = Extract<SchedulerSpec, { type: 'ddim' }>;

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
  /**
   * 'encoder', 'decoder', 'motion', 'denoiser:<name>' or 'stage:<file>' — sessions are shared by
   * this key (two stages may run one file).
   */
  key: string;
  role: 'encoder' | 'decoder' | 'motion' | 'denoiser' | 'stage';
  spec: Pick<GraphSpec, 'file' | 'sizeBytes' | 'sha256' | 'externalData'>;
  /**
   * Every input tensor the manifest declares for the graph (roles, feeds, stage inputs), label →
   * name; a stage input fed the token ids is labelled `tokenIdsRole(name)` (fed as integers).
   */
  inputs: Record<string, string | undefined>;
  outputs: Record<string, string | undefined>;
  /** For role 'stage': the stages that run this file. */
  stages?: string[];
  /** e.g. `the denoiser of variant "lora" (denoiser_lora.onnx)`. */
  what: string;
}

/** Role inputs plus format 2's feeds, as one label → tensor map for checkGraphNames. */
function declaredInputs(
  inputs: Record<string, string | undefined>,
  feeds: Record<string, string> | undefined,
): Record<string, string | undefined> {
  const all: Record<string, string | undefined> = { ...inputs };
  for (const tensor of Object.keys(feeds ?? {})) all[`feed ${tensor}`] = tensor;
  return all;
}

/**
 * The graphs a variant runs, in load order: encoder (position mode), stages (format 2, one entry
 * per file), decoder, motion (when the pack has one), denoiser.
 */
export function graphsForVariant(m: PackManifest, variantId: string): VariantGraph[] {
  const variant = m.variants.find((v) => v.id === variantId);
  if (!variant) {
    throw new Error(
      `pack "${m.id}" has no variant "${variantId}" (it has ${m.variants.map((v) => v.id).join(', ')})`,
    );
  }
  const denoiser = m.graphs.denoisers[variant.denoiser];
  if (!denoiser) throw new Error(`variant "${variantId}" names a missing denoiser`);
  const list: VariantGraph[] = [];
  if (m.graphs.encoder) {
    const g = m.graphs.encoder;
    list.push({
      key: 'encoder',
      role: 'encoder',
      spec: g,
      inputs: g.inputs,
      outputs: g.outputs,
      what: 'the VAE encoder',
    });
  }
  const byFile = new Map<string, VariantGraph>();
  for (const [name, stage] of Object.entries(m.stages ?? {})) {
    const known = byFile.get(stage.file);
    // Token ids go in as integers, under a role that says so (checkGraphNames checks the types).
    const inputs = Object.fromEntries(
      Object.entries(stage.inputs).map(([t, text]) => [text === 'text' ? tokenIdsRole(t) : t, t]),
    );
    const outputs = Object.fromEntries(stage.outputs.map((t) => [t, t]));
    if (known) {
      known.stages!.push(name);
      Object.assign(known.inputs, inputs);
      Object.assign(known.outputs, outputs);
      continue;
    }
    const entry: VariantGraph = {
      key: `stage:${stage.file}`,
      role: 'stage',
      spec: stage,
      inputs,
      outputs,
      stages: [name],
      what: `the stage "${name}"`,
    };
    byFile.set(stage.file, entry);
    list.push(entry);
  }
  const alt = variant.decoder === undefined ? undefined : m.graphs.decoders?.[variant.decoder];
  if (variant.decoder !== undefined && !alt) {
    throw new Error(`variant "${variantId}" names a missing decoder`);
  }
  const dec = alt ?? m.graphs.decoder;
  list.push({
    key: alt ? `decoder:${variant.decoder}` : 'decoder',
    role: 'decoder',
    spec: dec,
    inputs: declaredInputs(dec.inputs, dec.feeds),
    outputs: dec.outputs,
    what: alt ? `the decoder of variant "${variant.id}"` : 'the VAE decoder',
  });
  if (m.graphs.motion) {
    const g = m.graphs.motion;
    list.push({
      key: 'motion',
      role: 'motion',
      spec: g,
      inputs: g.inputs,
      outputs: g.outputs,
      what: 'the motion graph',
    });
  }
  list.push({
    key: `denoiser:${variant.denoiser}`,
    role: 'denoiser',
    spec: denoiser,
    inputs: declaredInputs(denoiser.inputs, denoiser.feeds),
    outputs: denoiser.outputs,
    what: `the denoiser of variant "${variant.id}"`,
  });
  return list.map((g) => ({ ...g, what: `${g.what} (${g.spec.file})` }));
}

/**
 * A file a variant needs, with integrity data; `role` 'constant' for format 2's tensors,
 * 'tokenizer' for its tokenizer.json.
 */
export interface VariantFile {
  role: VariantGraph['role'] | 'constant' | 'tokenizer';
  file: string;
  sizeBytes: number;
  sha256: string;
}

/**
 * Every file a variant needs — graphs, their external data, and format 2's constants and
 * tokenizer — once each.
 */
export function filesForVariant(m: PackManifest, variantId: string): VariantFile[] {
  const files: VariantFile[] = graphsForVariant(m, variantId).flatMap(({ role, spec }) => [
    { role, file: spec.file, sizeBytes: spec.sizeBytes, sha256: spec.sha256 },
    ...(spec.externalData ?? []).map((ext) => ({ role, ...ext })),
  ]);
  for (const c of Object.values(m.constants ?? {})) {
    files.push({ role: 'constant', file: c.file, sizeBytes: c.sizeBytes, sha256: c.sha256 });
  }
  if (m.text) files.push({ role: 'tokenizer', ...m.text.tokenizer });
  const seen = new Set<string>();
  return files.filter((f) => (seen.has(f.file) ? false : (seen.add(f.file), true)));
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

/** A clip pack's clip length (frames, keyframes included); null for a pack of positions. */
export function clipLengthOf(manifest: PackManifest): number | null {
  return manifest.frames.mode === 'clip' ? manifest.frames.clipLength : null;
}

/** The most steps a run of this scheduler may take. */
export function maxSteps(spec: SchedulerSpec): number {
  switch (spec.type) {
    case 'ddim':
      return spec.trainTimesteps;
    case 'lcm':
      return spec.originalSteps;
    case 'edm':
    case 'flow':
      return 1000;
  }
}

/** The steps a variant runs at: its `recommendedSteps`, else the scheduler's default. */
export function variantSteps(manifest: PackManifest, v: VariantSpec): number {
  return v.recommendedSteps ?? manifest.scheduler.defaultSteps;
}
