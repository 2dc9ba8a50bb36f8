/**
 * The Node side of scoring: `scoreImages` of src/core/scoring.ts (which the page's metrics worker
 * calls too) with the LPIPS graphs of a folder on onnxruntime-node, and its result as JSON. Used by
 * `inbetween score`, `inbetween interpolate --gt` and (`lpipsScoringOptions`) `npm run evaluate`.
 *
 * The result is plain JSON. JSON has no Infinity, so an infinite PSNR (the RGB of the two images is
 * identical) is `"value": null` with `"infinite": true`; a metric that cannot be measured (LPIPS
 * graphs not built, an image under a backbone's or SSIM's minimum side) is `"value": null` with
 * `"unavailable"` saying why. A `null` value is therefore never silent: exactly one of `infinite`
 * and `unavailable` explains it.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RgbaImage } from '../core/image';
import type { LpipsBackbone } from '../core/lpips';
import { METRIC_CONVENTIONS, METRIC_NAMES, type MetricName } from '../core/metrics';
import {
  assertSameSize as assertSameSizeOf,
  LPIPS_BACKBONE_NAMES,
  LPIPS_METRIC,
  scoreImages,
  type ImageScores,
  type ScoringOptions,
} from '../core/scoring';
import type { LpipsGraphs } from './nodeRuntime';

/** models/lpips of this repository, found from this file's location (not the working directory). */
export const DEFAULT_LPIPS_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'models',
  'lpips',
);

/** The command that builds the LPIPS graphs (docs/metrics.md), run from the repository root. */
export const LPIPS_BUILD_COMMAND = '/usr/bin/python3 models/training/export_lpips.py';

export interface MetricScore {
  /** The number; `null` when infinite (PSNR only) or unavailable. */
  value: number | null;
  /** The convention label shown with the number (`METRIC_CONVENTIONS`). */
  convention: string;
  /** Why there is no value (one sentence), when there is none for that reason. */
  unavailable?: string;
}

export interface PsnrScore extends MetricScore {
  unit: 'dB';
  /** True when PSNR is +∞ (identical RGB); `value` is then `null`. */
  infinite: boolean;
}

export interface LpipsScore extends MetricScore {
  /** The graph file that measured it, inside `lpipsGraphs.dir`. */
  graph?: string;
}

export interface ScoredImage {
  /** The path as given (or the frame's file name in run.json). */
  file: string;
  width: number;
  height: number;
}

/**
 * What `inbetween score --json` prints and what run.json's `groundTruth.scores` holds: the core's
 * `ImageScores` as JSON, each metric under its one name with its convention label.
 */
export interface Scores {
  images: [ScoredImage, ScoredImage];
  metrics: {
    psnr: PsnrScore;
    ssim: MetricScore;
    ssimLuma: MetricScore;
    lpipsAlex: LpipsScore;
    lpipsSqueeze: LpipsScore;
  };
  /**
   * The LPIPS folder (absolute) and the graphs used, each with its sha256 as checked; or, when the
   * folder has no graphs, `unavailable` with how to build them.
   */
  lpipsGraphs:
    | { dir: string; files: { backbone: LpipsBackbone; file: string; sha256: string }[] }
    | { dir: string; unavailable: string };
}

/** The one sentence shown when a folder has no LPIPS graphs. */
export function lpipsMissingSentence(dir: string): string {
  const out = resolve(dir) === DEFAULT_LPIPS_DIR ? '' : ` --out ${dir}`;
  return `LPIPS unavailable: no LPIPS graphs in ${dir} — build them with \`${LPIPS_BUILD_COMMAND}${out}\` from the repository root (see docs/metrics.md).`;
}

/** The core's scoring options for a folder of LPIPS graphs loaded by `loadLpipsGraphs`. */
export function lpipsScoringOptions(lpips: LpipsGraphs): ScoringOptions {
  if (!lpips.available) return { lpipsMissing: () => lpipsMissingSentence(lpips.dir) };
  const graphs: ScoringOptions['lpips'] = {};
  for (const backbone of ['alex', 'squeeze'] as const) {
    const g = lpips.graphs[backbone];
    if (g) graphs[backbone] = { runner: g.runner, minSide: g.spec.minSide };
  }
  return {
    lpips: graphs,
    lpipsMissing: (backbone) =>
      `The LPIPS manifest in ${lpips.dir} has no ${LPIPS_BACKBONE_NAMES[backbone]} graph — rebuild the folder with \`${LPIPS_BUILD_COMMAND}\` (see docs/metrics.md).`,
  };
}

export interface NamedImage {
  file: string;
  image: RgbaImage;
}

/** Throws one line when the two images differ in size: metrics never resize. */
export function assertSameSize(a: NamedImage, b: NamedImage): void {
  assertSameSizeOf(a.image, b.image, [a.file, b.file]);
}

