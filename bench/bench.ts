/**
 * `npm run bench`: times the same pack graphs in headless Chromium (the real inference worker on
 * WASM; also WebGPU when a hardware adapter exists) and in onnxruntime-node, in one run, and prints
 * ms per denoiser step, per VAE decode and per in-between for each variant with the
 * browser/native ratio, then times one in-between of every variant in turn for a number of rounds
 * and prints each variant's speed-up against the pack's first variant, paired by round. Options:
 * --pack DIR (default: every bundled pack), --variants a,b (default: all; the first is the speed-ups'
 * reference), --repeats N (default 5), --rounds N (default 8; 0 skips the rounds), --no-build (reuse
 * dist/), --webgpu (also time a software WebGPU adapter), --json FILE.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import {
  BENCH_WARMUP_MS,
  benchmarkMetrics,
  benchmarkVariant,
  pairedSpeedups,
  pickVariants,
  timeInbetweens,
  type BenchmarkResult,
  type MetricsBenchmark,
} from '../src/core/benchmark';
import type { GraphRunner } from '../src/core/graph';
import { median } from '../src/core/stats';
import {
  loadLpipsGraphs,
  loadVariantGraphs,
  readPackManifest,
  readPng,
  releaseVariantGraphs,
} from '../src/node/nodeRuntime';
import { listBundledPacks } from '../scripts/packAssetsPlugin';
import { count } from '../scripts/lib/args';
import { CHROMIUM_ARGS, chromiumPath } from '../scripts/lib/chromium';
import { serveStudio } from '../scripts/lib/serveStudio';
import type {} from './testApi';

const { values } = parseArgs({
  options: {
    pack: { type: 'string', multiple: true },
    repeats: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '8' },
    'no-build': { type: 'boolean', default: false },
    webgpu: { type: 'boolean', default: false },
    json: { type: 'string' },
    variants: { type: 'string' },
  },
});
/** --repeats (≥ 1) and --rounds (≥ 0) as whole numbers; anything else is refused by name. */
function counts(): { repeats: number; rounds: number } {
  const repeats = count('repeats', values.repeats);
  if (repeats < 1) throw new Error(`--repeats must be at least 1, got "${values.repeats}"`);
  return { repeats, rounds: count('rounds', values.rounds) };
}
const { repeats, rounds } = (() => {
  try {
    return counts();
  } catch (e) {
    console.error(`bench: ${(e as Error).message}`);
    process.exit(2);
  }
})();
const packDirs = values.pack?.length
  ? values.pack.map((p) => resolve(p))
  : listBundledPacks().entries.map((e) => resolve('models', e.path));

type Row = BenchmarkResult & { where: string; loadMs?: number; roundsMs?: number[] };
type MetricRow = MetricsBenchmark & { where: string };
let metricRows: MetricRow[] = [];
let longTasks: number[] = [];
let wasmThreadsSeen = 2;

const PAIR = ['public/samples/bounce-start.png', 'public/samples/bounce-end.png'] as const;

/** Scoring one 512×320 pair, each metric, in the browser's metrics worker and in Node. */
async function benchMetrics(
  page: import('playwright-core').Page,
  origin: string,
  threads: number,
): Promise<MetricRow[]> {
  const out: MetricRow[] = [];
  const lpipsDir = resolve('models/lpips');
  const haveLpips = existsSync(resolve(lpipsDir, 'manifest.json'));
  if (!haveLpips) console.log('LPIPS graphs not built (npm run lpips): timing PSNR and SSIM only.');
  const browser = await page.evaluate((req) => window.inbetweenTest!.metricsBench(req), {
    a: `${origin}/samples/bounce-start.png`,
    b: `${origin}/samples/bounce-end.png`,
    repeats,
  });
  out.push({ ...browser, where: `browser metrics worker (${browser.lpipsBackend ?? 'no LPIPS'})` });
  // The studio's own loader: the same checks and session options as the CLI's scoring.
  const lpips: { alex?: GraphRunner; squeeze?: GraphRunner } = {};
  if (haveLpips) {
    const loaded = await loadLpipsGraphs(lpipsDir, threads);
    if (loaded.available) {
      for (const k of ['alex', 'squeeze'] as const) {
        const g = loaded.graphs[k];
        if (g) lpips[k] = g.runner;
      }
    }
  }
  const [a, b] = await Promise.all(PAIR.map((p) => readPng(resolve(p))));
  out.push({
    ...(await benchmarkMetrics(a!, b!, lpips, repeats)),
    where: `node (${threads} threads)`,
  });
  return out;
}

