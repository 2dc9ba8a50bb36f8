/**
 * Timing of one loaded variant — ms per denoiser step, per VAE decode and per in-between — with
 * the same code in the browser worker and in Node, so the two can be compared side by side
 * (`npm run bench`) and shown in the studio's efficiency figures.
 */
import type { GraphRunner } from './graph';
import { computeLpips, LPIPS_MIN_SIDE } from './lpips';
import { psnr, ssim } from './metrics';
import { resolveControls, runStages } from './clip';
import type { EncodedKeyframes, VariantGraphs } from './pipeline';
import {
  denoiserFeeds,
  decodeLatent,
  decoderReferences,
  encodeKeyframe,
  estimateMotion,
  interpolate,
} from './pipeline';
import type { RgbaImage } from './image';
import { variantSteps, type PackManifest, type VariantSpec } from './manifest';
import { GaussianRng } from './rng';
import { median } from './stats';

/** `npm run bench`'s warm-up per variant, in the browser and in Node alike (see `warmupMs`). */
export const BENCH_WARMUP_MS = 2000;
/**
 * The browser's first variant warms up longer: a freshly started ONNX Runtime Web reached its
 * steady speed only after ~9 s of work here with the JSEP build (baseline denoiser step 120–190 ms,
 * then ~41 ms) and ~2.5 s with the WASM-only build the studio uses for WASM sessions; on WebGPU the
 * first runs compile shaders.
 */
export const BENCH_FIRST_WARMUP_MS = 12000;

export interface BenchmarkOptions {
  /** Timed repetitions of each measurement (after one warm-up). */
  repeats: number;
  /** Denoising steps for the per-in-between measurement; defaults to the variant's own. */
  steps?: number;
  /**
   * Keep warming up (one-step in-betweens) until this much time has passed; default 0 (one
   * warm-up). In the browser, V8 first runs ONNX Runtime's WASM on its baseline tier and optimises
   * hot functions in the background: measured here, a student denoiser step took 50–80 ms for the
   * first ~2 s of work, then ~15 ms (the WASM-only build; the JSEP build took ~9 s). Without
   * enough warm-up the first variant timed looks slow.
   */
  warmupMs?: number;
}

export interface BenchmarkResult {
  variantId: string;
  size: [number, number];
  steps: number;
  /** Median wall time of one denoiser call at batch 1. */
  denoiserStepMs: number;
  /** Median wall time of one VAE decode. */
  decodeMs: number;
  /** Median wall time of one VAE encode. */
  encodeMs: number;
  /** Median wall time of the motion graph (once per keyframe pair); null when the pack has none. */
  motionMs: number | null;
  /**
   * Median wall time of one in-between (denoise all steps + decode), keyframes already encoded;
   * for a clip pack (`clip: true`) of one whole clip, which holds all T−2 in-betweens.
   */
  inbetweenMs: number;
  /**
   * Clip packs: the denoiser step is every call of one step (both guidance passes), `encodeMs`
   * the conditioning stages once per keyframe pair, and `inbetweenMs` a whole clip.
   */
  clip?: { clipLength: number; guidanceScale: number | null };
  samples: {
    denoiserStepMs: number[];
    decodeMs: number[];
    encodeMs: number[];
    motionMs: number[];
    inbetweenMs: number[];
  };
}

/** A deterministic noise keyframe at the pack's default size. */
export function syntheticKeyframe(manifest: PackManifest, seed: number): RgbaImage {
  const [width, height] = manifest.image.defaultSize;
  const rng = new GaussianRng(seed);
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i++)
    data[i] = (i & 3) === 3 ? 255 : Math.floor(rng.nextUniform() * 256);
  return { width, height, data };
}

type Samples = BenchmarkResult['samples'];

function emptySamples(): Samples {
  return { denoiserStepMs: [], decodeMs: [], encodeMs: [], motionMs: [], inbetweenMs: [] };
}

/** The medians of a variant's timings (motion only for packs with a motion graph). */
function summarise(
  manifest: PackManifest,
  variant: VariantSpec,
  steps: number,
  samples: Samples,
  hasMotion = false,
): BenchmarkResult {
  return {
    variantId: variant.id,
    size: [...manifest.image.defaultSize] as [number, number],
    steps,
    denoiserStepMs: median(samples.denoiserStepMs),
    decodeMs: median(samples.decodeMs),
    encodeMs: median(samples.encodeMs),
    motionMs: hasMotion ? median(samples.motionMs) : null,
    inbetweenMs: median(samples.inbetweenMs),
    samples,
  };
}

/**
 * Times a clip-mode (format-2) variant with the manifest's default controls: the stages once per
 * keyframe pair, each denoising step (every denoiser call of the step: with guidance both passes),
 * the clip decode, and a whole clip (all steps + decode, stages already run).
 */
