/**
 * Ground truth and scoring: a ground-truth frame (or a triplet frame1/frame2/frame3, whose outer
 * frames become the keyframes), LPIPS graphs found on the server or loaded from disk, and the
 * scores of every run's τ = 0.5 in-between, computed in the metrics worker.
 */
import {
  describeImage,
  keyframeBlob,
  releaseImage,
  setKeyframePair,
} from '../keyframes/keyframeActions';
import { selectedClipLength } from '../packs/packActions';
import { GROUND_TRUTH_TAU, scoredFrameIndex } from '../../core/pipeline';
import { clearMessages, patch, say, useStudio } from '../state/store';
import type { KeyframeInfo } from '../keyframes/keyframesSlice';
import type { RunView } from '../run/runSlice';
import type { ScoreRow } from './evaluateSlice';
import type { LpipsStatus, PackSource } from '../../shared/protocol';
import { findLpips, loadLpips, loadLpipsWhenNeeded, scoreFrame } from '../clients/metricsClient';

/** Where the LPIPS graphs in the metrics worker came from (for LPIPS-VGG, loaded on demand). */
let lpipsSource: PackSource | null = null;
export const currentLpipsSource = () => lpipsSource;

/**
 * Looks for LPIPS graphs: the server's /models/lpips/, else the IndexedDB cache. Only their manifest
 * is read here; the graphs load before the first score (metricsClient's `loadLpipsWhenNeeded`).
 */
export async function initLpips(): Promise<void> {
  const base = new URL(`${import.meta.env.BASE_URL}models/lpips/`, location.href).href;
  const bundled: PackSource = { kind: 'url', baseUrl: base, label: 'bundled' };
  let source: PackSource = bundled;
  let status = await findLpips(source).catch((e: unknown) => ({
    available: [] as string[],
    message: (e as Error).message,
  }));
  if (status.available.length === 0) {
    const cache: PackSource = { kind: 'cache', label: 'cache' };
    const cached = await findLpips(cache).catch(() => null);
    if (cached && cached.available.length > 0) [status, source] = [cached, cache];
  }
  if (status.available.length === 0) {
    lpipsSource = bundled;
    patch('evaluate', {
      lpips: { state: 'unavailable', available: [], message: status.message },
    });
    return;
  }
  lpipsSource = source;
  patch('evaluate', {
    lpips: { state: 'found', available: status.available, message: null },
  });
  loadLpipsWhenNeeded(source, showLoaded(source));
}

/** Shows how a (deferred or repeated) load of `source`'s LPIPS graphs went. */
function showLoaded(source: PackSource) {
  return (loaded: LpipsStatus | Error) => {
    // A folder picked meanwhile has replaced this source: its state stands.
    if (lpipsSource !== source) return;
    patch('evaluate', {
      lpips:
        loaded instanceof Error
          ? { state: 'unavailable', available: [], message: loaded.message }
          : {
              state: loaded.available.length ? 'ready' : 'unavailable',
              available: loaded.available,
              message: loaded.message,
            },
    });
  };
}

/** Loads LPIPS graphs from a folder the person picked (manifest.json + .onnx from export_lpips.py). */
export async function loadLpipsFromFiles(
  files: { file: File; relativePath: string }[],
): Promise<void> {
  const map: Record<string, Blob> = {};
  for (const f of files) map[f.relativePath.split('/').pop()!] = f.file;
  const source: PackSource = { kind: 'files', files: map, label: 'local folder' };
  patch('evaluate', { lpips: { ...useStudio.getState().evaluate.lpips, state: 'loading' } });
  try {
    const status = await loadLpips(source, undefined, showLoaded(source));
    if (status.available.length) lpipsSource = source;
    patch('evaluate', {
      lpips: {
        state: status.available.length ? 'ready' : 'unavailable',
        available: status.available,
        message: status.message,
      },
    });
    if (status.available.length) await rescoreAll();
  } catch (e) {
    patch('evaluate', {
      lpips: { state: 'unavailable', available: [], message: (e as Error).message },
    });
  }
}

