/**
 * Latent statistics against hand-computed values, non-finite counting and all-zero detection.
 */
import { describe, expect, it } from 'vitest';
import { computeLatentStats, isAllZero, mean, median } from './stats';

describe('computeLatentStats', () => {
  it('matches hand-computed mean, population std, min and max', () => {
    // mean 2.5; deviations ±1.5, ±0.5 → variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
    const s = computeLatentStats(Float32Array.of(1, 2, 3, 4));
    expect(s.mean).toBe(2.5);
    expect(s.std).toBeCloseTo(Math.sqrt(1.25), 14);
    expect([s.min, s.max, s.nonFinite]).toEqual([1, 4, 0]);
    // Negative values and a single value.
    const n = computeLatentStats(Float32Array.of(-2, -4, 0));
    expect(n.mean).toBeCloseTo(-2, 14);
    expect(n.std).toBeCloseTo(Math.sqrt(8 / 3), 14);
    expect([n.min, n.max]).toEqual([-4, 0]);
    expect(computeLatentStats(Float32Array.of(-0.75))).toEqual({
      mean: -0.75,
      std: 0,
      min: -0.75,
      max: -0.75,
      nonFinite: 0,
    });
  });

  it('uses only finite values and counts NaN and ±Infinity', () => {
    // finite values 1, 3, 5: mean 3, variance (4 + 0 + 4) / 3
    const s = computeLatentStats(Float32Array.of(1, NaN, 3, Infinity, -Infinity, 5));
    expect(s.mean).toBe(3);
    expect(s.std).toBeCloseTo(Math.sqrt(8 / 3), 14);
    expect([s.min, s.max, s.nonFinite]).toEqual([1, 5, 3]);
  });

  it('returns NaN statistics when no value is finite', () => {
    const s = computeLatentStats(Float32Array.of(NaN, Infinity));
    expect(s.nonFinite).toBe(2);
    expect([s.mean, s.std, s.min, s.max].every(Number.isNaN)).toBe(true);
    const empty = computeLatentStats(new Float32Array(0));
    expect(empty.nonFinite).toBe(0);
    expect(Number.isNaN(empty.mean)).toBe(true);
  });

  it('covers data[offset, offset + length) only', () => {
    const data = Float32Array.of(100, 1, 2, 3, -100);
    const s = computeLatentStats(data, 1, 3);
    expect(s.mean).toBe(2);
    expect(s.std).toBeCloseTo(Math.sqrt(2 / 3), 14);
    expect([s.min, s.max]).toEqual([1, 3]);
    // length defaults to the rest of the array
    expect(computeLatentStats(data, 3)).toMatchObject({ mean: -48.5, min: -100, max: 3 });
    expect(() => computeLatentStats(data, 3, 3)).toThrow(/outside an array of 5 values/);
    expect(() => computeLatentStats(data, -1, 2)).toThrow(/outside/);
  });

  it('is numerically stable for a large mean and small spread', () => {
    // 1e7 + {0, 1, 2, 3} are exact in float32; the naive E[x²] − E[x]² loses everything here.
    const data = Float32Array.from({ length: 100_000 }, (_, i) => 1e7 + (i % 4));
    const s = computeLatentStats(data);
    expect(s.mean).toBeCloseTo(1e7 + 1.5, 6);
    expect(s.std).toBeCloseTo(Math.sqrt(1.25), 8);
  });
});

describe('isAllZero', () => {
  it('is true only when every value is exactly 0', () => {
    expect(isAllZero(new Float32Array(1000))).toBe(true);
    expect(isAllZero(Float32Array.of(0, -0, 0))).toBe(true);
    const almost = new Float32Array(1000);
    almost[999] = 1e-45; // the smallest float32 subnormal
    expect(isAllZero(almost)).toBe(false);
    expect(isAllZero(Float32Array.of(0, NaN))).toBe(false);
    expect(isAllZero(Float32Array.of(-1))).toBe(false);
  });
});

describe('mean and median', () => {
  it('take the mean of the two middle values of an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(mean([1, 2, 6])).toBe(3);
    expect(mean([])).toBeNaN();
  });
});