async function benchmarkClip(
  manifest: PackManifest,
  variant: VariantSpec,
  graphs: VariantGraphs,
  opts: BenchmarkOptions,
): Promise<BenchmarkResult> {
  if (manifest.frames.mode !== 'clip') throw new Error('benchmarkClip times clip packs');
  const steps = opts.steps ?? variantSteps(manifest, variant);
  const keyframes = { start: syntheticKeyframe(manifest, 1), end: syntheticKeyframe(manifest, 2) };
  const controls = resolveControls(manifest);
  const clipGraphs = {
    stages: graphs.stages ?? {},
    constants: graphs.constants ?? {},
    denoiser: graphs.denoiser,
    decoder: graphs.decoder,
  };
  const samples = emptySamples();
  const run = (seed: number, s: number, encoded?: EncodedKeyframes) =>
    interpolate({
      manifest,
      variant,
      graphs,
      keyframes,
      settings: { count: 1, steps: s, seed },
      ...(encoded ? { encoded } : {}),
    });
  const warmupStart = performance.now();
  let encoded: EncodedKeyframes;
  do {
    ({ encoded } = await run(0, 1));
  } while (performance.now() - warmupStart < (opts.warmupMs ?? 0));
  for (let r = 0; r < opts.repeats; r++) {
    const t0 = performance.now();
    await runStages(manifest, clipGraphs, keyframes, controls);
    samples.encodeMs.push(performance.now() - t0);
  }
  for (let r = 0; r < Math.max(1, Math.ceil(opts.repeats / 2)); r++) {
    const res = await run(r, steps, encoded);
    const calls = res.timings.denoiserCallMs;
    const callsPerStep = calls.length / steps;
    for (let s = 0; s < steps; s++) {
      samples.denoiserStepMs.push(
        calls.slice(s * callsPerStep, (s + 1) * callsPerStep).reduce((a, b) => a + b, 0),
      );
    }
    samples.decodeMs.push(...res.timings.decodeCallMs);
    samples.inbetweenMs.push(res.timings.denoiseMs + res.timings.decodeMs);
  }
  return {
    ...summarise(manifest, variant, steps, samples),
    clip: { clipLength: manifest.frames.clipLength, guidanceScale: controls.guidanceScale },
  };
}

/** Times the variant's graphs. All graphs must already be loaded. */
export async function benchmarkVariant(
  manifest: PackManifest,
  variant: VariantSpec,
  graphs: VariantGraphs,
  opts: BenchmarkOptions,
): Promise<BenchmarkResult> {
  if (manifest.frames.mode === 'clip') return benchmarkClip(manifest, variant, graphs, opts);
  const steps = opts.steps ?? variantSteps(manifest, variant);
  const start = syntheticKeyframe(manifest, 1);
  const end = syntheticKeyframe(manifest, 2);
  const spec = manifest.graphs.denoisers[variant.denoiser]!;
  const encoder = graphs.encoder;
  if (!encoder) throw new Error(`pack "${manifest.id}" has no encoder graph`);
  // Warm-up: first runs allocate, (on WebGPU) compile shaders and (WASM) let V8 optimise ORT.
  const warmupStart = performance.now();
  let encoded;
  do {
    ({ encoded } = await interpolate({
      manifest,
      variant,
      graphs,
      keyframes: { start, end },
      settings: { count: 1, steps: 1, seed: 0 },
    }));
  } while (performance.now() - warmupStart < (opts.warmupMs ?? 0));

  const samples = emptySamples();
  let latent = await encodeKeyframe(manifest, encoder, start);
  const endLatent = await encodeKeyframe(manifest, encoder, end);
  for (let r = 0; r < opts.repeats; r++) {
    const t0 = performance.now();
    latent = await encodeKeyframe(manifest, encoder, start);
    samples.encodeMs.push(performance.now() - t0);
  }
  // A denoiser that takes the motion graph's output gets it, as in a run (computed once, untimed here).
  const motion =
    spec.inputs.motion && graphs.motion
      ? await estimateMotion(manifest, graphs.motion, { start, end })
      : null;
  const feeds = denoiserFeeds(spec, {
    sample: latent,
    timestep: 500,
    startLatents: latent,
    endLatents: endLatent,
    positions: [0.5],
    loraScale: variant.loraScale?.default ?? null,
    motion,
  });
  for (let r = 0; r < opts.repeats; r++) {
    const t0 = performance.now();
    await graphs.denoiser.run(feeds);
    samples.denoiserStepMs.push(performance.now() - t0);
  }
  if (graphs.motion) {
    for (let r = 0; r < opts.repeats; r++) {
      const t0 = performance.now();
      await estimateMotion(manifest, graphs.motion, { start, end });
      samples.motionMs.push(performance.now() - t0);
    }
  }
  const references = decoderReferences(manifest, { start, end }, encoded.motion);
  for (let r = 0; r < opts.repeats; r++) {
    const t0 = performance.now();
    await decodeLatent(manifest, graphs.decoder, latent, references, 0.5);
    samples.decodeMs.push(performance.now() - t0);
  }
  for (let r = 0; r < Math.max(1, Math.ceil(opts.repeats / 2)); r++) {
    const res = await interpolate(
      {
        manifest,
        variant,
        graphs,
        keyframes: { start, end },
        settings: { count: 1, steps, seed: r },
        hooks: {},
        encoded,
      }, // keyframes already encoded (and their motion estimated): the in-between's own cost
    );
    samples.inbetweenMs.push(res.timings.denoiseMs + res.timings.decodeMs);
  }
  return summarise(manifest, variant, steps, samples, graphs.motion !== undefined);
}

