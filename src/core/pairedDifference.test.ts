import { describe, expect, it } from 'vitest';
import { pairedDifference, significance, tQuantile975 } from './pairedDifference';

describe('tQuantile975', () => {
  it("matches Student's t tables", () => {
    // Two-sided 95% critical values (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
    const table: [number, number][] = [
      [1, 12.706],
      [2, 4.303],
      [3, 3.182],
      [5, 2.571],
      [10, 2.228],
      [30, 2.042],
      [59, 2.001],
      [100, 1.984],
    ];
    for (const [df, t] of table) expect(tQuantile975(df)).toBeCloseTo(t, 2);
    expect(tQuantile975(1e9)).toBeCloseTo(1.96, 3);
    expect(() => tQuantile975(0)).toThrow(/degrees of freedom/);
  });
});

describe('pairedDifference', () => {
  it('gives the mean paired difference with a t interval', () => {
    // d = 1, 2, 3, 4, 5: mean 3, sample sd √2.5, n 5 → half-width 2.776 · √(2.5/5) = 1.963
    const p = pairedDifference([11, 12, 13, 14, 15], [10, 10, 10, 10, 10]);
    expect(p.mean).toBeCloseTo(3, 12);
    expect(p.high - p.mean).toBeCloseTo(2.776 * Math.sqrt(0.5), 2);
    expect(p.mean - p.low).toBeCloseTo(p.high - p.mean, 12);
    expect([p.n, p.excluded]).toEqual([5, 0]);
    expect(significance(p)).toBe('above');
  });

  it('is paired: a shared per-item offset does not widen the interval', () => {
    const b = [5, 30, 12, 44, 21, 9];
    const a = b.map((v, i) => v + 0.1 + (i % 2 ? 0.01 : -0.01));
    const p = pairedDifference(a, b);
    expect(p.mean).toBeCloseTo(0.1, 12);
    expect(p.high - p.low).toBeLessThan(0.05);
    expect(significance(pairedDifference(b, a))).toBe('below');
  });

  it('says when the interval spans zero', () => {
    expect(significance(pairedDifference([1, -1, 2, -2], [0, 0, 0, 0]))).toBe('spans zero');
  });

  it('leaves out pairs with a missing or infinite value, and says how many', () => {
    const p = pairedDifference([1, Infinity, 3, null, 5], [0, 1, 1, 1, 2]);
    expect([p.n, p.excluded]).toEqual([3, 2]);
    expect(p.mean).toBeCloseTo((1 + 2 + 3) / 3, 12);
    const one = pairedDifference([2], [1]);
    expect([one.mean, one.low, one.high]).toEqual([1, -Infinity, Infinity]);
    expect(Number.isNaN(pairedDifference([null], [1]).mean)).toBe(true);
  });

  it('refuses unpaired inputs', () => {
    expect(() => pairedDifference([1, 2], [1])).toThrow(/item by item/);
  });
});
