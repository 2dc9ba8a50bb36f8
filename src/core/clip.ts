/**
 * Clip mode (pack format 2, ToonCrafter-style): conditioning stages run once per keyframe pair,
 * the denoiser sees the whole clip as one 5-D latent [B, C, T, h, w] with the keyframes' latents
 * concatenated at frames 0 and T−1, sampling is DDIM with classifier-free guidance (and guidance
 * rescale) and seeded per-step noise for η > 0, and the decoder decodes the clip at once. The
 * in-betweens are the T−2 frames between the keyframes; asked for N of them, the run returns the
 * frames nearest the asked positions and says which it picked.
 *
 * The arithmetic follows ToonCrafter's own sampler (lvdm/models/samplers/ddim.py `p_sample_ddim`,
 * utils_diffusion.py `rescale_noise_cfg`) and its conditioning (scripts/evaluation/inference.py
 * `image_guided_synthesis` with interp=True); the parity test holds the studio to it.
 */
import { isTokenTensor, type Feed, type FloatTensor, type GraphRunner } from './graph';
import { rgbaToTensor, tensorToRgba, type RgbaImage } from './image';
import {
  augmentedStages,
  dependsOnText,
  latentFrameOf,
  latentFrames,
  parseSource,
  sampleFrames,
  stageOrder,
  type DenoiserSpec,
  type PackManifest,
  type Source,
  type VariantSpec,
} from './manifest';
import type { PipelineHooks, RunSettings, RunTimings, StepRecord } from './pipeline';
import { frameNoise } from './rng';
import {
  checkOutput,
  ModelOutputError,
  now,
  pick,
  RunCancelledError,
  stepNoise,
  yieldToEventLoop,
} from './runChecks';
import { samplerPlanFor, scaled, statScale, type SamplerName } from './samplers';
import { checkTypedPositions } from './sequence/timing';
import { computeLatentStats, scaleLatentStats } from './stats';
import type { PromptTokenizer } from './text';

/** The loaded graphs and constants of a clip-mode variant. */
export interface ClipGraphs {
  /** Stage name → its session (stages that run one file share it). */
  stages: Record<string, GraphRunner>;
  denoiser: GraphRunner;
  decoder: GraphRunner;
  /** Constant name → tensor, read from the pack's .npy files and checked against the manifest. */
  constants: Record<string, FloatTensor>;
  /** The pack's tokeniser, where it has `text` (a typed prompt). */
  tokenizer?: PromptTokenizer;
}

/** The format-2 controls of a run, each defaulting to the manifest's default. */
export interface ClipControls {
  /** Classifier-free guidance scale; 1 skips the unconditional pass. */
  guidanceScale?: number;
  /** Scalar conditioning inputs by name (ToonCrafter's `fs`). */
  scalars?: Record<string, number>;
  /** Id of one of the pack's prompts. */
  promptId?: string;
  /** A typed prompt (packs with `text`); it takes the place of the chosen prompt. */
  promptText?: string;
}

/** The controls a run used, resolved and checked. */
export interface ResolvedControls {
  guidanceScale: number | null;
  guidanceRescale: number;
  /** SVD's per-frame ramp: the scale at the clip's first frame (the chosen scale is the last's). */
  guidanceFrom: number | null;
  scalars: Record<string, number>;
  /** SVD's noise augmentation: the std of the noise on the keyframes the stages take (0: none). */
  augmentation: number;
  /** The precomputed prompt used, or null when the run has a typed prompt (or none). */
  promptId: string | null;
  /** The typed prompt, or null. */
  promptText: string | null;
}

/** Fills in defaults and checks ranges; throws naming the control. */
export function resolveControls(manifest: PackManifest, c: ClipControls = {}): ResolvedControls {
  let guidanceScale: number | null = null;
  if (manifest.guidance) {
    const { scale } = manifest.guidance;
    guidanceScale = c.guidanceScale ?? scale.default;
    if (!Number.isFinite(guidanceScale) || guidanceScale < scale.min || guidanceScale > scale.max) {
      throw new Error(
        `guidance scale ${guidanceScale} is outside this pack's range ${scale.min}…${scale.max}`,
      );
    }
  } else if (c.guidanceScale !== undefined && c.guidanceScale !== 1) {
    throw new Error(`pack "${manifest.id}" has no classifier-free guidance`);
  }
  const scalars: Record<string, number> = {};
  for (const [name, spec] of Object.entries(manifest.scalars ?? {})) {
    const v = c.scalars?.[name] ?? spec.default;
    if (
      !Number.isFinite(v) ||
      v < spec.min ||
      v > spec.max ||
      (spec.integer && !Number.isInteger(v))
    ) {
      throw new Error(
        `${spec.label} (${name}) must be ${spec.integer ? 'a whole number ' : ''}from ${spec.min} to ${spec.max}, got ${v}`,
      );
    }
    scalars[name] = v;
  }
  for (const name of Object.keys(c.scalars ?? {})) {
    if (!manifest.scalars?.[name]) throw new Error(`pack "${manifest.id}" has no scalar "${name}"`);
  }
  let promptId: string | null = null;
  let promptText: string | null = null;
  if (c.promptId !== undefined && !manifest.prompts) {
    throw new Error(
      `pack "${manifest.id}" has no prompts to choose from${manifest.text ? '; give a typed prompt instead' : ''}`,
    );
  }
  if (c.promptText !== undefined) {
    if (!manifest.text) {
      throw new Error(
        `pack "${manifest.id}" has no text encoder, so it takes no typed prompt${manifest.prompts ? `; choose one of its prompts (${manifest.prompts.map((p) => p.id).join(', ')})` : ''}`,
      );
    }
    promptText = c.promptText;
  } else if (manifest.text && !manifest.prompts) {
    promptText = '';
  }
  if (manifest.prompts && promptText === null) {
    promptId = c.promptId ?? manifest.prompts[0]!.id;
    if (!manifest.prompts.some((p) => p.id === promptId)) {
      throw new Error(
        `pack "${manifest.id}" has no prompt "${promptId}" (it has ${manifest.prompts.map((p) => p.id).join(', ')})`,
      );
    }
  }
  return {
    guidanceScale,
    guidanceRescale: manifest.guidance?.rescale ?? 0,
    guidanceFrom: manifest.guidance?.frameRamp?.from ?? null,
    scalars,
    augmentation: manifest.augmentation ? scalars[manifest.augmentation.scalar]! : 0,
    promptId,
    promptText,
  };
}

