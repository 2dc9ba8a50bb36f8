/**
 * DDIM sampling (Song et al. 2021) with the exact semantics of HuggingFace diffusers'
 * `DDIMScheduler`, because the packs the studio runs are trained and exported from diffusers
 * pipelines: the same betas, timestep spacing, zero-terminal-SNR rescale (Lin et al. 2023) and
 * step arithmetic are what make a pack's output here match its output in Python.
 *
 * All arithmetic is float64; latents are stored as float32. Independent reference numbers for
 * the tests come from scripts/reference/ddim_reference.py (plain numpy, no diffusers).
 */
import type { DdimSchedulerSpec as SchedulerSpec } from './manifest';

/** Everything `ddimStep` needs for one run: the schedule and the timesteps to visit. */
export interface DdimPlan {
  /** Timesteps to visit, descending, length = steps (integers in 0..T-1). */
  timesteps: number[];
  /** ᾱ_t for every training timestep (after any zero-terminal-SNR rescale). */
  alphasCumprod: Float64Array;
  /** ᾱ used for the step after the last timestep (1 if setAlphaToOne else ᾱ_0). */
  finalAlphaCumprod: number;
  predictionType: 'epsilon' | 'v_prediction';
  eta: number;
  trainTimesteps: number;
  /** ᾱ_prev of each step (same order as `timesteps`). */
  alphaPrev: number[];
  /** Factor on the predicted x₀ of each step: 1, or s(t_prev)/s(t) with ToonCrafter's dynamic rescale. */
  x0Scale: number[];
}

/** Initial noise scaling: DDIM's init_noise_sigma is 1, provided for clarity. */
export const INIT_NOISE_SIGMA = 1;

/** numpy.linspace(start, stop, count) in float64: start + i·step, last element exactly `stop`. */
function linspace(start: number, stop: number, count: number): Float64Array {
  const out = new Float64Array(count);
  const step = count > 1 ? (stop - start) / (count - 1) : 0;
  for (let i = 0; i < count; i++) out[i] = i * step + start;
  if (count > 1) out[count - 1] = stop;
  return out;
}

/** numpy.round: round half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; for exact ties pick the even neighbour instead.
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** The fields of a training β schedule (DDIM's, LCM's, an EDM pack's σ range). */
export type BetaSchedule = Pick<
  SchedulerSpec,
  'trainTimesteps' | 'betaSchedule' | 'betaStart' | 'betaEnd'
>;

function assertTrainTimesteps(spec: Pick<SchedulerSpec, 'trainTimesteps'>): number {
  const T = spec.trainTimesteps;
  if (!Number.isInteger(T) || T < 2) {
    throw new Error(`scheduler trainTimesteps must be an integer ≥ 2, got ${T}`);
  }
  return T;
}

function assertSteps(spec: SchedulerSpec, steps: number): void {
  const T = assertTrainTimesteps(spec);
  if (!Number.isInteger(steps) || steps < 1 || steps > T) {
    throw new Error(
      `steps must be an integer from 1 to ${T} (the pack's trainTimesteps), got ${steps}`,
    );
  }
}

/**
 * β_t for every training timestep, float64. `linear`: evenly spaced from betaStart to betaEnd
 * (DDPM). `scaled_linear`: evenly spaced in √β, then squared (Stable Diffusion).
 */
export function makeBetas(spec: BetaSchedule): Float64Array {
  const T = assertTrainTimesteps(spec);
  if (spec.betaSchedule === 'linear') return linspace(spec.betaStart, spec.betaEnd, T);
  if (spec.betaSchedule === 'scaled_linear') {
    const roots = linspace(Math.sqrt(spec.betaStart), Math.sqrt(spec.betaEnd), T);
    return roots.map((r) => r * r);
  }
  throw new Error(`unknown beta schedule "${String(spec.betaSchedule)}"`);
}

/**
 * Rescales betas to zero terminal SNR (Lin et al. 2023, Algorithm 1; diffusers
 * `rescale_zero_terminal_snr`): √ᾱ is shifted so its last value is 0 and scaled so its first
 * value is unchanged. The final beta becomes 1, so the final ᾱ is exactly 0. Returns a new array.
 */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  if (n < 2) throw new Error(`rescaleZeroTerminalSnr needs at least 2 betas, got ${n}`);
  const sqrtBar = computeAlphasCumprod(betas).map(Math.sqrt);
  const first = sqrtBar[0]!;
  const last = sqrtBar[n - 1]!;
  if (!(first > last)) throw new Error('rescaleZeroTerminalSnr needs a decreasing ᾱ schedule');
  const gain = first / (first - last);
  const bar = sqrtBar.map((s) => {
    const shifted = (s - last) * gain;
    return shifted * shifted;
  });
  const out = new Float64Array(n);
  out[0] = 1 - bar[0]!;
  for (let i = 1; i < n; i++) out[i] = 1 - bar[i]! / bar[i - 1]!;
  return out;
}

