/**
 * Every sampler family the studio runs, behind one interface: DDIM (scheduler.ts, diffusers'
 * DDIMScheduler), the EDM family on Karras sigmas (Euler, Euler-ancestral, DPM-Solver++(2M); SVD,
 * Framer, Stable Diffusion with "Karras" samplers), LCM (consistency-distilled students) and
 * flow matching (rectified-flow Euler with Wan's and SD3's timestep shift, and Wan 2.1's own
 * solvers: UniPC and DPM-Solver++(2M)).
 *
 * A run builds a `SamplerPlan` once (what to feed the model at each step) and takes one
 * `SamplerStepper` per batch of frames (DPM-Solver++(2M) remembers the previous step's x₀).
 * Arithmetic is float64 per element; latents are stored as float32. The formulas are cited at each
 * family; independent reference numbers come from scripts/reference/samplers_reference.py
 * (numpy, no shared code) and the parity test holds every family to them.
 */
import { maxSteps, type PackManifest, type SchedulerSpec } from './manifest';
import type { RunSettings } from './pipeline';
import {
  computeAlphasCumprod,
  createDdimPlan,
  ddimStep,
  makeBetas,
  withEta,
  type BetaSchedule,
} from './scheduler';

export type SamplerName =
  | 'ddim'
  | 'euler'
  | 'euler_ancestral'
  | 'dpmpp_2m'
  | 'lcm'
  | 'flow_euler'
  | 'flow_unipc'
  | 'flow_dpmpp_2m';

/** The samplers a scheduler family can run (the first is the family's default when unnamed). */
export const SAMPLERS_BY_FAMILY: Record<SchedulerSpec['type'], readonly SamplerName[]> = {
  ddim: ['ddim'],
  edm: ['euler', 'euler_ancestral', 'dpmpp_2m'],
  lcm: ['lcm'],
  flow: ['flow_euler', 'flow_unipc', 'flow_dpmpp_2m'],
};

/** Names people read (plots, the run panel, reports). */
export const SAMPLER_LABELS: Record<SamplerName, string> = {
  ddim: 'DDIM',
  euler: 'Euler (Karras σ)',
  euler_ancestral: 'Euler ancestral (Karras σ)',
  dpmpp_2m: 'DPM-Solver++(2M) Karras',
  lcm: 'LCM',
  flow_euler: 'Flow matching (Euler)',
  flow_unipc: 'Flow matching (UniPC, Wan)',
  flow_dpmpp_2m: 'Flow matching (DPM-Solver++(2M), Wan)',
};

/** One sampler run of `steps` steps: what the model is fed and how the sample starts. */
export interface SamplerPlan {
  sampler: SamplerName;
  steps: number;
  /** Value fed to the denoiser's timestep input at each step (training timestep, c_noise, σ·T). */
  modelTimesteps: number[];
  /** c_in of each step: the factor on the sample given to the model (1 for DDIM, LCM, flow). */
  inputScales: number[];
  /**
   * The noise level σ at the start of each step and after the last (steps + 1 values): Karras σ
   * for EDM, the flow time for flow matching, √((1−ᾱ)/ᾱ) for DDIM and LCM. For plots and docs.
   */
  sigmas: number[];
  /** The initial sample is `initScale` × unit Gaussian noise. */
  initScale: number;
  /** Whether step `s` takes fresh Gaussian noise (ancestral samplers, LCM, DDIM with η > 0). */
  usesNoise: (s: number) => boolean;
  /** Per-batch state for the updates. */
  begin(): SamplerStepper;
  /**
   * Step `s` of `begin().step` as the coefficients of a linear combination of the sample, the
   * model's output, the step's noise and one kept estimate, so the update can run where the
   * latents live (a GPU) without reading them back; null for samplers that remember more (UniPC),
   * which then run with the latents read back each step.
   */
  linear: ((s: number) => LinearStep) | null;
}

/**
 * One update as a linear combination of the sample x, the model's output o, the step's noise z and
 * the previous step's kept estimate p (DPM-Solver++(2M)'s denoised sample):
 * next = x·x + out·o + noise·z + prev·p, and, when `keep` is given, the new p = keep.x·x + keep.out·o.
 */