/** One in-between of the clip that a run shows: its frame index, its τ and the τ that was asked. */
export interface PickedFrame {
  index: number;
  position: number;
  asked: number;
}

/**
 * The clip frames nearest the asked positions i/(N+1): frame k of a T-frame clip sits at
 * τ = k/(T−1), k = 1…T−2. Each asked position takes the nearest frame not yet taken.
 */
export function pickClipFrames(
  clipLength: number,
  count: number,
  positions?: readonly number[],
): PickedFrame[] {
  const available = clipLength - 2;
  if (!Number.isInteger(count) || count < 1 || count > available) {
    throw new Error(
      `this pack makes a clip of ${clipLength} frames, so 1 to ${available} in-betweens; got ${count}`,
    );
  }
  const taken = new Set<number>();
  const picked: PickedFrame[] = [];
  if (positions) checkTypedPositions(positions, count);
  for (let i = 1; i <= count; i++) {
    const asked = positions ? positions[i - 1]! : i / (count + 1);
    let best = -1;
    for (let k = 1; k <= available; k++) {
      if (taken.has(k)) continue;
      if (
        best < 0 ||
        Math.abs(k / (clipLength - 1) - asked) < Math.abs(best / (clipLength - 1) - asked)
      )
        best = k;
    }
    taken.add(best);
    picked.push({ index: best, position: best / (clipLength - 1), asked });
  }
  return picked.sort((a, b) => a.index - b.index);
}

/**
 * Clip frames chosen by index (0-based, 1 … T−2) instead of by position: an evaluation protocol
 * that names its frame (ToonCrafter-KDQ takes frame T/2). `asked` is the frame's own τ.
 */
export function chosenClipFrames(clipLength: number, indices: readonly number[]): PickedFrame[] {
  for (const k of indices) {
    if (!Number.isInteger(k) || k < 1 || k > clipLength - 2) {
      throw new Error(
        `clip frame ${k} is not an in-between of this pack's ${clipLength}-frame clip (1 to ${clipLength - 2})`,
      );
    }
  }
  return [...new Set(indices)]
    .sort((a, b) => a - b)
    .map((index) => ({
      index,
      position: index / (clipLength - 1),
      asked: index / (clipLength - 1),
    }));
}

/** Describes a pick for people: "frames 5, 8 and 10 of 16 (τ 0.27, 0.47, 0.67)". */
export function describePick(picked: readonly PickedFrame[], clipLength: number): string {
  const exact = picked.every((p) => Math.abs(p.position - p.asked) < 1e-9);
  const frames = picked.map((p) => p.index + 1).join(', ');
  const taus = picked.map((p) => p.position.toFixed(2)).join(', ');
  return `frame${picked.length > 1 ? 's' : ''} ${frames} of the ${clipLength}-frame clip (τ ${taus})${exact ? '' : ', the nearest to the positions asked'}`;
}

/** What a clip run computes once per keyframe pair (and per stage-relevant controls). */
export interface ClipEncoded {
  /** 'stage/output' → tensor. */
  stageOutputs: Record<string, FloatTensor>;
  /** Scaled keyframe latents [1, C, h, w]. */
  start: FloatTensor;
  end: FloatTensor;
  /** The controls the stages saw (prompt, scalars); a run with others re-runs the stages. */
  controlsKey: string;
}

/** The keyframe tensors a stage may take. */
function keyframeTensor(
  manifest: PackManifest,
  which: 'start' | 'end' | 'pair' | 'blank',
  keyframes: { start: RgbaImage; end: RgbaImage },
  augment?: { std: number; seed: number },
): FloatTensor {
  const { width: w, height: h } = keyframes.start;
  const t = (img: RgbaImage) => {
    const data = rgbaToTensor(img, manifest.image.valueRange);
    if (augment && augment.std > 0) {
      const z = augmentationNoise(augment.seed, img === keyframes.end ? 1 : 0, data.length);
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + augment.std * z[i]!;
    }
    return data;
  };
  if (which === 'start') return { data: t(keyframes.start), dims: [1, 3, h, w] };
  if (which === 'end') return { data: t(keyframes.end), dims: [1, 3, h, w] };
  if (which === 'blank') return { data: new Float32Array(3 * h * w), dims: [1, 3, h, w] };
  const pair = new Float32Array(2 * 3 * h * w);
  pair.set(t(keyframes.start), 0);
  pair.set(t(keyframes.end), 3 * h * w);
  return { data: pair, dims: [2, 3, h, w] };
}

/**
 * The noise SVD's augmentation adds to keyframe `which` (0 start, 1 end) of a run with `seed`:
 * the step noise of a step no run reaches (65535), so it never repeats a denoising step's noise.
 */