function printMetrics(rows: MetricRow[]): void {
  if (rows.length === 0) return;
  const f = (n: number | null) => (n === null ? '—' : n >= 100 ? n.toFixed(0) : n.toFixed(1));
  console.log(`\nscoring one ${rows[0]!.size[0]}×${rows[0]!.size[1]} pair, median ms\n`);
  // What a dataset evaluation's studio protocol scores per frame (issue 19's goal: ≤ 150 ms).
  const header = ['where', 'PSNR', 'SSIM', 'SSIM-Y', 'LPIPS-Alex', 'LPIPS-Sq', 'PSNR+SSIM+Alex'];
  const total = (r: MetricRow) =>
    r.lpipsAlexMs === null ? null : r.psnrMs + r.ssimMs + r.lpipsAlexMs;
  const lines = rows.map((r) => [
    r.where,
    f(r.psnrMs),
    f(r.ssimMs),
    f(r.ssimLumaMs),
    f(r.lpipsAlexMs),
    f(r.lpipsSqueezeMs),
    f(total(r)),
  ]);
  const browserRow = rows.find((r) => r.where.startsWith('browser'));
  const nodeRow = rows.find((r) => r.where.startsWith('node'));
  if (browserRow && nodeRow) {
    const ratio = (x: number | null, y: number | null) =>
      x === null || y === null ? '—' : `${(x / y).toFixed(2)}×`;
    lines.push([
      'browser / native',
      ratio(browserRow.psnrMs, nodeRow.psnrMs),
      ratio(browserRow.ssimMs, nodeRow.ssimMs),
      ratio(browserRow.ssimLumaMs, nodeRow.ssimLumaMs),
      ratio(browserRow.lpipsAlexMs, nodeRow.lpipsAlexMs),
      ratio(browserRow.lpipsSqueezeMs, nodeRow.lpipsSqueezeMs),
      ratio(total(browserRow), total(nodeRow)),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) =>
    console.log(
      cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
    );
  show(header);
  lines.forEach(show);
}

/**
 * Main-thread long tasks in the studio page during a run (8 in-betweens × 30 steps of the tiny
 * pack, the model already loaded and the plot drawn): what a person feels as the page freezing.
 * A real freeze (frames encoded or scored on the main thread) costs seconds; on a shared 2-core
 * machine scheduling noise alone gives 100–330 ms tasks, so this is a figure to read, not a gate.
 */
async function benchResponsiveness(
  browser: import('playwright-core').Browser,
  origin: string,
): Promise<number[]> {
  const page = await browser.newPage();
  try {
    const id = (t: string) => page.getByTestId(t);
    const done = () =>
      id('run.status')
        .filter({ hasText: /^Done:/ })
        .waitFor({ timeout: 120_000 });
    await page.goto(`${origin}/?pack=tiny-random`);
    await id('variant.select').waitFor();
    await id('keyframes.sample').click();
    await id('keyframes.end.meta').waitFor();
    await id('run.steps').fill('2');
    await id('run.start').click();
    await done();
    await page.locator('[data-testid="plot.chart"] .recharts-line').first().waitFor();
    await page.evaluate(() => new Promise((r) => requestIdleCallback(r, { timeout: 5000 })));
    await page.evaluate(() => {
      const w = window as unknown as { __longTasks: number[] };
      const since = performance.now();
      w.__longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries())
          if (e.startTime >= since) w.__longTasks.push(Math.round(e.duration));
      }).observe({ type: 'longtask' });
    });
    await id('run.count').fill('8');
    await id('run.steps').fill('30');
    await id('run.start').click();
    await id('run.status').filter({ hasText: /^Step/ }).waitFor();
    await done();
    // The new trace joins the plot in a deferred render after the frames show.
    await page.locator('[data-testid="plot.chart"] .recharts-line').nth(1).waitFor();
    await page.waitForTimeout(500);
    return await page.evaluate(() => (window as unknown as { __longTasks: number[] }).__longTasks);
  } finally {
    await page.close();
  }
}

