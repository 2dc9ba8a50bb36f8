/**
 * The inference worker's runtime (onnxruntime-web, WASM) against onnxruntime-node on the tiny
 * pack: the same core pipeline on both must give the same latents and frames, per graph and end
 * to end, for every variant. Also checks the LoRA scale-0 equivalence and the failure checks.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { wrapSession, type GraphRunner } from '../core/graph';
import { parseManifest, type PackManifest } from '../core/manifest';
import {
  interpolate,
  ModelOutputError,
  RunCancelledError,
  type VariantGraphs,
} from '../core/pipeline';
import { syntheticKeyframe } from '../core/benchmark';

const PACK = resolve(import.meta.dirname, '../..', process.env.TEST_PACK ?? 'models/tiny');
const manifestResult = parseManifest(readFileSync(resolve(PACK, 'manifest.json'), 'utf8'));
if (!manifestResult.ok) throw new Error(manifestResult.errors.join('; '));
const manifest: PackManifest = manifestResult.manifest;

ortWeb.env.wasm.numThreads = 1;

async function load(runtime: 'web' | 'node', file: string): Promise<GraphRunner> {
  const bytes = readFileSync(resolve(PACK, file));
  if (runtime === 'web') {
    return wrapSession(
      await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] }),
      ortWeb,
    );
  }
  return wrapSession(
    await ortNode.InferenceSession.create(bytes, { executionProviders: ['cpu'] }),
    ortNode,
  );
}

async function graphsFor(runtime: 'web' | 'node', variantId: string): Promise<VariantGraphs> {
  const v = manifest.variants.find((x) => x.id === variantId)!;
  return {
    encoder: await load(runtime, manifest.graphs.encoder!.file),
    decoder: await load(runtime, manifest.graphs.decoder.file),
    denoiser: await load(runtime, manifest.graphs.denoisers[v.denoiser]!.file),
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const keyframes = { start: syntheticKeyframe(manifest, 11), end: syntheticKeyframe(manifest, 12) };
const settings = { count: 3, steps: 4, seed: 1234 };

describe('onnxruntime-web (WASM) matches onnxruntime-node on the tiny pack', () => {
  const web: Record<string, VariantGraphs> = {};
  const node: Record<string, VariantGraphs> = {};
  beforeAll(async () => {
    for (const v of manifest.variants) {
      web[v.id] = await graphsFor('web', v.id);
      node[v.id] = await graphsFor('node', v.id);
    }
  });

  it.each(manifest.variants.map((v) => v.id))(
    'variant %s: same latent statistics and frames',
    async (id) => {
      const variant = manifest.variants.find((v) => v.id === id)!;
      const a = await interpolate({ manifest, variant, graphs: web[id]!, keyframes, settings });
      const b = await interpolate({ manifest, variant, graphs: node[id]!, keyframes, settings });
      expect(a.stepStats).toHaveLength(settings.steps + 1);
      for (let s = 0; s <= settings.steps; s++) {
        for (let f = 0; f < settings.count; f++) {
          const x = a.stepStats[s]!.frames[f]!;
          const y = b.stepStats[s]!.frames[f]!;
          expect(x.nonFinite).toBe(0);
          expect(Math.abs(x.mean - y.mean)).toBeLessThan(1e-4);
          expect(Math.abs(x.std - y.std)).toBeLessThan(1e-4);
        }
      }
      // Frames are 8-bit: allow one level for rounding of values that differ in the last float bits.
      for (let f = 0; f < settings.count; f++) {
        expect(maxAbsDiff(a.modelFrames[f]!.data, b.modelFrames[f]!.data)).toBeLessThanOrEqual(1);
      }
    },
  );

  it('same seed → identical frames on one backend; another seed → different frames', async () => {
    const variant = manifest.variants[0]!;
    const a = await interpolate({
      manifest,
      variant,
      graphs: web[variant.id]!,
      keyframes,
      settings,
    });
    const b = await interpolate({
      manifest,
      variant,
      graphs: web[variant.id]!,
      keyframes,
      settings,
    });
    const c = await interpolate({
      manifest,
      variant,
      graphs: web[variant.id]!,
      keyframes,
      settings: {
        ...settings,
        seed: 99,
      },
    });
    expect(maxAbsDiff(a.modelFrames[0]!.data, b.modelFrames[0]!.data)).toBe(0);
    expect(maxAbsDiff(a.modelFrames[0]!.data, c.modelFrames[0]!.data)).toBeGreaterThan(0);
  });

  it('LoRA at scale 0 gives the baseline frames; scale 1 differs', async () => {
    const base = manifest.variants.find((v) => v.id === 'baseline')!;
    const lora = manifest.variants.find((v) => v.id === 'lora')!;
    const a = await interpolate({
      manifest,
      variant: base,
      graphs: node.baseline!,
      keyframes,
      settings,
    });
    const b = await interpolate({
      manifest,
      variant: lora,
      graphs: node.lora!,
      keyframes,
      settings: {
        ...settings,
        loraScale: 0,
      },
    });
    const c = await interpolate({
      manifest,
      variant: lora,
      graphs: node.lora!,
      keyframes,
      settings: {
        ...settings,
        loraScale: 1,
      },
    });
    for (let f = 0; f < settings.count; f++) {
      expect(maxAbsDiff(a.modelFrames[f]!.data, b.modelFrames[f]!.data)).toBeLessThanOrEqual(1);
    }
    const lastA = a.stepStats.at(-1)!.frames[0]!;
    const lastC = c.stepStats.at(-1)!.frames[0]!;
    expect(Math.abs(lastA.mean - lastC.mean) + Math.abs(lastA.std - lastC.std)).toBeGreaterThan(
      1e-4,
    );
  });

  it('stops with a clear error when the denoiser returns NaN', async () => {
    const variant = manifest.variants[0]!;
    const real = node.baseline!;
    const poisoned: GraphRunner = {
      ...real.denoiser,
      inputNames: real.denoiser.inputNames,
      outputNames: real.denoiser.outputNames,
      async run(feeds) {
        const out = await real.denoiser.run(feeds);
        for (const t of Object.values(out)) t.data[5] = NaN;
        return out;
      },
    };
    await expect(
      interpolate({
        manifest,
        variant,
        graphs: { ...real, denoiser: poisoned },
        keyframes,
        settings,
      }),
    ).rejects.toThrow(/non-finite values at step 1 of 4/);
    await expect(
      interpolate({
        manifest,
        variant,
        graphs: { ...real, denoiser: poisoned },
        keyframes,
        settings,
      }),
    ).rejects.toBeInstanceOf(ModelOutputError);
  });

  it('cancels between steps', async () => {
    const variant = manifest.variants[0]!;
    let calls = 0;
    const run = interpolate({
      manifest,
      variant,
      graphs: node.baseline!,
      keyframes,
      settings: { ...settings, steps: 10 },
      hooks: {
        isCancelled: () => ++calls > 3,
      },
    });
    await expect(run).rejects.toBeInstanceOf(RunCancelledError);
  });
});
