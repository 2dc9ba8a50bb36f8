/**
 * The interpolation pipeline: fit keyframes to the pack's size, encode them, run DDIM over the
 * variant's denoiser for every in-between position, record latent statistics at every step, and
 * decode. Pure TypeScript over `GraphRunner`, so the inference worker (onnxruntime-web), the CLI
 * and the benchmark (onnxruntime-node) run exactly the same code.
 */
import { interpolateClip, type ClipEncoded, type PickedFrame, type ResolvedControls } from './clip';
import { opencvMotion } from './flowWarp';
import type { FloatTensor, GraphRunner } from './graph';
import {
  assertImageSize,
  fitImage,
  nativeFrameSize,
  planFit,
  rgbaToTensor,
  tensorToRgba,
  unfitImage,
  type FitChoice,
  type FitMode,
  type FitPlan,
  type RgbaImage,
} from './image';
import type { DenoiserSpec, PackManifest, VariantSpec } from './manifest';
import { frameNoise } from './rng';
import {
  checkOutput,
  ModelOutputError,
  now,
  pick,
  RunCancelledError,
  sameDims,
  stepNoise,
  yieldToEventLoop,
} from './runChecks';
import { samplerPlanFor, scaled, statScale, type SamplerName, type SamplerPlan } from './samplers';
import type { PromptTokenizer } from './text';
import { checkTypedPositions } from './sequence/timing';
import { computeLatentStats, scaleLatentStats, type LatentStats } from './stats';

export { ModelOutputError, RunCancelledError, yieldToEventLoop } from './runChecks';

/** Most in-betweens one run may ask for. */
export const MAX_INBETWEENS = 15;

/** The loaded graphs of one variant. */
export interface VariantGraphs {
  /** The VAE encoder (position mode; clip packs encode in a stage). */
  encoder?: GraphRunner;
  decoder: GraphRunner;
  denoiser: GraphRunner;
  /** The pack's motion estimator (`graphs.motion`), when it has one. */
  motion?: GraphRunner;
  /** Format 2: stage name → session. */
  stages?: Record<string, GraphRunner>;
  /** Format 2: constant name → tensor. */
  constants?: Record<string, FloatTensor>;
  /** Format 2: the pack's tokeniser (packs with `text`). */
  tokenizer?: PromptTokenizer;
}

/**
 * What a run computes once per keyframe pair: the scaled latents and, for packs with a motion graph,
 * its estimate. Pass it back to `interpolate` to skip that work on the next run.
 */
export interface EncodedKeyframes {
  start: FloatTensor;
  end: FloatTensor;
  motion?: FloatTensor;
  /** Clip mode: every stage output. */
  clip?: ClipEncoded;
}

/** What a person asks for. */
export interface RunSettings {
  /** Number of in-betweens, 1…15, at τ = i/(N+1) unless `positions` says otherwise. */
  count: number;
  /**
   * τ of each in-between (a timing chart's spacing, `src/core/sequence/timing.ts`): `count` values,
   * increasing, strictly between 0 and 1. Clip packs take the nearest clip frames to them.
   */
  positions?: number[];
  steps: number;
  seed: number;
  /** Used only by variants with a LoRA scale; defaults to the manifest's default. */
  loraScale?: number;
  /** Format 2: classifier-free guidance scale (packs with `guidance`; default from the manifest). */
  guidanceScale?: number;
  /** Format 2: scalar conditioning inputs by name (default from the manifest). */
  scalars?: Record<string, number>;
  /** Format 2: id of the pack prompt to condition on (default: the first). */
  promptId?: string;
  /** Format 2: a typed prompt (packs with `text`); it takes the place of `promptId`. */
  promptText?: string;
  /** η for this run, 0…1: DDIM's, or Euler-ancestral's (default: the manifest's `scheduler.eta`). */
  eta?: number;
  /** Another sampler of the pack's family (EDM: euler, euler_ancestral, dpmpp_2m; flow: flow_euler, flow_unipc, flow_dpmpp_2m). */
  sampler?: SamplerName;
  /**
   * Clip packs: the clip frames to return, by index (0-based, 1 … T−2), instead of those nearest
   * the `count` positions (an evaluation protocol that names its frame).
   */
  clipFrames?: number[];
}