async function main(): Promise<void> {
  const served = await serveStudio({
    reuseBuild: values['no-build'],
    needs: 'bench.html',
    port: 4319,
    packDirs,
  });
  const { origin, close } = served;
  const args = [...CHROMIUM_ARGS, ...(values.webgpu ? ['--enable-unsafe-webgpu'] : [])];
  const browser = await chromium.launch({ executablePath: chromiumPath(), args });
  const rows: Row[] = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(`${origin}/bench.html`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
    const info = await page.evaluate(() => ({
      isolated: self.crossOriginIsolated,
      cores: navigator.hardwareConcurrency,
    }));
    console.log(
      `Chromium ${browser.version()} · crossOriginIsolated=${info.isolated} · ${info.cores} cores · Node ${process.version}`,
    );
    for (const dir of packDirs) {
      const manifest = await readPackManifest(dir);
      const packUrl = served.packUrl(dir);
      let variants: string[];
      try {
        variants = pickVariants(
          manifest.variants.map((v) => v.id),
          values.variants,
          manifest.id,
        );
      } catch (e) {
        // --variants without --pack: the bundled packs that have them (int8 is the cel pack's).
        if (values.pack?.length) throw e;
        console.log(`skipping ${manifest.id}: ${(e as Error).message}`);
        continue;
      }
      const backends: ('wasm' | 'webgpu')[] = ['wasm'];
      const gpu = await page.evaluate(async () => {
        const g = (
          navigator as Navigator & {
            gpu?: { requestAdapter(): Promise<{ info?: { isFallbackAdapter?: boolean } } | null> };
          }
        ).gpu;
        const a = g ? await g.requestAdapter() : null;
        return { adapter: Boolean(a), fallback: Boolean(a?.info?.isFallbackAdapter) };
      });
      if (gpu.adapter && (!gpu.fallback || values.webgpu)) backends.push('webgpu');
      let wasmThreads = 1;
      for (const backend of backends) {
        const browserRows = await page.evaluate((req) => window.inbetweenTest!.bench(req), {
          packUrl,
          variants,
          backend,
          repeats,
          rounds,
        });
        for (const r of browserRows) {
          wasmThreads = r.backendInfo.wasmThreads;
          wasmThreadsSeen = wasmThreads;
          rows.push({
            ...r,
            where: `${manifest.id} · browser ${r.backendInfo.backend}${r.backendInfo.backend === 'wasm' ? ` (${r.backendInfo.wasmThreads} threads)` : ''}`,
          });
        }
      }
      // Every variant stays loaded for the rounds, as in the browser's worker.
      const loaded = [];
      const nodeRows: Row[] = [];
      for (const v of variants) {
        const { variant, graphs } = await loadVariantGraphs(dir, manifest, v, wasmThreads);
        loaded.push({ variant, graphs });
        const r = await benchmarkVariant(manifest, variant, graphs, {
          repeats,
          warmupMs: BENCH_WARMUP_MS,
        });
        nodeRows.push({ ...r, where: `${manifest.id} · node cpu (${wasmThreads} threads)` });
      }
      for (let round = 0; round < rounds; round++) {
        for (const [i, { variant, graphs }] of loaded.entries())
          (nodeRows[i]!.roundsMs ??= []).push(
            ...(await timeInbetweens(manifest, variant, graphs, 1)),
          );
      }
      for (const { graphs } of loaded) await releaseVariantGraphs(graphs);
      rows.push(...nodeRows);
    }
    metricRows = await benchMetrics(page, origin, wasmThreadsSeen);
    longTasks = await benchResponsiveness(browser, origin);
  } finally {
    await browser.close();
    await close();
  }
  printTable(rows);
  printMetrics(metricRows);
  console.log(
    `\nstudio page, a run of 8 in-betweens × 30 steps (tiny pack, model loaded): ${longTasks.length} main-thread long tasks (> 50 ms), ` +
      `longest ${Math.max(0, ...longTasks)} ms${
        longTasks.length
          ? ` (${[...longTasks]
              .sort((a, b) => b - a)
              .slice(0, 8)
              .join(', ')} ms)`
          : ''
      }`,
  );
  if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 2));
}