export interface LinearStep {
  x: number;
  out: number;
  noise: number;
  prev: number;
  keep?: { x: number; out: number };
}

export interface SamplerStepper {
  /** One update: the model's output for `sample` at step `s` → the next sample (a new array). */
  step(
    s: number,
    modelOutput: Float32Array,
    sample: Float32Array,
    noise?: Float32Array,
  ): Float32Array<ArrayBuffer>;
}

/** Overrides a run may make: another sampler of the family, η (DDIM, Euler-ancestral). */
export interface SamplerOptions {
  sampler?: SamplerName;
  eta?: number;
}

/**
 * The samplers a pack's scheduler can run: its family's, less UniPC on a flow pack with LTX's
 * linear-quadratic grid (UniPC runs on Wan's own grid, so it would drop the pack's schedule).
 */
export function samplersFor(spec: SchedulerSpec): readonly SamplerName[] {
  const family = SAMPLERS_BY_FAMILY[spec.type];
  if (spec.type === 'flow' && spec.schedule === 'linear_quadratic')
    return family.filter((s) => s !== 'flow_unipc');
  return family;
}

export { maxSteps };

/** The sampler a run uses: the asked one (checked against the family) or the pack's. */
export function resolveSampler(spec: SchedulerSpec, asked?: SamplerName): SamplerName {
  const allowed = samplersFor(spec);
  const fallback =
    spec.type === 'edm' ? spec.sampler : spec.type === 'flow' ? spec.sampler : allowed[0]!;
  if (asked === undefined) return fallback;
  if (!allowed.includes(asked)) {
    throw new Error(
      `sampler "${asked}" does not fit this pack's ${spec.type === 'flow' && spec.schedule ? `${spec.type} (${spec.schedule})` : spec.type} schedule; it takes ${allowed.map((s) => `"${s}"`).join(', ')}`,
    );
  }
  return asked;
}

function checkSteps(spec: SchedulerSpec, steps: number): void {
  const most = maxSteps(spec);
  if (!Number.isInteger(steps) || steps < 1 || steps > most) {
    throw new Error(`steps must be an integer from 1 to ${most}, got ${steps}`);
  }
}

function checkLengths(
  n: number,
  out: Float32Array,
  noise: Float32Array | undefined,
  need: boolean,
) {
  if (out.length !== n)
    throw new Error(`model output has ${out.length} values but the sample has ${n}`);
  if (need && !noise) throw new Error('this step needs noise');
  if (need && noise!.length !== n)
    throw new Error(`noise has ${noise!.length} values but the sample has ${n}`);
}

/**
 * The stepper of a plan whose steps are `linear(s)`: the same combination the GPU-resident loop
 * applies, here in float64 with the kept estimate (DPM-Solver++'s denoised sample) in float64 too.
 */
function linearStepper(
  linear: (s: number) => LinearStep,
  usesNoise: (s: number) => boolean,
): SamplerStepper {
  let kept: Float64Array | null = null;
  return {
    step: (s, out, sample, noise) => {
      const n = sample.length;
      const useNoise = usesNoise(s);
      checkLengths(n, out, noise, useNoise);
      const c = linear(s);
      const result = new Float32Array(n);
      const next = c.keep ? new Float64Array(n) : null;
      for (let i = 0; i < n; i++) {
        const x = sample[i]!;
        const o = out[i]!;
        let v = c.x * x + c.out * o;
        if (useNoise && c.noise !== 0) v += c.noise * noise![i]!;
        if (c.prev !== 0) v += c.prev * kept![i]!;
        result[i] = v;
        if (next) next[i] = c.keep!.x * x + c.keep!.out * o;
      }
      if (next) kept = next;
      return result;
    },
  };
}

/** ᾱ_t of a training β schedule (DDPM's linear or Stable Diffusion's scaled-linear). */
const alphasCumprodFor = (spec: BetaSchedule): Float64Array =>
  computeAlphasCumprod(makeBetas(spec));