/** Latent statistics after one denoising step (step 0 = the initial noise), one entry per frame. */
export interface StepRecord {
  step: number;
  /** The model timestep this step denoised from; null for the initial noise. */
  timestep: number | null;
  frames: LatentStats[];
}

import type { PipelineProgress } from './progress';
export type { PipelineProgress } from './progress';

export interface PipelineHooks {
  onProgress?: (p: PipelineProgress) => void;
  /** Checked between steps; return true to stop the run with `RunCancelledError`. */
  isCancelled?: () => boolean;
}

export interface RunTimings {
  encodeMs: number;
  denoiseMs: number;
  decodeMs: number;
  totalMs: number;
  /** Wall time of each denoiser call (one call denoises a batch of frames by one step). */
  denoiserCallMs: number[];
  /** Wall time of each VAE decode. */
  decodeCallMs: number[];
  /**
   * True when the sample stayed on the GPU between denoising steps (WebGPU): then each denoiser
   * call's time also covers the sampler's update and the read-back of the step's statistics.
   */
  latentsOnDevice?: boolean;
}

export interface InterpolationResult {
  positions: number[];
  /** The keyframes' scaled latents and motion (pass back to `interpolate` to skip that next time). */
  encoded: EncodedKeyframes;
  /** In-betweens at the pack's model size. */
  modelFrames: RgbaImage[];
  stepStats: StepRecord[];
  /** What the denoiser's timestep input got at each step (training timestep, c_noise or σ·T). */
  timesteps: number[];
  /** The sampler that ran. */
  sampler: SamplerName;
  loraScale: number | null;
  timings: RunTimings;
  /** Clip mode: which clip frames were picked, the controls used, the final clip latent. */
  clip?: {
    picked: PickedFrame[];
    pickedText: string;
    controls: ResolvedControls;
    clipLatent: FloatTensor;
  };
}

/** Where a triplet's middle (ground-truth) frame is compared: τ = ½, never an off-by-one frame. */
export const GROUND_TRUTH_TAU = 0.5;

/** Index of the in-between at τ = ½ among `positions`, or -1 (an even number of them has none). */
export function groundTruthIndex(positions: readonly number[]): number {
  return positions.findIndex((p) => Math.abs(p - GROUND_TRUTH_TAU) < 1e-9);
}

/**
 * Index of the frame a triplet's middle frame is compared with: the in-between at τ = ½; for a clip
 * pack of `clipLength` frames (frame k at τ = k/(T−1), so none at ½ when T is even) the clip's frame
 * nearest ½ (the earlier of two), when the run returned it — as the dataset evaluation's studio
 * protocol scores clip packs. -1 when there is none.
 */
export function scoredFrameIndex(
  positions: readonly number[],
  clipLength: number | null = null,
): number {
  const exact = groundTruthIndex(positions);
  if (exact >= 0 || clipLength === null || positions.length === 0) return exact;
  const halfStep = 0.5 / (clipLength - 1);
  const i = positions.findIndex((p) => Math.abs(p - GROUND_TRUTH_TAU) <= halfStep + 1e-9);
  return i;
}

/** τ of each in-between: `positions` when given (checked), else i/(N+1) for i = 1…N. */
export function inbetweenPositions(count: number, positions?: readonly number[]): number[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_INBETWEENS) {
    throw new Error(
      `number of in-betweens must be an integer from 1 to ${MAX_INBETWEENS}, got ${count}`,
    );
  }
  if (positions) {
    checkTypedPositions(positions, count);
    return [...positions];
  }
  return Array.from({ length: count }, (_, i) => (i + 1) / (count + 1));
}

/** Keyframes fitted to the pack's frame, and how to map results back. */
export interface PreparedKeyframes {
  start: RgbaImage;
  end: RgbaImage;
  plan: FitPlan;
}

/**
 * The largest model frame (in pixels) the native fit uses: 1024×1024, about four times the cel
 * pack's 512×320 in time and memory per step. 1280×720 frames fit (1280×768); larger ones are
 * letterboxed or cropped instead.
 */
export const MAX_NATIVE_PIXELS = 1024 * 1024;

