/**
 * A pack whose weights live in several ONNX external-data files (models/training/synthetic_large_pack.py:
 * flow-tiny's student plus 64 MB of weight tables in two files) through the studio in
 * onnxruntime-node: it loads, verifies every file, and its frames are flow-tiny's (the tables only
 * add below float32 precision) — so the external data reached the runtime intact. A pack declaring
 * 5 GB of weights is refused for WASM before anything is read. The browser's streamed download and
 * cache of the same pack is e2e/largePack.spec.ts; the streaming's memory is src/shared/streamFile.test.ts.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateMemory } from '../core/memoryEstimate';
import type { PackManifest } from '../core/manifest';
import { interpolate, prepareKeyframes, type VariantGraphs } from '../core/pipeline';
import { buildSyntheticPack } from '../testing/syntheticPack';
import { loadVariantGraphs, readPackManifest, readPng } from './nodeRuntime';

const FLOW = resolve(import.meta.dirname, '../../models/reference/flow-tiny');

describe('a pack with its weights in external-data files', () => {
  let pack: ReturnType<typeof buildSyntheticPack>;
  let manifest: PackManifest;
  let graphs: VariantGraphs;
  beforeAll(async () => {
    pack = buildSyntheticPack({ bytes: 64e6, files: 2 });
    manifest = await readPackManifest(pack.dir);
    ({ graphs } = await loadVariantGraphs(pack.dir, manifest, 'student', 1));
  }, 120_000);
  afterAll(async () => {
    for (const r of new Set([
      graphs?.decoder,
      graphs?.denoiser,
      ...Object.values(graphs?.stages ?? {}),
    ]))
      await r?.release();
    pack?.cleanup();
  });

  it('declares two 32 MB external files and loads them into the runtime intact', async () => {
    const ext = manifest.graphs.denoisers['student']!.externalData!;
    expect(ext.map((e) => e.sizeBytes)).toEqual([32e6, 32e6]);
    const expected = JSON.parse(await readFile(join(FLOW, 'parity/expected.json'), 'utf8')).runs[0];
    const keyframes = prepareKeyframes(
      manifest,
      await readPng(join(FLOW, 'parity/start.png')),
      await readPng(join(FLOW, 'parity/end.png')),
      'letterbox',
    );
    const r = await interpolate({
      manifest,
      variant: manifest.variants[0]!,
      graphs,
      keyframes,
      settings: { count: 4, steps: expected.steps, seed: expected.seed, guidanceScale: 5 },
    });
    let worst = 0;
    r.clip!.clipLatent.data.forEach(
      (v, i) => (worst = Math.max(worst, Math.abs(v - expected.latent[i]))),
    );
    expect(worst).toBeLessThan(1e-4);
    expect(estimateMemory(manifest, 'student', { backend: 'wasm' }).verdict).toBe('ok');
  });

  it("finds a graph's external data beside it when the graph is in a folder of its own", async () => {
    // optimum's and diffusers' layout: unet/model.onnx, unet/model.onnx_data.
    const nested = buildSyntheticPack({ bytes: 1e5, files: 1 });
    try {
      const m = JSON.parse(await readFile(join(nested.dir, 'manifest.json'), 'utf8'));
      const den = m.graphs.denoisers.student;
      mkdirSync(join(nested.dir, 'unet'));
      for (const f of [den, ...den.externalData]) {
        renameSync(join(nested.dir, f.file), join(nested.dir, 'unet', f.file));
        f.file = `unet/${f.file}`;
      }
      writeFileSync(join(nested.dir, 'manifest.json'), JSON.stringify(m));
      const man = await readPackManifest(nested.dir);
      const loaded = await loadVariantGraphs(nested.dir, man, 'student', 1);
      const expected = JSON.parse(await readFile(join(FLOW, 'parity/expected.json'), 'utf8'))
        .runs[0];
      const r = await interpolate({
        manifest: man,
        variant: man.variants[0]!,
        graphs: loaded.graphs,
        keyframes: prepareKeyframes(
          man,
          await readPng(join(FLOW, 'parity/start.png')),
          await readPng(join(FLOW, 'parity/end.png')),
          'letterbox',
        ),
        settings: { count: 4, steps: expected.steps, seed: expected.seed, guidanceScale: 5 },
      });
      let worst = 0;
      r.clip!.clipLatent.data.forEach(
        (v, i) => (worst = Math.max(worst, Math.abs(v - expected.latent[i]))),
      );
      expect(worst).toBeLessThan(1e-4);
      for (const g of new Set([
        loaded.graphs.decoder,
        loaded.graphs.denoiser,
        ...Object.values(loaded.graphs.stages ?? {}),
      ]))
        await g?.release();
    } finally {
      nested.cleanup();
    }
  }, 120_000);

  it('refuses a pack that declares 5 GB of weights on WASM before reading a byte', async () => {
    const declared = buildSyntheticPack({ bytes: 5e9, files: 2, declareOnly: true });
    try {
      const m = await readPackManifest(declared.dir);
      const e = estimateMemory(m, 'student', { backend: 'wasm' });
      expect(e.verdict).toBe('refuse');
      expect(e.message).toContain('more than the 4 GiB WebAssembly can address');
      expect(estimateMemory(m, 'student', { backend: 'webgpu' }).verdict).toBe('ok');
    } finally {
      declared.cleanup();
    }
  }, 60_000);
});
