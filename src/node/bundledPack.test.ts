/**
 * The trained bundled pack (models/cel) through the real pipeline and onnxruntime-node: its
 * manifest passes the contract, the LoRA variant at scale 0 gives the baseline's frames (same seed)
 * within 1/255, and the scale moves the frames away from the baseline monotonically over the
 * sweep's default scales — the drift a researcher looks for in the studio.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { meanStdPerStep } from '../core/collapse';
import { ISSUE20_FLOW } from '../core/farnebackOpenCV';
import type { FloatTensor } from '../core/graph';
import { cropImage, rgbaToTensor, type RgbaImage } from '../core/image';
import {
  decodeLatent,
  decoderReferences,
  estimateMotion,
  interpolate,
  prepareKeyframes,
  restoreFrame,
  type EncodedKeyframes,
  type PreparedKeyframes,
} from '../core/pipeline';
import { graphsForVariant, type PackManifest } from '../core/manifest';
import { DEFAULT_SCALES } from '../core/sweepDefaults';
import { loadVariantGraphs, readPackManifest, readPng } from './nodeRuntime';

const ROOT = resolve(import.meta.dirname, '../..');
const PACK = resolve(ROOT, 'models/cel');
const SEED = 7;

function maxLevelDiff(a: RgbaImage, b: RgbaImage): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++)
    if ((i & 3) !== 3) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

function meanLevelDiff(a: RgbaImage, b: RgbaImage): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) if ((i & 3) !== 3) s += Math.abs(a.data[i]! - b.data[i]!);
  return s / ((a.data.length / 4) * 3);
}

/** Mean level difference between `a` and `b` over the pixels where `start` and `end` agree. */
function staticDiff(a: RgbaImage, b: RgbaImage, start: RgbaImage, end: RgbaImage): number {
  let s = 0;
  let n = 0;
  for (let p = 0; p < a.data.length; p += 4) {
    const still = [0, 1, 2].every((c) => start.data[p + c] === end.data[p + c]);
    if (!still) continue;
    for (let c = 0; c < 3; c++) s += Math.abs(a.data[p + c]! - b.data[p + c]!);
    n += 3;
  }
  expect(n).toBeGreaterThan(0);
  return s / n;
}