/** Builds the plan for a `steps`-step run of a pack's scheduler. Throws a clear Error on bad input. */
export function createSamplerPlan(
  spec: SchedulerSpec,
  steps: number,
  opts: SamplerOptions = {},
): SamplerPlan {
  checkSteps(spec, steps);
  const sampler = resolveSampler(spec, opts.sampler);
  switch (spec.type) {
    case 'ddim':
      return ddimSamplerPlan(spec, steps, opts.eta);
    case 'edm':
      return edmPlan(spec, steps, sampler, opts.eta);
    case 'lcm':
      return lcmPlan(spec, steps);
    case 'flow':
      if (sampler === 'flow_unipc') return flowUnipcPlan(spec, steps);
      return sampler === 'flow_dpmpp_2m' ? flowDpmppPlan(spec, steps) : flowPlan(spec, steps);
  }
}

type DdimSpec = Extract<SchedulerSpec, { type: 'ddim' }>;
type EdmSpec = Extract<SchedulerSpec, { type: 'edm' }>;
type LcmSpec = Extract<SchedulerSpec, { type: 'lcm' }>;
type FlowSpec = Extract<SchedulerSpec, { type: 'flow' }>;

/** DDIM through scheduler.ts (diffusers' DDIMScheduler, ToonCrafter's variants). */
function ddimSamplerPlan(spec: DdimSpec, steps: number, eta: number | undefined): SamplerPlan {
  const plan = createDdimPlan(withEta(spec, eta), steps);
  const sigmaOf = (a: number) => Math.sqrt((1 - a) / a);
  return {
    sampler: 'ddim',
    steps,
    modelTimesteps: plan.timesteps,
    inputScales: plan.timesteps.map(() => 1),
    sigmas: [
      ...plan.timesteps.map((t) => sigmaOf(plan.alphasCumprod[t]!)),
      sigmaOf(plan.alphaPrev[steps - 1]!),
    ],
    initScale: 1,
    usesNoise: () => plan.eta > 0,
    begin: () => ({
      step: (s, out, sample, noise) => ddimStep(plan, s, out, sample, noise).prevSample,
    }),
    linear: (s) => {
      // ddimStep's arithmetic, collected per input: x_prev = √ᾱ_prev·k·x0 + c·ε + σ·z.
      const a = plan.alphasCumprod[plan.timesteps[s]!]!;
      const ap = plan.alphaPrev[s]!;
      const sa = Math.sqrt(a);
      const sb = Math.sqrt(1 - a);
      const sigma = plan.eta > 0 ? plan.eta * Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap)) : 0;
      const dir = Math.sqrt(Math.max(0, 1 - ap - sigma * sigma));
      const x0 = Math.sqrt(ap) * plan.x0Scale[s]!;
      return plan.predictionType === 'v_prediction'
        ? { x: x0 * sa + dir * sb, out: -x0 * sb + dir * sa, noise: sigma, prev: 0 }
        : { x: x0 / sa, out: -(x0 * sb) / sa + dir, noise: sigma, prev: 0 };
    },
  };
}

/**
 * Karras et al. 2022 ("Elucidating the Design Space…", eq. 5): σ_i = (σ_max^{1/ρ} + i/(N−1)·
 * (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, then σ_N = 0. The range is the pack's σ_min/σ_max, or the training
 * schedule's σ(t) = √((1−ᾱ_t)/ᾱ_t) at t = 0 and T−1.
 */
export function karrasSigmas(spec: EdmSpec, steps: number): number[] {
  const train = trainingSigmas(spec);
  const sMin = train ? train[0]! : spec.sigmaMin!;
  const sMax = train ? train[train.length - 1]! : spec.sigmaMax!;
  const inv = 1 / spec.rho;
  const a = sMax ** inv;
  const b = sMin ** inv;
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const f = steps > 1 ? i / (steps - 1) : 0;
    out.push((a + f * (b - a)) ** spec.rho);
  }
  out.push(0);
  return out;
}

/** σ(t) of the training schedule, t = 0…T−1, when the pack gives one (else null). */
function trainingSigmas(spec: EdmSpec): Float64Array | null {
  if (spec.trainTimesteps === undefined) return null;
  const abar = alphasCumprodFor({
    trainTimesteps: spec.trainTimesteps,
    betaSchedule: spec.betaSchedule!,
    betaStart: spec.betaStart!,
    betaEnd: spec.betaEnd!,
  });
  return abar.map((a) => Math.sqrt((1 - a) / a));
}

