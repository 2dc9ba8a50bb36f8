/**
 * Every sampler family against scripts/reference/samplers_reference.py: plain numpy in float64,
 * written from the published formulas (Karras et al. 2022; Lu et al. 2022; Luo et al. 2023;
 * Esser et al. 2024 and Wan 2.1) without looking at this implementation. The reference runs a
 * fixed deterministic "model" through whole trajectories; the studio must reproduce them to 1e-5.
 * Regenerate the fixture only by running that script (`--check` tells whether it is current).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { format2Manifest } from '../testing/format2Manifest';
import { schedulerSchema, validateManifest, type SchedulerSpec } from './manifest';
import {
  createSamplerPlan,
  samplersFor,
  karrasSigmas,
  maxSteps,
  resolveSampler,
  scaled,
  sigmaToTimestep,
  statScale,
  type SamplerName,
} from './samplers';

interface ReferenceCase {
  name: string;
  scheduler: Record<string, unknown>;
  sampler: SamplerName;
  steps: number;
  eta: number;
  modelTimesteps: number[];
  inputScales: number[];
  sigmas?: number[];
  initScale: number;
  trajectory: number[][];
}

const reference = JSON.parse(
  readFileSync(new URL('./fixtures/samplers-reference.json', import.meta.url), 'utf8'),
) as { n: number; cases: ReferenceCase[] };

/** The protocol's noise and model (see the reference script). */
const noise = (k: number, n: number) =>
  Float32Array.from({ length: n }, (_, i) => 1.3 * Math.sin(1.7 * (i + 1) + 0.37 * k * (k + 1)));
const model = (v: Float32Array, t: number) =>
  Float32Array.from(v, (x, i) => 0.5 * x + 0.2 * Math.cos(0.3 * (i + 1) + 0.01 * t));

function closeTo(actual: ArrayLike<number>, expected: readonly number[], what: string) {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const err = Math.abs(actual[i]! - e) / Math.max(1, Math.abs(e));
    if (!(err <= 1e-5)) throw new Error(`${what}[${i}]: ${actual[i]} against ${e} (error ${err})`);
  }
}

describe('samplers against the independent reference (samplers_reference.py)', () => {
  const families = new Set(reference.cases.map((c) => c.sampler));
  it('covers every family at several step counts', () => {
    for (const s of [
      'euler',
      'euler_ancestral',
      'dpmpp_2m',
      'lcm',
      'flow_euler',
      'flow_unipc',
      'flow_dpmpp_2m',
    ] as const) {
      expect(families.has(s), s).toBe(true);
      const steps = new Set(reference.cases.filter((c) => c.sampler === s).map((c) => c.steps));
      expect(steps.size, s).toBeGreaterThanOrEqual(3);
    }
  });

  it.each(reference.cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const spec = schedulerSchema.parse(c.scheduler) as SchedulerSpec;
    const plan = createSamplerPlan(spec, c.steps, {
      sampler: c.sampler,
      ...(spec.type === 'edm' ? { eta: c.eta } : {}),
    });
    closeTo(plan.modelTimesteps, c.modelTimesteps, 'modelTimesteps');
    closeTo(plan.inputScales, c.inputScales, 'inputScales');
    if (c.sigmas) closeTo(plan.sigmas, c.sigmas, 'sigmas');
    closeTo([plan.initScale], [c.initScale], 'initScale');

    const n = reference.n;
    const stepper = plan.begin();
    let x = scaled(noise(0, n), plan.initScale);
    closeTo(x, c.trajectory[0]!, 'initial sample');
    for (let s = 0; s < plan.steps; s++) {
      const out = model(scaled(x, plan.inputScales[s]!), plan.modelTimesteps[s]!);
      x = stepper.step(s, out, x, plan.usesNoise(s) ? noise(s + 1, n) : undefined);
      closeTo(x, c.trajectory[s + 1]!, `sample after step ${s + 1}`);
    }
  });
});

