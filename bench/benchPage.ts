/**
 * The benchmark page (bench.html): exposes `window.inbetweenBench`, which `npm run bench` calls
 * through Playwright to time a pack's variants in the real inference worker.
 */
import { BENCH_FIRST_WARMUP_MS, BENCH_WARMUP_MS } from '../src/core/benchmark';
import { parseManifest } from '../src/core/manifest';
import { benchmarkLoadedVariant, loadVariant, stopWorker } from '../src/inference/inferenceClient';
import { benchmarkMetricsInWorker, loadLpips, scoreFrame } from '../src/evaluate/metricsClient';
import type { BackendPreference } from '../workers/protocol';

interface BenchRequest {
  packUrl: string;
  variants: string[];
  backend: BackendPreference;
  repeats: number;
}

async function inbetweenBench(req: BenchRequest) {
  const baseUrl = new URL(req.packUrl, location.href).href;
  const text = await (await fetch(new URL('manifest.json', baseUrl))).text();
  const parsed = parseManifest(text);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const rows = [];
  for (const variantId of req.variants) {
    const t0 = performance.now();
    const loaded = await loadVariant(
      {
        manifest: parsed.manifest,
        source: { kind: 'url', baseUrl, label: baseUrl },
        variantId,
        backend: req.backend,
      },
      () => undefined,
    );
    const loadMs = performance.now() - t0;
    // The first variant also waits out V8's optimisation of the freshly started WASM runtime.
    const result = await benchmarkLoadedVariant({
      repeats: req.repeats,
      warmupMs: rows.length === 0 ? BENCH_FIRST_WARMUP_MS : BENCH_WARMUP_MS,
    });
    rows.push({ ...result, loadMs, sessionMs: loaded.sessionMs, backendInfo: loaded.backend });
  }
  stopWorker('benchmark finished');
  return rows;
}

/** Times PSNR, SSIM and LPIPS on one image pair in the metrics worker. */
async function inbetweenMetricsBench(req: { a: string; b: string; repeats: number }) {
  const lpips = await loadLpips({
    kind: 'url',
    baseUrl: new URL('/models/lpips/', location.href).href,
    label: 'bundled',
  });
  const [a, b] = await Promise.all([req.a, req.b].map(async (u) => (await fetch(u)).blob()));
  const result = await benchmarkMetricsInWorker({
    result: a!,
    groundTruth: b!,
    repeats: req.repeats,
  });
  return { ...result, lpipsBackend: lpips.backend, lpipsMessage: lpips.message };
}

/** Scores two PNGs (bytes) in the metrics worker: used by the reference-parity e2e test. */
async function inbetweenScorePair(req: { a: number[]; b: number[] }) {
  await loadLpips({
    kind: 'url',
    baseUrl: new URL('/models/lpips/', location.href).href,
    label: 'bundled',
  });
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
}

Object.assign(window, { inbetweenBench, inbetweenMetricsBench, inbetweenScorePair });
document.getElementById('status')!.textContent = 'ready';
