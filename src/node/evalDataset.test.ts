/**
 * `inbetween eval` / `inbetween report` (issue 19) on the tiny test pack with the real
 * onnxruntime-node, over a small generated ATD-12K-style dataset: each line's values equal
 * `inbetween interpolate` + the scoring of the same frames; the report's means and intervals
 * recomputed here; three shards run as separate processes and merged equal one unsharded run; a
 * run killed halfway and resumed equals an uninterrupted one with no line twice; bad items are
 * counted and the run completes; the KDQ protocol's resize and metrics.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeRuns, renderDatasetReport, summariseRuns } from '../core/evaluation/datasetReport';
import type { ResultLine } from '../core/evaluation/datasetRun';
import { createRgbaImage, cropImage, resizeImage, type RgbaImage } from '../core/image';
import { psnr, ssim } from '../core/metrics';
import { tQuantile975 } from '../core/pairedDifference';
import { scoreImages } from '../core/scoring';
import { computeLpips } from '../core/lpips';
import { tofDifference, tofFlow } from '../core/farnebackOpenCV';
import { prepareLpipsGraphs } from '../testing/lpipsFixture';
import { temporalMetrics } from '../core/evaluation/datasetEval';
import { evaluateDataset, readRun } from './evalDataset';
import { loadLpipsGraphs, readPng, writePng } from './nodeRuntime';

const REPO = resolve(import.meta.dirname, '../..');
const PACK = join(REPO, 'models', 'tiny');
const CLI = join(REPO, 'bin', 'inbetween.mjs');
const PLAN = ['--steps', '2', '--variants', 'baseline,lora', '--lora-scales', '0,1'];
let root: string;
let data: string;

/** A box moving across a light ground: frame f of clip c. */
function frame(c: number, f: number, w = 96, h = 64): RgbaImage {
  const img = createRgbaImage(w, h);
  const bx = 20 + f * 12 + c * 3;
  const by = 20 + f * 5;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const k = (y * w + x) * 4;
      const box = Math.abs(x - bx) < 10 && Math.abs(y - by) < 8;
      img.data.set(box ? [40 * c, 60, 255 - 40 * c, 255] : [230, 220, 200, 255], k);
    }
  return img;
}

/** `inbetween eval` of the test plan over the generated dataset into `out`, then `extra`. */
/** `inbetween eval` of the test dataset into `out` with `plan` (default PLAN) and `extra`. */
const evalArgsWith = (out: string, plan: readonly string[], ...extra: string[]) => [
  'eval',
  '--pack',
  PACK,
  '--data',
  data,
  '--out',
  out,
  ...plan,
  ...extra,
];
const evalArgs = (out: string, ...extra: string[]) => evalArgsWith(out, PLAN, ...extra);