export function augmentationNoise(seed: number, which: 0 | 1, length: number): Float32Array {
  return stepNoise(seed, which, AUGMENTATION_STEP, length);
}
const AUGMENTATION_STEP = 65535;

interface SourceContext {
  manifest: PackManifest;
  keyframes?: { start: RgbaImage; end: RgbaImage };
  /** The run's seed, for SVD's noise augmentation of the keyframes. */
  seed?: number;
  /** Whether the stage being fed takes the noise-augmented keyframes (`augmentedStages`). */
  augment?: boolean;
  constants: Record<string, FloatTensor>;
  stageOutputs: Record<string, FloatTensor>;
  controls: ResolvedControls;
  tokenizer?: PromptTokenizer;
}

/** Resolves a source to a float tensor (token ids only reach stages, through `resolveFeed`). */
function resolveSource(text: string, ctx: SourceContext): FloatTensor {
  const t = resolveFeed(text, ctx);
  if (isTokenTensor(t)) throw new Error(`"${text}" gives token ids, which only stages take`);
  return t;
}

/** Resolves a source to a tensor or token ids, given what has been computed so far. */
function resolveFeed(text: string, ctx: SourceContext): Feed {
  const src: Source | { error: string } = parseSource(text);
  if ('error' in src) throw new Error(src.error);
  switch (src.kind) {
    case 'keyframes':
      if (!ctx.keyframes) throw new Error(`"${text}" is only available to stages`);
      return keyframeTensor(
        ctx.manifest,
        src.which,
        ctx.keyframes,
        ctx.augment && ctx.controls.augmentation > 0
          ? { std: ctx.controls.augmentation, seed: ctx.seed! }
          : undefined,
      );
    case 'constant': {
      const c = ctx.constants[src.name];
      if (!c) throw new Error(`constant "${src.name}" is not loaded`);
      return c;
    }
    case 'stage': {
      const t = ctx.stageOutputs[`${src.stage}/${src.output}`];
      if (!t) throw new Error(`stage "${src.stage}" has not produced "${src.output}"`);
      return t;
    }
    case 'text': {
      if (ctx.controls.promptText === null) throw new Error('the run has no typed prompt');
      if (!ctx.tokenizer) throw new Error("the pack's tokenizer is not loaded");
      return ctx.tokenizer.encode(ctx.controls.promptText).ids;
    }
    case 'prompt': {
      if (ctx.controls.promptText !== null) return resolveSource(ctx.manifest.text!.embedding, ctx);
      const p = ctx.manifest.prompts?.find((x) => x.id === ctx.controls.promptId);
      if (!p) throw new Error('no prompt chosen');
      return resolveSource(`constant:${p.constant}`, ctx);
    }
    case 'scalar':
      return { data: Float32Array.of(ctx.controls.scalars[src.name]!), dims: [1] };
  }
}

/**
 * The stage-relevant part of the controls: prompt and scalars (the guidance scale is not), and
 * the seed where noise augmentation makes the stages' inputs depend on it.
 */
function controlsKey(c: ResolvedControls, seed: number): string {
  return JSON.stringify({
    p: c.promptId,
    t: c.promptText,
    s: c.scalars,
    ...(c.augmentation > 0 ? { seed } : {}),
  });
}

/** Runs every stage once for a fitted keyframe pair and extracts the scaled keyframe latents. */
export async function runStages(
  manifest: PackManifest,
  graphs: ClipGraphs,
  keyframes: { start: RgbaImage; end: RgbaImage },
  controls: ResolvedControls,
  hooks: PipelineHooks = {},
  seed = 0,
): Promise<ClipEncoded> {
  if (controls.augmentation > 0 && !Number.isInteger(seed))
    throw new Error('noise augmentation needs the run seed');
  // Stages that encode a typed prompt run only when the run has one.
  const order = stageOrder(manifest).filter(
    (name) => controls.promptText !== null || !dependsOnText(manifest.stages!, name),
  );
  const stageOutputs: Record<string, FloatTensor> = {};
  const ctx: SourceContext = {
    manifest,
    keyframes,
    seed,
    constants: graphs.constants,
    stageOutputs,
    controls,
    ...(graphs.tokenizer ? { tokenizer: graphs.tokenizer } : {}),
  };
  const augmented = augmentedStages(manifest);
  hooks.onProgress?.({ kind: 'encode', done: 0, total: order.length });
  for (const [i, name] of order.entries()) {
    if (hooks.isCancelled?.()) throw new RunCancelledError();
    const stage = manifest.stages![name]!;
    const runner = graphs.stages[name];
    if (!runner) throw new Error(`the stage "${name}" is not loaded`);
    const feeds: Record<string, Feed> = {};
    const stageCtx = { ...ctx, augment: augmented.has(name) };
    for (const [tensor, text] of Object.entries(stage.inputs))
      feeds[tensor] = resolveFeed(text, stageCtx);
    const out = await runner.run(feeds);
    for (const o of stage.outputs) {
      const t = pick(out, o, `the stage "${name}"`);
      checkOutput(
        t,
        t.dims.map(() => null),
        'stage',
      );
      stageOutputs[`${name}/${o}`] = t;
    }
    hooks.onProgress?.({ kind: 'encode', done: i + 1, total: order.length });
  }
  const latents = resolveSource(manifest.keyframeLatents!, ctx);
  const { channels, downsample, scaleFactor } = manifest.latent;
  const { width, height } = keyframes.start;
  const want = [2, channels, height / downsample, width / downsample];
  if (latents.dims.length !== 4 || latents.dims.some((d, i) => d !== want[i])) {
    throw new Error(
      `keyframeLatents (${manifest.keyframeLatents}) has shape [${latents.dims.join(', ')}], expected [${want.join(', ')}] (start and end)`,
    );
  }
  return {
    stageOutputs,
    start: keyframeLatent(latents, 0, scaleFactor),
    end: keyframeLatent(latents, 1, scaleFactor),
    controlsKey: controlsKey(controls, seed),
  };
}