/**
 * The fractional training timestep whose σ is `sigma`, interpolating ln σ(t) linearly between
 * integer timesteps (diffusers' `_sigma_to_t`), clamped to 0…T−1.
 */
export function sigmaToTimestep(trainSigmas: Float64Array, sigma: number): number {
  const T = trainSigmas.length;
  const ls = Math.log(Math.max(sigma, 1e-10));
  const logAt = (t: number) => Math.log(trainSigmas[t]!);
  if (ls <= logAt(0)) return 0;
  if (ls >= logAt(T - 1)) return T - 1;
  let lo = 0;
  let hi = T - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (logAt(mid) <= ls) lo = mid;
    else hi = mid;
  }
  const w = (ls - logAt(lo)) / (logAt(hi) - logAt(lo));
  return lo + w;
}

/**
 * Preconditioning (Karras et al. 2022, Table 1; SVD's v-scaling as in Stability's
 * `VScalingWithEDMcNoise`): the denoised estimate D = c_skip·x + c_out·F(c_in·x, c_noise).
 */
export function edmScalings(
  prediction: EdmSpec['prediction'],
  sigma: number,
  sigmaData: number,
): { cSkip: number; cOut: number; cIn: number } {
  const s2 = sigma * sigma;
  if (prediction === 'epsilon') return { cSkip: 1, cOut: -sigma, cIn: 1 / Math.sqrt(s2 + 1) };
  if (prediction === 'v_prediction')
    return { cSkip: 1 / (s2 + 1), cOut: -sigma / Math.sqrt(s2 + 1), cIn: 1 / Math.sqrt(s2 + 1) };
  const d2 = sigmaData * sigmaData;
  return {
    cSkip: d2 / (s2 + d2),
    cOut: (sigma * sigmaData) / Math.sqrt(s2 + d2),
    cIn: 1 / Math.sqrt(s2 + d2),
  };
}

/**
 * The EDM family on Karras σ: Euler (Karras Algorithm 2, no churn), Euler-ancestral (k-diffusion's
 * `sample_euler_ancestral` with η) and DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2, in λ = −ln σ
 * as k-diffusion's `sample_dpmpp_2m`; first order on the first step and into σ = 0).
 */
function edmPlan(
  spec: EdmSpec,
  steps: number,
  sampler: SamplerName,
  etaOverride: number | undefined,
): SamplerPlan {
  const eta = etaOverride ?? spec.eta;
  if (!(eta >= 0 && eta <= 1)) throw new Error(`η must be from 0 to 1, got ${eta}`);
  const sigmas = karrasSigmas(spec, steps);
  const train = trainingSigmas(spec);
  const modelTimesteps = sigmas.slice(0, steps).map((s) => {
    if (spec.timestepInput === 'log_sigma') return 0.25 * Math.log(s);
    if (spec.timestepInput === 'sigma') return s;
    return sigmaToTimestep(train!, s);
  });
  const scalings = sigmas
    .slice(0, steps)
    .map((s) => edmScalings(spec.prediction, s, spec.sigmaData));
  const s0 = sigmas[0]!;
  const ancestral = sampler === 'euler_ancestral' && eta > 0;
  const plan: SamplerPlan = {
    sampler,
    steps,
    modelTimesteps,
    inputScales: scalings.map((c) => c.cIn),
    sigmas,
    initScale: spec.initNoise === 'sigma_vp' ? Math.sqrt(s0 * s0 + 1) : s0,
    usesNoise: (s) => ancestral && sigmas[s + 1]! > 0,
    linear: (s) => {
      const sigma = sigmas[s]!;
      const next = sigmas[s + 1]!;
      const { cSkip, cOut } = scalings[s]!;
      if (sampler === 'dpmpp_2m') {
        const ratio = next / sigma;
        const keep = { x: cSkip, out: cOut };
        if (s === 0 || next === 0) {
          const k = next === 0 ? 1 : -Math.expm1(-(Math.log(sigma) - Math.log(next)));
          return { x: ratio + k * cSkip, out: k * cOut, noise: 0, prev: 0, keep };
        }
        const h = Math.log(sigma) - Math.log(next);
        const r = (Math.log(sigmas[s - 1]!) - Math.log(sigma)) / h;
        const k = -Math.expm1(-h);
        const a = 1 + 1 / (2 * r);
        const b = 1 / (2 * r);
        return { x: ratio + k * a * cSkip, out: k * a * cOut, noise: 0, prev: -k * b, keep };
      }
      let down = next;
      let up = 0;
      if (ancestral && next > 0) {
        up = Math.min(
          next,
          eta * Math.sqrt((next * next * (sigma * sigma - next * next)) / (sigma * sigma)),
        );
        down = Math.sqrt(next * next - up * up);
      }
      const dt = down - sigma;
      return { x: 1 + (dt * (1 - cSkip)) / sigma, out: (-dt * cOut) / sigma, noise: up, prev: 0 };
    },
    begin: () => linearStepper(plan.linear!, plan.usesNoise),
  };
  return plan;
}

