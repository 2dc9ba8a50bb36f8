/**
 * The benchmark page (bench.html, built only by `vite build --mode test-pages`): installs
 * `window.inbetweenTest` (bench/testApi.ts), which `npm run bench` and the e2e tests call through
 * Playwright to time and score in the real workers.
 */
import { BENCH_FIRST_WARMUP_MS, BENCH_WARMUP_MS } from '../src/core/benchmark';
import { parseManifest } from '../src/core/manifest';
import {
  benchmarkLoadedVariant,
  loadVariant,
  stopWorker,
  timeLoadedInbetweens,
} from '../src/page/clients/inferenceClient';
import { benchmarkMetricsInWorker, loadLpips, scoreFrame } from '../src/page/clients/metricsClient';
import type { BenchRow, InbetweenTestApi } from './testApi';

const lpipsSource = () => ({
  kind: 'url' as const,
  baseUrl: new URL('/models/lpips/', location.href).href,
  label: 'bundled',
});

const api: InbetweenTestApi = {
  async bench(req) {
    const baseUrl = new URL(req.packUrl, location.href).href;
    const text = await (await fetch(new URL('manifest.json', baseUrl))).text();
    const parsed = parseManifest(text);
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    const rows: BenchRow[] = [];
    const load = (variantId: string) =>
      loadVariant(
        {
          manifest: parsed.manifest,
          source: { kind: 'url', baseUrl, label: baseUrl },
          variantId,
          backend: req.backend,
        },
        () => undefined,
      );
    for (const variantId of req.variants) {
      const t0 = performance.now();
      const loaded = await load(variantId);
      const loadMs = performance.now() - t0;
      // The first variant also waits out V8's optimisation of the freshly started WASM runtime.
      const result = await benchmarkLoadedVariant({
        repeats: req.repeats,
        warmupMs: rows.length === 0 ? BENCH_FIRST_WARMUP_MS : BENCH_WARMUP_MS,
      });
      rows.push({ ...result, loadMs, sessionMs: loaded.sessionMs, backendInfo: loaded.backend });
    }
    // Every variant's sessions stay in the worker, so switching variants between rounds is quick.
    for (let r = 0; r < (req.rounds ?? 0); r++) {
      for (const row of rows) {
        await load(row.variantId);
        (row.roundsMs ??= []).push(...(await timeLoadedInbetweens(1)));
      }
    }
    stopWorker('benchmark finished');
    return rows;
  },

  async metricsBench(req) {
    const lpips = await loadLpips(lpipsSource());
    const [a, b] = await Promise.all([req.a, req.b].map(async (u) => (await fetch(u)).blob()));
    const result = await benchmarkMetricsInWorker({
      result: a!,
      groundTruth: b!,
      repeats: req.repeats,
    });
    return { ...result, lpipsBackend: lpips.backend, lpipsMessage: lpips.message };
  },

  async scorePair(req) {
    await loadLpips(lpipsSource());
    const blob = (bytes: number[]) => new Blob([new Uint8Array(bytes)], { type: 'image/png' });
    const r = await scoreFrame({ result: blob(req.a), groundTruth: blob(req.b) });
    return {
      psnr: r.psnr,
      ssim: r.ssim,
      ssimLuma: r.ssimLuma,
      lpipsAlex: r.lpipsAlex,
      lpipsSqueeze: r.lpipsSqueeze,
      width: r.width,
      height: r.height,
    };
  },
};

window.inbetweenTest = api;
document.getElementById('status')!.textContent = 'ready';