/**
 * The fit mode a choice means for keyframes of this size. `auto` is `native` when the pack runs
 * any size (no `fixedSize`) and the native frame (the keyframes' size rounded up to `multipleOf`)
 * has no more pixels than the pack's default frame — a small drawing then runs at its own pixels,
 * neither scaled up into the frame nor back down, and costs no more than a default-size run — and
 * `letterbox` otherwise. Any other choice is itself.
 */
export function resolveFit(
  manifest: PackManifest,
  width: number,
  height: number,
  choice: FitChoice,
): FitMode {
  if (choice !== 'auto') return choice;
  if (manifest.image.fixedSize) return 'letterbox';
  assertImageSize(width, height, 'keyframe');
  const [w, h] = nativeFrameSize(width, height, manifest.image.multipleOf);
  const [dw, dh] = manifest.image.defaultSize;
  return w * h <= dw * dh ? 'native' : 'letterbox';
}

/**
 * The model frame a fit choice uses for keyframes of this size (`resolveFit`): the pack's default
 * size, or for `native` the keyframes' own size rounded up to the pack's `multipleOf`. Throws with
 * a clear message when a native frame would exceed MAX_NATIVE_PIXELS.
 */
export function modelFrameSize(
  manifest: PackManifest,
  width: number,
  height: number,
  choice: FitChoice,
): [number, number] {
  const mode = resolveFit(manifest, width, height, choice);
  if (mode !== 'native') return [...manifest.image.defaultSize];
  if (manifest.image.fixedSize) {
    throw new Error(
      `This pack's graphs take exactly ${manifest.image.defaultSize.join('×')} frames, so Native size cannot run them; choose Letterbox or Centre-crop.`,
    );
  }
  const [w, h] = nativeFrameSize(width, height, manifest.image.multipleOf);
  if (w * h > MAX_NATIVE_PIXELS) {
    throw new Error(
      `Native size would run the model on a ${w}×${h} frame for these ${width}×${height} keyframes; ` +
        `the most it runs natively is ${MAX_NATIVE_PIXELS.toLocaleString('en')} pixels (e.g. 1280×768). ` +
        `Choose Letterbox or Centre-crop, which fit them to the pack's ${manifest.image.defaultSize.join('×')}.`,
    );
  }
  return [w, h];
}

/**
 * Checks the two keyframes have one size and fits both to the model frame of the fit `choice`
 * (`resolveFit`, `modelFrameSize`; the plan's `mode` is the one used). Throws with a clear message
 * for different sizes or a native frame too large.
 */
export function prepareKeyframes(
  manifest: PackManifest,
  start: RgbaImage,
  end: RgbaImage,
  choice: FitChoice,
): PreparedKeyframes {
  assertImageSize(start.width, start.height, 'start keyframe');
  assertImageSize(end.width, end.height, 'end keyframe');
  if (start.width !== end.width || start.height !== end.height) {
    throw new Error(
      `The keyframes have different sizes: start is ${start.width}×${start.height}, end is ${end.width}×${end.height}. Use two frames of the same size.`,
    );
  }
  const mode = resolveFit(manifest, start.width, start.height, choice);
  const [w, h] = modelFrameSize(manifest, start.width, start.height, mode);
  const plan = planFit(start.width, start.height, w, h, mode);
  return { start: fitImage(start, plan), end: fitImage(end, plan), plan };
}

/** Maps a model-size frame back to the keyframes' size (inverse of the fit). */
export function restoreFrame(frame: RgbaImage, plan: FitPlan, background?: RgbaImage): RgbaImage {
  return unfitImage(frame, plan, background);
}

/** Encodes one fitted keyframe to a scaled latent [1, C, h, w]. */
export async function encodeKeyframe(
  manifest: PackManifest,
  encoder: GraphRunner,
  image: RgbaImage,
): Promise<FloatTensor> {
  const spec = manifest.graphs.encoder;
  if (!spec) throw new Error(`pack "${manifest.id}" has no graphs.encoder (it encodes in a stage)`);
  const pixels = rgbaToTensor(image, manifest.image.valueRange);
  const out = await encoder.run({
    [spec.inputs.image]: { data: pixels, dims: [1, 3, image.height, image.width] },
  });
  const latent = pick(out, spec.outputs.latent, 'the encoder');
  const { channels, downsample, scaleFactor } = manifest.latent;
  const want = [1, channels, image.height / downsample, image.width / downsample];
  checkOutput(latent, want, 'encoder');
  const scaled = new Float32Array(latent.data.length);
  for (let i = 0; i < scaled.length; i++) scaled[i] = latent.data[i]! * scaleFactor;
  return { data: scaled, dims: want };
}

