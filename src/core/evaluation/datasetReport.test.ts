/**
 * The report's tables from hand-made lines: a metric measured on fewer items than its row says
 * its own n in Markdown and LaTeX (CSV and JSON carry n per metric anyway), and the LaTeX is
 * pdflatex-safe — τ and σ as math, ~ and ^ as text symbols, not accents.
 */
import { describe, expect, it } from 'vitest';
import { mergeRuns, renderDatasetReport, summariseRuns } from './datasetReport';
import type { ResultLine, RunInfo } from './datasetRun';

const BASE = 'variant=base;steps=2;seed=1';

function info(dir = '/data/atd'): RunInfo {
  return {
    format: 'inbetween-eval',
    version: 1,
    pack: { id: 'p', version: '1', dir: '/packs/p' },
    dataset: { dir, split: null, sequence: 'triplets', items: 3 },
    protocol: 'studio',
    fit: 'letterbox',
    configs: [
      { id: BASE, variant: 'base', loraScale: null, guidanceScale: null, steps: 2, seed: 1 },
    ],
    anchors: ['anchor:blend'],
    reference: BASE,
    shard: null,
    items: ['a', 'b', 'c'],
    datasetProblems: [],
  };
}

const line = (item: string, config: string, psnr: number, ssim: number): ResultLine => ({
  item,
  config,
  split: null,
  category: null,
  frames: [{ tau: 0.5, metrics: { psnr, ssim, lpipsAlex: null } }],
  metrics: { psnr, ssim, lpipsAlex: null },
});

/** Item c's model frame is exact (PSNR ∞): the model's PSNR is a mean over two items, SSIM three. */
const LINES = [
  line('a', BASE, 28, 0.8),
  line('b', BASE, 32, 0.9),
  line('c', BASE, Infinity, 1),
  line('a', 'anchor:blend', 20, 0.7),
  line('b', 'anchor:blend', 22, 0.75),
  line('c', 'anchor:blend', 24, 0.8),
];

describe('dataset report tables', () => {
  it("show a metric's own n where it is not its row's, in Markdown and LaTeX", () => {
    const report = summariseRuns(mergeRuns([{ info: info(), lines: LINES }]));
    const psnr = report.rows[0]!.metrics['psnr']!;
    expect(psnr).toMatchObject({ mean: 30, n: 2, excluded: 1 });
    const half = (psnr.high! - 30).toFixed(2);
    const md = renderDatasetReport(report, 'md');
    expect(md).toContain(`| ${BASE} | 3 | 30.00 ± ${half} (n=2) | 0.9000 ± `);
    expect(md).toMatch(/\| anchor:blend \| 3 \| 22\.00 ± \d+\.\d\d \| 0\.7500 ± [\d.]+ \| — \|/);
    // The paired difference's PSNR pairs two items, its SSIM three.
    expect(md).toMatch(
      /\| anchor:blend \| 3 \| −9\.00 \[[^\]]+\] \(n=2\) \| −0\.1500 \[[^\]]+\] \|/,
    );
    const tex = renderDatasetReport(report, 'tex');
    expect(tex).toContain(
      `variant=base;steps=2;seed=1 & 30.00 $\\pm$ ${half} (n=2) & 0.9000 $\\pm$`,
    );
    expect(tex).toMatch(
      /anchor:blend & 22\.00 \$\\pm\$ \d+\.\d\d & 0\.7500 \$\\pm\$ [\d.]+ & -- \\\\/,
    );
    // CSV and JSON keep n and excluded per metric, as before.
    expect(renderDatasetReport(report, 'csv')).toContain(`mean,${BASE},,psnr,30,`);
    expect(JSON.parse(renderDatasetReport(report, 'json')).rows[0].metrics.psnr).toMatchObject({
      n: 2,
      excluded: 1,
    });
  });

  it('writes LaTeX that pdflatex reads without Unicode set up', () => {
    const report = summariseRuns(mergeRuns([{ info: info('~/data^2_x'), lines: LINES }]));
    const tex = renderDatasetReport(report, 'tex');
    const caption = tex.slice(tex.indexOf('\\caption{'));
    expect(caption).toContain('\\textasciitilde{}/data\\textasciicircum{}2\\_x');
    expect(caption).toContain('$\\tau$ = $\\frac{1}{2}$');
    expect(caption).toContain('$\\sigma$ 1.5');
    expect(caption).toContain('$\\pm$');
    expect(tex).not.toMatch(/\\~|\\\^/);
    // Nothing outside ASCII is left for pdflatex to choke on.
    expect(tex).toMatch(/^[\x20-\x7e\n]*$/);
    // Markdown keeps the plain-text definition.
    expect(renderDatasetReport(report, 'md')).toContain('τ = ½');
  });
});