describe.runIf(existsSync(join(PACK, 'manifest.json')))('the bundled trained pack', () => {
  let manifest: PackManifest;
  let prepared: PreparedKeyframes;
  beforeAll(async () => {
    manifest = await readPackManifest(PACK);
    const [start, end] = await Promise.all(
      ['bounce-start.png', 'bounce-end.png'].map((f) => readPng(join(ROOT, 'public/samples', f))),
    );
    prepared = prepareKeyframes(manifest, start!, end!, 'letterbox');
  });

  it('is trained, within 40 MB, and offers baseline, LoRA, fp16, int8 and student variants', async () => {
    expect(manifest.trained).toBe(true);
    expect(manifest.variants.map((v) => v.id)).toEqual([
      'baseline',
      'lora',
      'fp16',
      'int8',
      'student',
    ]);
    const g = manifest.graphs;
    let total = 0;
    for (const spec of [
      g.encoder!,
      g.decoder,
      ...(g.motion ? [g.motion] : []),
      ...Object.values(g.denoisers),
    ]) {
      expect((await stat(join(PACK, spec.file))).size).toBe(spec.sizeBytes);
      total += spec.sizeBytes;
    }
    expect(total).toBeLessThan(40e6);
  });

  it('estimates motion once per keyframe pair with its motion graph, and its decoder needs it and τ', async () => {
    expect(manifest.graphs.motion).toBeDefined();
    expect(manifest.graphs.decoder.inputs.motion).toBeDefined();
    const student = await loadVariantGraphs(PACK, manifest, 'student', 2);
    // A cel-like picture — flat-filled ellipses inked 3 px wide over a sky gradient — and the same
    // with the shapes moved 12 px right. The learned motion graph returns (m, −m), m the motion
    // through each pixel of the middle frame: about +12 px in x inside the shapes. (Farnebäck, the
    // graph before it, finds 0 there: flat fills give it nothing to hold on to. The learned graph in
    // turn does not follow plain translations of fine noise textures: docs/training.md.)
    const [w, h] = manifest.image.defaultSize;
    const shapes: [number, number, number, number, [number, number, number]][] = [
      [120, 155, 60, 75, [230, 120, 90]],
      [260, 105, 40, 45, [90, 160, 220]],
      [400, 200, 70, 80, [240, 210, 90]],
      [205, 250, 55, 50, [120, 200, 120]],
    ];
    const cel = (dx: number): RgbaImage => {
      const img = { width: w, height: h, data: new Uint8ClampedArray(w * h * 4) };
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          let rgb = [170 + Math.floor(y / 6), 200 + Math.floor(y / 10), 235];
          for (const [cx, cy, rx, ry, fill] of shapes) {
            const r = Math.hypot((x - cx - dx) / rx, (y - cy) / ry);
            if (r <= 1) rgb = r > 1 - 3 / Math.min(rx, ry) ? [30, 25, 35] : fill;
          }
          img.data.set([...rgb, 255], (y * w + x) * 4);
        }
      return img;
    };
    const start = cel(0);
    const shifted = cel(12);
    const motion = await estimateMotion(manifest, student.graphs.motion!, { start, end: shifted });
    expect(motion.dims).toEqual([1, 4, start.height, start.width]);
    const plane = start.width * start.height;
    // Medians over the pixels the shapes cover halfway (moved 6 px).
    const inside: number[] = [];
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        if (shapes.some(([cx, cy, rx, ry]) => Math.hypot((x - cx - 6) / rx, (y - cy) / ry) <= 1))
          inside.push(y * w + x);
    const median = (c: number) => {
      const v = inside.map((i) => motion.data[c * plane + i]!).sort((a, b) => a - b);
      return v[v.length >> 1]!;
    };
    expect(Math.abs(median(0) - 12)).toBeLessThan(2);
    expect(Math.abs(median(1))).toBeLessThan(3);
    expect(Math.abs(median(2) + 12)).toBeLessThan(2);

    // A run computes it with the encoding; a re-run on the same keyframes reuses it.
    const stages: string[] = [];
    const settings = { count: 2, steps: 4, seed: SEED };
    const first = await interpolate({
      manifest,
      variant: student.variant,
      graphs: student.graphs,
      keyframes: prepared,
      settings,
      hooks: {
        onProgress: (p) =>
          stages.push(p.kind === 'encode' ? `encode ${p.done}/${p.total}` : p.kind),
      },
    });
    expect(stages.filter((s) => s.startsWith('encode'))).toEqual([
      'encode 0/3',
      'encode 1/3',
      'encode 2/3',
      'encode 3/3',
    ]);
    expect(first.encoded.motion?.dims).toEqual([1, 4, start.height, start.width]);
    stages.length = 0;
    const denoise: { step: number; latentStd?: number }[] = [];
    const again = await interpolate({
      manifest,
      variant: student.variant,
      graphs: student.graphs,
      keyframes: prepared,
      settings,
      hooks: {
        onProgress: (p) => {
          stages.push(p.kind);
          if (p.kind === 'denoise') denoise.push(p);
        },
      },
      encoded: first.encoded,
    });
    expect(stages).not.toContain('encode');
    // Each denoising step's event carries the latent std after it (the kiosk's live plot).
    const perStep = meanStdPerStep(again.stepStats);
    expect(denoise.map((d) => d.step)).toEqual([0, 1, 2, 3, 4]);
    for (const d of denoise) expect(d.latentStd).toBeCloseTo(perStep[d.step]!, 6);
    for (let i = 0; i < 2; i++)
      expect(maxLevelDiff(again.modelFrames[i]!, first.modelFrames[i]!)).toBe(0);

    // The decoder says what it lacks instead of failing inside ONNX Runtime.
    const latent = first.encoded.start;
    await expect(
      decodeLatent(
        manifest,
        student.graphs.decoder,
        latent,
        decoderReferences(manifest, prepared),
        0.5,
      ),
    ).rejects.toThrow(/takes the motion graph's estimate/);
    const refs = decoderReferences(manifest, prepared, first.encoded.motion);
    await expect(decodeLatent(manifest, student.graphs.decoder, latent, refs)).rejects.toThrow(
      /takes the in-between's position τ/,
    );
  }, 120_000);

  it("fuses OpenCV's flows, computed by the studio, where they follow what the learned graph misses", async () => {
    // The motion graph takes OpenCV's Farnebäck flows of the pair (the manifest names the settings;
    // `estimateMotion` computes them with the studio's port) and mixes them per pixel with its learned
    // motion, by how well each one's halfway warps agree. A fine value-noise texture panned 12 px is
    // what the learned graph does not follow (docs/training.md) and OpenCV does.
    const spec = manifest.graphs.motion!;
    expect(spec.inputs.classicalMotion).toBeDefined();
    expect(spec.classicalFlow).toEqual({ method: 'opencv-farneback', ...ISSUE20_FLOW });
    const student = await loadVariantGraphs(PACK, manifest, 'student', 2);
    const [w, h] = [256, 192];
    const hash = (i: number) => {
      const v = Math.sin(i * 12.9898 + 78.233) * 43758.5453;
      return v - Math.floor(v);
    };
    const cells = Array.from({ length: (w / 8 + 8) * (h / 8 + 2) * 3 }, (_, i) => hash(i));
    const noise = (dx: number): RgbaImage => {
      const img = { width: w, height: h, data: new Uint8ClampedArray(w * h * 4) };
      const cw = w / 8 + 8;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          // Bilinear value noise with 8 px cells, sampled at x − dx (the texture moved dx px right).
          const fx = (x - dx + 32) / 8;
          const fy = y / 8;
          const [x0, y0] = [Math.floor(fx), Math.floor(fy)];
          const [tx, ty] = [fx - x0, fy - y0];
          const at = (cx: number, cy: number, c: number) =>
            cells[((cy * cw + cx) * 3 + c) % cells.length]!;
          const px = [0, 1, 2].map((c) => {
            const top = at(x0, y0, c) * (1 - tx) + at(x0 + 1, y0, c) * tx;
            const bottom = at(x0, y0 + 1, c) * (1 - tx) + at(x0 + 1, y0 + 1, c) * tx;
            return Math.round(40 + 180 * (top * (1 - ty) + bottom * ty));
          });
          img.data.set([...px, 255], (y * w + x) * 4);
        }
      return img;
    };
    const [start, end] = [noise(0), noise(12)];
    const fused = await estimateMotion(manifest, student.graphs.motion!, { start, end });
    const plane = w * h;
    const inner: number[] = [];
    for (let y = 24; y < h - 24; y++) for (let x = 40; x < w - 40; x++) inner.push(y * w + x);
    const median = (t: FloatTensor, c: number) => {
      const v = inner.map((i) => t.data[c * plane + i]!).sort((a, b) => a - b);
      return v[v.length >> 1]!;
    };
    expect(Math.abs(median(fused, 0) - 12)).toBeLessThan(1);
    expect(Math.abs(median(fused, 2) + 12)).toBeLessThan(1);
    // The same graph given no classical motion (zeros) returns its learned motion alone, which misses.
    const t = (img: RgbaImage): FloatTensor => ({
      data: rgbaToTensor(img, manifest.image.valueRange),
      dims: [1, 3, h, w],
    });
    const alone = await student.graphs.motion!.run({
      [spec.inputs.startImage]: t(start),
      [spec.inputs.endImage]: t(end),
      [spec.inputs.classicalMotion!]: { data: new Float32Array(4 * plane), dims: [1, 4, h, w] },
    });
    expect(Math.abs(median(alone[spec.outputs.motion]!, 0) - 12)).toBeGreaterThan(3);
  }, 120_000);

  it('at native size, what does not move comes back closer to the keyframes than through letterbox', async () => {
    // 301×203 keyframes (not a multiple of 64, another shape than 512×320) cut from the samples.
    const [start, end] = (
      await Promise.all(
        ['bounce-start.png', 'bounce-end.png'].map((f) => readPng(join(ROOT, 'public/samples', f))),
      )
    ).map((img) => cropImage(img!, 150, 80, 301, 203)) as [RgbaImage, RgbaImage];
    const student = await loadVariantGraphs(PACK, manifest, 'student', 2);
    const settings = { count: 1, steps: 4, seed: SEED };
    const diffs: Record<string, number> = {};
    for (const mode of ['native', 'letterbox'] as const) {
      const kf = prepareKeyframes(manifest, start, end, mode);
      if (mode === 'native') {
        expect([kf.plan.dstWidth, kf.plan.dstHeight]).toEqual([320, 256]);
        expect([kf.start.width, kf.start.height]).toEqual([320, 256]);
      }
      const res = await interpolate({
        manifest,
        variant: student.variant,
        graphs: student.graphs,
        keyframes: kf,
        settings,
      });
      const frame = restoreFrame(res.modelFrames[0]!, kf.plan, start);
      expect([frame.width, frame.height]).toEqual([301, 203]);
      diffs[mode] = staticDiff(frame, start, start, end);
    }
    expect(diffs.native!, JSON.stringify(diffs)).toBeLessThan(diffs.letterbox!);
    expect(diffs.native!, JSON.stringify(diffs)).toBeLessThan(1);
  }, 120_000);

  it('LoRA at scale 0 equals the baseline within 1/255, and drifts monotonically with the scale', async () => {
    const base = await loadVariantGraphs(PACK, manifest, 'baseline', 2);
    const lora = await loadVariantGraphs(PACK, manifest, 'lora', 2);
    const settings = { count: 3, steps: manifest.scheduler.defaultSteps, seed: SEED };
    const ref = await interpolate({
      manifest,
      variant: base.variant,
      graphs: base.graphs,
      keyframes: prepared,
      settings,
    });
    let encoded: EncodedKeyframes | undefined = ref.encoded;
    const distances: number[] = [];
    for (const scale of DEFAULT_SCALES) {
      const res = await interpolate({
        manifest,
        variant: lora.variant,
        graphs: lora.graphs,
        keyframes: prepared,
        settings: { ...settings, loraScale: scale },
        hooks: {},
        encoded,
      });
      encoded = res.encoded;
      if (scale === 0) {
        for (let i = 0; i < 3; i++)
          expect(maxLevelDiff(res.modelFrames[i]!, ref.modelFrames[i]!)).toBeLessThanOrEqual(1);
      }
      distances.push(
        res.modelFrames.reduce((s, f, i) => s + meanLevelDiff(f, ref.modelFrames[i]!), 0) / 3,
      );
    }
    for (let i = 1; i < distances.length; i++)
      expect(distances[i]!).toBeGreaterThan(distances[i - 1]!);
    // Scale 1 changes the frames measurably. Only moving regions can show it: the pack's decoder
    // copies what did not move from the keyframes, so the mean over whole frames stays under a level.
    // (The pack's REPORT: 0, 0.07, 0.26, 0.54 levels at scales 0, 0.15, 0.5, 1, on other clips.)
    expect(distances.at(-1)!).toBeGreaterThan(0.1);
  }, 300_000);

  it('int8 runs the baseline quantised: its frames stay within a level of fp32 on average', async () => {
    const base = await loadVariantGraphs(PACK, manifest, 'baseline', 2);
    const int8 = await loadVariantGraphs(PACK, manifest, 'int8', 2);
    expect(int8.variant.precision).toBe('int8');
    // Denoiser and decoder both quantised; the encoder and motion graph are the baseline's.
    expect(graphsForVariant(manifest, 'int8').map((g) => [g.role, g.spec.file])).toEqual([
      ['encoder', 'encoder.onnx'],
      ['decoder', 'decoder_int8.onnx'],
      ['motion', 'motion.onnx'],
      ['denoiser', 'denoiser_int8.onnx'],
    ]);
    const settings = { count: 3, steps: manifest.scheduler.defaultSteps, seed: SEED };
    const run = (v: typeof base) =>
      interpolate({
        manifest,
        variant: v.variant,
        graphs: v.graphs,
        keyframes: prepared,
        settings,
      });
    const [ref, q] = [await run(base), await run(int8)];
    const mean =
      q.modelFrames.reduce((s, f, i) => s + meanLevelDiff(f, ref.modelFrames[i]!), 0) / 3;
    console.log(`int8 against fp32 (bounce, 3 in-betweens): mean ${mean.toFixed(3)} levels`);
    expect(mean).toBeGreaterThan(0); // it is a different graph…
    expect(mean).toBeLessThan(1); // …that makes the same frames to within a level on average
  }, 300_000);
});