/**
 * The fitted keyframes as decoder reference tensors [1, 3, H, W], for decoders that take them, and
 * the motion graph's estimate for decoders with a `motion` input.
 */
export interface DecoderReferences {
  start: FloatTensor;
  end: FloatTensor;
  motion?: FloatTensor;
}

/** Builds the decoder's keyframe references (null when the pack's decoder takes none). */
export function decoderReferences(
  manifest: PackManifest,
  keyframes: { start: RgbaImage; end: RgbaImage },
  motion?: FloatTensor,
): DecoderReferences | null {
  if (!manifest.graphs.decoder.inputs.startImage) return null;
  const t = (img: RgbaImage): FloatTensor => ({
    data: rgbaToTensor(img, manifest.image.valueRange),
    dims: [1, 3, img.height, img.width],
  });
  return { start: t(keyframes.start), end: t(keyframes.end), ...(motion ? { motion } : {}) };
}

/**
 * Runs the pack's motion graph once for a pair of fitted keyframes; its output [1, K, H, W] goes to
 * every decode of that pair (`DecoderReferences.motion`). A graph with a `classicalMotion` input also
 * gets OpenCV's Farnebäck flows of the pair at the manifest's `classicalFlow` settings (`opencvMotion`;
 * ~0.17–0.20 s for a 512×320 pair warm in Node).
 */
export async function estimateMotion(
  manifest: PackManifest,
  motion: GraphRunner,
  keyframes: { start: RgbaImage; end: RgbaImage },
): Promise<FloatTensor> {
  const spec = manifest.graphs.motion;
  if (!spec) throw new Error('this pack has no motion graph');
  const { width, height } = keyframes.start;
  const t = (img: RgbaImage): FloatTensor => ({
    data: rgbaToTensor(img, manifest.image.valueRange),
    dims: [1, 3, img.height, img.width],
  });
  const feeds: Record<string, FloatTensor> = {
    [spec.inputs.startImage]: t(keyframes.start),
    [spec.inputs.endImage]: t(keyframes.end),
  };
  if (spec.inputs.classicalMotion && spec.classicalFlow) {
    // The classical flows the graph refines, computed here (the manifest only names their settings).
    // `classicalFlow` holds OpenCV's parameters by their names, beside `method`, which the port ignores.
    feeds[spec.inputs.classicalMotion] = opencvMotion(
      keyframes.start,
      keyframes.end,
      spec.classicalFlow,
    );
  }
  const out = await motion.run(feeds);
  const m = pick(out, spec.outputs.motion, 'the motion graph');
  checkOutput(m, [1, null, height, width], 'motion');
  return m;
}

/**
 * Decodes one scaled latent [1, C, h, w] to an RGBA frame at model size. A decoder with keyframe
 * reference inputs (`startImage` / `endImage`) needs `references` of the same size as the frame, one
 * with a `motion` input needs `references.motion`, and one with a `position` input the frame's τ.
 */