function cli(args: string[]) {
  const r = spawnSync('node', [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A run's lines without the timing field, sorted: what two runs of one plan must share. */
async function linesOf(dir: string): Promise<string[]> {
  const { lines } = await readRun(dir);
  return lines.map(({ ms: _ms, ...rest }) => JSON.stringify(rest)).sort();
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'eval-'));
  data = join(root, 'data');
  for (let c = 0; c < 6; c++) {
    const dir = join(data, 'test', `${c % 2 ? 'Disney' : 'Japan'}_clip_${c}`);
    await mkdir(dir, { recursive: true });
    for (let f = 1; f <= 3; f++) await writePng(join(dir, `frame${f}.png`), frame(c, f));
  }
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('inbetween eval', () => {
  let lines: ResultLine[];

  beforeAll(async () => {
    const r = cli(evalArgs(join(root, 'full'), '--quiet'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/wrote 36 result lines for 6 items .* items per minute/);
    ({ lines } = await readRun(join(root, 'full')));
  }, 180_000);

  it('writes one line per item × configuration and anchor, one variant at a time', () => {
    expect(lines).toHaveLength(6 * 6);
    const configs = [...new Set(lines.map((l) => l.config))];
    // The anchors come with the first variant's pass; the second variant's lines follow. The tiny
    // pack has no motion graph, and the flow anchor needs none.
    expect(configs).toEqual([
      'variant=baseline;steps=2;seed=1',
      'anchor:blend',
      'anchor:repeat',
      'anchor:flow',
      'variant=lora;lora=0;steps=2;seed=1',
      'variant=lora;lora=1;steps=2;seed=1',
    ]);
    expect(new Set(lines.slice(0, 24).map((l) => l.config)).size).toBe(4);
    expect(lines[0]).toMatchObject({ split: 'test', frames: [{ tau: 0.5 }] });
  });

  it("scores each item as `inbetween interpolate` and the studio's scoring do", async () => {
    for (const clip of ['Disney_clip_1', 'Japan_clip_4']) {
      const dir = join(data, 'test', clip);
      const out = join(root, `interp-${clip}`);
      const args = ['interpolate', '--pack', PACK, '--start', join(dir, 'frame1.png')];
      args.push('--end', join(dir, 'frame3.png'), '--out', out, '--frames', '1', '--steps', '2');
      // The studio protocol's fit is letterbox unless the run says otherwise; interpolate's is Auto.
      args.push('--fit', 'letterbox');
      const r = cli([...args, '--seed', '1', '--variant', 'lora', '--lora-scale', '1']);
      expect(r.code, r.err).toBe(0);
      const s = await scoreImages(
        await readPng(join(dir, 'frame2.png')),
        await readPng(join(out, 'frame_01.png')),
      );
      const line = lines.find(
        (l) => l.item === `test/${clip}` && l.config === 'variant=lora;lora=1;steps=2;seed=1',
      )!;
      expect(line.metrics['psnr']).toBe(s.psnr);
      expect(line.metrics['ssim']).toBe(s.ssim);
    }
  }, 120_000);

  it("reports means and 95% intervals that equal the lines' own", async () => {
    const report = summariseRuns(mergeRuns([await readRun(join(root, 'full'))]));
    for (const row of report.rows) {
      const v = lines.filter((l) => l.config === row.config).map((l) => l.metrics['psnr']!);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1));
      const half = tQuantile975(v.length - 1) * (sd / Math.sqrt(v.length));
      expect(row.metrics['psnr']!.mean).toBeCloseTo(mean, 10);
      expect(row.metrics['psnr']!.high! - row.metrics['psnr']!.mean!).toBeCloseTo(half, 10);
    }
    const blend = report.paired.find((p) => p.config === 'anchor:blend')!.metrics['psnr']!;
    const diffs = [
      'Disney_clip_1',
      'Disney_clip_3',
      'Disney_clip_5',
      'Japan_clip_0',
      'Japan_clip_2',
      'Japan_clip_4',
    ].map(
      (c) =>
        lines.find((l) => l.item === `test/${c}` && l.config === 'anchor:blend')!.metrics['psnr']! -
        lines.find((l) => l.item === `test/${c}` && l.config === report.reference)!.metrics[
          'psnr'
        ]!,
    );
    expect(blend.mean).toBeCloseTo(diffs.reduce((a, b) => a + b, 0) / 6, 10);
    expect(report.categories).toEqual(['Disney', 'Japan']);
    const md = renderDatasetReport(report, 'md');
    expect(md).toContain(
      `| anchor:blend | 6 | ${report.rows.find((r) => r.config === 'anchor:blend')!.metrics['psnr']!.mean!.toFixed(2)} ± `,
    );
    expect(renderDatasetReport(report, 'tex')).toMatch(
      /\\toprule[\s\S]*\\midrule[\s\S]*anchor:blend[\s\S]*\\bottomrule/,
    );
    const csv = renderDatasetReport(report, 'csv').trim().split('\n');
    expect(csv[0]).toBe('table,configuration,category,metric,mean,low,high,n,excluded');
    expect(csv).toHaveLength(1 + (6 + 12) * 3 + 5 * 3);
    expect(JSON.parse(renderDatasetReport(report, 'json')).rows).toHaveLength(6);
  });

  it('three shards run as separate processes merge to the unsharded run exactly', async () => {
    const dirs = [0, 1, 2].map((i) => join(root, `shard${i}`));
    const runs = dirs.map(
      (dir, i) =>
        new Promise<number | null>((done) => {
          const p = spawn('node', [CLI, ...evalArgs(dir, '--shard', `${i}/3`, '--quiet')], {
            cwd: REPO,
          });
          p.on('exit', done);
        }),
    );
    expect(await Promise.all(runs)).toEqual([0, 0, 0]);
    const all = (await Promise.all(dirs.map(linesOf))).flat().sort();
    expect(all).toEqual(await linesOf(join(root, 'full')));
    const merged = mergeRuns(await Promise.all(dirs.map((d) => readRun(d))));
    expect(merged.missing).toEqual([]);
    const full = summariseRuns(mergeRuns([await readRun(join(root, 'full'))]));
    expect(renderDatasetReport(summariseRuns(merged), 'json')).toBe(
      renderDatasetReport(full, 'json'),
    );
    // One shard alone is incomplete, and the report command says so.
    const r = cli(['report', dirs[0]!, dirs[1]!, '--format', 'csv']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/incomplete: shard 2\/3 missing/);
    expect(cli(['report', ...dirs, '--format', 'md']).code).toBe(0);
  }, 240_000);

  it('a run killed halfway and resumed equals an uninterrupted run, with no line twice', async () => {
    const dir = join(root, 'killed');
    const p = spawn('node', [CLI, ...evalArgs(dir, '--quiet')], { cwd: REPO });
    const results = join(dir, 'results.jsonl');
    await new Promise<void>((done, fail) => {
      const timer = setInterval(() => {
        const n = existsSync(results) ? readFileSync(results, 'utf8').split('\n').length - 1 : 0;
        if (n >= 12) {
          clearInterval(timer);
          p.kill('SIGKILL');
          done();
        }
      }, 20);
      p.on('exit', () => {
        clearInterval(timer);
        fail(new Error('the run finished before it could be killed'));
      });
    });
    await new Promise((r) => p.on('exit', r));
    const before = readFileSync(results, 'utf8').split('\n').filter(Boolean).length;
    expect(before).toBeLessThan(36);
    // A kill mid-line leaves a partial last line: simulate one on top.
    await writeFile(results, readFileSync(results, 'utf8') + '{"item":"test/Jap');
    expect(cli(evalArgs(dir, '--quiet')).err).toMatch(/already holds a run .* --resume/);
    const r = cli(evalArgs(dir, '--resume', '--quiet'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`wrote ${36 - before} result lines`));
    const after = await linesOf(dir);
    expect(new Set(after).size).toBe(after.length);
    expect(after).toEqual(await linesOf(join(root, 'full')));
    // Another plan cannot resume into it.
    const other = cli([
      'eval',
      '--pack',
      PACK,
      '--data',
      data,
      '--out',
      dir,
      '--steps',
      '3',
      '--resume',
    ]);
    expect(other.err).toMatch(/holds another run/);
  }, 240_000);

  it('--device cuda runs on the CUDA provider where it is installed, else says how to get it', () => {
    const lib = join(
      REPO,
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so',
    );
    // One variant without a LoRA: the test plan's LoRA scales would be refused for it.
    const args = ['eval', '--pack', PACK, '--data', data, '--out', join(root, 'cuda')];
    const r = cli([
      ...args,
      '--steps',
      '2',
      '--variants',
      'baseline',
      '--device',
      'cuda',
      '--quiet',
    ]);
    if (existsSync(lib)) {
      expect(r.code, r.err).toBe(0);
    } else {
      expect(r.code).not.toBe(0);
      expect(r.err).toContain("onnxruntime-node's CUDA provider is not installed");
      expect(r.err).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    }
    expect(cli(evalArgs(join(root, 'tpu'), '--device', 'tpu')).err).toMatch(
      /--device must be cpu or cuda/,
    );
  }, 120_000);

  it('refuses an empty item in a list option instead of reading it as 0', () => {
    for (const [option, value] of [
      ['--lora-scales', '0.5,'],
      ['--guidance', ''],
      ['--seeds', '1,,2'],
    ] as const) {
      const out = join(root, 'empty-item');
      // An option is given once: the plan's own --lora-scales gives way to the one tested.
      const plan = option === '--lora-scales' ? PLAN.slice(0, 4) : PLAN;
      const r = cli(evalArgsWith(out, plan, '--quiet', option, value));
      expect(r.code, option).toBe(2);
      expect(r.err).toContain(`${option} takes comma-separated numbers, got "${value}"`);
      expect(existsSync(join(out, 'run.json')), option).toBe(false);
    }
  }, 60_000);

  it('refuses keyframes further apart than the pack makes in-betweens for, writing nothing', () => {
    const out = join(root, 'too-far');
    const r = cli(evalArgs(out, '--quiet', '--sequence', 'every:17'));
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(
      'keyframes every 17 frames asks for 16 in-betweens per item, and a pack makes at most 15',
    );
    expect(existsSync(join(out, 'run.json'))).toBe(false);
  }, 60_000);
});

describe('bad datasets', () => {
  it('counts missing frames, mixed sizes, non-images and a symlink loop, and completes', async () => {
    const bad = join(root, 'bad');
    for (let c = 0; c < 2; c++) {
      const dir = join(bad, `ok_${c}`);
      await mkdir(dir, { recursive: true });
      for (let f = 1; f <= 3; f++) await writePng(join(dir, `frame${f}.png`), frame(c, f));
    }
    await mkdir(join(bad, 'missing'));
    await writePng(join(bad, 'missing', 'frame1.png'), frame(0, 1));
    await mkdir(join(bad, 'sizes'));
    for (let f = 1; f <= 3; f++)
      await writePng(join(bad, 'sizes', `frame${f}.png`), frame(0, f, f === 2 ? 64 : 96));
    await mkdir(join(bad, 'text'));
    for (const f of [1, 3]) await writePng(join(bad, 'text', `frame${f}.png`), frame(0, f));
    await writeFile(join(bad, 'text', 'frame2.png'), 'not an image');
    await symlink(bad, join(bad, 'loop'));
    const s = await evaluateDataset({
      pack: PACK,
      data: bad,
      out: join(root, 'bad-out'),
      steps: [2],
      variants: ['baseline'],
    });
    expect(s.written).toBe(2 * 4);
    expect(s.itemProblems).toBe(2);
    expect(s.info.datasetProblems.map((p) => p.id)).toEqual(['loop', 'missing']);
    const problems = (await readFile(join(root, 'bad-out', 'problems.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(problems).toEqual([
      {
        item: 'sizes',
        message:
          'sizes differ within the item: frame1.png 96×64, frame2.png 64×64, frame3.png 96×64',
      },
      { item: 'text', message: expect.stringMatching(/^text\/frame2\.png is not an image file/) },
    ]);
    // A kill in the middle of problems.jsonl's last line: the resume cuts it off and tries the item
    // again, so its line is appended on a line of its own and every later read parses.
    const problemsPath = join(root, 'bad-out', 'problems.jsonl');
    const text = await readFile(problemsPath, 'utf8');
    const cut = text.indexOf('\n') + 13;
    await writeFile(problemsPath, text.slice(0, cut));
    const resumed = await evaluateDataset({
      pack: PACK,
      data: bad,
      out: join(root, 'bad-out'),
      steps: [2],
      variants: ['baseline'],
      resume: true,
    });
    expect(resumed).toMatchObject({ written: 0, itemProblems: 1 });
    expect(await readFile(problemsPath, 'utf8')).toBe(text);
    const report = summariseRuns(mergeRuns([await readRun(join(root, 'bad-out'))]));
    expect(report).toMatchObject({ items: 2, problems: 4 });
    await mkdir(join(root, 'empty'));
    const empty = await evaluateDataset({
      pack: PACK,
      data: join(root, 'empty'),
      out: join(root, 'empty-out'),
      steps: [2],
    });
    expect(empty).toMatchObject({ written: 0, itemProblems: 0 });
    // A line that is not JSON before the last is damage, not a kill: named, never skipped.
    await writeFile(problemsPath, `{"item":"si\n${text}`);
    await expect(readRun(join(root, 'bad-out'))).rejects.toThrow(
      /problems\.jsonl, line 1, is not a JSON line/,
    );
  }, 120_000);
});

describe('sequences with several in-betweens', () => {
  it('score each frame and add frame-to-frame SSIM of the prediction and of the truth', async () => {
    const seq = join(root, 'seq');
    await mkdir(join(seq, 'shot'), { recursive: true });
    for (let f = 0; f < 7; f++) await writePng(join(seq, 'shot', `f${f + 1}.png`), frame(1, f));
    const out = join(root, 'seq-out');
    const s = await evaluateDataset({
      pack: PACK,
      data: seq,
      out,
      sequence: { keyframesEvery: 3 },
      steps: [2],
      variants: ['baseline'],
    });
    expect(s.written).toBe(2 * 4);
    const { lines } = await readRun(out);
    const repeat = lines.find((l) => l.item === 'shot#4-7' && l.config === 'anchor:repeat')!;
    expect(repeat.frames.map((f) => f.tau)).toEqual([1 / 3, 2 / 3]);
    const [f4, f5, f6, f7] = [3, 4, 5, 6].map((f) => frame(1, f));
    expect(repeat.metrics['ssimF2F']).toBeCloseTo((2 + ssim(f4!, f7!)) / 3, 12);
    expect(repeat.metrics['ssimF2FTruth']).toBeCloseTo(
      (ssim(f4!, f5!) + ssim(f5!, f6!) + ssim(f6!, f7!)) / 3,
      12,
    );
    expect(repeat.metrics['psnr']).toBeCloseTo((psnr(f5!, f4!) + psnr(f6!, f4!)) / 2, 12);
    // tOF: the repeated frame has no motion, so its flows differ from the truth's by the truth's.
    const flows = [f4, f5, f6, f7].slice(1).map((f, i) => tofFlow([f4, f5, f6]![i]!, f!));
    const still = tofFlow(f4!, f4!);
    const wantTof =
      (tofDifference(still, flows[0]!) +
        tofDifference(still, flows[1]!) +
        tofDifference(tofFlow(f4!, f7!), flows[2]!)) /
      3;
    expect(repeat.metrics['tOF']).toBeCloseTo(wantTof, 9);
    expect(repeat.metrics['tOF']).toBeGreaterThan(0.1);
    const report = summariseRuns(mergeRuns([await readRun(out)]));
    expect(report.metrics).toEqual([
      'psnr',
      'ssim',
      'lpipsAlex',
      'ssimF2F',
      'ssimF2FTruth',
      'tLP',
      'tOF',
    ]);
    expect(renderDatasetReport(report, 'md')).toContain(
      '| F2F SSIM | F2F SSIM (truth) | tLP×100 ↓ | tOF ↓ |',
    );
  }, 120_000);

  it("tLP is TecoGAN's tLP×100: LPIPS-Alex differences on its crop_8x8, times 100", async () => {
    const graphs = prepareLpipsGraphs();
    const lpips = await loadLpipsGraphs(graphs.dir, 2);
    try {
      if (!lpips.available || !lpips.graphs.alex) throw new Error('no LPIPS-Alex graph');
      const runner = lpips.graphs.alex.runner;
      const pred = [0, 2, 2, 3].map((f) => frame(2, f));
      const truth = [0, 1, 2, 3].map((f) => frame(2, f));
      const t = await temporalMetrics(pred, truth, runner);
      // TecoGAN's metrics.py: crop_8x8 (on each side the largest multiple of 32 at least 16 px
      // short, centred: 64×32 of 96×64), then |dist0t − dist1t| × 100, averaged over the pairs.
      const crop = (img: RgbaImage) => cropImage(img, 16, 16, 64, 32);
      let want = 0;
      for (let i = 1; i < 4; i++) {
        const a = (await computeLpips(runner, crop(pred[i - 1]!), crop(pred[i]!))).distance;
        const b = (await computeLpips(runner, crop(truth[i - 1]!), crop(truth[i]!))).distance;
        want += (100 * Math.abs(a - b)) / 3;
      }
      expect(t.tLP).toBeCloseTo(want, 10);
      expect(t.tLP).toBeGreaterThan(0);
      // A prediction equal to the truth has tLP 0 and the truth's frame-to-frame SSIM.
      const same = await temporalMetrics(truth, truth, runner);
      expect(same.tLP).toBe(0);
      expect(same.tOF).toBe(0);
      expect(same.ssimF2F).toBe(same.ssimF2FTruth);
    } finally {
      if (lpips.available) for (const g of Object.values(lpips.graphs)) await g.runner.release();
      graphs.cleanup();
    }
  }, 300_000);
});

describe('the ToonCrafter-KDQ protocol', () => {
  it('resizes every frame to 512×320 and scores PSNR and gray 7×7 SSIM there', async () => {
    const out = join(root, 'kdq');
    await evaluateDataset({
      pack: PACK,
      data,
      out,
      protocol: 'kdq',
      steps: [2],
      variants: ['baseline'],
      split: 'test',
    });
    const { lines, info } = await readRun(out);
    expect(info.protocol).toBe('kdq');
    const repeat = lines.find(
      (l) => l.item === 'test/Japan_clip_2' && l.config === 'anchor:repeat',
    )!;
    const gt = resizeImage(frame(2, 2), 512, 320);
    const start = resizeImage(frame(2, 1), 512, 320);
    expect(repeat.metrics).toEqual({
      psnr: psnr(gt, start),
      ssimGray7: ssim(gt, start, { channel: 'gray', window: 'uniform7' }),
      lpipsVgg: null,
    });
    expect(repeat.unavailable?.['lpipsVgg']).toMatch(/no LPIPS-VGG graph in .* --vgg-weights/);
  }, 120_000);
});
