/**
 * The pack evaluation library on the tiny test pack with real onnxruntime-node and the real LPIPS
 * graphs, on a few triplets generated into a temporary folder: the plan it ran, the numbers in its
 * tables against scores computed here independently, its checks, and REPORT.md against
 * evaluation.json. The pack is copied with one more variant, a 2-step one, so the fast-variant
 * check runs too.
 */
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport } from '../core/evaluation/render';
import type { EvaluationResult } from '../core/evaluation/summary';
import { createRgbaImage, type RgbaImage } from '../core/image';
import {
  decodeLatent,
  decoderReferences,
  encodeKeyframe,
  prepareKeyframes,
  restoreFrame,
} from '../core/pipeline';
import { psnr, ssim } from '../core/metrics';
import { mean } from '../core/stats';
import { prepareLpipsGraphs } from '../testing/lpipsFixture';
import { blendFrames, evaluatePack, listTriplets } from './evaluatePack';
import {
  loadVariantGraphs,
  readPackManifest,
  readPng,
  releaseVariantGraphs,
  writePng,
} from './nodeRuntime';

const REPO = resolve(import.meta.dirname, '..', '..');
const TINY = join(REPO, 'models', 'tiny');

let tmp = '';
let lpipsDir = '';
let cleanupLpips: () => void = () => undefined;
let run:
  | { result: EvaluationResult; report: string; json: string; svg: string; sheet: RgbaImage }
  | undefined;

/** A disc moving across a gradient, at time t ∈ [0, 1]. */
function frame(width: number, height: number, t: number, seed: number): RgbaImage {
  const img = createRgbaImage(width, height);
  const cx = width * (0.2 + 0.6 * t);
  const cy = height * (0.3 + 0.4 * t * (seed % 2 ? 1 : -1) + (seed % 2 ? 0 : 0.4));
  const r = height * 0.2;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
      img.data[i] = inside ? 230 : (x * 255) / width;
      img.data[i + 1] = inside ? 40 + 50 * seed : 120;
      img.data[i + 2] = inside ? 30 : (y * 255) / height;
      img.data[i + 3] = 255;
    }
  return img;
}

/** A triplet folder's three frames, in order. */
const readTriplet = (clip: string) =>
  Promise.all(['frame1.png', 'frame2.png', 'frame3.png'].map((f) => readPng(join(clip, f))));

async function writeTriplets(dir: string, sizes: [number, number][]): Promise<void> {
  for (const [n, [w, h]] of sizes.entries()) {
    const clip = join(dir, 'val', `clip_${n}`);
    mkdirSync(clip, { recursive: true });
    for (const [k, t] of [0, 0.5, 1].entries())
      await writePng(join(clip, `frame${k + 1}.png`), frame(w, h, t, n));
  }
  mkdirSync(join(dir, 'val', 'not_a_triplet'));
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'evaluate-pack-'));
  const graphs = prepareLpipsGraphs();
  lpipsDir = graphs.dir;
  cleanupLpips = graphs.cleanup;
  // The tiny pack plus a 2-step variant of its baseline denoiser (the fast variant).
  const pack = join(tmp, 'pack');
  mkdirSync(pack);
  for (const f of readdirSync(TINY)) copyFileSync(join(TINY, f), join(pack, f));
  const manifest = JSON.parse(readFileSync(join(TINY, 'manifest.json'), 'utf8'));
  manifest.variants.push({
    id: 'quick',
    label: 'Quick (2 steps)',
    precision: 'fp32',
    denoiser: 'fp32',
    recommendedSteps: 2,
  });
  writeFileSync(join(pack, 'manifest.json'), JSON.stringify(manifest, null, 2));
  await writeTriplets(join(tmp, 'set'), [
    [192, 128],
    [160, 96],
    [200, 120],
  ]);
  // Drawn clips smaller than the pack's 192×128 frame (Auto runs them at their own size) and one of
  // that size (Auto and Letterbox alike hand it to the model as it is).
  await writeTriplets(join(tmp, 'drawn'), [
    [96, 64],
    [130, 70],
    [192, 128],
  ]);
  const { result, files } = await evaluatePack({
    pack,
    data: join(tmp, 'set'),
    split: 'val',
    limit: 10,
    seed: 7,
    lpips: lpipsDir,
    threads: 2,
    drawn: [join(tmp, 'drawn')],
    drawnLimit: 10,
    report: join(tmp, 'out', 'REPORT.md'),
    reproduce: ['npm run evaluate -- --pack tiny'],
    timing: { rounds: 1, repeats: 1, alternating: 2 },
    date: '2026-01-02',
  });
  run = {
    result,
    report: readFileSync(files.report, 'utf8'),
    json: readFileSync(files.json, 'utf8'),
    svg: readFileSync(files.svgs[0]!, 'utf8'),
    sheet: await readPng(files.sheets[0]!),
  };
}, 600_000);