/** ᾱ_t = ∏_{s≤t} (1 − β_s), accumulated left to right in float64 (as numpy.cumprod). */
export function computeAlphasCumprod(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - betas[i]!;
    out[i] = acc;
  }
  return out;
}

/**
 * The timesteps DDIM visits, descending, exactly as diffusers' `set_timesteps`:
 * `leading`: (arange(steps)·(T // steps))[::-1] + stepsOffset;
 * `trailing`: round(arange(T, 0, −T/steps)) − 1, with numpy's arange arithmetic and
 * round-half-to-even. Where numpy's arange would return one spurious extra element (a float
 * artefact for some step counts, which diffusers turns into timestep −1) only the first `steps`
 * values are kept. Throws when steps is out of range or a timestep would fall outside 0..T−1.
 */
export function makeTimesteps(spec: SchedulerSpec, steps: number): number[] {
  assertSteps(spec, steps);
  const T = spec.trainTimesteps;
  const out: number[] = [];
  if (spec.timestepSpacing === 'leading') {
    const ratio = Math.floor(T / steps);
    const offset = spec.stepsOffset;
    for (let i = steps - 1; i >= 0; i--) out.push(i * ratio + offset);
  } else if (spec.timestepSpacing === 'trailing') {
    // numpy's arange(start, stop, step) fills start + i·delta with delta = (start + step) − start.
    const delta = T - T / steps - T;
    for (let i = 0; i < steps; i++) out.push(roundHalfEven(T + i * delta) - 1);
  } else {
    throw new Error(`unknown timestep spacing "${String(spec.timestepSpacing)}"`);
  }
  const bad = out.find((t) => t < 0 || t > T - 1);
  if (bad !== undefined) {
    throw new Error(
      `${steps} steps with ${spec.timestepSpacing} spacing and stepsOffset ${spec.stepsOffset} give timestep ${bad}, outside 0…${T - 1}; use fewer steps`,
    );
  }
  return out;
}

/** The pack's scheduler with a run's η (undefined: the pack's own), checked. */
export function withEta(spec: SchedulerSpec, eta: number | undefined): SchedulerSpec {
  if (eta === undefined) return spec;
  if (!(eta >= 0 && eta <= 1)) throw new Error(`η must be from 0 to 1, got ${eta}`);
  return { ...spec, eta };
}

/**
 * Builds the plan for a `steps`-step DDIM run of a pack's scheduler: betas (rescaled to zero
 * terminal SNR when the pack asks), ᾱ, timesteps and the final ᾱ. Throws a clear Error when
 * steps < 1 or steps > trainTimesteps.
 */
export function createDdimPlan(spec: SchedulerSpec, steps: number): DdimPlan {
  if (spec.type !== 'ddim') throw new Error(`unsupported scheduler type "${String(spec.type)}"`);
  assertSteps(spec, steps);
  if (!(spec.eta >= 0 && spec.eta <= 1))
    throw new Error(`scheduler eta must be in [0, 1], got ${spec.eta}`);
  let betas = makeBetas(spec);
  if (spec.rescaleZeroTerminalSnr) betas = rescaleZeroTerminalSnr(betas);
  const alphasCumprod = computeAlphasCumprod(betas);
  const timesteps = makeTimesteps(spec, steps);
  const finalAlphaCumprod = spec.setAlphaToOne ? 1 : alphasCumprod[0]!;
  // The timestep each step steps to: diffusers' t − T // steps, or (ToonCrafter) the next one visited.
  const prevTimestep = (i: number): number =>
    spec.previousTimestep === 'plan'
      ? i + 1 < timesteps.length
        ? timesteps[i + 1]!
        : -1
      : timesteps[i]! - Math.floor(spec.trainTimesteps / steps);
  const alphaPrev = timesteps.map((_, i) => {
    const prev = prevTimestep(i);
    return prev >= 0 ? alphasCumprod[prev]! : finalAlphaCumprod;
  });
  return {
    timesteps,
    alphasCumprod,
    finalAlphaCumprod,
    predictionType: spec.predictionType,
    eta: spec.eta,
    trainTimesteps: spec.trainTimesteps,
    alphaPrev,
    x0Scale: dynamicRescaleFactors(spec, timesteps),
  };
}

/**
 * ToonCrafter's dynamic rescale (ddpm3d.py `scale_arr`, ddim.py `ddim_scale_arr(_prev)`):
 * s = concat(linspace(1, baseScale, turningStep), full(T, baseScale)), and the step at timestep
 * t_i multiplies x₀ by s[t_{i+1}] / s[t_i], t_{i+1} being the next timestep visited (itself for
 * the last step, so 1). All ones without `dynamicRescale`.
 */