export async function decodeLatent(
  manifest: PackManifest,
  decoder: GraphRunner,
  latent: FloatTensor,
  references: DecoderReferences | null = null,
  position?: number,
): Promise<RgbaImage> {
  const spec = manifest.graphs.decoder;
  const unscaled = new Float32Array(latent.data.length);
  const k = 1 / manifest.latent.scaleFactor;
  for (let i = 0; i < unscaled.length; i++) unscaled[i] = latent.data[i]! * k;
  const feeds: Record<string, FloatTensor> = {
    [spec.inputs.latent]: { data: unscaled, dims: latent.dims },
  };
  if (spec.inputs.startImage && spec.inputs.endImage) {
    const ds = manifest.latent.downsample;
    const want = [1, 3, latent.dims[2]! * ds, latent.dims[3]! * ds];
    if (
      !references ||
      !sameDims(references.start.dims, want) ||
      !sameDims(references.end.dims, want)
    ) {
      throw new Error(
        `this pack's decoder takes the keyframes as references: pass both, of shape [${want.join(', ')}]`,
      );
    }
    feeds[spec.inputs.startImage] = references.start;
    feeds[spec.inputs.endImage] = references.end;
    if (spec.inputs.motion) {
      if (!references.motion) {
        throw new Error(
          "this pack's decoder takes the motion graph's estimate: run estimateMotion for these keyframes first",
        );
      }
      feeds[spec.inputs.motion] = references.motion;
    }
  }
  if (spec.inputs.position) {
    if (position === undefined || !(position > 0 && position < 1)) {
      throw new Error(
        `this pack's decoder takes the in-between's position τ in (0, 1), got ${String(position)}`,
      );
    }
    feeds[spec.inputs.position] = { data: Float32Array.of(position), dims: [1] };
  }
  const out = await decoder.run(feeds);
  const image = pick(out, spec.outputs.image, 'the decoder');
  const ds = manifest.latent.downsample;
  const h = latent.dims[2]! * ds;
  const w = latent.dims[3]! * ds;
  checkOutput(image, [1, 3, h, w], 'decoder');
  return tensorToRgba(image.data, w, h, manifest.image.valueRange);
}

/** Resolves the LoRA scale a run uses, validating it against the variant's range. */
export function resolveLoraScale(
  variant: VariantSpec,
  requested: number | undefined,
): number | null {
  if (!variant.loraScale) return null;
  const s = requested ?? variant.loraScale.default;
  if (!Number.isFinite(s) || s < variant.loraScale.min || s > variant.loraScale.max) {
    throw new Error(
      `LoRA scale ${s} is outside this variant's range ${variant.loraScale.min}…${variant.loraScale.max}`,
    );
  }
  return s;
}

/**
 * The denoiser's inputs for one step of a batch of B frames, named as the pack's manifest names
 * them: the noisy sample, its timestep, the keyframe latents (one copy per frame), and the
 * optional position τ, LoRA scale and motion estimate. The one place feeds are built (the
 * pipeline and the benchmark both call it).
 */
export function denoiserFeeds(
  spec: DenoiserSpec,
  batch: {
    sample: FloatTensor;
    timestep: number;
    startLatents: FloatTensor;
    endLatents: FloatTensor;
    positions: number[];
    loraScale: number | null;
    /** The motion graph's output for the keyframes ([1, K, H, W]); for a denoiser that takes it. */
    motion?: FloatTensor | null;
  },
): Record<string, FloatTensor> {
  const B = batch.sample.dims[0]!;
  const { startLatent, endLatent } = spec.inputs;
  if (!startLatent || !endLatent) throw new Error('position mode needs startLatent and endLatent');
  const feeds: Record<string, FloatTensor> = {
    [spec.inputs.sample]: batch.sample,
    [spec.inputs.timestep]: { data: new Float32Array(B).fill(batch.timestep), dims: [B] },
    [startLatent]: batch.startLatents,
    [endLatent]: batch.endLatents,
  };
  if (spec.inputs.position)
    feeds[spec.inputs.position] = { data: Float32Array.from(batch.positions), dims: [B] };
  if (spec.inputs.loraScale)
    feeds[spec.inputs.loraScale] = { data: Float32Array.of(batch.loraScale ?? 0), dims: [1] };
  if (spec.inputs.motion) {
    if (!batch.motion)
      throw new Error("this denoiser takes the motion graph's output, and none was given");
    feeds[spec.inputs.motion] = batch.motion;
  }
  return feeds;
}

function scaleInPlace(data: Float32Array, k: number): void {
  if (k !== 1) for (let i = 0; i < data.length; i++) data[i] = data[i]! * k;
}

/** `count` copies of a [1, C, H, W] latent as one [count, C, H, W] tensor. */
function repeatLatent(latent: FloatTensor, count: number): FloatTensor {
  const len = latent.data.length;
  const data = new Float32Array(count * len);
  for (let i = 0; i < count; i++) data.set(latent.data, i * len);
  return { data, dims: [count, ...latent.dims.slice(1)] };
}