/** A trajectory through `plan.linear` alone, as a GPU applies it: the coefficients and a kept p. */
function linearTrajectory(plan: ReturnType<typeof createSamplerPlan>, n: number): Float32Array[] {
  let x = scaled(noise(0, n), plan.initScale);
  let p = new Float32Array(n);
  const all = [x];
  for (let s = 0; s < plan.steps; s++) {
    const o = model(scaled(x, plan.inputScales[s]!), plan.modelTimesteps[s]!);
    const z = plan.usesNoise(s) ? noise(s + 1, n) : new Float32Array(n);
    const c = plan.linear!(s);
    const next = new Float32Array(n);
    for (let i = 0; i < n; i++)
      next[i] = c.x * x[i]! + c.out * o[i]! + c.noise * z[i]! + c.prev * p[i]!;
    if (c.keep) p = Float32Array.from(x, (v, i) => c.keep!.x * v + c.keep!.out * o[i]!);
    x = next;
    all.push(x);
  }
  return all;
}

describe('each step as a linear combination (what the GPU-resident loop applies)', () => {
  // UniPC remembers two data predictions and the corrected sample: it has no single-step form.
  const linearCases = reference.cases.filter((c) => c.sampler !== 'flow_unipc');
  it('UniPC says it has no linear form, so the resident loop reads the latents back', () => {
    const spec = schedulerSchema.parse(
      reference.cases.find((c) => c.sampler === 'flow_unipc')!.scheduler,
    ) as SchedulerSpec;
    expect(createSamplerPlan(spec, 4, { sampler: 'flow_unipc' }).linear).toBeNull();
    expect(createSamplerPlan(spec, 4, { sampler: 'flow_euler' }).linear).not.toBeNull();
  });
  it.each(linearCases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const spec = schedulerSchema.parse(c.scheduler) as SchedulerSpec;
    const plan = createSamplerPlan(spec, c.steps, {
      sampler: c.sampler,
      ...(spec.type === 'edm' ? { eta: c.eta } : {}),
    });
    linearTrajectory(plan, reference.n).forEach((x, s) =>
      closeTo(x, c.trajectory[s]!, `sample after step ${s}`),
    );
  });

  // The format-2 test pack's DDIM (ToonCrafter's: v-prediction, trailing, zero-terminal SNR,
  // dynamic rescale), varied.
  const ddim = (over: Record<string, unknown>) =>
    schedulerSchema.parse({ ...format2Manifest().scheduler, eta: 0, ...over }) as SchedulerSpec;
  it.each([
    ['v-prediction, η 0', ddim({})],
    ['v-prediction, η 1', ddim({ eta: 1 })],
    [
      'ε-prediction, leading spacing, η 0.5',
      ddim({
        predictionType: 'epsilon',
        timestepSpacing: 'leading',
        stepsOffset: 1,
        rescaleZeroTerminalSnr: false,
        eta: 0.5,
      }),
    ],
  ])('DDIM, %s: the same trajectory as its stepper', (_, spec) => {
    for (const steps of [1, 4, 25]) {
      const plan = createSamplerPlan(spec, steps, {});
      const stepper = plan.begin();
      const n = reference.n;
      let x = scaled(noise(0, n), plan.initScale);
      const lin = linearTrajectory(plan, n);
      for (let s = 0; s < steps; s++) {
        const o = model(scaled(x, plan.inputScales[s]!), plan.modelTimesteps[s]!);
        x = stepper.step(s, o, x, plan.usesNoise(s) ? noise(s + 1, n) : undefined);
        closeTo(lin[s + 1]!, Array.from(x), `${steps} steps, sample after step ${s + 1}`);
      }
    }
  });
});

const edm = (over: Record<string, unknown> = {}) =>
  schedulerSchema.parse({
    type: 'edm',
    sampler: 'euler',
    prediction: 'v_prediction',
    sigmaMin: 0.002,
    sigmaMax: 700,
    timestepInput: 'log_sigma',
    initNoise: 'sigma_vp',
    defaultSteps: 25,
    ...over,
  }) as SchedulerSpec;