/** A row's in-between: the median of its alternating rounds when there were any. */
const inbetweenOf = (r: Row) => (r.roundsMs?.length ? median(r.roundsMs) : r.inbetweenMs);

function printTable(rows: Row[]): void {
  console.log(
    `\nmedian of ${repeats} runs, ms (in-between = all denoising steps + decode, keyframes already encoded,\n` +
      `${rounds ? `median of ${rounds} rounds in which every variant made one in turn` : `median of ${Math.ceil(repeats / 2)} runs`};\n` +
      `for clip packs a denoiser step is both guidance passes, encode the conditioning stages, and the last column a whole clip)\n`,
  );
  const header = [
    'where',
    'variant',
    'size',
    'steps',
    'denoiser step',
    'decode',
    'encode',
    'motion (per pair)',
    'in-between',
  ];
  const lines = rows.map((r) => [
    r.where,
    r.variantId,
    `${r.size[0]}×${r.size[1]}`,
    String(r.steps),
    fmt(r.denoiserStepMs),
    fmt(r.decodeMs),
    fmt(r.encodeMs),
    r.motionMs === null ? '—' : fmt(r.motionMs),
    r.clip ? `${fmt(inbetweenOf(r))} per ${r.clip.clipLength}-frame clip` : fmt(inbetweenOf(r)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) =>
    console.log(
      cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
    );
  show(header);
  lines.forEach(show);
  console.log('\nbrowser / native ratio (same graphs, same run):\n');
  const ratioHeader = ['browser', 'variant', 'denoiser step', 'decode', 'in-between'];
  const ratioLines: string[][] = [];
  for (const r of rows.filter((x) => x.where.includes('browser'))) {
    const pack = r.where.split(' · ')[0];
    const native = rows.find(
      (x) => x.where.startsWith(`${pack} · node`) && x.variantId === r.variantId,
    );
    if (!native) continue;
    ratioLines.push([
      r.where,
      r.variantId,
      `${(r.denoiserStepMs / native.denoiserStepMs).toFixed(2)}×`,
      `${(r.decodeMs / native.decodeMs).toFixed(2)}×`,
      `${(inbetweenOf(r) / inbetweenOf(native)).toFixed(2)}×`,
    ]);
  }
  const rw = ratioHeader.map((h, i) => Math.max(h.length, ...ratioLines.map((l) => l[i]!.length)));
  const showR = (cells: string[]) =>
    console.log(cells.map((c, i) => (i < 2 ? c.padEnd(rw[i]!) : c.padStart(rw[i]!))).join('  '));
  showR(ratioHeader);
  ratioLines.forEach(showR);
  printSpeedups(rows);
}

/** Each variant's speed-up per in-between against its pack's first variant, paired by round. */
function printSpeedups(rows: Row[]): void {
  const groups = [...new Set(rows.filter((r) => r.roundsMs?.length).map((r) => r.where))];
  if (groups.length === 0) return;
  const lines: string[][] = [];
  for (const where of groups) {
    const group = rows.filter((r) => r.where === where);
    const ref = group[0]!.variantId;
    const speedups = pairedSpeedups(
      Object.fromEntries(group.map((r) => [r.variantId, r.roundsMs ?? []])),
      ref,
    );
    for (const s of speedups) {
      const x = (n: number) => `${n.toFixed(2)}×`;
      lines.push([
        where,
        s.variantId,
        fmt(s.medianMs),
        s.variantId === ref ? '(reference)' : x(s.speedup),
        s.variantId === ref ? '' : `${x(s.lowest)} – ${x(s.highest)}`,
      ]);
    }
  }
  console.log(
    `\nspeed-up per in-between against each pack's first variant, paired by round (reference ms ÷ variant ms in\n` +
      `each of ${rounds} rounds; median, and lowest – highest round):\n`,
  );
  const header = ['where', 'variant', 'in-between', 'speed-up', 'rounds'];
  const w = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) =>
    console.log(cells.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  show(header);
  lines.forEach(show);
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

main().catch((e: unknown) => {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(1);
});