/** Keyframe `which` (0 start, 1 end) of the keyframe latents [2, C, h, w], times `factor`: [1, C, h, w]. */
function keyframeLatent(latents: FloatTensor, which: 0 | 1, factor: number): FloatTensor {
  const [, c, h, w] = latents.dims as [number, number, number, number];
  const n = c * h * w;
  return {
    data: latents.data.slice(which * n, (which + 1) * n).map((v) => v * factor),
    dims: [1, c, h, w],
  };
}

/**
 * The conditioning latent [1, C, T, h, w]: the keyframes' latents at frames 0 and T−1 and, between
 * them, zeros (ToonCrafter) or `between`'s value of each channel at every pixel (Framer's learned
 * `mask_token`).
 */
export function clipCondition(
  start: FloatTensor,
  end: FloatTensor,
  clipLength: number,
  between?: Float32Array,
): FloatTensor {
  const [, c, h, w] = start.dims as [number, number, number, number];
  const hw = h * w;
  const data = new Float32Array(c * clipLength * hw);
  for (let ch = 0; ch < c; ch++) {
    data.set(start.data.subarray(ch * hw, (ch + 1) * hw), (ch * clipLength + 0) * hw);
    data.set(end.data.subarray(ch * hw, (ch + 1) * hw), (ch * clipLength + clipLength - 1) * hw);
    if (between)
      data.fill(between[ch]!, (ch * clipLength + 1) * hw, (ch * clipLength + clipLength - 1) * hw);
  }
  return { data, dims: [1, c, clipLength, h, w] };
}

/**
 * The mask of SVD-style conditioning, [1, 1, T, h, w]: by default 1 at the keyframes (frames 0 and
 * T−1) and 0 between; with `marks: "inbetweens"` (Framer) 1 at the frames to generate and 0 at
 * the keyframes.
 */
export function clipMask(
  conditionDims: readonly number[],
  marks: 'keyframes' | 'inbetweens' = 'keyframes',
): FloatTensor {
  const [, , T, h, w] = conditionDims as [number, number, number, number, number];
  const hw = h * w;
  const data = new Float32Array(T * hw);
  if (marks === 'keyframes') {
    data.fill(1, 0, hw);
    data.fill(1, (T - 1) * hw, T * hw);
  } else {
    data.fill(1, hw, (T - 1) * hw);
  }
  return { data, dims: [1, 1, T, h, w] };
}

/**
 * The conditional and unconditional condition latents of a clip run, as the denoiser's
 * `conditionLatent` and `unconditionalCondition` say: the keyframes' latents (the
 * `keyframeLatents` stage output, [2, C, h, w] as encoded) scaled or not, the fill between them,
 * and for "zeros" the same with the keyframes' latents zeroed (SVD's and Framer's negative image
 * latents; the fill stays).
 */
export function conditionLatents(
  spec: DenoiserSpec,
  keyframeLatents: FloatTensor,
  clipLength: number,
  scaleFactor: number,
  resolve: (source: string) => FloatTensor,
): { cond: FloatTensor; uncond: FloatTensor } {
  const how = spec.conditionLatent ?? {};
  const k = how.latents === 'unscaled' ? 1 : scaleFactor;
  const [, c, h, w] = keyframeLatents.dims as [number, number, number, number];
  if (how.source !== undefined) {
    // The whole condition from a stage (Wan: the VAE's encoding of [start, zeros…, end]), taken
    // as it is ("unscaled") or times the scale factor, like keyframe latents.
    const given = resolve(how.source);
    if (
      given.dims.length !== 5 ||
      given.dims[0] !== 1 ||
      given.dims[2] !== clipLength ||
      given.dims[3] !== h ||
      given.dims[4] !== w
    )
      throw new Error(
        `conditionLatent.source (${how.source}) has shape [${given.dims.join(', ')}], expected [1, C, ${clipLength}, ${h}, ${w}] (the clip's latent frames)`,
      );
    const cond = k === 1 ? given : { data: given.data.map((v) => v * k), dims: given.dims };
    // The manifest refuses unconditionalCondition "zeros" with a source (Wan keeps y).
    return { cond, uncond: cond };
  }
  let between: Float32Array | undefined;
  if (how.between !== undefined && how.between !== 'zeros') {
    between = resolve(how.between).data;
    if (between.length !== c)
      throw new Error(
        `conditionLatent.between (${how.between}) has ${between.length} values, the latent ${c} channels`,
      );
  }
  const cond = clipCondition(
    keyframeLatent(keyframeLatents, 0, k),
    keyframeLatent(keyframeLatents, 1, k),
    clipLength,
    between,
  );
  if (spec.unconditionalCondition !== 'zeros') return { cond, uncond: cond };
  const zeros: FloatTensor = { data: new Float32Array(c * h * w), dims: [1, c, h, w] };
  return { cond, uncond: clipCondition(zeros, zeros, clipLength, between) };
}

/**
 * Concatenates [B, C_i, …] tensors of one batch size along the channel axis (axis 1): per batch
 * item, each part's channels in order.
 */