/** Sets the ground-truth frame and scores the current result against it. */
export async function setGroundTruth(file: File): Promise<void> {
  try {
    const info = await describeImage(file, file.name);
    // Refuse a frame of the wrong size before anything is replaced: the good one and its scores stay.
    const { keyframes, run } = useStudio.getState();
    const frame = run.result?.frames[0];
    const ref = keyframes.start
      ? { w: keyframes.start.width, h: keyframes.start.height, what: 'the keyframes' }
      : frame
        ? { w: frame.width, h: frame.height, what: 'the in-betweens' }
        : null;
    if (ref && (info.width !== ref.w || info.height !== ref.h)) {
      releaseImage(info);
      const kept = useStudio.getState().evaluate.groundTruth;
      throw new Error(
        `"${info.name}" is ${info.width}×${info.height} but ${ref.what} are ${ref.w}×${ref.h}: a ground-truth frame must have their size (images are never resized for scoring). ${kept ? `The ground truth "${kept.name}" and its scores are kept.` : 'Nothing was changed.'}`,
      );
    }
    replaceGroundTruth(info);
    clearMessages('evaluate');
    const result = useStudio.getState().run.result;
    if (result) await scoreRun(result);
  } catch (e) {
    say('error', 'evaluate', (e as Error).message);
  }
}

/** Removes the ground truth and its scores. */
export function clearGroundTruth(): void {
  replaceGroundTruth(null);
}

/** Puts `info` (or nothing) in place of the ground truth, dropping its image and its scores. */
function replaceGroundTruth(info: KeyframeInfo | null): void {
  releaseImage(useStudio.getState().evaluate.groundTruth);
  dropScores();
  patch('evaluate', { groundTruth: info });
}

/**
 * Counts changes of the ground truth: a score that was in flight across one belongs to the frame
 * before and is dropped.
 */
let groundTruthEpoch = 0;
/** Scorings in flight (the panel says "Scoring…" until the last ends). */
let scoring = 0;

/** Drops every score row (revoking its images): the ground truth they were scored against is gone. */
function dropScores(): void {
  groundTruthEpoch++;
  useStudio.getState().evaluate.scores.forEach((r) => rowUrls(r).forEach(URL.revokeObjectURL));
  patch('evaluate', { scores: [] });
}

/** Picks frame1/frame2/frame3 of a triplet by name (ATD-12K style), else by natural name order. */
export function orderTriplet<T extends { name: string }>(files: T[]): [T, T, T] | null {
  if (files.length !== 3) return null;
  const byNumber = (n: number) =>
    files.find((f) => new RegExp(`(^|[^0-9])0*${n}\\.[a-z]+$`, 'i').test(f.name));
  const [a, b, c] = [byNumber(1), byNumber(2), byNumber(3)];
  if (a && b && c && new Set([a, b, c]).size === 3) return [a, b, c];
  const sorted = [...files].sort((x, y) =>
    x.name.localeCompare(y.name, undefined, { numeric: true }),
  );
  return [sorted[0]!, sorted[1]!, sorted[2]!];
}

/**
 * A triplet: frame1 and frame3 become the keyframes, frame2 the ground truth; one in-between (τ = 0.5).
 * All three are read and checked before anything is replaced: a triplet that cannot be used whole
 * changes nothing (half of one would score one pair's in-between against another's middle).
 */
export async function addTriplet(files: File[]): Promise<void> {
  const t = orderTriplet(files);
  if (!t) return;
  const read = await Promise.allSettled([
    describeImage(t[0], `start-${t[0].name}`),
    describeImage(t[1], t[1].name),
    describeImage(t[2], `end-${t[2].name}`),
  ]);
  const infos = read.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = read.find((r) => r.status === 'rejected');
  const [start, middle, end] = infos;
  const sizes = infos.map((i) => `${i.width}×${i.height}`);
  const problem = failed
    ? ((failed.reason as Error).message ?? String(failed.reason))
    : new Set(sizes).size > 1
      ? `its frames are not all the same size (${t.map((f, i) => `${f.name} ${sizes[i]}`).join(', ')}).`
      : null;
  if (problem !== null || !start || !middle || !end) {
    infos.forEach(releaseImage);
    say('error', 'evaluate', `The triplet was not loaded: ${problem} Nothing was changed.`);
    return;
  }
  setKeyframePair(start, end);
  replaceGroundTruth(middle);
  // A triplet has one middle frame: ask for exactly that in-between.
  patch('settings', { count: 1 });
  say(
    'info',
    'evaluate',
    `Triplet: ${t[0].name} → start, ${t[2].name} → end, ${t[1].name} → ground truth for τ = 0.5. Run to score its in-between.`,
  );
}