/**
 * LCM (Luo et al. 2023, "Latent Consistency Models", as diffusers' LCMScheduler): timesteps
 * skipped through the distillation's `originalSteps` grid; each step maps the model's x₀ through
 * the consistency boundary scalings c_skip = σ_d²/((t·s)² + σ_d²), c_out = t·s/√((t·s)² + σ_d²)
 * (σ_d = 0.5, s = timestepScaling) and re-noises to the next timestep with fresh noise (the last
 * step returns the denoised sample).
 */
function lcmPlan(spec: LcmSpec, steps: number): SamplerPlan {
  const T = spec.trainTimesteps;
  const abar = alphasCumprodFor(spec);
  const k = Math.floor(T / spec.originalSteps);
  if (k < 1) throw new Error(`LCM originalSteps ${spec.originalSteps} exceeds trainTimesteps ${T}`);
  const origin: number[] = [];
  for (let j = spec.originalSteps; j >= 1; j--) origin.push(j * k - 1);
  const timesteps: number[] = [];
  // numpy.linspace(0, originalSteps, steps, endpoint=False), floored: i·(originalSteps/steps).
  const stride = spec.originalSteps / steps;
  for (let i = 0; i < steps; i++) timesteps.push(origin[Math.floor(i * stride)]!);
  const sigmaOf = (a: number) => Math.sqrt((1 - a) / a);
  const isV = spec.predictionType === 'v_prediction';
  const plan: SamplerPlan = {
    sampler: 'lcm',
    steps,
    modelTimesteps: timesteps,
    inputScales: timesteps.map(() => 1),
    sigmas: [...timesteps.map((t) => sigmaOf(abar[t]!)), 0],
    initScale: 1,
    usesNoise: (s) => s < steps - 1,
    linear: (s) => {
      const last = s === steps - 1;
      const t = timesteps[s]!;
      const a = abar[t]!;
      const sa = Math.sqrt(a);
      const sb = Math.sqrt(1 - a);
      const u = t * spec.timestepScaling;
      const cSkip = 0.25 / (u * u + 0.25);
      const cOut = u / Math.sqrt(u * u + 0.25);
      const aPrev = last ? 1 : abar[timesteps[s + 1]!]!;
      // denoised = cOut·x0 + cSkip·x, x0 linear in (x, o); then √ᾱ_prev·denoised + √(1−ᾱ_prev)·z.
      const [x0x, x0o] = isV ? [sa, -sb] : [1 / sa, -sb / sa];
      const pa = last ? 1 : Math.sqrt(aPrev);
      return {
        x: pa * (cOut * x0x + cSkip),
        out: pa * cOut * x0o,
        noise: last ? 0 : Math.sqrt(1 - aPrev),
        prev: 0,
      };
    },
    begin: () => linearStepper(plan.linear!, plan.usesNoise),
  };
  return plan;
}

/**
 * The flow grid shifted (s·σ/(1 + (s−1)·σ)), with σ = 0 appended. A shift below 1 can round σ₀ = 1
 * up by an ulp, which would make ln(1 − σ) NaN in the multistep solvers: σ is held to 1. A grid
 * that does not fall strictly from at most 1 to above 0 (a linear-quadratic threshold too large
 * for the step count) is refused.
 */