afterAll(() => {
  cleanupLpips();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('evaluatePack on the tiny pack', () => {
  it('runs the plan read from the manifest: every variant, LoRA scales, the anchors', async () => {
    const r = run!.result;
    expect(r.reference).toBe('baseline');
    expect(r.fast).toBe('quick');
    expect(r.table.map((row) => row.id)).toEqual([
      'baseline',
      'lora@0',
      'lora@0.15',
      'lora@0.5',
      'lora@1',
      'fp16',
      'quick',
      'blend',
      'repeat',
    ]);
    expect(r.table.find((row) => row.id === 'quick')!.steps).toBe(2);
    expect(r.triplets).toBe(3);
    expect(r.drawn).toHaveLength(1);
    expect(r.drawn[0]!.triplets).toBe(3);
    expect(r.drawn[0]!.rows.map((row) => row.id)).toEqual([
      'baseline',
      'quick',
      'baseline@letterbox',
      'quick@letterbox',
      'keyavg',
      'truelatent',
      'blend',
      'repeat',
      'roundtrip',
    ]);
    // The latent ablation: every compared variant minus blend, minus the keyframes' average latent
    // decoded and minus the true middle frame's latent decoded (its ceiling), triplet by triplet (no
    // flow warp: the tiny pack has no motion graph).
    const d = r.drawn[0]!;
    const keyavg = d.rows.find((row) => row.id === 'keyavg')!;
    expect(Number.isFinite(keyavg.psnr)).toBe(true);
    expect(keyavg.lpipsAlex).toBeGreaterThan(0);
    expect(d.paired!.map((p) => `${p.config}−${p.anchor}`)).toEqual([
      'baseline−blend',
      'baseline−keyavg',
      'baseline−truelatent',
      'quick−blend',
      'quick−keyavg',
      'quick−truelatent',
    ]);
    const base = d.rows.find((row) => row.id === 'baseline')!;
    const ablation = d.paired!.find((p) => p.config === 'baseline' && p.anchor === 'keyavg')!;
    expect(ablation.psnr.n).toBe(3);
    expect(ablation.psnr.mean!).toBeCloseTo(base.psnr! - keyavg.psnr!, 6);
    // evaluation.json keeps the set's scores triplet by triplet, by clip folder name.
    const per = d.perTriplet!;
    expect(per.triplets).toEqual(
      (await listTriplets(join(tmp, 'drawn', 'val'), 10, 7)).map((c) => basename(c)),
    );
    expect(Object.keys(per.rows)).toEqual(d.rows.map((row) => row.id));
    expect(mean(per.rows.keyavg!.psnr.map(Number))).toBeCloseTo(keyavg.psnr!, 3);
    expect(mean(per.rows.baseline!.lpipsAlex.map(Number))).toBeCloseTo(base.lpipsAlex!, 5);
    for (const row of r.table.slice(0, 7)) {
      expect(row.msPerInbetween, row.id).toBeGreaterThan(0);
      expect(row.sizeBytes, row.id).toBeGreaterThan(0);
      expect(row.lpipsAlex, row.id).toBeGreaterThan(0);
    }
  });

  it('scores the anchors as computed here from the triplet files', async () => {
    const clips = await listTriplets(join(tmp, 'set', 'val'), 10);
    expect(clips).toHaveLength(3);
    const blend: number[] = [];
    const repeat: number[] = [];
    for (const clip of clips) {
      const [f1, f2, f3] = await readTriplet(clip);
      blend.push(psnr(f2!, blendFrames(f1!, f3!)));
      repeat.push(ssim(f2!, f1!));
    }
    const row = (id: string) => run!.result.table.find((x) => x.id === id)!;
    expect(row('blend').psnr).toBeCloseTo(mean(blend), 10);
    expect(row('repeat').ssim).toBeCloseTo(mean(repeat), 10);
    // The fit-and-restore ceiling: Auto hands every drawn clip to the model at its own pixels, so
    // the true middle frame comes back exactly.
    const drawn = run!.result.drawn[0]!;
    const ceiling = drawn.rows.at(-1)!;
    expect([ceiling.psnrExact, ceiling.ssim]).toEqual([3, 1]);
    // Letterboxed, the two small clips are resampled: other frames than Auto's.
    const byId = (id: string) => drawn.rows.find((x) => x.id === id)!;
    expect(byId('baseline@letterbox').ssim).not.toBe(byId('baseline').ssim);
    // The ablation's ceiling, computed here: each true middle frame encoded by the baseline's encoder
    // and decoded by its decoder with the keyframes as references, at τ = ½.
    const manifest = await readPackManifest(TINY);
    const { graphs } = await loadVariantGraphs(TINY, manifest, 'baseline', 2);
    try {
      const truth: number[] = [];
      for (const clip of await listTriplets(join(tmp, 'drawn', 'val'), 10)) {
        const [f1, f2, f3] = await readTriplet(clip);
        const prepared = prepareKeyframes(manifest, f1!, f3!, 'auto');
        const fitted = prepareKeyframes(manifest, f2!, f2!, 'auto').start; // as the keyframes
        const latent = await encodeKeyframe(manifest, graphs.encoder!, fitted);
        const frame = await decodeLatent(
          manifest,
          graphs.decoder,
          latent,
          decoderReferences(manifest, prepared),
          0.5,
        );
        truth.push(psnr(f2!, restoreFrame(frame, prepared.plan, f1!)));
      }
      expect(byId('truelatent').psnr).toBeCloseTo(mean(truth), 6);
    } finally {
      await releaseVariantGraphs(graphs);
    }
  });

  it('checks what the pack should satisfy', () => {
    const c = run!.result.checks;
    // LoRA at scale 0 is the baseline, to float precision: the same frames.
    expect(c.lora).toHaveLength(1);
    expect(c.lora[0]!.scales).toEqual([0, 0.15, 0.5, 1]);
    expect(c.lora[0]!.diffs[0]).toBeLessThan(0.01);
    expect(c.lora[0]!.diffs[3]).toBeGreaterThan(c.lora[0]!.diffs[0]!);
    // Each scale's latent std against the reference run's (same triplet, seed and steps): scale 0
    // runs the same graph as the reference, so its ratio is 1 and nothing is flagged there.
    expect(c.lora[0]!.triplets).toBe(3);
    expect(c.lora[0]!.finalStdRatios).toHaveLength(4);
    expect(c.lora[0]!.finalStdRatios[0]).toBeCloseTo(1, 4);
    for (const r of c.lora[0]!.finalStdRatios) expect(r).toBeGreaterThan(0);
    expect(c.lora[0]!.collapsed[0]).toBe(0);
    expect(c.halfPrecision).toEqual([expect.objectContaining({ config: 'fp16', pass: true })]);
    expect(c.anchors.map((a) => a.anchor)).toEqual(['blend']); // the tiny pack has no motion graph
    expect(c.anchors[0]!.psnr.paired!.n).toBe(3);
    expect(c.fast).toMatchObject({ config: 'quick', steps: 2, referenceSteps: 8, inbetweens: 2 });
    // Tiny graphs time mostly noise: the figures are checked for consistency, not speed.
    expect(c.fast!.referenceMs).toBeGreaterThan(0);
    expect(c.fast!.fastMs).toBeGreaterThan(0);
    expect(c.fast!.speedup).toBeCloseTo(c.fast!.referenceMs! / c.fast!.fastMs!, 12);
    expect(c.fast!.faster).toBe(c.fast!.speedup! >= 4);
  });

  it('writes a REPORT.md that is the rendering of evaluation.json, and the sweep plot', () => {
    const json = JSON.parse(run!.json) as EvaluationResult;
    expect(json).toEqual(JSON.parse(JSON.stringify(run!.result)));
    // Indented, each array of numbers on one line: no line holds a lone number.
    expect(run!.json).toContain('\n  "triplets": 3,\n');
    expect(run!.json).not.toMatch(/\n\s*(-?[\d.]+|null),?\n/);
    expect(run!.json).toMatch(/"psnr": \[[\d.]+, [\d.]+, [\d.]+\]/);
    expect(renderReport(json)).toBe(run!.report);
    for (const row of [...json.table, ...json.drawn[0]!.rows])
      expect(run!.report).toContain(`| ${row.label} |`);
    expect(json.data.endsWith(join('set', 'val'))).toBe(true);
    expect(run!.report).toContain(
      '![LoRA-scale sweep: PSNR and LPIPS against scale](lora-sweep.svg)',
    );
    expect(run!.report).toMatch(
      /Final latent std over the reference's \(same triplet and seed\) at those scales: 1\.00 → [\d.]+ → [\d.]+ → [\d.]+; the studio's collapse check .* flags (none of the 3 triplets|\d of 3 triplets at scale)/,
    );
    expect(run!.svg).toMatch(/^<svg [^>]*>.*<\/svg>\n$/s);
    expect(run!.svg.match(/<circle /g)).toHaveLength(8); // 4 scales × 2 panels
  });

  it('draws what each LoRA scale does to a frame: a contact sheet the report shows', () => {
    const sweep = run!.result.loraSweeps[0]!;
    expect(sweep.sheet!.file).toBe('lora-sweep.png');
    expect(sweep.sheet!.triplets).toHaveLength(3); // the set's first three
    expect(run!.report).toContain('![LoRA-scale sweep: in-betweens at each scale](lora-sweep.png)');
    expect(run!.report).toContain('columns: start, scale 0, scale 0.15, scale 0.5, scale 1, end.');
    // Rows of 256×160 cells: start, the four scales, end.
    const { sheet } = run!;
    expect([sheet.width, sheet.height]).toEqual([6 * 256, 3 * 160]);
    const cell = (col: number, row: number) => {
      const px: number[] = [];
      for (let y = row * 160; y < (row + 1) * 160; y++)
        for (let x = col * 256; x < (col + 1) * 256; x++)
          for (let c = 0; c < 3; c++) px.push(sheet.data[(y * sheet.width + x) * 4 + c]!);
      return px;
    };
    const diff = (a: number[], b: number[]) => mean(a.map((v, i) => Math.abs(v - b[i]!)));
    // Scale 1 moves the frame further from scale 0 than scale 0.15 does (as the check above says).
    expect(diff(cell(4, 0), cell(1, 0))).toBeGreaterThan(diff(cell(2, 0), cell(1, 0)));
    expect(diff(cell(0, 0), cell(5, 0))).toBeGreaterThan(0); // start and end differ
  });
});
