import { describe, expect, it } from 'vitest';
import type { RunTrace } from '../run/runSlice';
import { judgeTraces, traceInputs } from './traces';

/** A trace whose latent std falls from 1 to `end` over three steps. */
function trace(jobId: number, variantId: string, inputs: string, end: number): RunTrace {
  const stats = (std: number) => [{ mean: 0, std, min: -1, max: 1, nonFinite: 0 }];
  return {
    jobId,
    label: `#${jobId}`,
    variantId,
    loraScale: null,
    seed: 42,
    inputs,
    stepStats: [1, (1 + end) / 2, end].map((std, step) => ({
      step,
      timestep: step === 0 ? null : 1000 - step,
      frames: stats(std),
    })),
  };
}

describe('judgeTraces', () => {
  const pairA = traceInputs({ packId: 'cel', sampler: 'ddim' }, 'kf1/kf2');
  const pairB = traceInputs({ packId: 'cel', sampler: 'ddim' }, 'kf3/kf4');

  it('compares a run with the baseline on the same keyframes', () => {
    const verdicts = judgeTraces(
      [trace(1, 'baseline', pairA, 0.8), trace(2, 'lora', pairA, 0.2)],
      'baseline',
    );
    expect(verdicts.get(2)!.finalStdRatio).toBeCloseTo(0.25, 6);
    expect(verdicts.get(2)!.collapsed).toBe(true);
  });

  it('does not compare runs on other keyframes, packs or samplers', () => {
    const otherPack = traceInputs({ packId: 'tiny', sampler: 'ddim' }, 'kf1/kf2');
    const otherSampler = traceInputs({ packId: 'cel', sampler: 'euler' }, 'kf1/kf2');
    for (const other of [pairB, otherPack, otherSampler]) {
      const verdicts = judgeTraces(
        [trace(1, 'baseline', pairA, 0.8), trace(2, 'lora', other, 0.2)],
        'baseline',
      );
      expect(verdicts.get(2)!.finalStdRatio).toBeNull();
      expect(verdicts.get(2)!.collapsed).toBe(false);
    }
  });
});
