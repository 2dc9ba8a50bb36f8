/**
 * The sampler reference packs (models/reference, built by models/training/reference_packs.py) through
 * the studio in onnxruntime-node: an SVD/Framer-shaped pack (EDM on Karras σ, 9-channel
 * concatenated sample, fps / motion bucket / augmentation), a flow-matching student with a
 * guidance input, an LCM student, and a Wan 2.1 first-last-frame student whose causal video VAE
 * compresses 9 frames into 3 latent frames and gives the condition whole, and an LTX-Video keyframe
 * pack that conditions by replacing latent frames (the end keyframe appended) with true
 * classifier-free guidance. Each pack's parity/expected.json holds the final clip latent
 * that the independent numpy samplers (scripts/reference/samplers_reference.py) made around the same
 * graphs with the studio's seeded noise; the studio must reproduce it. e2e/samplers.spec.ts holds
 * Chromium's WASM run to the same numbers.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PackManifest } from '../core/manifest';
import { interpolate, prepareKeyframes, type VariantGraphs } from '../core/pipeline';
import type { SamplerName } from '../core/samplers';
import { loadVariantGraphs, readPackManifest, readPng } from './nodeRuntime';

const ROOT = join(import.meta.dirname, '../../models/reference');
/** The same runtime on both sides: only float32 summation order separates them. */
const LATENT_TOL = 1e-4;

interface ExpectedRun {
  sampler: SamplerName;
  steps: number;
  seed: number;
  controls: Record<string, number>;
  dims: number[];
  std: number;
  latent: number[];
}

const loaded: VariantGraphs[] = [];
afterAll(async () => {
  for (const g of loaded)
    for (const r of new Set([g.decoder, g.denoiser, ...Object.values(g.stages ?? {})]))
      await r?.release();
});

describe.each(['svd-tiny', 'flow-tiny', 'lcm-tiny', 'wan-tiny', 'ltx-tiny'])(
  'reference pack %s',
  (id) => {
    const dir = join(ROOT, id);
    let manifest: PackManifest;
    let graphs: VariantGraphs;
    let runs: ExpectedRun[];

    const setUp = async () => {
      if (graphs) return;
      manifest = await readPackManifest(dir);
      runs = JSON.parse(await readFile(join(dir, 'parity', 'expected.json'), 'utf8')).runs;
      ({ graphs } = await loadVariantGraphs(dir, manifest, manifest.variants[0]!.id, 1));
      loaded.push(graphs);
    };

    it('validates, loads and names its sampler family', async () => {
      await setUp();
      expect(manifest.scheduler.type).toBe(
        {
          'svd-tiny': 'edm',
          'flow-tiny': 'flow',
          'lcm-tiny': 'lcm',
          'wan-tiny': 'flow',
          'ltx-tiny': 'flow',
        }[id],
      );
      expect(runs.length).toBeGreaterThanOrEqual(2);
    });

    it('reproduces the independent reference run for every recorded setting', async () => {
      await setUp();
      const start = await readPng(join(dir, 'parity', 'start.png'));
      const end = await readPng(join(dir, 'parity', 'end.png'));
      const prepared = prepareKeyframes(manifest, start, end, 'letterbox');
      const T = manifest.frames.mode === 'clip' ? manifest.frames.clipLength : 0;
      for (const [r, run] of runs.entries()) {
        const { guidance, ...scalars } = run.controls;
        const result = await interpolate({
          manifest,
          variant: manifest.variants[0]!,
          graphs,
          keyframes: prepared,
          settings: {
            count: T - 2,
            steps: run.steps,
            seed: run.seed,
            sampler: run.sampler,
            ...(guidance !== undefined ? { guidanceScale: guidance } : {}),
            ...(Object.keys(scalars).length ? { scalars } : {}),
          },
        });
        const got = result.clip!.clipLatent;
        expect(got.dims).toEqual(run.dims);
        let worst = 0;
        for (let i = 0; i < run.latent.length; i++)
          worst = Math.max(worst, Math.abs(got.data[i]! - run.latent[i]!) / Math.max(1, run.std));
        expect(worst, `${run.sampler} × ${run.steps}`).toBeLessThan(LATENT_TOL);
        // The plots get one record per step plus the initial noise, at model-input scale.
        expect(result.stepStats).toHaveLength(run.steps + 1);
        expect(result.stepStats[0]!.frames[0]!.std).toBeGreaterThan(0.5);
        expect(result.stepStats[0]!.frames[0]!.std).toBeLessThan(2);
        expect(result.modelFrames).toHaveLength(T - 2);
        if (r > 0) continue;
        // The first run's in-betweens, decoded on the Python side: the same pixels within 2 levels.
        for (const [k, frame] of result.modelFrames.entries()) {
          const want = await readPng(join(dir, 'parity', `frame_${k + 1}.png`));
          let far = 0;
          for (let p = 0; p < want.data.length; p++)
            far = Math.max(far, Math.abs(want.data[p]! - frame.data[p]!));
          expect(far, `frame ${k + 1}`).toBeLessThanOrEqual(2);
        }
      }
    }, 60_000);
  },
);

describe('what the reference packs show for their conditioning', () => {
  it('SVD: the augmentation level changes the conditioning and the seed changes the augmentation', async () => {
    const dir = join(ROOT, 'svd-tiny');
    const manifest = await readPackManifest(dir);
    const { graphs } = await loadVariantGraphs(dir, manifest, 'base', 1);
    loaded.push(graphs);
    const start = await readPng(join(dir, 'parity', 'start.png'));
    const end = await readPng(join(dir, 'parity', 'end.png'));
    const keyframes = prepareKeyframes(manifest, start, end, 'letterbox');
    const latentOf = async (seed: number, augLevel: number) => {
      const r = await interpolate({
        manifest,
        variant: manifest.variants[0]!,
        graphs,
        keyframes,
        settings: { count: 1, steps: 2, seed, scalars: { augLevel } },
      });
      return r.encoded.start.data;
    };
    const a = await latentOf(1, 0);
    const b = await latentOf(2, 0);
    const c = await latentOf(1, 0.5);
    const d = await latentOf(2, 0.5);
    expect(Array.from(a)).toEqual(Array.from(b)); // no augmentation: the seed does not matter
    expect(Array.from(c)).not.toEqual(Array.from(a));
    expect(Array.from(c)).not.toEqual(Array.from(d));
  }, 60_000);
});
