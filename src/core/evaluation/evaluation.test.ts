/**
 * The pure half of the pack evaluation: the plan read from any manifest (no variant id written in
 * the code), the tables and checks from per-triplet scores, and the Markdown drawn from the JSON
 * record alone. The run on real graphs is src/node/evaluatePack.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest, type PackManifest } from '../manifest';
import { loraSweepScales, planEvaluation } from './plan';
import { psnrCell, renderReport } from './render';
import {
  drawnTable,
  evaluationChecks,
  mainTable,
  letterboxId,
  type EvaluationResult,
  type MetricValues,
  type ScoredSet,
} from './summary';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
function readManifest(pack: string): PackManifest {
  const r = parseManifest(readFileSync(join(REPO, 'models', pack, 'manifest.json'), 'utf8'));
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.manifest;
}

describe('planEvaluation', () => {
  it("reads the cel pack's rows, reference, fast variant and sweep from its manifest", () => {
    const plan = planEvaluation(readManifest('cel'));
    expect(plan.configs.map((c) => c.id)).toEqual([
      'baseline',
      'lora@0',
      'lora@0.75',
      'lora@1',
      'lora@1.5',
      'fp16',
      'int8',
      'student',
    ]);
    expect(plan.reference).toMatchObject({ id: 'baseline', steps: 25 });
    expect(plan.fast).toMatchObject({ id: 'student', steps: 4 });
    // Reduced precision is held to the reference: fp16 and int8.
    expect(plan.halfPrecision.map((c) => c.id)).toEqual(['fp16', 'int8']);
    expect(plan.loraSweeps).toEqual([
      {
        variant: 'lora',
        label: 'Sepia LoRA (live scale)',
        scales: [0, 0.75, 1, 1.5],
        configs: ['lora@0', 'lora@0.75', 'lora@1', 'lora@1.5'],
      },
    ]);
    expect(plan.compared.map((c) => c.id)).toEqual(['baseline', 'student']);
  });

  it('takes the reference from the manifest order and the fast variant from its steps', () => {
    const cel = readManifest('cel');
    const renamed = cel.variants.map((v) => ({ ...v, id: `x-${v.id}` }));
    // The student first: it becomes the reference, and no other variant is faster.
    const student = renamed.find((v) => v.id === 'x-student')!;
    const studentFirst = {
      ...cel,
      variants: [student, ...renamed.filter((v) => v.id !== 'x-student' && v.id !== 'x-int8')],
    };
    const plan = planEvaluation(studentFirst);
    expect(plan.reference.id).toBe('x-student');
    expect(plan.fast).toBeNull();
    expect(plan.compared.map((c) => c.id)).toEqual(['x-student']);
    expect(plan.halfPrecision.map((c) => c.id)).toEqual(['x-fp16']);

    const tiny = planEvaluation(readManifest('tiny'));
    expect(tiny.reference.id).toBe('baseline');
    expect(tiny.fast).toBeNull();
    expect(tiny.configs.every((c) => c.steps === 8)).toBe(true);
  });

  it('sweeps a LoRA range at its minimum, default, midpoint and maximum', () => {
    expect(loraSweepScales({ min: 0, default: 0.15, max: 1 })).toEqual([0, 0.15, 0.5, 1]);
    expect(loraSweepScales({ min: -1, default: 0, max: 1 })).toEqual([-1, 0, 1]);
  });
});

/** A set of `n` triplets where each row's metric is given per triplet. */
function scored(rows: Record<string, Partial<MetricValues>[]>, n: number): ScoredSet {
  const scores: Record<string, MetricValues[]> = {};
  for (const [id, values] of Object.entries(rows)) {
    expect(values).toHaveLength(n);
    scores[id] = values.map((v) => ({
      psnr: 20,
      ssim: 0.9,
      ssimLuma: 0.9,
      lpipsAlex: 0.2,
      lpipsSqueeze: 0.1,
      ...v,
    }));
  }
  return { triplets: n, scores, diffs: {} };
}