export function concatChannels(parts: FloatTensor[]): FloatTensor {
  const B = parts[0]!.dims[0]!;
  const rest = parts[0]!.dims.slice(2);
  for (const p of parts) {
    if (
      p.dims[0] !== B ||
      p.dims.length !== rest.length + 2 ||
      p.dims.slice(2).some((d, i) => d !== rest[i])
    )
      throw new Error(
        `cannot concatenate [${p.dims.join(', ')}] to [${parts[0]!.dims.join(', ')}] along the channel axis`,
      );
  }
  const per = parts.map((p) => p.data.length / B);
  const total = per.reduce((a, b) => a + b, 0);
  const data = new Float32Array(B * total);
  for (let b = 0; b < B; b++) {
    let at = b * total;
    parts.forEach((p, i) => {
      data.set(p.data.subarray(b * per[i]!, (b + 1) * per[i]!), at);
      at += per[i]!;
    });
  }
  const channels = parts.reduce((n, p) => n + p.dims[1]!, 0);
  return { data, dims: [B, channels, ...rest] };
}

/** Frame `t` of a [1, C, T, h, w] tensor (a clip latent, a decoded clip) as a contiguous [C·h·w] array. */
export function clipFrame(latent: Float32Array, dims: readonly number[], t: number): Float32Array {
  const [, c, T, h, w] = dims as [number, number, number, number, number];
  const hw = h * w;
  const out = new Float32Array(c * hw);
  for (let ch = 0; ch < c; ch++)
    out.set(latent.subarray((ch * T + t) * hw, (ch * T + t + 1) * hw), ch * hw);
  return out;
}

/** Stacks tensors with a leading batch axis along axis 0 (each [1, …] or [n, …]). */
function concatBatch(parts: FloatTensor[]): FloatTensor {
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const data = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  const batch = parts.reduce((n, p) => n + (p.dims[0] ?? 1), 0);
  return { data, dims: [batch, ...parts[0]!.dims.slice(1)] };
}

/**
 * Classifier-free guidance as ToonCrafter's p_sample_ddim computes it: u + s·(c − u), then with
 * rescale φ > 0 `rescale_noise_cfg`: φ·out·std(c)/std(out) + (1−φ)·out (std over every axis but
 * the batch's; torch.std's N−1 cancels in the ratio). Float64 sums, float32 result.
 */
export function applyGuidance(
  cond: Float32Array,
  uncond: Float32Array,
  scale: number,
  rescale: number,
  ramp?: { from: number; dims: readonly number[] },
): Float32Array {
  const n = cond.length;
  const out = new Float32Array(n);
  if (ramp) {
    // SVD: frame f of T gets from + (scale − from)·f/(T−1); the layout is [1, C, T, h, w].
    const [, c, T, h, w] = ramp.dims as [number, number, number, number, number];
    const hw = h * w;
    for (let ch = 0; ch < c; ch++)
      for (let f = 0; f < T; f++) {
        const g = ramp.from + ((scale - ramp.from) * f) / Math.max(1, T - 1);
        const at = (ch * T + f) * hw;
        for (let i = at; i < at + hw; i++) out[i] = uncond[i]! + g * (cond[i]! - uncond[i]!);
      }
  } else {
    for (let i = 0; i < n; i++) out[i] = uncond[i]! + scale * (cond[i]! - uncond[i]!);
  }
  if (rescale > 0) {
    const std = (a: Float32Array) => {
      let m = 0;
      for (let i = 0; i < n; i++) m += a[i]!;
      m /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (a[i]! - m) ** 2;
      return Math.sqrt(v / (n - 1));
    };
    const ratio = std(cond) / std(out);
    const k = rescale * ratio + (1 - rescale);
    for (let i = 0; i < n; i++) out[i] = out[i]! * k;
  }
  return out;
}

/** What a clip run returns, shaped like the position pipeline's result plus what it picked. */
export interface ClipRunResult {
  picked: PickedFrame[];
  /** "frames 5, 8 and 10 of the 16-frame clip (τ …)". */
  pickedText: string;
  encoded: ClipEncoded;
  modelFrames: RgbaImage[];
  stepStats: StepRecord[];
  timesteps: number[];
  sampler: SamplerName;
  loraScale: number | null;
  controls: ResolvedControls;
  /** The final clip latent [1, C, T, h, w] (scaled), for parity checks and research. */
  clipLatent: FloatTensor;
  timings: RunTimings;
}

