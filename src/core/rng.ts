/**
 * Seeded Gaussian noise for the initial latents (and DDIM's eta noise), so a run is reproducible
 * from its seed: the same seed gives the same in-betweens in the browser worker, the CLI and the
 * tests. `Math.random` cannot be seeded, so this is a small explicit generator:
 *
 *  - xoshiro128** (Blackman & Vigna) for 32-bit integers, seeded through splitmix32. Integer maths
 *    only (Math.imul, shifts, `>>> 0`), so the bit stream is identical on every JS engine.
 *  - Box–Muller on 52-bit uniforms, both outputs used. Math.log/cos/sin are not required by the
 *    spec to be correctly rounded, but Node and Chromium share V8's implementation (fdlibm port),
 *    so the Gaussian stream is identical there; other engines may differ in the last bits.
 *
 * scripts/reference/rng_reference.py is an independent Python port that printed the golden values
 * in rng.test.ts.
 */

const TWO_POW_26 = 67108864;
const TWO_POW_NEG_52 = 2 ** -52;
const TWO_PI = 2 * Math.PI;

/** murmur3's 32-bit finaliser: a bijective avalanche mix. */
function mixBits32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function assertUint32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`${what} must be an integer from 0 to 4294967295, got ${value}`);
  }
}

function rotl32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Deterministic 32-bit PRNG (xoshiro128** with splitmix32 seeding; integer math only via
 * Math.imul / >>> 0) + Box–Muller (both outputs used).
 */
export class GaussianRng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** Second Box–Muller output, waiting to be returned. */
  private spare: number | null = null;

  /** `seed`: any integer 0..2^32−1; throws on anything else. */
  constructor(seed: number) {
    assertUint32(seed, 'seed');
    // splitmix32: a Weyl sequence through a bijective mix. Four consecutive states are distinct,
    // so at most one word is 0 and xoshiro's forbidden all-zero state cannot occur.
    let state = seed;
    const next = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      return mixBits32(state);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  private nextUint32(): number {
    const result = Math.imul(rotl32(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl32(this.s3, 11);
    return result;
  }

  /**
   * Uniform in (0, 1), never exactly 0 or 1: 52 random bits (the top 26 of two draws) at the
   * centre of one of 2^52 equal cells.
   */
  nextUniform(): number {
    const hi = this.nextUint32() >>> 6;
    const lo = this.nextUint32() >>> 6;
    return (hi * TWO_POW_26 + lo + 0.5) * TWO_POW_NEG_52;
  }

  /** Standard normal sample (mean 0, variance 1). */
  nextGaussian(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const radius = Math.sqrt(-2 * Math.log(this.nextUniform()));
    const angle = TWO_PI * this.nextUniform();
    this.spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Fills `out` with standard normal samples (the same stream as repeated nextGaussian) and returns it. */
  fillGaussian(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.nextGaussian();
    return out;
  }
}

/**
 * The seed of frame `frameIndex`'s stream: a hash mix of the run seed and the frame index, so
 * neighbouring seeds and neighbouring frames give unrelated streams.
 */
function deriveFrameSeed(seed: number, frameIndex: number): number {
  return mixBits32((mixBits32(seed) + Math.imul(frameIndex, 0x9e3779b9) + 0x6a09e667) >>> 0);
}

/**
 * Noise for frame `frameIndex` of a run with `seed`: independent streams per frame (derive a
 * per-frame seed with a hash mix of seed and frameIndex), so frame i's noise does not depend on
 * how many frames are batched together. `seed` and `frameIndex` are integers 0..2^32−1.
 */
export function frameNoise(
  seed: number,
  frameIndex: number,
  length: number,
): Float32Array<ArrayBuffer> {
  assertUint32(seed, 'seed');
  assertUint32(frameIndex, 'frameIndex');
  if (!Number.isInteger(length) || length < 0) {
    throw new Error(`noise length must be a non-negative integer, got ${length}`);
  }
  const out = new Float32Array(length);
  new GaussianRng(deriveFrameSeed(seed, frameIndex)).fillGaussian(out);
  return out;
}