/** What the denoising loop returns: one latent per in-between and what was seen on the way. */
export interface DenoiseResult {
  latents: FloatTensor[];
  stepStats: StepRecord[];
  plan: SamplerPlan;
  denoiserCallMs: number[];
  loraScale: number | null;
}

/**
 * Runs DDIM for each in-between position from seeded noise, given the keyframes' scaled latents.
 * Frames are denoised in batches of `frames.maxBatch`.
 */
export async function denoiseFrames(request: {
  manifest: PackManifest;
  variant: VariantSpec;
  denoiser: GraphRunner;
  startLatent: FloatTensor;
  endLatent: FloatTensor;
  /** The motion graph's output for the keyframes, for a denoiser that takes it. */
  motion?: FloatTensor | null;
  settings: RunSettings;
  hooks?: PipelineHooks;
}): Promise<DenoiseResult> {
  const { manifest, variant, settings } = request;
  if (manifest.frames.mode !== 'position') {
    throw new Error(
      `pack "${manifest.id}" uses frames.mode "${manifest.frames.mode}", which this studio version cannot run yet`,
    );
  }
  if (!Number.isInteger(settings.seed) || settings.seed < 0 || settings.seed > 0xffffffff) {
    throw new Error(`seed must be an integer from 0 to 4294967295, got ${settings.seed}`);
  }
  const spec = manifest.graphs.denoisers[variant.denoiser];
  if (!spec) throw new Error(`variant "${variant.id}" names a missing denoiser`);
  const positions = inbetweenPositions(settings.count, settings.positions);
  const plan = samplerPlanFor(manifest, settings);
  const stepCount = plan.steps;
  const result: DenoiseResult = {
    latents: [],
    stepStats: Array.from({ length: stepCount + 1 }, (_, s) => ({
      step: s,
      timestep: s === 0 ? null : plan.modelTimesteps[s - 1]!,
      frames: [],
    })),
    plan,
    denoiserCallMs: [],
    loraScale: resolveLoraScale(variant, settings.loraScale),
  };
  const maxBatch = manifest.frames.maxBatch;
  const totalBatches = Math.ceil(positions.length / maxBatch);
  for (let b = 0; b < totalBatches; b++) {
    const first = b * maxBatch;
    await denoiseBatch(request, spec, result, {
      index: b,
      total: totalBatches,
      first,
      positions: positions.slice(first, first + maxBatch),
    });
  }
  return result;
}