/** The whole clip-mode run on fitted keyframes. */
export async function interpolateClip(req: {
  manifest: PackManifest;
  variant: VariantSpec;
  graphs: ClipGraphs;
  keyframes: { start: RgbaImage; end: RgbaImage };
  settings: RunSettings & ClipControls;
  loraScale: number | null;
  hooks?: PipelineHooks;
  encoded?: ClipEncoded;
}): Promise<ClipRunResult> {
  const { manifest, variant, graphs, keyframes, settings, hooks = {} } = req;
  if (manifest.frames.mode !== 'clip' || manifest.formatVersion < 2 || !manifest.keyframeLatents) {
    throw new Error(
      `pack "${manifest.id}" is a format-1 clip pack: it has no stages or keyframeLatents to run from; re-export it as format 2`,
    );
  }
  const T = manifest.frames.clipLength;
  const controls = resolveControls(manifest, settings);
  const picked = settings.clipFrames
    ? chosenClipFrames(T, settings.clipFrames)
    : pickClipFrames(T, settings.count, settings.positions);
  if (!Number.isInteger(settings.seed) || settings.seed < 0 || settings.seed > 0xffffffff) {
    throw new Error(`seed must be an integer from 0 to 4294967295, got ${settings.seed}`);
  }
  const spec = manifest.graphs.denoisers[variant.denoiser]!;
  const plan = samplerPlanFor(manifest, settings);
  const stepper = plan.begin();
  const tStart = now();
  const encoded =
    req.encoded && req.encoded.controlsKey === controlsKey(controls, settings.seed)
      ? req.encoded
      : await runStages(manifest, graphs, keyframes, controls, hooks, settings.seed);
  const tEncoded = now();

  const ctx = {
    manifest,
    constants: graphs.constants,
    stageOutputs: encoded.stageOutputs,
    controls,
  };
  // The sample's latent frames: one per frame, or fewer under a video VAE's temporal compression.
  const latentT = latentFrames(manifest);
  const { cond, uncond: uncondCondition } = conditionLatents(
    spec,
    resolveSource(manifest.keyframeLatents, ctx),
    latentT,
    manifest.latent.scaleFactor,
    (text) => resolveSource(text, ctx),
  );
  // LTX-Video's conditioning sits in the sample itself: it may carry the end keyframe appended.
  const dims = [
    1,
    manifest.latent.channels,
    sampleFrames(manifest, spec),
    ...encoded.start.dims.slice(2),
  ];
  const len = dims.reduce((a, b) => a * b, 1);
  const kept = spec.replace ? replacedFrames(spec.replace, latentT, encoded, dims) : null;
  const condFeeds: Record<string, FloatTensor> = {};
  for (const [tensor, text] of Object.entries(spec.feeds ?? {}))
    condFeeds[tensor] = resolveSource(text, ctx);
  // A CFG-distilled student takes the scale as an input and runs one pass per step.
  const embedded = spec.inputs.guidance !== undefined;
  const ramp = controls.guidanceFrom !== null ? { from: controls.guidanceFrom, dims } : undefined;
  const guided =
    !embedded &&
    controls.guidanceScale !== null &&
    (controls.guidanceScale !== 1 || (ramp !== undefined && ramp.from !== 1));
  const uncondFeeds: Record<string, FloatTensor> = { ...condFeeds };
  for (const [tensor, text] of Object.entries(spec.unconditional ?? {}))
    uncondFeeds[tensor] = resolveSource(text, ctx);
  const batched = guided && (spec.maxBatch ?? 1) >= 2;

  const stepCount = plan.steps;
  const stepStats: StepRecord[] = [];
  const denoiserCallMs: number[] = [];
  let sample: Float32Array = scaled(frameNoise(settings.seed, 0, len), plan.initScale);
  if (kept) kept.reset(sample, 0, null);
  const record = (s: number) => {
    const frames = picked.map((p) =>
      scaleLatentStats(
        computeLatentStats(clipFrame(sample, dims, latentFrameOf(manifest, p.index))),
        statScale(plan, s),
      ),
    );
    stepStats.push({ step: s, timestep: s === 0 ? null : plan.modelTimesteps[s - 1]!, frames });
    frames.forEach((st, i) => {
      if (st.nonFinite > 0)
        throw new ModelOutputError(
          `the latent of in-between ${i + 1} has ${st.nonFinite} non-finite values after step ${s} — the run was stopped`,
          'denoiser',
          s,
        );
    });
  };
  const run = async (feeds: Record<string, FloatTensor>, B: number, step: number) => {
    const t0 = now();
    const out = await graphs.denoiser.run(feeds);
    denoiserCallMs.push(now() - t0);
    const pred = pick(out, spec.outputs.prediction, 'the denoiser');
    checkOutput(pred, [B, ...dims.slice(1)], 'denoiser', { at: step + 1, of: stepCount });
    return pred.data;
  };
  const feedsFor = (
    x: FloatTensor,
    t: number,
    extra: Record<string, FloatTensor>,
    B: number,
    condition: FloatTensor = cond,
  ): Record<string, FloatTensor> =>
    denoiserClipFeeds(spec, {
      sample: x,
      timestep: t,
      condition,
      extra,
      batch: B,
      loraScale: req.loraScale,
      guidanceScale: controls.guidanceScale ?? 1,
    });

  record(0);
  for (let s = 0; s < stepCount; s++) {
    await yieldToEventLoop();
    if (hooks.isCancelled?.()) throw new RunCancelledError();
    hooks.onProgress?.({
      kind: 'denoise',
      step: s,
      totalSteps: stepCount,
      batch: 0,
      totalBatches: 1,
    });
    const t = plan.modelTimesteps[s]!;
    // LTX-Video: the kept frames are the clean latents again, plus noise·σ²·z when asked.
    if (kept && spec.replace!.noiseScale)
      kept.reset(
        sample,
        spec.replace!.noiseScale * plan.sigmas[s]! ** 2,
        stepNoise(settings.seed, REPLACE_NOISE_STREAM, s, len),
      );
    const x: FloatTensor = { data: scaled(sample, plan.inputScales[s]!), dims };
    let output: Float32Array;
    if (!guided) {
      output = await run(feedsFor(x, t, condFeeds, 1), 1, s);
    } else if (batched) {
      const both: Record<string, FloatTensor> = {};
      for (const tensor of Object.keys(condFeeds))
        both[tensor] = concatBatch([condFeeds[tensor]!, uncondFeeds[tensor]!]);
      const out = await run(
        feedsFor(concatBatch([x, x]), t, both, 2, concatBatch([cond, uncondCondition])),
        2,
        s,
      );
      output = applyGuidance(
        out.subarray(0, len),
        out.subarray(len),
        controls.guidanceScale!,
        controls.guidanceRescale,
        ramp,
      );
    } else {
      const c = await run(feedsFor(x, t, condFeeds, 1), 1, s);
      const u = await run(feedsFor(x, t, uncondFeeds, 1, uncondCondition), 1, s);
      output = applyGuidance(c, u, controls.guidanceScale!, controls.guidanceRescale, ramp);
    }
    const noise = plan.usesNoise(s) ? stepNoise(settings.seed, 0, s, len) : undefined;
    const next = stepper.step(s, output, sample, noise);
    // The sampler never moves the kept frames (LTX's tokens_to_denoise_mask).
    kept?.keep(next, sample);
    sample = next;
    record(s + 1);
  }
  hooks.onProgress?.({
    kind: 'denoise',
    step: stepCount,
    totalSteps: stepCount,
    batch: 0,
    totalBatches: 1,
  });
  const tDenoised = now();

  await yieldToEventLoop();
  if (hooks.isCancelled?.()) throw new RunCancelledError();
  hooks.onProgress?.({ kind: 'decode', frame: 0, total: 1 });
  const decSpec = manifest.graphs.decoder;
  const k = 1 / manifest.latent.scaleFactor;
  // The clip's own latent frames: an appended end keyframe is dropped (LTX drops its extra tokens).
  const clipDims = [1, dims[1]!, latentT, dims[3]!, dims[4]!];
  const clipLatent: FloatTensor = {
    data: latentT === dims[2] ? sample : dropLastFrames(sample, dims, latentT),
    dims: clipDims,
  };
  const unscaled = clipLatent.data.map((v) => v * k);
  const decFeeds: Record<string, FloatTensor> = {
    [decSpec.inputs.latent]: { data: unscaled, dims: clipDims },
  };
  for (const [tensor, text] of Object.entries(decSpec.feeds ?? {}))
    decFeeds[tensor] = resolveSource(text, ctx);
  const t0 = now();
  const out = await graphs.decoder.run(decFeeds);
  const decodeCallMs = [now() - t0];
  const image = pick(out, decSpec.outputs.image, 'the decoder');
  const { width: W, height: H } = keyframes.start;
  checkOutput(image, [1, 3, T, H, W], 'decoder');
  const modelFrames = picked.map((p) =>
    tensorToRgba(clipFrame(image.data, image.dims, p.index), W, H, manifest.image.valueRange),
  );
  const tEnd = now();
  return {
    picked,
    pickedText: describePick(picked, T),
    encoded,
    modelFrames,
    stepStats,
    timesteps: plan.modelTimesteps,
    sampler: plan.sampler,
    loraScale: req.loraScale,
    controls,
    clipLatent,
    timings: {
      encodeMs: tEncoded - tStart,
      denoiseMs: tDenoised - tEncoded,
      decodeMs: tEnd - tDenoised,
      totalMs: tEnd - tStart,
      denoiserCallMs,
      decodeCallMs,
    },
  };
}