describe('sampler plans', () => {
  it('lets a run pick another sampler of the family and refuses one from another family', () => {
    expect(resolveSampler(edm())).toBe('euler');
    expect(resolveSampler(edm(), 'dpmpp_2m')).toBe('dpmpp_2m');
    expect(() => resolveSampler(edm(), 'lcm')).toThrow(/does not fit this pack's edm schedule/);
    const ddim = format2Manifest().scheduler;
    expect(() => createSamplerPlan(ddim, 4, { sampler: 'euler' })).toThrow(/takes "ddim"/);
  });

  it('refuses step counts outside the family range with the range', () => {
    expect(() => createSamplerPlan(edm(), 0)).toThrow('steps must be an integer from 1 to 1000');
    const lcm = schedulerSchema.parse({
      type: 'lcm',
      trainTimesteps: 1000,
      betaSchedule: 'scaled_linear',
      betaStart: 0.00085,
      betaEnd: 0.012,
      predictionType: 'epsilon',
      defaultSteps: 4,
    }) as SchedulerSpec;
    expect(maxSteps(lcm)).toBe(50);
    expect(() => createSamplerPlan(lcm, 51)).toThrow('from 1 to 50');
  });

  it('puts Karras σ from σ_max down to σ_min, then 0', () => {
    const s = karrasSigmas(edm() as Extract<SchedulerSpec, { type: 'edm' }>, 5);
    expect(s[0]).toBeCloseTo(700, 9);
    expect(s).toHaveLength(6);
    expect(s[4]).toBeCloseTo(0.002, 12);
    expect(s[5]).toBe(0);
    for (let i = 1; i < s.length; i++) expect(s[i]!).toBeLessThan(s[i - 1]!);
  });

  it('maps σ to the fractional training timestep by log-σ interpolation', () => {
    const train = Float64Array.from([0.1, 0.2, 0.4, 0.8]);
    expect(sigmaToTimestep(train, 0.2)).toBeCloseTo(1, 12);
    expect(sigmaToTimestep(train, Math.sqrt(0.2 * 0.4))).toBeCloseTo(1.5, 12);
    expect(sigmaToTimestep(train, 0.01)).toBe(0);
    expect(sigmaToTimestep(train, 5)).toBe(3);
  });

  it('records EDM latents at the scale the model sees (c_in·x) and the final latent as is', () => {
    const plan = createSamplerPlan(edm(), 4);
    expect(statScale(plan, 0)).toBeCloseTo(1 / Math.sqrt(700 * 700 + 1), 12);
    expect(statScale(plan, 4)).toBe(1);
    // The initial noise at that scale is unit noise again: √(σ₀²+1)·z · 1/√(σ₀²+1).
    expect(plan.initScale * statScale(plan, 0)).toBeCloseTo(1, 12);
  });

  it('asks for noise only where the update takes it', () => {
    const anc = createSamplerPlan(edm(), 3, { sampler: 'euler_ancestral' });
    expect([0, 1, 2].map((s) => anc.usesNoise(s))).toEqual([true, true, false]);
    expect(createSamplerPlan(edm(), 3, { sampler: 'euler_ancestral', eta: 0 }).usesNoise(0)).toBe(
      false,
    );
    const stepper = anc.begin();
    expect(() => stepper.step(0, new Float32Array(2), new Float32Array(2))).toThrow(/needs noise/);
    expect(() => stepper.step(0, new Float32Array(3), new Float32Array(2))).toThrow(
      'model output has 3 values but the sample has 2',
    );
  });
});

describe('scheduler manifests', () => {
  const withScheduler = (scheduler: Record<string, unknown>, formatVersion = 2) =>
    validateManifest({ ...format2Manifest(), formatVersion, scheduler });

  it('accepts each family and fills its defaults', () => {
    const r = withScheduler({
      type: 'edm',
      sampler: 'dpmpp_2m',
      prediction: 'edm',
      sigmaMin: 0.002,
      sigmaMax: 80,
      timestepInput: 'log_sigma',
      defaultSteps: 20,
    });
    expect(r.ok).toBe(true);
    if (r.ok && r.manifest.scheduler.type === 'edm') {
      expect(r.manifest.scheduler.rho).toBe(7);
      expect(r.manifest.scheduler.sigmaData).toBe(0.5);
      expect(r.manifest.scheduler.initNoise).toBe('sigma');
    }
    const flow = withScheduler({ type: 'flow', shift: 5, defaultSteps: 30 });
    expect(flow.ok && flow.manifest.scheduler).toMatchObject({ trainTimesteps: 1000 });
  });

  it('names what is wrong with an EDM schedule', () => {
    const base = { type: 'edm', sampler: 'euler', prediction: 'epsilon', defaultSteps: 10 };
    const errs = (extra: Record<string, unknown>) => {
      const r = withScheduler({ ...base, ...extra });
      return r.ok ? [] : r.errors;
    };
    expect(errs({ timestepInput: 'log_sigma' })).toContain(
      'scheduler.sigmaMin: needs sigmaMin and sigmaMax, or a training β schedule',
    );
    expect(errs({ timestepInput: 'discrete', sigmaMin: 0.1, sigmaMax: 10 })).toContain(
      'scheduler.timestepInput: "discrete" needs the training β schedule (trainTimesteps, betaSchedule, …)',
    );
    expect(errs({ timestepInput: 'sigma', sigmaMin: 10, sigmaMax: 1 })).toContain(
      'scheduler.sigmaMin: must be smaller than sigmaMax',
    );
    expect(
      errs({ timestepInput: 'sigma', sigmaMin: 0.1, sigmaMax: 10, trainTimesteps: 1000 }),
    ).toContain('scheduler.sigmaMin: give sigmaMin/sigmaMax or a training β schedule, not both');
    expect(errs({ type: 'heun', timestepInput: 'sigma' }).join('\n')).toMatch(/scheduler\.type/);
  });

  it('checks SVD-style guidance: a zeroed condition needs guidance, the ramp needs clip mode', () => {
    const m = format2Manifest();
    const den = m.graphs.denoisers['base']!;
    const noGuidance = validateManifest({
      ...m,
      guidance: undefined,
      graphs: {
        ...m.graphs,
        denoisers: { base: { ...den, unconditional: undefined, unconditionalCondition: 'zeros' } },
      },
    });
    expect(noGuidance.ok ? [] : noGuidance.errors).toContain(
      'graphs.denoisers.base.unconditionalCondition: is only used with guidance, which the pack does not declare',
    );
    const zeros = validateManifest({
      ...m,
      guidance: { ...m.guidance!, frameRamp: { from: 1 } },
      graphs: {
        ...m.graphs,
        denoisers: { base: { ...den, unconditional: undefined, unconditionalCondition: 'zeros' } },
      },
    });
    expect(zeros.ok).toBe(true);
  });

  it('keeps format 1 to DDIM', () => {
    const r = withScheduler({ type: 'flow', shift: 3, defaultSteps: 10 }, 1);
    expect(r.ok ? [] : r.errors).toContain('scheduler.type: needs formatVersion 2');
  });
});

describe("flow grids as Wan's and LTX's code builds them", () => {
  const flow = (over: Record<string, unknown>) =>
    schedulerSchema.parse({ type: 'flow', shift: 1, defaultSteps: 4, ...over }) as SchedulerSpec;
  it("offers UniPC on a linear grid only: on LTX-Video's grid it is refused with the reason", () => {
    expect(samplersFor(flow({}))).toEqual(['flow_euler', 'flow_unipc', 'flow_dpmpp_2m']);
    const ltx = flow({ schedule: 'linear_quadratic' });
    expect(samplersFor(ltx)).toEqual(['flow_euler', 'flow_dpmpp_2m']);
    expect(() => createSamplerPlan(ltx, 4, { sampler: 'flow_unipc' })).toThrow(
      /sampler "flow_unipc" does not fit this pack's flow \(linear_quadratic\) schedule/,
    );
  });
  it('refuses a linear-quadratic grid that does not fall to 0, instead of running it backwards', () => {
    // Past the schema's limit (a pack cannot declare it): θ 0.9 at 8 steps turns the grid upwards.
    const spec = {
      ...flow({ schedule: 'linear_quadratic' }),
      thresholdNoise: 0.9,
    } as SchedulerSpec;
    expect(() => createSamplerPlan(spec, 8)).toThrow(/does not fall from 1 towards 0 at step/);
  });
  it('holds σ₀ at 1 where a shift below 1 rounds it up, so DPM-Solver++ stays finite', () => {
    const plan = createSamplerPlan(flow({ shift: 0.1 }), 4, { sampler: 'flow_dpmpp_2m' });
    expect(plan.sigmas[0]).toBe(1);
    const x = Float32Array.from({ length: 8 }, (_, i) => i - 3);
    const out = plan.begin().step(0, new Float32Array(8).fill(0.5), x);
    expect(Array.from(out).every(Number.isFinite)).toBe(true);
  });
});
