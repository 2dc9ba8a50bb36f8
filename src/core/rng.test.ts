/**
 * Seeded noise: determinism, independence of frames from batching, distribution moments, and
 * golden values printed by scripts/reference/rng_reference.py (an independent Python port, whose
 * xoshiro128** core is itself checked there against the authors' C code).
 */
import { describe, expect, it } from 'vitest';
import { GaussianRng, frameNoise } from './rng';

/** Mean and population std in float64. */
function computeMoments(xs: ArrayLike<number>): { mean: number; std: number } {
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += xs[i]!;
  const mean = sum / xs.length;
  let sq = 0;
  for (let i = 0; i < xs.length; i++) sq += (xs[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(sq / xs.length) };
}

describe('GaussianRng', () => {
  it('matches the golden prefix for seed 42 (rng_reference.py)', () => {
    const u = new GaussianRng(42);
    expect([u.nextUniform(), u.nextUniform(), u.nextUniform(), u.nextUniform()]).toEqual([
      0.660615714294912, 0.11170196257441367, 0.0791056458108158, 0.015209231659305655,
    ]);
    const g = new GaussianRng(42).fillGaussian(new Float32Array(8));
    expect(Array.from(g)).toEqual([
      0.6953712105751038, 0.5878986120223999, 2.2422637939453125, 0.21493081748485565,
      0.20491668581962585, 0.4605593979358673, 0.035520635545253754, -0.24893562495708466,
    ]);
  });

  it('matches golden values at the ends of the seed range', () => {
    expect(Array.from(new GaussianRng(0).fillGaussian(new Float32Array(4)))).toEqual([
      0.48854631185531616, 0.03837219625711441, 2.5868475437164307, 0.3998596668243408,
    ]);
    expect(Array.from(new GaussianRng(0xffffffff).fillGaussian(new Float32Array(4)))).toEqual([
      -1.725572943687439, -0.543899655342102, 1.0637749433517456, -1.3500947952270508,
    ]);
  });

  it('same seed → same sequence; fillGaussian continues the nextGaussian stream', () => {
    const a = new GaussianRng(1234);
    const b = new GaussianRng(1234);
    const fromNext = Float32Array.from({ length: 101 }, () => a.nextGaussian());
    const fromFill = new Float32Array(101);
    b.fillGaussian(fromFill.subarray(0, 3)); // odd split: a Box–Muller pair straddles the calls
    b.fillGaussian(fromFill.subarray(3));
    expect(Array.from(fromFill)).toEqual(Array.from(fromNext));
  });

  it('different seeds give different sequences', () => {
    const streams = [0, 1, 2, 42, 43, 0xffffffff].map((s) =>
      Array.from(new GaussianRng(s).fillGaussian(new Float32Array(16))),
    );
    for (let i = 0; i < streams.length; i++) {
      for (let j = i + 1; j < streams.length; j++) expect(streams[i]).not.toEqual(streams[j]);
    }
  });

  it('uniforms lie strictly inside (0, 1) with mean ½', () => {
    const r = new GaussianRng(7);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const u = r.nextUniform();
      if (!(u > 0 && u < 1)) outside++;
      sum += u;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.005);
  });

  it('Gaussian samples have mean ≈ 0 and std ≈ 1 over 100k samples', () => {
    for (const seed of [42, 2024]) {
      const xs = new GaussianRng(seed).fillGaussian(new Float32Array(100_000));
      const { mean, std } = computeMoments(xs);
      // Standard error of the mean is 1/√1e5 ≈ 0.003, of the std ≈ 0.0022.
      expect(Math.abs(mean)).toBeLessThan(0.01);
      expect(Math.abs(std - 1)).toBeLessThan(0.01);
      // Tails: about 4.55% of a standard normal lies beyond ±2σ.
      const beyond2 = xs.filter((x) => Math.abs(x) > 2).length / xs.length;
      expect(Math.abs(beyond2 - 0.0455)).toBeLessThan(0.003);
    }
  });

  it('rejects seeds that are not 32-bit unsigned integers', () => {
    expect(() => new GaussianRng(-1)).toThrow(/seed must be an integer from 0 to 4294967295/);
    expect(() => new GaussianRng(2 ** 32)).toThrow(/seed/);
    expect(() => new GaussianRng(1.5)).toThrow(/seed/);
    expect(() => new GaussianRng(NaN)).toThrow(/seed/);
  });
});

describe('frameNoise', () => {
  it('matches the golden values for seed 42, frame 3 (rng_reference.py)', () => {
    expect(Array.from(frameNoise(42, 3, 6))).toEqual([
      0.8624094724655151, -0.37511107325553894, -0.5158717632293701, -0.8892126083374023,
      0.35135647654533386, -1.371291160583496,
    ]);
  });

  it('is deterministic and independent of how frames are batched', () => {
    const len = 64;
    // One batch of 5 frames vs. batches of 2 + 3: frame i's noise depends only on (seed, i).
    const batch5 = new Float32Array(5 * len);
    for (let i = 0; i < 5; i++) batch5.set(frameNoise(9, i, len), i * len);
    const split = new Float32Array(5 * len);
    for (const [first, count] of [
      [0, 2],
      [2, 3],
    ] as const) {
      for (let i = 0; i < count; i++) split.set(frameNoise(9, first + i, len), (first + i) * len);
    }
    expect(Array.from(split)).toEqual(Array.from(batch5));
    // A longer request extends the same stream.
    expect(Array.from(frameNoise(9, 2, 2 * len).subarray(0, len))).toEqual(
      Array.from(frameNoise(9, 2, len)),
    );
  });

  it('gives unrelated streams for different frames and seeds', () => {
    const a = frameNoise(5, 0, 4096);
    const b = frameNoise(5, 1, 4096);
    const c = frameNoise(6, 0, 4096);
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    // Correlation between streams is within noise (|ρ| ≲ 3/√n ≈ 0.047).
    const corr = (x: Float32Array, y: Float32Array): number => {
      let s = 0;
      for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
      return s / x.length;
    };
    expect(Math.abs(corr(a, b))).toBeLessThan(0.05);
    expect(Math.abs(corr(a, c))).toBeLessThan(0.05);
    // Frame 0 is not simply the generator seeded with the run seed.
    expect(Array.from(a.subarray(0, 8))).not.toEqual(
      Array.from(new GaussianRng(5).fillGaussian(new Float32Array(8))),
    );
  });

  it('has standard normal moments', () => {
    const { mean, std } = computeMoments(frameNoise(42, 7, 100_000));
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(std - 1)).toBeLessThan(0.01);
  });

  it('validates its arguments', () => {
    expect(frameNoise(1, 0, 0)).toHaveLength(0);
    expect(() => frameNoise(1, -1, 4)).toThrow(/frameIndex must be an integer/);
    expect(() => frameNoise(-3, 0, 4)).toThrow(/seed must be an integer/);
    expect(() => frameNoise(1, 0, 2.5)).toThrow(/noise length must be a non-negative integer/);
  });
});
