/**
 * `npm run bench`'s alternating rounds: `timeInbetweens` times whole in-betweens of the real
 * pipeline on the tiny pack in onnxruntime-node (one untimed warm-up run, then every denoising step
 * and the decode of each timed one), and `pairedSpeedups` pairs the variants' times round by round.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pairedSpeedups, pickVariants, timeInbetweens } from '../core/benchmark';
import type { GraphRunner } from '../core/graph';
import { loadVariantGraphs, readPackManifest, releaseVariantGraphs } from './nodeRuntime';

const PACK = resolve(import.meta.dirname, '../../models/tiny');

/** `runner` counting its calls. */
function counted(runner: GraphRunner): { runner: GraphRunner; calls: () => number } {
  let calls = 0;
  return {
    runner: { ...runner, resident: undefined, run: (f) => (calls++, runner.run(f)) },
    calls: () => calls,
  };
}

describe('timeInbetweens', () => {
  it('times each in-between as all its denoising steps and one decode', async () => {
    const manifest = await readPackManifest(PACK);
    const { variant, graphs } = await loadVariantGraphs(
      PACK,
      manifest,
      manifest.variants[0]!.id,
      1,
    );
    try {
      const denoiser = counted(graphs.denoiser);
      const decoder = counted(graphs.decoder);
      const steps = 3;
      const ms = await timeInbetweens(
        manifest,
        variant,
        { ...graphs, denoiser: denoiser.runner, decoder: decoder.runner },
        4,
        steps,
      );
      expect(ms).toHaveLength(4);
      for (const t of ms) {
        expect(Number.isFinite(t)).toBe(true);
        expect(t).toBeGreaterThan(0);
      }
      // One untimed one-step warm-up, then 4 in-betweens of `steps` steps, each decoded once.
      expect(denoiser.calls()).toBe(1 + 4 * steps);
      expect(decoder.calls()).toBe(5);
    } finally {
      await releaseVariantGraphs(graphs);
    }
  });
});

describe('pairedSpeedups', () => {
  it('pairs each round’s times, so a slow round cancels out', () => {
    // Round 2 ran on a busy machine: every variant took 3× as long.
    const out = pairedSpeedups(
      { base: [100, 300, 110], fast: [50, 150, 50], slow: [200, 600, 220] },
      'base',
    );
    const by = Object.fromEntries(out.map((s) => [s.variantId, s]));
    expect(by.base).toMatchObject({ speedup: 1, lowest: 1, highest: 1, medianMs: 110, rounds: 3 });
    expect(by.fast!.speedup).toBeCloseTo(2, 12);
    expect(by.fast!.lowest).toBeCloseTo(2, 12);
    expect(by.fast!.highest).toBeCloseTo(2.2, 12);
    expect(by.fast!.medianMs).toBe(50);
    expect(by.slow!.speedup).toBeCloseTo(0.5, 12);
    expect(by.slow!.lowest).toBeCloseTo(0.5, 12);
    expect(by.slow!.highest).toBeCloseTo(0.5, 12);
  });

  it('uses the rounds both variants have, and says when a variant has none', () => {
    const out = pairedSpeedups({ base: [100, 120], extra: [50, 60, 1] }, 'base');
    expect(out.find((s) => s.variantId === 'extra')).toMatchObject({ rounds: 2, speedup: 2 });
    expect(() => pairedSpeedups({ base: [1] }, 'missing')).toThrow(/reference variant "missing"/);
    expect(() => pairedSpeedups({ base: [1], empty: [] }, 'base')).toThrow(/variant "empty"/);
  });
});

describe('pickVariants (npm run bench --variants)', () => {
  const all = ['baseline', 'lora', 'int8'];
  it('keeps every variant when none are named, and the named ones in the order given', () => {
    expect(pickVariants(all, undefined, 'cel')).toEqual(all);
    expect(pickVariants(all, ' int8, baseline ,int8', 'cel')).toEqual(['int8', 'baseline']);
  });
  it('refuses an id the pack lacks, or none at all, and lists what it has', () => {
    expect(() => pickVariants(all, 'int8,fp64', 'cel')).toThrow(
      '--variants: pack "cel" has no variant "fp64"; it has baseline, lora, int8',
    );
    expect(() => pickVariants(all, ',', 'cel')).toThrow(
      '--variants names no variant; pack "cel" has baseline, lora, int8',
    );
  });
});