function shiftedSigmas(grid: readonly number[], shift: number): number[] {
  const sigmas = grid.map((s) => Math.min(1, (shift * s) / (1 + (shift - 1) * s)));
  sigmas.forEach((s, i) => {
    if (!(s > 0) || (i > 0 && !(s < sigmas[i - 1]!)))
      throw new Error(
        `the flow schedule does not fall from 1 towards 0 at step ${i + 1} of ${grid.length} (σ ${s}): lower scheduler.thresholdNoise or take more steps`,
      );
  });
  sigmas.push(0);
  return sigmas;
}

/**
 * LTX-Video's linear-quadratic σ grid (`linear_quadratic_schedule` of its condition pipeline):
 * over the first ⌊N/2⌋ steps σ falls linearly from 1 to 1 − θ, then quadratically to 0 (not
 * included); one step is σ = 1 alone.
 */
export function linearQuadraticSigmas(steps: number, threshold: number): number[] {
  if (steps < 2) return [1];
  const linear = Math.floor(steps / 2);
  const quadratic = steps - linear;
  const diff = linear - threshold * steps;
  const a = diff / (linear * quadratic ** 2);
  const b = threshold / linear - (2 * diff) / quadratic ** 2;
  const c = a * linear ** 2;
  const out: number[] = [];
  for (let i = 0; i < linear; i++) out.push(1 - (i * threshold) / linear);
  for (let i = linear; i < steps; i++) out.push(1 - (a * i * i + b * i + c));
  return out;
}

/**
 * Flow matching (rectified flow; Esser et al. 2024 eq. 23 and Wan 2.1's `get_sampling_sigmas`):
 * σ_i = 1 − i/N shifted to s·σ/(1 + (s−1)·σ), σ_N = 0; the model takes σ·T as its timestep and
 * predicts the velocity v = noise − data; Euler: x ← x + (σ_{i+1} − σ_i)·v. (LTX-Video's
 * exponential shift e^μ/(e^μ + 1/σ − 1) is the same map with s = e^μ.)
 */
function flowPlan(spec: FlowSpec, steps: number): SamplerPlan {
  const shift = spec.shift;
  // numpy's linspace(1, 0, N + 1) element for element (i·(−1/N) + 1), as Wan and diffusers build it.
  const grid =
    spec.schedule === 'linear_quadratic'
      ? linearQuadraticSigmas(steps, spec.thresholdNoise ?? 0.025)
      : Array.from({ length: steps }, (_, i) => i * (-1 / steps) + 1);
  const sigmas = shiftedSigmas(grid, shift);
  const plan: SamplerPlan = {
    sampler: 'flow_euler',
    steps,
    modelTimesteps: sigmas.slice(0, steps).map((s) => s * spec.trainTimesteps),
    inputScales: sigmas.slice(0, steps).map(() => 1),
    sigmas,
    initScale: 1,
    usesNoise: () => false,
    linear: (s) => ({ x: 1, out: sigmas[s + 1]! - sigmas[s]!, noise: 0, prev: 0 }),
    begin: () => linearStepper(plan.linear!, plan.usesNoise),
  };
  return plan;
}

/** λ = ln(α/σ) of the flow path x = α·x₀ + σ·z, α = 1 − σ: −∞ at σ = 1, +∞ at σ = 0. */
const flowLambda = (s: number) => Math.log(1 - s) - Math.log(s);

/**
 * DPM-Solver++(2M) for flow matching as Wan 2.1's `sample_solver="dpm++"` runs it
 * (`FlowDPMSolverMultistepScheduler`, diffusers' DPMSolverMultistepScheduler with flow prediction;
 * Lu et al. 2022): data prediction m = x − σ·v, α = 1 − σ, λ = ln(α/σ), h = λ_{i+1} − λ_i,
 * x_{i+1} = (σ_{i+1}/σ_i)·x_i − α_{i+1}(e^{−h} − 1)·(m_i + (m_i − m_{i−1})/(2r)),
 * r = (λ_i − λ_{i−1})/h ("midpoint"), first order at the first and the last step. Wan hands it
 * the same σ grid as flow Euler (1 − i/N, shifted) and the model ⌊σ·T⌋. At σ = 1 (α = 0) the
 * first step is exact: x₁ = σ₁·x₀ + α₁·m₀.
 */