/** The per-step noise stream of the kept frames' `replace.noiseScale` noise (stream 0 is the sampler's). */
export const REPLACE_NOISE_STREAM = 1;

/**
 * The latent frames a `replace` denoiser keeps (LTX-Video's hard conditioning): latent frame 0
 * holds the start keyframe's latent, the last latent frame or the appended one the end's.
 * `reset` writes clean + k·z there (z from the step's noise, or none), `keep` copies them from the
 * sample before the step into the one after it.
 */
function replacedFrames(
  how: NonNullable<DenoiserSpec['replace']>,
  latentT: number,
  encoded: ClipEncoded,
  dims: readonly number[],
) {
  const [, c, T, h, w] = dims as [number, number, number, number, number];
  const hw = h * w;
  const slots: [number, Float32Array][] = [
    [0, encoded.start.data],
    [how.end === 'appended' ? latentT : latentT - 1, encoded.end.data],
  ];
  const at = (ch: number, t: number) => (ch * T + t) * hw;
  return {
    reset(sample: Float32Array, k: number, z: Float32Array | null) {
      for (const [t, clean] of slots)
        for (let ch = 0; ch < c; ch++) {
          const o = at(ch, t);
          for (let i = 0; i < hw; i++)
            sample[o + i] = clean[ch * hw + i]! + (z ? k * z[o + i]! : 0);
        }
    },
    keep(next: Float32Array, before: Float32Array) {
      for (const [t] of slots)
        for (let ch = 0; ch < c; ch++) {
          const o = at(ch, t);
          next.set(before.subarray(o, o + hw), o);
        }
    },
  };
}

/** The first `keep` frames of a [1, C, T, h, w] tensor. */
function dropLastFrames(data: Float32Array, dims: readonly number[], keep: number): Float32Array {
  const [, c, T, h, w] = dims as [number, number, number, number, number];
  const hw = h * w;
  const out = new Float32Array(c * keep * hw);
  for (let ch = 0; ch < c; ch++)
    out.set(data.subarray(ch * T * hw, (ch * T + keep) * hw), ch * keep * hw);
  return out;
}

/**
 * The denoiser's inputs for one clip-mode call of batch B: sample, timestep, the concatenated
 * conditioning (tiled to B), the feeds (already stacked to B, or [1, …] tiled here) and the LoRA
 * scale.
 */