describe('evaluation checks', () => {
  const manifest = readManifest('cel');
  const plan = planEvaluation(manifest);
  const timings = {
    perConfig: {},
    alternating: { reference: [400, 420, 380], fast: [100, 90, 95] },
    threads: 2,
  };
  const rows = (psnr: number[], lpipsAlex: number[]) =>
    psnr.map((p, i) => ({ psnr: p, lpipsAlex: lpipsAlex[i]! }));

  it('calls a lead better only when its paired interval excludes zero', () => {
    const set = scored(
      {
        baseline: rows([22, 23, 24, 25], [0.1, 0.2, 0.1, 0.2]),
        blend: rows([21, 22, 23, 24], [0.2, 0.3, 0.2, 0.3]), // 1 dB and 0.1 worse everywhere
        flow: rows([23, 22, 25, 24.5], [0.1, 0.2, 0.1, 0.2]), // mixed
        fp16: rows([22.05, 23, 24, 25], [0.1, 0.2, 0.1, 0.2]),
        int8: rows([22, 23, 24, 24.9], [0.1, 0.2, 0.1, 0.21]),
        student: rows([21, 22, 23, 24], [0.1, 0.2, 0.1, 0.2]),
      },
      4,
    );
    const c = evaluationChecks(plan, set, timings);
    const [blend, flow] = c.anchors;
    expect(blend).toMatchObject({
      anchor: 'blend',
      psnr: { reference: 23.5, anchor: 22.5, better: true, paired: { mean: 1, verdict: 'better' } },
      lpipsAlex: { better: true, paired: { verdict: 'better' } },
    });
    expect(blend!.lpipsAlex!.paired!.mean).toBeCloseTo(-0.1, 12);
    expect(flow!.psnr.better).toBe(false); // 23.5 vs 23.625
    expect(flow!.psnr.paired!.verdict).toBe('within noise');
    expect(c.halfPrecision).toEqual([
      expect.objectContaining({ config: 'fp16', pass: true, lpipsAlexDiff: 0 }),
      expect.objectContaining({ config: 'int8', pass: true }),
    ]);
    expect(c.halfPrecision[0]!.psnrDiff).toBeCloseTo(0.0125, 12);
    expect(c.fast).toMatchObject({
      config: 'student',
      steps: 4,
      referenceSteps: 25,
      psnrDrop: 1,
      quality: false, // 1 dB > 0.5 dB
      speedup: 400 / 95,
      faster: true,
      inbetweens: 3,
    });
  });

  it('fails fp16 beyond its tolerance and a lead when LPIPS is missing', () => {
    const set = scored(
      {
        baseline: rows([22, 23], [0.1, 0.2]),
        blend: rows([21, 22], [0.2, 0.3]),
        fp16: rows([22.3, 23], [0.1, 0.2]),
        student: rows([22, 23], [0.1, 0.2]),
      },
      2,
    );
    for (const r of set.scores.blend!) r.lpipsAlex = null;
    const c = evaluationChecks(plan, set, { ...timings, alternating: null });
    expect(c.anchors).toHaveLength(1); // no flow warp scored, no flow check
    expect(c.anchors[0]!.lpipsAlex).toBeNull();
    expect(c.halfPrecision[0]!.pass).toBe(false);
    expect(c.fast).toMatchObject({ quality: true, faster: false, speedup: null });
  });

  it('says whether the distance from the reference grows with the LoRA scale', () => {
    const set = scored({}, 0);
    set.diffs = { 'lora@0': [0], 'lora@0.75': [0.1], 'lora@1': [0.3], 'lora@1.5': [0.2] };
    expect(evaluationChecks(plan, set, timings).lora).toEqual([
      {
        variant: 'lora',
        label: 'Sepia LoRA (live scale)',
        scales: [0, 0.75, 1, 1.5],
        diffs: [0, 0.1, 0.3, 0.2],
        growsWithScale: false,
        finalStdRatios: [null, null, null, null],
        collapsed: [0, 0, 0, 0],
        triplets: set.triplets,
      },
    ]);
  });

  it('averages the final latent std ratio per LoRA scale and counts the collapses flagged', () => {
    const set = scored({}, 0);
    const run = (finalStdRatio: number | null) => ({
      finalStdRatio,
      collapsed: finalStdRatio !== null && finalStdRatio < 0.5,
    });
    set.triplets = 2;
    set.collapse = {
      'lora@0': [run(1), run(1)],
      'lora@0.75': [run(0.9), run(0.8)],
      'lora@1': [run(0.6), run(0.4)],
      'lora@1.5': [run(0.3), run(null)],
    };
    const [l] = evaluationChecks(plan, set, timings).lora;
    expect(l!.finalStdRatios.slice(0, 3).map((x) => x!.toFixed(2))).toEqual([
      '1.00',
      '0.85',
      '0.50',
    ]);
    expect(l!.finalStdRatios[3]).toBeNull(); // one triplet not comparable: no mean
    expect(l!.collapsed).toEqual([0, 0, 1, 1]);
    expect(l!.triplets).toBe(2);
  });
});