function flowDpmppPlan(spec: FlowSpec, steps: number): SamplerPlan {
  const euler = flowPlan(spec, steps);
  const sigmas = euler.sigmas;
  const plan: SamplerPlan = {
    ...euler,
    sampler: 'flow_dpmpp_2m',
    modelTimesteps: sigmas.slice(0, steps).map((s) => Math.floor(s * spec.trainTimesteps)),
    linear: (i) => {
      const sigma = sigmas[i]!;
      const next = sigmas[i + 1]!;
      const keep = { x: 1, out: -sigma }; // m_i, the next step's m_{i−1}
      const h = flowLambda(next) - flowLambda(sigma);
      const e = Math.expm1(-h); // −1 when either end is σ = 0 or 1 (h infinite)
      const alpha = 1 - next;
      const ratio = next / sigma;
      if (i === 0 || i === steps - 1) {
        // x' = ratio·x − α·e·m with m = x − σ·v
        return { x: ratio - alpha * e, out: alpha * e * sigma, noise: 0, prev: 0, keep };
      }
      const r = (flowLambda(sigma) - flowLambda(sigmas[i - 1]!)) / h;
      const a = 1 + 1 / (2 * r);
      const b = 1 / (2 * r);
      return {
        x: ratio - alpha * e * a,
        out: alpha * e * a * sigma,
        noise: 0,
        prev: alpha * e * b,
        keep,
      };
    },
    begin: () => linearStepper(plan.linear!, plan.usesNoise),
  };
  return plan;
}

/**
 * UniPC for flow matching as Wan 2.1 samples by default (`FlowUniPCMultistepScheduler`, itself
 * diffusers' UniPCMultistepScheduler with flow prediction; Zhao et al. 2023): solver order 2,
 * B(h) = e^h − 1 ("bh2"), data prediction x₀ = x − σ·v, the corrector UniC at every step after
 * the first, lower orders at the first and last steps. The σ grid is Wan's for this solver: from
 * 1 − 1/T (the training grid's largest σ) linearly to 0 over N steps, shifted; the model takes
 * ⌊σ·T⌋, as Wan casts its timesteps to integers. With α = 1 − σ, λ = ln(α/σ) and h = λ_{i+1} − λ_i:
 *
 * - predictor: x_{i+1} = (σ_{i+1}/σ_i)·x_i − α_{i+1}(e^{−h} − 1)·m_i − α_{i+1}(e^{−h} − 1)·½·D,
 *   D = (m_{i−1} − m_i)/r, r = (λ_{i−1} − λ_i)/h (order 2; order 1 drops the D term);
 * - corrector, once m_i is known, from the previous step's corrected sample x_{i−1}: the same
 *   form with ρ·(m_i − m_{i−1}) in place of ½·D, ρ = ½ at order 1; at order 2 the 2×2 system
 *   R·ρ = b of UniC gives ρ_D for the older difference and ρ for the new one.
 *
 * The reference (scripts/reference/samplers_reference.py) solves R·ρ = b as the published
 * algorithm does; here the 2×2 case is solved in closed form.
 */