/** One batch of in-betweens through every DDIM step; appends to `result`. */
async function denoiseBatch(
  {
    startLatent,
    endLatent,
    motion = null,
    denoiser,
    settings,
    hooks = {},
  }: Parameters<typeof denoiseFrames>[0],
  spec: DenoiserSpec,
  result: DenoiseResult,
  batch: { index: number; total: number; first: number; positions: number[] },
): Promise<void> {
  const { plan } = result;
  const stepCount = plan.steps;
  const stepper = plan.begin();
  const [, c, h, w] = startLatent.dims as [number, number, number, number];
  const frameLen = c * h * w;
  const B = batch.positions.length;
  const dims = [B, c, h, w];
  let sample = new Float32Array(B * frameLen);
  for (let i = 0; i < B; i++) {
    sample.set(frameNoise(settings.seed, batch.first + i, frameLen), i * frameLen);
  }
  scaleInPlace(sample, plan.initScale);
  const startLatents = repeatLatent(startLatent, B);
  const endLatents = repeatLatent(endLatent, B);
  const recordFrames = (s: number, stats: LatentStats[]): void => {
    stats.forEach((st, i) => {
      result.stepStats[s]!.frames[batch.first + i] = st;
      if (st.nonFinite > 0) {
        throw new ModelOutputError(
          `the latent of in-between ${batch.first + i + 1} has ${st.nonFinite} non-finite values after step ${s} — the run was stopped`,
          'denoiser',
          s,
        );
      }
    });
  };
  const batchNoise = (s: number): Float32Array => {
    const noise = new Float32Array(B * frameLen);
    for (let i = 0; i < B; i++)
      noise.set(stepNoise(settings.seed, batch.first + i, s, frameLen), i * frameLen);
    return noise;
  };
  const recordStats = (s: number): void =>
    recordFrames(
      s,
      Array.from({ length: B }, (_, i) =>
        scaleLatentStats(computeLatentStats(sample, i * frameLen, frameLen), statScale(plan, s)),
      ),
    );
  const progress = (step: number) => {
    const frames = result.stepStats[step]!.frames.slice(batch.first, batch.first + B);
    hooks.onProgress?.({
      kind: 'denoise',
      step,
      totalSteps: stepCount,
      batch: batch.index,
      totalBatches: batch.total,
      latentStd: frames.reduce((sum, f) => sum + f.std, 0) / Math.max(1, frames.length),
    });
  };
  const linear = plan.linear;
  // Samplers that remember more than one estimate (UniPC) step with the latents read back.
  if (denoiser.resident && linear) {
    // The sample stays on the device: the same steps, with only the statistics read back.
    const constants: Record<string, FloatTensor> = {
      [spec.inputs.startLatent!]: startLatents,
      [spec.inputs.endLatent!]: endLatents,
    };
    if (spec.inputs.motion && motion) constants[spec.inputs.motion] = motion;
    const stepFeeds = (s: number) => {
      const all = denoiserFeeds(spec, {
        sample: { data: sample, dims },
        timestep: plan.modelTimesteps[s]!,
        startLatents,
        endLatents,
        positions: batch.positions,
        loraScale: result.loraScale,
        motion,
      });
      for (const n of [spec.inputs.sample, ...Object.keys(constants)]) delete all[n];
      return all;
    };
    const loop = await denoiser.resident.begin({
      sample: spec.inputs.sample,
      output: spec.outputs.prediction,
      dims,
      constants,
    });
    try {
      recordFrames(0, await loop.start(sample, statScale(plan, 0)));
      for (let s = 0; s < stepCount; s++) {
        await yieldToEventLoop();
        if (hooks.isCancelled?.()) throw new RunCancelledError();
        progress(s);
        const t0 = now();
        const stats = await loop.step({
          feeds: stepFeeds(s),
          inputScale: plan.inputScales[s]!,
          linear: linear(s),
          ...(plan.usesNoise(s) ? { noise: batchNoise(s) } : {}),
          statScale: statScale(plan, s + 1),
        });
        result.denoiserCallMs.push(now() - t0);
        recordFrames(s + 1, stats);
      }
      sample = await loop.read();
    } finally {
      loop.release();
    }
  } else {
    recordStats(0);
    for (let s = 0; s < stepCount; s++) {
      await yieldToEventLoop();
      if (hooks.isCancelled?.()) throw new RunCancelledError();
      progress(s);
      const feeds = denoiserFeeds(spec, {
        sample: { data: scaled(sample, plan.inputScales[s]!), dims },
        timestep: plan.modelTimesteps[s]!,
        startLatents,
        endLatents,
        positions: batch.positions,
        loraScale: result.loraScale,
        motion,
      });
      const t0 = now();
      const out = await denoiser.run(feeds);
      result.denoiserCallMs.push(now() - t0);
      const pred = pick(out, spec.outputs.prediction, 'the denoiser');
      checkOutput(pred, dims, 'denoiser', { at: s + 1, of: stepCount });
      sample = stepper.step(s, pred.data, sample, plan.usesNoise(s) ? batchNoise(s) : undefined);
      recordStats(s + 1);
    }
  }
  progress(stepCount);
  for (let i = 0; i < B; i++) {
    result.latents.push({
      data: sample.slice(i * frameLen, (i + 1) * frameLen),
      dims: [1, c, h, w],
    });
  }
}

/** What `interpolate` needs: a loaded variant, fitted keyframes and the run's settings. */
export interface InterpolationRequest {
  manifest: PackManifest;
  variant: VariantSpec;
  graphs: VariantGraphs;
  /** Already fitted to the pack's size. */
  keyframes: { start: RgbaImage; end: RgbaImage };
  settings: RunSettings;
  hooks?: PipelineHooks;
  /** Encoded keyframes (and motion) of an earlier run on the same fitted keyframes, to reuse. */
  encoded?: EncodedKeyframes;
}