describe('tables and the report', () => {
  const manifest = readManifest('cel');
  const plan = planEvaluation(manifest);

  it('keeps exact frames apart: the PSNR cell says how many, and the mean of the others', () => {
    const set = scored(
      {
        baseline: [{ psnr: 30 }, { psnr: 32 }, { psnr: Infinity }],
        student: [{ psnr: 30 }, { psnr: 32 }, { psnr: 34 }],
        [letterboxId('baseline')]: [{}, {}, {}],
        [letterboxId('student')]: [{}, {}, {}],
        roundtrip: [{ psnr: Infinity }, { psnr: Infinity }, { psnr: Infinity }],
        blend: [{}, {}, {}],
        repeat: [{}, {}, {}],
      },
      3,
    );
    const d = drawnTable(manifest, plan, 'data/x/val', set);
    expect(d.rows.map((r) => r.id)).toEqual([
      'baseline',
      'student',
      'baseline@letterbox',
      'student@letterbox',
      'blend',
      'repeat',
      'roundtrip',
    ]);
    const [base, student] = d.rows;
    expect(base).toMatchObject({ psnr: null, psnrExact: 1, psnrOfOthers: 31 });
    expect(psnrCell(base!, 3)).toBe('∞ (1 of 3 exact; the other 2: 31.00)');
    expect(psnrCell(student!, 3)).toBe('32.00');
    expect(psnrCell(d.rows[6]!, 3)).toBe('∞ (3 of 3 exact)');
    expect(d.rows[6]!.kind).toBe('ceiling');
    expect(d.perTriplet).toBeUndefined();
  });

  it("keeps a drawn set's scores triplet by triplet when given the triplet names", () => {
    const set = scored(
      {
        baseline: [
          { psnr: 30.123456789, lpipsAlex: 0.1 },
          { psnr: Infinity, lpipsAlex: null },
          { psnr: 28, ssim: 0.912345678 },
        ],
        student: [{ psnr: 30 }, { psnr: 32 }, { psnr: 34, ssim: 0.91 }],
        blend: [{}, {}, {}],
      },
      3,
    );
    const d = drawnTable(manifest, plan, 'data/x/val', set, ['a', 'b', 'c']);
    expect(d.perTriplet!.triplets).toEqual(['a', 'b', 'c']);
    expect(Object.keys(d.perTriplet!.rows)).toEqual(d.rows.map((r) => r.id));
    // Six significant digits; +∞ (exact) and what was not measured are null.
    expect(d.perTriplet!.rows.baseline).toEqual({
      psnr: [30.1235, null, 28],
      ssim: [0.9, 0.9, 0.912346],
      lpipsAlex: [0.1, null, 0.2],
    });
    expect(d.perTriplet!.rows.student!.ssim).toEqual([0.9, 0.9, 0.91]);
    // The JSON round trip keeps them as they are.
    expect(JSON.parse(JSON.stringify(d.perTriplet))).toEqual(d.perTriplet);
    expect(() => drawnTable(manifest, plan, 'data/x/val', set, ['a', 'b'])).toThrow(
      '2 triplet names for 3 scored triplets',
    );
  });

  it('sets each variant of a drawn set against the flow warp and blend, triplet by triplet', () => {
    const n = 4;
    const per = (f: (i: number) => Partial<MetricValues>) =>
      Array.from({ length: n }, (_, i) => f(i));
    const set = scored(
      {
        baseline: per((i) => ({ psnr: 20 + i, lpipsAlex: 0.2 })),
        student: per((i) => ({ psnr: 20 + i, lpipsAlex: 0.2 })),
        [letterboxId('baseline')]: per(() => ({})),
        [letterboxId('student')]: per(() => ({})),
        // The flow warp is 1 dB worse on every triplet but one (0.5 dB): beyond noise; blend's LPIPS
        // is missing, so only its PSNR is compared.
        flow: per((i) => ({ psnr: 20 + i - (i === 0 ? 0.5 : 1), lpipsAlex: 0.2 + 0.01 * (i % 2) })),
        blend: per((i) => ({ psnr: 20 + i + (i % 2 ? 0.3 : -0.3), lpipsAlex: null })),
        repeat: per(() => ({})),
        roundtrip: per(() => ({})),
      },
      n,
    );
    const d = drawnTable(manifest, plan, 'data/tvlike/val', set);
    const base = d.paired!.filter((p) => p.config === 'baseline');
    expect(base.map((p) => p.anchor)).toEqual(['flow', 'blend']);
    const [flow, blend] = base;
    expect(flow!.psnr.mean).toBeCloseTo(0.875, 12);
    expect(flow!.psnr.verdict).toBe('better');
    expect(flow!.lpipsAlex!.mean).toBeCloseTo(-0.005, 12);
    expect(flow!.lpipsAlex!.verdict).toBe('within noise');
    expect(blend!.psnr.mean).toBeCloseTo(0, 12);
    expect(blend!.psnr.verdict).toBe('within noise');
    expect(blend!.lpipsAlex).toBeNull();
    const main = scored({ baseline: per(() => ({})) }, n);
    const timings = { perConfig: {}, alternating: null, threads: 2 };
    const result: EvaluationResult = {
      pack: { id: manifest.id, name: manifest.name, size: [512, 320], multipleOf: 64 },
      date: '2026-01-01',
      data: 'data/procedural/val',
      triplets: n,
      seed: 42,
      threads: 2,
      reference: plan.reference.id,
      fast: plan.fast!.id,
      table: mainTable(manifest, plan, main, timings),
      checks: evaluationChecks(plan, main, timings),
      loraSweeps: [],
      drawn: [d],
      reproduce: ['npm run evaluate'],
    };
    const md = renderReport(result);
    expect(md).toMatch(
      /- Baseline \(fp32\) − flow warp: PSNR \+0\.88 dB \(95% CI \+0\.\d\d to \+1\.\d\d dB\): better; LPIPS-Alex −0\.0050 /,
    );
    expect(md).toContain('- Baseline (fp32) − frame blend: PSNR +0.00 dB');
    expect(md).not.toMatch(/frame blend: PSNR [^\n]*LPIPS/);
    expect(md).toContain('`data/tvlike` is not drawn by an artist');
    const sprites = renderReport({
      ...JSON.parse(JSON.stringify(result)),
      drawn: [{ ...d, dir: 'data/sprites/val' }],
    });
    expect(sprites).not.toContain('data/tvlike');
  });

  it('draws the same Markdown from the record and from its JSON', () => {
    const ids = [...plan.configs.map((c) => c.id), 'flow', 'blend', 'repeat'];
    const set = scored(
      Object.fromEntries(ids.map((id, i) => [id, [{ psnr: 20 + i }, { psnr: 21 + i }]])),
      2,
    );
    const timings = {
      perConfig: Object.fromEntries(plan.configs.map((c) => [c.id, [300, 100, 200]])),
      alternating: { reference: [300], fast: [60] },
      threads: 2,
    };
    const result: EvaluationResult = {
      pack: { id: manifest.id, name: manifest.name, size: [512, 320], multipleOf: 64 },
      date: '2026-01-01',
      data: 'data/procedural/val',
      triplets: 2,
      seed: 42,
      threads: 2,
      reference: plan.reference.id,
      fast: plan.fast!.id,
      table: mainTable(manifest, plan, set, timings),
      checks: evaluationChecks(plan, set, timings),
      loraSweeps: plan.loraSweeps.map((s) => ({ ...s, svg: 'lora-sweep.svg' })),
      drawn: [],
      reproduce: ['npm run evaluate'],
    };
    const md = renderReport(result);
    expect(renderReport(JSON.parse(JSON.stringify(result)) as EvaluationResult)).toBe(md);
    expect(result.table.map((r) => r.id)).toEqual(ids);
    expect(result.table[0]).toMatchObject({ psnr: 20.5, msPerInbetween: 200 });
    expect(md).toContain('| Baseline (fp32) | 25 | 20.50 | 0.9000 | 0.2000 | 0.1000 |');
    expect(md).toContain('| Flow warp (OpenCV Farnebäck, halfway; anchor) | — | 28.50 |');
    expect(md).toContain('at least 4× faster per in-between: **yes** (5.00×');
    // A ratio just short of 4 is not printed as 4.00 next to a "no".
    const justShort = renderReport({
      ...result,
      checks: { ...result.checks, fast: { ...result.checks.fast!, speedup: 3.999, faster: false } },
    });
    expect(justShort).toContain('at least 4× faster per in-between: **no** (3.99×');
    // The LoRA line says whether the distance grows with the scale, as the check found.
    const grows = result.checks.lora[0]!.growsWithScale;
    expect(md).toContain(
      `the distance from the reference ${grows ? 'grows' : '**does not** always grow'} with the scale`,
    );
    const shrinking = {
      ...result,
      checks: {
        ...result.checks,
        lora: result.checks.lora.map((l) => ({ ...l, growsWithScale: !grows })),
      },
    };
    expect(renderReport(shrinking)).toContain(
      `the distance from the reference ${grows ? '**does not** always grow' : 'grows'} with the scale`,
    );
  });
});