/**
 * Times `count` in-betweens of a loaded variant (clip packs: whole clips), each as in
 * `benchmarkVariant` — all denoising steps + decode, keyframes already encoded (by an untimed
 * one-step run first, which also warms the sessions up). `npm run bench` calls it round by round
 * for every variant in turn, so that a slow spell of a shared machine falls on all of them alike
 * and their speed-ups are paired by round (`pairedSpeedups`).
 */
export async function timeInbetweens(
  manifest: PackManifest,
  variant: VariantSpec,
  graphs: VariantGraphs,
  count: number,
  steps?: number,
): Promise<number[]> {
  const s = steps ?? variantSteps(manifest, variant);
  const keyframes = { start: syntheticKeyframe(manifest, 1), end: syntheticKeyframe(manifest, 2) };
  const { encoded } = await interpolate({
    manifest,
    variant,
    graphs,
    keyframes,
    settings: { count: 1, steps: 1, seed: 0 },
  });
  const out: number[] = [];
  for (let r = 0; r < count; r++) {
    const res = await interpolate({
      manifest,
      variant,
      graphs,
      keyframes,
      settings: { count: 1, steps: s, seed: r },
      encoded,
    });
    out.push(res.timings.denoiseMs + res.timings.decodeMs);
  }
  return out;
}

/** One variant's in-betweens timed round by round against the reference variant's. */
export interface PairedSpeedup {
  variantId: string;
  /** Median ms per in-between over the rounds. */
  medianMs: number;
  /** Reference ms / this variant's ms in each round: its median, lowest and highest. */
  speedup: number;
  lowest: number;
  highest: number;
  rounds: number;
}

/**
 * Speed-ups against `referenceId` from in-betweens timed in alternating rounds: `samples[v][r]` is
 * variant v's time in round r. Each round gives a ratio (reference ÷ variant) of two runs made
 * seconds apart, so machine noise that lasts longer than a round cancels out of it.
 */
export function pairedSpeedups(
  samples: Record<string, number[]>,
  referenceId: string,
): PairedSpeedup[] {
  const ref = samples[referenceId];
  if (!ref) throw new Error(`no timings of the reference variant "${referenceId}"`);
  return Object.entries(samples).map(([variantId, ms]) => {
    const n = Math.min(ms.length, ref.length);
    if (n === 0) throw new Error(`no timings of variant "${variantId}"`);
    const ratios = Array.from({ length: n }, (_, r) => ref[r]! / ms[r]!);
    return {
      variantId,
      medianMs: median(ms.slice(0, n)),
      speedup: median(ratios),
      lowest: Math.min(...ratios),
      highest: Math.max(...ratios),
      rounds: n,
    };
  });
}

export interface MetricsBenchmark {
  size: [number, number];
  psnrMs: number;
  ssimMs: number;
  ssimLumaMs: number;
  /** null when the graph is not loaded. */
  lpipsAlexMs: number | null;
  lpipsSqueezeMs: number | null;
}

/** Times each metric on one pair (median of `repeats`, after a warm-up), same code everywhere. */
export async function benchmarkMetrics(
  a: RgbaImage,
  b: RgbaImage,
  lpips: { alex?: GraphRunner; squeeze?: GraphRunner },
  repeats: number,
): Promise<MetricsBenchmark> {
  const time = async (fn: () => unknown | Promise<unknown>): Promise<number> => {
    await fn();
    const samples: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      await fn();
      samples.push(performance.now() - t0);
    }
    return median(samples);
  };
  return {
    size: [a.width, a.height],
    psnrMs: await time(() => psnr(a, b)),
    ssimMs: await time(() => ssim(a, b, { channel: 'rgb' })),
    ssimLumaMs: await time(() => ssim(a, b, { channel: 'luma' })),
    lpipsAlexMs: lpips.alex ? await time(() => computeLpips(lpips.alex!, a, b)) : null,
    lpipsSqueezeMs: lpips.squeeze
      ? await time(() => computeLpips(lpips.squeeze!, a, b, { minSide: LPIPS_MIN_SIDE.squeeze }))
      : null,
  };
}

/**
 * The variants to time, in the order given (`--variants a,b`: the first is the speed-ups'
 * reference), or all of the pack's; an id the pack lacks is an error that lists the ones it has.
 */
export function pickVariants(all: string[], wanted: string | undefined, packId: string): string[] {
  if (!wanted) return all;
  const ids = wanted
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0)
    throw new Error(`--variants names no variant; pack "${packId}" has ${all.join(', ')}`);
  const unknown = ids.filter((id) => !all.includes(id));
  if (unknown.length)
    throw new Error(
      `--variants: pack "${packId}" has no variant ${unknown.map((u) => `"${u}"`).join(', ')}; it has ${all.join(', ')}`,
    );
  return [...new Set(ids)];
}
