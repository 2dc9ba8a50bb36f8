import { describe, expect, it } from 'vitest';
import { detectCollapse, meanStdPerStep } from './collapse';
import type { StepRecord } from './pipeline';

/** A run whose per-step std follows `stds` for each of `frames` frames. */
function run(stds: number[], frames = 2, nonFiniteAt?: number): StepRecord[] {
  return stds.map((std, step) => ({
    step,
    timestep: step === 0 ? null : 1000 - step * 100,
    frames: Array.from({ length: frames }, () => ({
      mean: 0,
      std,
      min: -3 * std,
      max: 3 * std,
      nonFinite: nonFiniteAt !== undefined && step >= nonFiniteAt ? 5 : 0,
    })),
  }));
}

const baseline = run([1, 0.95, 0.9, 0.85, 0.8, 0.78, 0.76, 0.75, 0.74]);

describe('detectCollapse', () => {
  it('raises no alarm on a healthy run', () => {
    const healthy = run([1, 0.96, 0.91, 0.84, 0.79, 0.77, 0.75, 0.74, 0.72]);
    const v = detectCollapse(healthy, baseline);
    expect(v.collapsed).toBe(false);
    expect(v.finalStdRatio).toBeCloseTo(0.72 / 0.74, 6);
  });

  it('detects a collapsing run and the step where it started', () => {
    const collapsing = run([1, 0.95, 0.9, 0.8, 0.62, 0.4, 0.25, 0.15, 0.1]);
    const v = detectCollapse(collapsing, baseline);
    expect(v.collapsed).toBe(true);
    expect(v.reason).toBe('variance');
    // Ratios: 1, 1, 1, .94, .78, .51, .33, .2, .14 — below (1+0.5)/2 = 0.75 from step 5 on.
    expect(v.startStep).toBe(5);
    expect(v.finalStdRatio).toBeCloseTo(0.1 / 0.74, 6);
    expect(v.message).toMatch(/collapsed to 14% .* from step 5/);
  });

  it('detects a run with non-finite values at the step they appear', () => {
    const v = detectCollapse(run([1, 0.9, 0.8, 0.7], 2, 2), null);
    expect(v).toMatchObject({ collapsed: true, reason: 'non-finite', startStep: 2 });
  });

  it('cannot judge variance without a comparable baseline', () => {
    const v = detectCollapse(run([1, 0.1, 0.01]), null);
    expect(v.collapsed).toBe(false);
    expect(detectCollapse(run([1, 0.1, 0.01]), baseline).collapsed).toBe(false); // different length
  });

  it('averages std over frames', () => {
    const r = run([1, 0.5]);
    r[1]!.frames[1]!.std = 1.5;
    expect(meanStdPerStep(r)).toEqual([1, 1]);
  });
});
