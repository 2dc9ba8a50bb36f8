/**
 * The typed test API of the benchmark page (bench.html, test builds only): what `npm run bench`
 * and the e2e tests call through Playwright as `window.inbetweenTest`. Types only, so Node code
 * can import it without pulling in the page.
 */
import type { BenchmarkResult, MetricsBenchmark } from '../src/core/benchmark';
import type { BackendInfo, BackendPreference } from '../src/shared/protocol';

export interface BenchRequest {
  /** The pack folder's URL, relative to the page or absolute. */
  packUrl: string;
  variants: string[];
  backend: BackendPreference;
  repeats: number;
  /**
   * After timing each variant, this many rounds of one in-between of every variant in turn
   * (`BenchRow.roundsMs`); default 0.
   */
  rounds?: number;
}

export type BenchRow = BenchmarkResult & {
  loadMs: number;
  /** Session creation time per graph, ms. */
  sessionMs: Record<string, number>;
  backendInfo: BackendInfo;
  /** The in-betweens of the alternating rounds, one per round (`BenchRequest.rounds`). */
  roundsMs?: number[];
};

export type MetricsBenchRow = MetricsBenchmark & {
  lpipsBackend: string | null;
  lpipsMessage: string | null;
};

/** One pair's scores in the metrics worker, in the page's names (docs/metrics.md). */
export interface PairScores {
  psnr: number;
  ssim: number;
  ssimLuma: number;
  lpipsAlex: number | null;
  lpipsSqueeze: number | null;
  width: number;
  height: number;
}

export interface InbetweenTestApi {
  /** Loads each variant in the real inference worker and times it; stops the worker after. */
  bench(req: BenchRequest): Promise<BenchRow[]>;
  /** Times PSNR, SSIM and LPIPS on one image pair (URLs) in the metrics worker. */
  metricsBench(req: { a: string; b: string; repeats: number }): Promise<MetricsBenchRow>;
  /** Scores two PNGs (their bytes) in the metrics worker. */
  scorePair(req: { a: number[]; b: number[] }): Promise<PairScores>;
}

declare global {
  interface Window {
    /** Present only on the test build's bench.html, once `#status` reads "ready". */
    inbetweenTest?: InbetweenTestApi;
  }
}