function flowUnipcPlan(spec: FlowSpec, steps: number): SamplerPlan {
  const T = spec.trainTimesteps;
  const shift = spec.shift;
  // Wan's sigma_max is the float32 value of 1 − 1/T; its grid is numpy's linspace(top, 0, N + 1).
  const top = Math.fround(1 - 1 / T);
  const sigmas = shiftedSigmas(
    Array.from({ length: steps }, (_, i) => i * ((0 - top) / steps) + top),
    shift,
  );
  // x_to = (σ_to/σ_from)·x − α_to·B·(m0 + extra), B = e^{−h} − 1 (bh2: B(h) = h·φ₁ = e^{−h} − 1).
  const coefficients = (from: number, to: number) => {
    const h = flowLambda(sigmas[to]!) - flowLambda(sigmas[from]!);
    const hh = -h;
    const B = Math.expm1(hh);
    return { h, hh, B, ratio: sigmas[to]! / sigmas[from]!, alpha: 1 - sigmas[to]! };
  };
  const orderAt = (i: number) => Math.min(2, steps - i, i + 1);
  const plan: SamplerPlan = {
    sampler: 'flow_unipc',
    steps,
    modelTimesteps: sigmas.slice(0, steps).map((s) => Math.floor(s * T)),
    inputScales: sigmas.slice(0, steps).map(() => 1),
    sigmas,
    initScale: 1,
    usesNoise: () => false,
    linear: null,
    begin: () => {
      // m_{i−1} and m_{i−2} (data predictions), the corrected sample the last predictor started
      // from, and that predictor's order.
      let m1: Float64Array | null = null;
      let m2: Float64Array | null = null;
      let last: Float64Array | null = null;
      let lastOrder = 0;
      return {
        step: (i, out, sample) => {
          const n = sample.length;
          checkLengths(n, out, undefined, false);
          const sigma = sigmas[i]!;
          const m = new Float64Array(n);
          const x = new Float64Array(n);
          for (let k = 0; k < n; k++) {
            m[k] = sample[k]! - sigma * out[k]!;
            x[k] = sample[k]!;
          }
          if (i > 0 && last && m1) {
            // UniC: correct x_i from x_{i−1} with the new data prediction m_i.
            const c = coefficients(i - 1, i);
            let rhoD = 0;
            let rho = 0.5;
            let r = 0;
            if (lastOrder === 2 && m2) {
              r = (flowLambda(sigmas[i - 2]!) - flowLambda(sigmas[i - 1]!)) / c.h;
              const phi = c.B / c.hh - 1;
              const b1 = phi / c.B;
              const b2 = (2 * (phi / c.hh - 0.5)) / c.B;
              rhoD = (b1 - b2) / (1 - r);
              rho = b1 - rhoD;
            }
            for (let k = 0; k < n; k++) {
              const d = rhoD !== 0 ? (rhoD * (m2![k]! - m1[k]!)) / r : 0;
              x[k] =
                c.ratio * last[k]! -
                c.alpha * c.B * m1[k]! -
                c.alpha * c.B * (d + rho * (m[k]! - m1[k]!));
            }
          }
          const order = orderAt(i);
          const c = coefficients(i, i + 1);
          const result = new Float32Array(n);
          const r = order === 2 ? (flowLambda(sigmas[i - 1]!) - flowLambda(sigma)) / c.h : 0;
          for (let k = 0; k < n; k++) {
            let v = c.ratio * x[k]! - c.alpha * c.B * m[k]!;
            if (order === 2) v -= c.alpha * c.B * 0.5 * ((m1![k]! - m[k]!) / r);
            result[k] = v;
          }
          m2 = m1;
          m1 = m;
          last = x;
          lastOrder = order;
          return result;
        },
      };
    },
  };
  return plan;
}

/**
 * The factor that brings the sample at step `s` (0 = the initial noise, `steps` = the final
 * latent) to the scale the latent-std plots and collapse detection use: the model's own input
 * scale c_in (for EDM, x/√(σ²+σ_d²), which keeps unit scale while σ falls from hundreds to 0),
 * and 1 for the final latent and for families whose sample stays near unit scale.
 */
export function statScale(plan: SamplerPlan, s: number): number {
  return s < plan.steps ? plan.inputScales[s]! : 1;
}

/** The pack's sampler for a run's steps, η and sampler choice. */
export function samplerPlanFor(
  manifest: PackManifest,
  settings: Pick<RunSettings, 'steps' | 'eta' | 'sampler'>,
): SamplerPlan {
  return createSamplerPlan(manifest.scheduler, settings.steps, {
    ...(settings.eta !== undefined ? { eta: settings.eta } : {}),
    ...(settings.sampler !== undefined ? { sampler: settings.sampler } : {}),
  });
}

/** `data` × k as a new array, or `data` itself when k is 1 (the model input c_in·x). */
export function scaled(data: Float32Array, k: number): Float32Array {
  if (k === 1) return data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! * k;
  return out;
}
