/**
 * DDIM scheduler against reference numbers printed by scripts/reference/ddim_reference.py
 * (plain numpy in float64 from the published formulas: Ho et al. 2020, Song et al. 2021,
 * Lin et al. 2023, Salimans & Ho 2022 — no diffusers). Re-run that script if a number here is
 * ever in doubt; do not regenerate them from this implementation.
 */
import { describe, expect, it } from 'vitest';
import type { DdimSchedulerSpec as SchedulerSpec } from './manifest';
import {
  INIT_NOISE_SIGMA,
  computeAlphasCumprod,
  createDdimPlan,
  ddimStep,
  makeBetas,
  makeTimesteps,
  rescaleZeroTerminalSnr,
  type DdimPlan,
} from './scheduler';

function makeSpec(overrides: Partial<SchedulerSpec> = {}): SchedulerSpec {
  return {
    type: 'ddim',
    trainTimesteps: 1000,
    betaSchedule: 'scaled_linear',
    betaStart: 0.00085,
    betaEnd: 0.012,
    predictionType: 'epsilon',
    timestepSpacing: 'leading',
    stepsOffset: 1,
    rescaleZeroTerminalSnr: false,
    setAlphaToOne: true,
    defaultSteps: 50,
    eta: 0,
    ...overrides,
  };
}

const DDPM_LINEAR = { betaSchedule: 'linear', betaStart: 0.0001, betaEnd: 0.02 } as const;
const IDX = [0, 1, 499, 998, 999] as const;

/** Asserts |actual − expected| ≤ relTol·|expected| + absTol element-wise. */
function expectClose(
  actual: ArrayLike<number>,
  expected: readonly number[],
  relTol: number,
  absTol = 0,
): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => {
    const a = actual[i]!;
    const err = Math.abs(a - e);
    if (!(err <= relTol * Math.abs(e) + absTol)) {
      throw new Error(`element ${i}: got ${a}, expected ${e} (error ${err})`);
    }
  });
}

const pick = (arr: Float64Array): number[] => IDX.map((i) => arr[i]!);

describe('betas and ᾱ (reference: ddim_reference.py)', () => {
  it('linear DDPM 0.0001…0.02', () => {
    const betas = makeBetas(makeSpec(DDPM_LINEAR));
    expect(betas.length).toBe(1000);
    expectClose(
      pick(betas),
      [0.0001, 0.00011991991991991993, 0.010040040040040039, 0.01998008008008008, 0.02],
      1e-14,
    );
    expectClose(
      pick(computeAlphasCumprod(betas)),
      [0.9999, 0.9997800920720721, 0.07858724288177824, 4.118193638138445e-5, 4.035829765375676e-5],
      1e-12,
    );
  });

  it('scaled_linear (Stable Diffusion) 0.00085…0.012', () => {
    const betas = makeBetas(makeSpec());
    expectClose(
      pick(betas),
      [0.00085, 0.0008546986554056862, 0.004803792980550717, 0.011982376333083366, 0.012],
      1e-14,
    );
    const abar = computeAlphasCumprod(betas);
    expectClose(
      pick(abar),
      [
        0.99915, 0.9982960278384514, 0.27766965045646763, 0.004716698899875748,
        0.004660098513077238,
      ],
      1e-12,
    );
    // Published fact: SD's final ᾱ is ≈ 0.0047 (terminal SNR ≈ 0.0047, Lin et al. 2023).
    expect(abar[999]).toBeCloseTo(0.0047, 4);
  });

  it('linear with zero-terminal-SNR rescale', () => {
    const betas = rescaleZeroTerminalSnr(makeBetas(makeSpec(DDPM_LINEAR)));
    expectClose(
      pick(betas),
      [9.999999999976694e-5, 0.00012068663551045855, 0.010271042549541587, 0.7522672311504701, 1.0],
      1e-9,
    );
    expectClose(
      pick(computeAlphasCumprod(betas)),
      [0.9999000000000002, 0.9997793254331533, 0.07602875054711478, 4.213262465088073e-9, 0],
      1e-9,
    );
  });

  it('scaled_linear with zero-terminal-SNR rescale: last ᾱ is exactly 0, ᾱ_0 unchanged', () => {
    const original = computeAlphasCumprod(makeBetas(makeSpec()));
    const betas = rescaleZeroTerminalSnr(makeBetas(makeSpec()));
    expectClose(
      pick(betas),
      [0.0008500000000000174, 0.0009173335933720939, 0.0055157787345967435, 0.751137004176492, 1.0],
      1e-9,
    );
    const abar = computeAlphasCumprod(betas);
    expectClose(
      pick(abar),
      [0.99915, 0.9982334461401823, 0.24235916655614523, 1.967888056621292e-7, 0],
      1e-9,
    );
    expect(abar[999]).toBe(0);
    expect(abar[0]).toBeCloseTo(original[0]!, 14);
    // ᾱ stays strictly decreasing.
    for (let i = 1; i < abar.length; i++) expect(abar[i]!).toBeLessThan(abar[i - 1]!);
  });

  it('createDdimPlan applies the rescale and the final ᾱ', () => {
    const plain = createDdimPlan(makeSpec({ setAlphaToOne: false }), 50);
    expect(plain.finalAlphaCumprod).toBe(0.99915);
    expect(plain.alphasCumprod[999]).toBeCloseTo(0.004660098513077238, 15);
    const zsnr = createDdimPlan(
      makeSpec({ rescaleZeroTerminalSnr: true, timestepSpacing: 'trailing' }),
      50,
    );
    expect(zsnr.finalAlphaCumprod).toBe(1);
    expect(zsnr.alphasCumprod[999]).toBe(0);
    expect(zsnr.trainTimesteps).toBe(1000);
    expect(INIT_NOISE_SIGMA).toBe(1);
  });
});