/** The whole pipeline on already-fitted keyframes: encode (unless `encoded`), denoise, decode. */
export async function interpolate({
  manifest,
  variant,
  graphs,
  keyframes,
  settings,
  hooks = {},
  encoded,
}: InterpolationRequest): Promise<InterpolationResult> {
  if (manifest.frames.mode === 'clip') {
    const r = await interpolateClip({
      manifest,
      variant,
      graphs: {
        stages: graphs.stages ?? {},
        constants: graphs.constants ?? {},
        ...(graphs.tokenizer ? { tokenizer: graphs.tokenizer } : {}),
        denoiser: graphs.denoiser,
        decoder: graphs.decoder,
      },
      keyframes,
      settings,
      loraScale: resolveLoraScale(variant, settings.loraScale),
      hooks,
      encoded: encoded?.clip,
    });
    return {
      positions: r.picked.map((p) => p.position),
      encoded: { start: r.encoded.start, end: r.encoded.end, clip: r.encoded },
      modelFrames: r.modelFrames,
      stepStats: r.stepStats,
      timesteps: r.timesteps,
      sampler: r.sampler,
      loraScale: r.loraScale,
      timings: r.timings,
      clip: {
        picked: r.picked,
        pickedText: r.pickedText,
        controls: r.controls,
        clipLatent: r.clipLatent,
      },
    };
  }
  const tStart = now();
  let startLatent: FloatTensor;
  let endLatent: FloatTensor;
  let motion = encoded?.motion;
  const needsMotion = manifest.graphs.motion !== undefined && motion === undefined;
  const total = (encoded ? 0 : 2) + (needsMotion ? 1 : 0);
  if (total) hooks.onProgress?.({ kind: 'encode', done: 0, total });
  if (encoded) {
    // Re-runs with other settings (a LoRA scale, a seed) reuse the encoded keyframes.
    ({ start: startLatent, end: endLatent } = encoded);
  } else {
    if (!graphs.encoder) throw new Error("this pack's encoder is not loaded");
    startLatent = await encodeKeyframe(manifest, graphs.encoder, keyframes.start);
    hooks.onProgress?.({ kind: 'encode', done: 1, total });
    endLatent = await encodeKeyframe(manifest, graphs.encoder, keyframes.end);
    hooks.onProgress?.({ kind: 'encode', done: 2, total });
  }
  if (needsMotion) {
    if (!graphs.motion) throw new Error("this pack's motion graph is not loaded");
    if (hooks.isCancelled?.()) throw new RunCancelledError();
    motion = await estimateMotion(manifest, graphs.motion, keyframes);
    hooks.onProgress?.({ kind: 'encode', done: total, total });
  }
  const tEncoded = now();
  const den = await denoiseFrames({
    manifest,
    variant,
    denoiser: graphs.denoiser,
    startLatent,
    endLatent,
    motion,
    settings,
    hooks,
  });
  const tDenoised = now();
  const modelFrames: RgbaImage[] = [];
  const decodeCallMs: number[] = [];
  const references = decoderReferences(manifest, keyframes, motion);
  const positions = inbetweenPositions(settings.count, settings.positions);
  for (let i = 0; i < den.latents.length; i++) {
    await yieldToEventLoop();
    if (hooks.isCancelled?.()) throw new RunCancelledError();
    hooks.onProgress?.({ kind: 'decode', frame: i, total: den.latents.length });
    const t0 = now();
    modelFrames.push(
      await decodeLatent(manifest, graphs.decoder, den.latents[i]!, references, positions[i]),
    );
    decodeCallMs.push(now() - t0);
  }
  const tEnd = now();
  return {
    positions,
    encoded: { start: startLatent, end: endLatent, ...(motion ? { motion } : {}) },
    modelFrames,
    stepStats: den.stepStats,
    timesteps: den.plan.modelTimesteps,
    sampler: den.plan.sampler,
    loraScale: den.loraScale,
    timings: {
      encodeMs: tEncoded - tStart,
      denoiseMs: tDenoised - tEncoded,
      decodeMs: tEnd - tDenoised,
      totalMs: tEnd - tStart,
      denoiserCallMs: den.denoiserCallMs,
      decodeCallMs,
      ...(graphs.denoiser.resident ? { latentsOnDevice: true } : {}),
    },
  };
}