export function denoiserClipFeeds(
  spec: DenoiserSpec,
  call: {
    sample: FloatTensor;
    timestep: number;
    condition: FloatTensor;
    extra: Record<string, FloatTensor>;
    batch: number;
    loraScale: number | null;
    /** Fed to a `guidance` input (CFG-distilled students). */
    guidanceScale?: number;
  },
): Record<string, FloatTensor> {
  const B = call.batch;
  const tile = (t: FloatTensor): FloatTensor =>
    t.dims[0] === B ? t : concatBatch(Array.from({ length: B }, () => t));
  const feeds: Record<string, FloatTensor> = {
    [spec.inputs.sample]: spec.concat
      ? concatChannels([
          call.sample,
          ...spec.concat.map((c) =>
            tile(
              c === 'condition'
                ? call.condition
                : clipMask(call.condition.dims, spec.conditionLatent?.mask),
            ),
          ),
        ])
      : call.sample,
    [spec.inputs.timestep]: { data: new Float32Array(B).fill(call.timestep), dims: [B] },
  };
  if (spec.inputs.condition) feeds[spec.inputs.condition] = tile(call.condition);
  if (spec.inputs.guidance)
    feeds[spec.inputs.guidance] = {
      data: new Float32Array(B).fill(call.guidanceScale ?? 1),
      dims: [B],
    };
  for (const [tensor, t] of Object.entries(call.extra)) feeds[tensor] = tile(t);
  if (spec.inputs.loraScale)
    feeds[spec.inputs.loraScale] = { data: Float32Array.of(call.loraScale ?? 0), dims: [1] };
  return feeds;
}

/**
 * Checks a loaded clip-mode variant against what its graphs declare, so a pack whose manifest and
 * graphs disagree fails at load with the field named, not mid-run: the denoiser's sample takes
 * the clip's latent frames (`latentFrames`) of `latent.channels`, and every constant fed straight to a graph has
 * the shape that graph declares (the batch axis aside).
 */
export function checkClipGraphs(
  manifest: PackManifest,
  variant: VariantSpec,
  graphs: ClipGraphs,
): void {
  if (manifest.frames.mode !== 'clip') return;
  const spec = manifest.graphs.denoisers[variant.denoiser]!;
  const T = sampleFrames(manifest, spec);
  const file = spec.file;
  const sample = graphs.denoiser.inputShapes?.[spec.inputs.sample];
  const fixed = (d: number | string | undefined): d is number => typeof d === 'number' && d > 0;
  if (sample) {
    const show = `[${sample.join(', ')}]`;
    if (sample.length !== 5) {
      throw new Error(
        `frames.mode: "clip" needs a 5-D sample [B, C, T, h, w], but the denoiser (${file}) takes "${spec.inputs.sample}" as ${show}`,
      );
    }
    if (fixed(sample[2]) && sample[2] !== T) {
      const k = manifest.latent.temporalDownsample ?? 1;
      const appended = spec.replace?.end === 'appended' ? ' + 1 appended end keyframe' : '';
      const says =
        k === 1 && !appended
          ? `frames.clipLength: the manifest says ${T}`
          : `frames.clipLength${k > 1 ? ' and latent.temporalDownsample' : ''}${appended ? ' and replace.end' : ''}: the manifest makes ${T} latent frames (1 + (${manifest.frames.clipLength} − 1)/${k}${appended})`;
      throw new Error(
        `${says} but the denoiser (${file}) takes ${k === 1 && !appended ? `clips of ${sample[2]} frames` : `${sample[2]} latent frames`} ("${spec.inputs.sample}" ${show})`,
      );
    }
    const C = manifest.latent.channels;
    const extra = (spec.concat ?? []).reduce((n, c) => n + (c === 'condition' ? C : 1), 0);
    // A condition from a stage may have its own channel count, known only when the stage has run.
    const sourced =
      spec.conditionLatent?.source !== undefined && spec.concat?.includes('condition');
    if (fixed(sample[1]) && sample[1] !== C + extra && !sourced) {
      const how = spec.concat
        ? `${C + extra} (${C} latent channels + concat ${spec.concat.join(' + ')})`
        : `${C}`;
      throw new Error(
        `latent.channels: the manifest makes the sample ${how} channels but the denoiser (${file}) takes ${sample[1]} ("${spec.inputs.sample}" ${show})`,
      );
    }
  }
  const checkFeeds = (
    what: string,
    runner: GraphRunner,
    feeds: Record<string, string> | undefined,
  ) => {
    for (const [tensor, text] of Object.entries(feeds ?? {})) {
      const src = parseSource(text);
      if ('error' in src || src.kind !== 'constant') continue;
      const c = graphs.constants[src.name];
      const want = runner.inputShapes?.[tensor];
      if (!c || !want) continue;
      const bad =
        want.length !== c.dims.length || want.some((d, i) => i > 0 && fixed(d) && d !== c.dims[i]);
      if (bad) {
        throw new Error(
          `constants.${src.name}.shape: [${c.dims.join(', ')}] does not fit input "${tensor}" of ${what}, which takes [${want.join(', ')}]`,
        );
      }
    }
  };
  checkFeeds(`the denoiser (${file})`, graphs.denoiser, { ...spec.feeds, ...spec.unconditional });
  checkFeeds(
    `the decoder (${manifest.graphs.decoder.file})`,
    graphs.decoder,
    manifest.graphs.decoder.feeds,
  );
  for (const [name, stage] of Object.entries(manifest.stages ?? {})) {
    const runner = graphs.stages[name];
    if (!runner) continue;
    checkFeeds(`the stage "${name}" (${stage.file})`, runner, stage.inputs);
    for (const [tensor, text] of Object.entries(stage.inputs)) {
      const want = runner.inputShapes?.[tensor];
      const L = manifest.text?.contextLength;
      if (text !== 'text' || !want || L === undefined) continue;
      if (want.length !== 2 || (fixed(want[1]) && want[1] !== L)) {
        throw new Error(
          `text.contextLength: the manifest says ${L} token ids, but the stage "${name}" (${stage.file}) takes "${tensor}" as [${want.join(', ')}]`,
        );
      }
    }
  }
}