/** The core's scores as JSON (`Scores`): ∞ as `null` + `infinite`, each `null` with its reason. */
export function scoresToJson(
  s: ImageScores,
  a: NamedImage,
  b: NamedImage,
  lpips: LpipsGraphs,
): Scores {
  const metric = (key: MetricName): MetricScore => {
    const value = s[key];
    const why = s.unavailable[key];
    return {
      value: value !== null && Number.isFinite(value) ? value : null,
      convention: METRIC_CONVENTIONS[key],
      ...(why !== undefined ? { unavailable: why } : {}),
    };
  };
  const lpipsScore = (backbone: LpipsBackbone): LpipsScore => {
    const m = metric(LPIPS_METRIC[backbone]);
    const graph = lpips.available ? lpips.graphs[backbone]?.spec.file : undefined;
    // The graph is named when it measured the value or the image was too small for it.
    return graph ? { ...m, graph } : m;
  };
  return {
    images: [
      { file: a.file, width: a.image.width, height: a.image.height },
      { file: b.file, width: b.image.width, height: b.image.height },
    ],
    metrics: {
      psnr: { ...metric('psnr'), unit: 'dB', infinite: s.psnr === Infinity },
      ssim: metric('ssim'),
      ssimLuma: metric('ssimLuma'),
      lpipsAlex: lpipsScore('alex'),
      lpipsSqueeze: lpipsScore('squeeze'),
    },
    lpipsGraphs: lpips.available
      ? {
          dir: lpips.dir,
          files: (['alex', 'squeeze'] as const).flatMap((backbone) => {
            const g = lpips.graphs[backbone];
            return g ? [{ backbone, file: g.spec.file, sha256: g.spec.sha256 }] : [];
          }),
        }
      : { dir: lpips.dir, unavailable: lpipsMissingSentence(lpips.dir) },
  };
}

/**
 * Every metric of `b` against `a` (`scoreImages` of src/core/scoring.ts) with the LPIPS graphs of
 * a folder, as JSON. Throws one line when the images differ in size — they are never resized.
 */
export async function scoreNamedImages(
  a: NamedImage,
  b: NamedImage,
  lpips: LpipsGraphs,
): Promise<Scores> {
  const s = await scoreImages(a.image, b.image, {
    ...lpipsScoringOptions(lpips),
    names: [a.file, b.file],
  });
  return scoresToJson(s, a, b, lpips);
}

/** The value column of one metric: "16.7430 dB", "inf dB", "0.740863", "unavailable…". */
function formatValue(key: MetricName, m: MetricScore, missingGraphs: string | undefined): string {
  if (key === 'psnr') {
    const ps = m as PsnrScore;
    if (ps.infinite) return 'inf dB (identical RGB)';
    if (ps.value !== null) return `${ps.value.toFixed(4)} dB`;
  } else if (m.value !== null) {
    return m.value.toFixed(6);
  }
  // The missing-graphs sentence is printed once, below the table.
  if (!m.unavailable || m.unavailable === missingGraphs) return 'unavailable';
  return `unavailable: ${m.unavailable}`;
}

/**
 * The human-readable report: a header line, one line per metric (its convention label, then the
 * value), and the how-to-build sentence when the LPIPS graphs are missing.
 */
export function formatScores(s: Scores): string[] {
  const [a, b] = s.images;
  const missingGraphs = 'unavailable' in s.lpipsGraphs ? s.lpipsGraphs.unavailable : undefined;
  const labelWidth = Math.max(...METRIC_NAMES.map((k) => s.metrics[k].convention.length));
  const lines = [`${a.file} vs ${b.file} (${a.width}×${a.height})`];
  for (const key of METRIC_NAMES) {
    const m = s.metrics[key];
    lines.push(`${m.convention.padEnd(labelWidth)}  ${formatValue(key, m, missingGraphs)}`);
  }
  if (missingGraphs) lines.push(missingGraphs);
  return lines;
}

/** A one-line summary for the end of `interpolate --gt`: "PSNR 21.03 dB, SSIM 0.8123, …". */
export function summarizeScores(s: Scores): string {
  const m = s.metrics;
  const num = (v: number | null, digits: number) => (v === null ? 'n/a' : v.toFixed(digits));
  return [
    `PSNR ${m.psnr.infinite ? 'inf' : num(m.psnr.value, 2)} dB`,
    `SSIM ${num(m.ssim.value, 4)}`,
    `luma SSIM ${num(m.ssimLuma.value, 4)}`,
    `LPIPS-Alex ${num(m.lpipsAlex.value, 4)}`,
    `LPIPS-Squeeze ${num(m.lpipsSqueeze.value, 4)}`,
  ].join(', ');
}

/** Why LPIPS is not fully there (for `--require-lpips`), or undefined when both values exist. */
export function missingLpips(s: Scores): string | undefined {
  for (const key of ['lpipsAlex', 'lpipsSqueeze'] as const) {
    const m = s.metrics[key];
    if (m.value === null) return m.unavailable ?? `${m.convention} is unavailable`;
  }
  return undefined;
}