describe('timesteps (reference: ddim_reference.py)', () => {
  const range = (from: number, step: number, count: number): number[] =>
    Array.from({ length: count }, (_, i) => from + i * step);

  it('leading, with and without stepStatsoffset', () => {
    expect(makeTimesteps(makeSpec({ stepsOffset: 0 }), 10)).toEqual([
      900, 800, 700, 600, 500, 400, 300, 200, 100, 0,
    ]);
    expect(makeTimesteps(makeSpec({ stepsOffset: 1 }), 10)).toEqual([
      901, 801, 701, 601, 501, 401, 301, 201, 101, 1,
    ]);
    expect(makeTimesteps(makeSpec({ stepsOffset: 0 }), 50)).toEqual(range(980, -20, 50));
    expect(makeTimesteps(makeSpec({ stepsOffset: 1 }), 50)).toEqual(range(981, -20, 50));
  });

  it('trailing at 10 and 50 steps starts at 999 (diffusers)', () => {
    const spec = makeSpec({ timestepSpacing: 'trailing', stepsOffset: 0 });
    expect(makeTimesteps(spec, 10)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    const t50 = makeTimesteps(spec, 50);
    expect(t50[0]).toBe(999);
    expect(t50).toEqual(range(999, -20, 50));
  });

  it('trailing rounds exact halves to even and never yields numpy’s stray extra step', () => {
    const spec = makeSpec({ timestepSpacing: 'trailing' });
    expect(makeTimesteps(spec, 16)).toEqual([
      999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61,
    ]);
    expect(makeTimesteps(spec, 3)).toEqual([999, 666, 332]);
    const t61 = makeTimesteps(spec, 61);
    expect(t61).toHaveLength(61);
    expect(t61.slice(0, 6)).toEqual([999, 983, 966, 950, 933, 917]);
    expect(t61.slice(-4)).toEqual([65, 48, 32, 15]);
  });

  it('rejects bad step counts with a clear message', () => {
    expect(() => createDdimPlan(makeSpec(), 0)).toThrow(/steps must be an integer from 1 to 1000/);
    expect(() => createDdimPlan(makeSpec(), 1001)).toThrow(
      /steps must be an integer from 1 to 1000/,
    );
    expect(() => createDdimPlan(makeSpec(), 2.5)).toThrow(/steps must be an integer/);
    // leading + offset 1 at T steps would visit timestep 1000.
    expect(() => createDdimPlan(makeSpec({ stepsOffset: 1 }), 1000)).toThrow(/outside 0…999/);
    expect(createDdimPlan(makeSpec({ stepsOffset: 0 }), 1000).timesteps).toHaveLength(1000);
    expect(createDdimPlan(makeSpec({ timestepSpacing: 'trailing' }), 1).timesteps).toEqual([999]);
  });
});

describe('ddimStep (reference: ddim_reference.py)', () => {
  const sample = Float32Array.of(-1.5, -0.25, 0.0, 0.5, 1.25, 2.0, 0.375, -0.875);
  const modelOutput = Float32Array.of(0.75, -1.125, 0.25, 0.0, -0.5, 1.5, -2.0, 0.625);
  const noise = Float32Array.of(0.5, 1.0, -1.5, 0.25, -0.75, 0.125, 2.0, -1.0);
  // float32 outputs of float64 maths: agreement to a few float32 ulps.
  const REL = 2e-6;
  const ABS = 1e-6;

  const sdPlan = (eta: number, setAlphaToOne = true): DdimPlan =>
    createDdimPlan(makeSpec({ eta, setAlphaToOne }), 50);
  const zsnrPlan = (eta: number): DdimPlan =>
    createDdimPlan(
      makeSpec({
        predictionType: 'v_prediction',
        timestepSpacing: 'trailing',
        stepsOffset: 0,
        rescaleZeroTerminalSnr: true,
        eta,
      }),
      10,
    );

  const epsX0At481 = [
    -3.8676068782806396, 1.2544198036193848, -0.37980419397354126, 0.9093981385231018,
    3.0331037044525146, 1.3587672710418701, 3.720482110977173, -2.54095721244812,
  ];

  it('ε-prediction, first step (t=981 → 961), eta 0', () => {
    const plan = sdPlan(0);
    expect(plan.timesteps[0]).toBe(981);
    const r = ddimStep(plan, 0, modelOutput, sample);
    expectClose(
      r.prevSample,
      [
        -1.7767165899276733, -0.14205442368984222, -0.030813001096248627, 0.5614258646965027,
        1.4651906490325928, 2.0608253479003906, 0.6675733923912048, -1.0595277547836304,
      ],
      REL,
      ABS,
    );
    expectClose(
      r.predOriginal,
      [
        -29.578004837036133, 11.470846176147461, -3.2801027297973633, 6.579232215881348,
        23.008285522460938, 6.636312007904053, 31.17524528503418, -19.713912963867188,
      ],
      REL,
      ABS,
    );
  });

  it('ε-prediction, middle step (t=481 → 461), eta 0 and eta 0.5 with given noise', () => {
    const r0 = ddimStep(sdPlan(0), 25, modelOutput, sample);
    expectClose(
      r0.prevSample,
      [
        -1.6111019849777222, -0.19873882830142975, -0.013955633156001568, 0.5230783820152283,
        1.3356071710586548, 2.008579730987549, 0.5039538145065308, -0.9502761960029602,
      ],
      REL,
      ABS,
    );
    expectClose(r0.predOriginal, epsX0At481, REL, ABS);
    const r5 = ddimStep(sdPlan(0.5), 25, modelOutput, sample, noise);
    expectClose(
      r5.prevSample,
      [
        -1.548740267753601, -0.040556780993938446, -0.23290611803531647, 0.5590389966964722,
        1.2340983152389526, 2.0074408054351807, 0.8171314001083374, -1.1020852327346802,
      ],
      REL,
      ABS,
    );
    expectClose(r5.predOriginal, epsX0At481, REL, ABS);
  });

  it('ε-prediction, last step uses finalAlphaCumprod (1 with setAlphaToOne, else ᾱ_0)', () => {
    const x0 = [
      -1.5322654247283936, -0.20373456180095673, -0.010328602977097034, 0.5004265308380127,
      1.2717235088348389, 1.9397345781326294, 0.4579487144947052, -0.9015679359436035,
    ];
    const one = ddimStep(sdPlan(0, true), 49, modelOutput, sample);
    expectClose(one.predOriginal, x0, REL, ABS);
    expectClose(one.prevSample, x0, REL, ABS); // ᾱ_prev = 1: the step returns x0 itself
    const a0 = ddimStep(sdPlan(0, false), 49, modelOutput, sample);
    expectClose(
      a0.prevSample,
      [
        -1.5097479820251465, -0.2364470511674881, -0.0030355225317180157, 0.5002138018608093,
        1.256605625152588, 1.9826420545578003, 0.3994445502758026, -0.8829630017280579,
      ],
      REL,
      ABS,
    );
  });

  it('v-prediction at ᾱ = 0 (zero terminal SNR, t=999) is finite: x0 = −v', () => {
    const r0 = ddimStep(zsnrPlan(0), 0, modelOutput, sample);
    expect(Array.from(r0.predOriginal)).toEqual(Array.from(modelOutput, (v) => -v + 0));
    expectClose(
      r0.prevSample,
      [
        -1.539028525352478, -0.18766307830810547, -0.013768333941698074, 0.4992411434650421,
        1.275639533996582, 1.9143545627593994, 0.4845775365829468, -0.9080928564071655,
      ],
      REL,
      ABS,
    );
    const r5 = ddimStep(zsnrPlan(0.5), 0, modelOutput, sample, noise);
    expectClose(
      r5.prevSample,
      [
        -1.088750958442688, 0.3450208902359009, -0.762630045413971, 0.557165801525116,
        0.7339946031570435, 1.7092171907424927, 1.4328956604003906, -1.2902841567993164,
      ],
      REL,
      ABS,
    );
    // At eta 1, 1 − ᾱ_prev − σ² is 0 in exact arithmetic; for 25 trailing steps (999 → 959) it
    // rounds to −1.1e-16 in float64, which must not turn into NaN.
    const plan25 = createDdimPlan(
      makeSpec({
        predictionType: 'v_prediction',
        timestepSpacing: 'trailing',
        rescaleZeroTerminalSnr: true,
        eta: 1,
      }),
      25,
    );
    const r1 = ddimStep(plan25, 0, modelOutput, sample, noise);
    expect(r1.prevSample.every(Number.isFinite)).toBe(true);
  });

  it('v-prediction, middle step (t=599 → 499), eta 0.5', () => {
    const r = ddimStep(zsnrPlan(0.5), 4, modelOutput, sample, noise);
    expectClose(
      r.prevSample,
      [
        -1.365693211555481, 0.2771390378475189, -0.5217596888542175, 0.5460410714149475,
        1.0103651285171509, 1.6503692865371704, 1.327666997909546, -1.2412409782409668,
      ],
      REL,
      ABS,
    );
    expectClose(
      r.predOriginal,
      [
        -1.2377712726593018, 0.960666835308075, -0.23339241743087769, 0.1791980266571045,
        0.9147799015045166, -0.6835623979568481, 2.001537799835205, -0.8970775604248047,
      ],
      REL,
      ABS,
    );
  });

  it('v-prediction, last step of a linear schedule (t=99 → −1, ᾱ_prev = ᾱ_0), eta 0.5', () => {
    const plan = createDdimPlan(
      makeSpec({
        ...DDPM_LINEAR,
        predictionType: 'v_prediction',
        timestepSpacing: 'trailing',
        setAlphaToOne: false,
        eta: 0.5,
      }),
      10,
    );
    const r = ddimStep(plan, 9, modelOutput, sample, noise);
    expectClose(
      r.prevSample,
      [
        -1.6567813158035278, 0.11931162327528, -0.08566883206367493, 0.47617074847221375,
        1.3398990631103516, 1.4312773942947388, 0.9915634393692017, -1.0315403938293457,
      ],
      REL,
      ABS,
    );
  });

  it('ε-prediction at ᾱ = 0 divides by zero like diffusers (non-finite x0)', () => {
    const plan = createDdimPlan(
      makeSpec({ timestepSpacing: 'trailing', rescaleZeroTerminalSnr: true }),
      10,
    );
    const r = ddimStep(plan, 0, modelOutput, sample);
    expect(r.predOriginal.some((v) => !Number.isFinite(v))).toBe(true);
  });

  it('returns new arrays and validates its inputs', () => {
    const plan = sdPlan(0);
    const x = Float32Array.from(sample);
    const r = ddimStep(plan, 3, modelOutput, x);
    expect(r.prevSample).not.toBe(x);
    expect(Array.from(x)).toEqual(Array.from(sample));
    // Noise is ignored at eta 0.
    expect(Array.from(ddimStep(plan, 3, modelOutput, x, noise).prevSample)).toEqual(
      Array.from(r.prevSample),
    );
    expect(() => ddimStep(sdPlan(0.5), 3, modelOutput, sample)).toThrow(/needs noise when eta > 0/);
    expect(() => ddimStep(plan, 50, modelOutput, sample)).toThrow(
      /stepIndex must be an integer from 0 to 49/,
    );
    expect(() => ddimStep(plan, -1, modelOutput, sample)).toThrow(/stepIndex/);
    expect(() => ddimStep(plan, 0, modelOutput.subarray(1), sample)).toThrow(
      /model output has 7 values/,
    );
    expect(() => ddimStep(sdPlan(0.5), 0, modelOutput, sample, noise.subarray(2))).toThrow(
      /noise has 6 values/,
    );
  });

  it('a full 50-step ε run with a perfect denoiser recovers x0', () => {
    // If the model predicts the true ε for x_t = √ᾱ x0 + √(1−ᾱ) ε, DDIM (eta 0) lands on x0.
    const plan = createDdimPlan(makeSpec({ setAlphaToOne: true }), 50);
    const x0 = Float64Array.of(0.5, -1, 0.25, 2);
    const eps = Float64Array.of(1, -0.5, 0.75, -1.25);
    const a = plan.alphasCumprod[plan.timesteps[0]!]!;
    let x = Float32Array.from(x0, (v, i) => Math.sqrt(a) * v + Math.sqrt(1 - a) * eps[i]!);
    for (let s = 0; s < plan.timesteps.length; s++) {
      const at = plan.alphasCumprod[plan.timesteps[s]!]!;
      const predEps = Float32Array.from(
        x,
        (v, i) => (v - Math.sqrt(at) * x0[i]!) / Math.sqrt(1 - at),
      );
      x = ddimStep(plan, s, predEps, x).prevSample;
    }
    expectClose(x, Array.from(x0), 1e-4, 1e-4);
  });
});