export function dynamicRescaleFactors(spec: SchedulerSpec, timesteps: readonly number[]): number[] {
  const dr = spec.dynamicRescale;
  if (!dr) return timesteps.map(() => 1);
  const ramp = linspace(1, dr.baseScale, dr.turningStep);
  const s = (t: number): number => (t < dr.turningStep ? ramp[t]! : dr.baseScale);
  return timesteps.map((t, i) => s(timesteps[i + 1] ?? t) / s(t));
}

/**
 * One DDIM update (Song et al. eq. 12), diffusers DDIMScheduler.step with
 * use_clipped_model_output=false, no thresholding, clip_sample=false.
 * prev timestep = t − T // steps (diffusers; or the next timestep visited, `previousTimestep: "plan"`),
 * ᾱ_prev = prev ≥ 0 ? ᾱ[prev] : finalAlphaCumprod (precomputed per step in `plan.alphaPrev`).
 * x₀ is multiplied by `plan.x0Scale[step]` (1 unless the pack has ToonCrafter's dynamic rescale).
 * ε-prediction: x0 = (x − √(1−ᾱ) ε) / √ᾱ.  v-prediction: x0 = √ᾱ x − √(1−ᾱ) v, ε = √ᾱ v + √(1−ᾱ) x.
 * σ = eta · √((1−ᾱ_prev)/(1−ᾱ)) · √(1 − ᾱ/ᾱ_prev);  x_prev = √ᾱ_prev x0 + √(1−ᾱ_prev−σ²) ε + σ z.
 * `noise` (z) is required when eta > 0 (throws if missing), ignored otherwise. Returns new arrays.
 *
 * The one deviation from a literal transcription: 1−ᾱ_prev−σ² is clamped at 0, because at
 * eta = 1 it is 0 in exact arithmetic and float rounding could make its square root NaN.
 * ε-prediction at ᾱ = 0 (zero-terminal-SNR, t = T−1) divides by zero exactly as diffusers does;
 * such packs use v-prediction, which is finite there.
 */
export function ddimStep(
  plan: DdimPlan,
  stepIndex: number,
  modelOutput: Float32Array,
  sample: Float32Array,
  noise?: Float32Array,
): { prevSample: Float32Array<ArrayBuffer>; predOriginal: Float32Array<ArrayBuffer> } {
  const steps = plan.timesteps.length;
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= steps) {
    throw new Error(`stepIndex must be an integer from 0 to ${steps - 1}, got ${stepIndex}`);
  }
  const n = sample.length;
  if (modelOutput.length !== n) {
    throw new Error(`model output has ${modelOutput.length} values but the sample has ${n}`);
  }
  const useNoise = plan.eta > 0;
  if (useNoise) {
    if (!noise) throw new Error(`ddimStep needs noise when eta > 0 (eta = ${plan.eta})`);
    if (noise.length !== n)
      throw new Error(`noise has ${noise.length} values but the sample has ${n}`);
  }

  const t = plan.timesteps[stepIndex]!;
  const alphaT = plan.alphasCumprod[t];
  if (alphaT === undefined) throw new Error(`timestep ${t} is outside the schedule`);
  const alphaPrev = plan.alphaPrev[stepIndex]!;
  const x0Scale = plan.x0Scale[stepIndex]!;
  const betaT = 1 - alphaT;
  const betaPrev = 1 - alphaPrev;

  const sqrtAlphaT = Math.sqrt(alphaT);
  const sqrtBetaT = Math.sqrt(betaT);
  const sqrtAlphaPrev = Math.sqrt(alphaPrev);
  const variance = (betaPrev / betaT) * (1 - alphaT / alphaPrev);
  const sigma = useNoise ? plan.eta * Math.sqrt(variance) : 0;
  const dirCoeff = Math.sqrt(Math.max(0, 1 - alphaPrev - sigma * sigma));

  const prevSample = new Float32Array(n);
  const predOriginal = new Float32Array(n);
  const isV = plan.predictionType === 'v_prediction';
  const z = useNoise ? noise : undefined;
  for (let i = 0; i < n; i++) {
    const x = sample[i]!;
    const out = modelOutput[i]!;
    let x0: number;
    let eps: number;
    if (isV) {
      x0 = sqrtAlphaT * x - sqrtBetaT * out;
      eps = sqrtAlphaT * out + sqrtBetaT * x;
    } else {
      x0 = (x - sqrtBetaT * out) / sqrtAlphaT;
      eps = out;
    }
    x0 *= x0Scale;
    let xPrev = sqrtAlphaPrev * x0 + dirCoeff * eps;
    if (z) xPrev += sigma * z[i]!;
    prevSample[i] = xPrev;
    predOriginal[i] = x0;
  }
  return { prevSample, predOriginal };
}