/**
 * Whether `run` was made from the keyframes on the page: only then is the ground truth (their
 * middle) its in-between's.
 */
function madeFromLoadedKeys(run: RunView | null): boolean {
  const { start, end } = useStudio.getState().keyframes;
  return Boolean(run?.keys && run.keys.start === start?.id && run.keys.end === end?.id);
}

function rowUrls(row: ScoreRow): string[] {
  return [row.heatmapUrl, ...(row.lpipsMapUrl ? [row.lpipsMapUrl] : [])];
}

/** Scores a finished run's τ = 0.5 in-between against the ground truth (if both exist). */
export async function scoreRun(run: RunView): Promise<void> {
  const gt = useStudio.getState().evaluate.groundTruth;
  if (!gt) return;
  // A result made from other keyframes (an earlier pair, a run reopened from the history).
  if (!madeFromLoadedKeys(run)) {
    say(
      'info',
      'evaluate',
      'The in-betweens on screen were made from other keyframes: run these keyframes to score them against this ground truth.',
    );
    return;
  }
  const gtBlob = keyframeBlob(gt.id);
  const clipLength = run.clip?.clipLength ?? selectedClipLength(run.packId);
  const frame =
    run.frames[
      scoredFrameIndex(
        run.frames.map((f) => f.position),
        clipLength,
      )
    ];
  if (!gtBlob) return;
  if (!frame) {
    say(
      'warning',
      'evaluate',
      clipLength !== null
        ? `This run did not return the clip frame nearest τ = 0.5 (ask for one in-between, or an odd number), so it was not scored.`
        : 'This run has no in-between at τ = 0.5 (use an odd number of in-betweens), so it was not scored.',
    );
    return;
  }
  const epoch = groundTruthEpoch;
  scoring++;
  patch('evaluate', { scoring: true });
  try {
    const result = await (await fetch(frame.url)).blob();
    const s = await scoreFrame({ result, groundTruth: gtBlob });
    if (epoch !== groundTruthEpoch) return; // scored against a ground truth that has gone
    const row: ScoreRow = {
      jobId: run.jobId,
      variantId: run.variantId,
      loraScale: run.loraScale,
      steps: run.stepsRequested,
      seed: run.seed,
      backend: run.backend,
      psnr: s.psnr,
      ssim: s.ssim,
      ssimLuma: s.ssimLuma,
      lpipsAlex: s.lpipsAlex,
      lpipsSqueeze: s.lpipsSqueeze,
      lpipsNote: s.lpipsNote,
      resultUrl: frame.url,
      heatmapUrl: URL.createObjectURL(s.heatmap),
      lpipsMapUrl: s.lpipsMap ? URL.createObjectURL(s.lpipsMap) : null,
    };
    const previous = useStudio.getState().evaluate.scores.find((r) => r.jobId === run.jobId);
    if (previous) rowUrls(previous).forEach((u) => URL.revokeObjectURL(u));
    patch('evaluate', {
      scores: [row, ...useStudio.getState().evaluate.scores.filter((r) => r.jobId !== run.jobId)],
    });
    clearMessages('evaluate');
    if (Math.abs(frame.position - GROUND_TRUTH_TAU) > 1e-9)
      say(
        'info',
        'evaluate',
        `Scored the clip frame at τ ${frame.position.toFixed(3)}, the nearest to 0.5 (a ${clipLength}-frame clip has none at 0.5).`,
      );
  } catch (e) {
    say('error', 'evaluate', (e as Error).message);
  } finally {
    scoring--;
    if (scoring === 0) patch('evaluate', { scoring: false });
  }
}

async function rescoreAll(): Promise<void> {
  const result = useStudio.getState().run.result;
  if (result) await scoreRun(result);
}

let started = false;
/** Starts the evaluation feature once: finds LPIPS, and scores every new run result. */
export function startEvaluation(): void {
  if (started) return;
  started = true;
  void initLpips();
  useStudio.subscribe((s, prev) => {
    if (s.run.result && s.run.result !== prev.run.result) void scoreRun(s.run.result);
  });
}
