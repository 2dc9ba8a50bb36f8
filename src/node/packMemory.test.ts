/**
 * The working memory a pack declares (`npm run pack:memory`, issue 23): the peak of live tensors
 * worked out from the graph (models/training/activation_memory.py) against onnxruntime-web's real
 * WebAssembly heap, the probe for tensors shape inference cannot size, and the pack's figure.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimateMemory } from '../core/memoryEstimate';
import { parseManifest } from '../core/manifest';
import { readPackManifest } from './nodeRuntime';
import { graphPeak, measurePackMemory, wasmHeapGrowth } from './packMemory';

const CEL = resolve(import.meta.dirname, '../../models/cel');
const TINY = resolve(import.meta.dirname, '../../models/tiny');

const latentFeeds = (h: number, w: number) => ({
  sample: [1, 4, h, w],
  timestep: [1],
  start_latent: [1, 4, h, w],
  end_latent: [1, 4, h, w],
  position: [1],
});
const filled = (dims: Record<string, number[]>) =>
  Object.fromEntries(
    Object.entries(dims).map(([k, d]) => [
      k,
      { data: new Float32Array(d.reduce((a, b) => a * b, 1)).fill(0.1), dims: d },
    ]),
  );

describe('graphPeak', () => {
  it('matches the growth of onnxruntime-web’s WASM heap on a graph whose run needs ~260 MiB', async () => {
    // The cel denoiser at 960×1536 pixels' latent: its attention maps make the run's memory far
    // larger than the heap's initial slack (~16 MiB), so the heap's growth is the run's need.
    const file = join(CEL, 'denoiser_fp32.onnx');
    const dims = latentFeeds(120, 192);
    const { peakBytes, unknown, probed } = await graphPeak(file, filled(dims));
    expect(unknown).toEqual([]);
    expect(probed).toBe(0);
    const grown = wasmHeapGrowth(file, dims);
    expect(grown).toBeGreaterThan(200 * 2 ** 20);
    expect(peakBytes / grown).toBeGreaterThan(0.85);
    expect(peakBytes / grown).toBeLessThan(1.15);
  }, 120_000);

  it('sizes by a probe run what shape inference cannot settle', async () => {
    // The cel decoder's flow warps slice by data-dependent bounds: hundreds of tensors without a
    // static shape, sized by running a copy that also outputs them.
    const m = await readPackManifest(CEL);
    const [w, h] = m.image.defaultSize;
    const dims = {
      latent: [1, 4, h / 8, w / 8],
      start_image: [1, 3, h, w],
      end_image: [1, 3, h, w],
      motion: [1, 4, h, w],
      position: [1],
    };
    const r = await graphPeak(join(CEL, 'decoder.onnx'), filled(dims));
    expect(r.unknown).toEqual([]);
    expect(r.probed).toBeGreaterThan(100);
    // At least the inputs and the output image, which are all alive at the end.
    const inputs = Object.values(dims).reduce((s, d) => s + 4 * d.reduce((a, b) => a * b, 1), 0);
    expect(r.peakBytes).toBeGreaterThan(inputs + 4 * 3 * h * w);
  }, 120_000);
});

describe('measurePackMemory', () => {
  it('declares the largest variant’s sum over its graphs, and how it grows with size', async () => {
    const manifest = await readPackManifest(TINY);
    const m = await measurePackMemory(TINY, manifest);
    const sums = Object.values(m.perVariant).map((f) =>
      Object.values(f).reduce((a, b) => a + b, 0),
    );
    expect(m.memory.activationBytes).toBe(Math.max(...sums));
    expect(m.memory.atSize).toEqual(manifest.image.defaultSize);
    expect(m.memory.quadraticShare).toBeGreaterThanOrEqual(0);
    expect(m.memory.quadraticShare).toBeLessThanOrEqual(1);
    for (const files of Object.values(m.perVariant)) {
      expect(Object.keys(files)).toContain(manifest.graphs.decoder.file);
      for (const b of Object.values(files)) expect(b).toBeGreaterThan(0);
    }
    // The manifest takes it, and the estimate reads it.
    const raw = JSON.parse(readFileSync(join(TINY, 'manifest.json'), 'utf8'));
    const parsed = parseManifest(JSON.stringify({ ...raw, memory: m.memory }));
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    const e = estimateMemory(parsed.manifest, manifest.variants[0]!.id, { backend: 'wasm' });
    expect(e.activationBytes).toBe(m.memory.activationBytes);
  }, 120_000);
});
