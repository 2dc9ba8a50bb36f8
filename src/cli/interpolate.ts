/**
 * `inbetween interpolate`: the in-betweens of two keyframes as PNGs and run.json, optionally the
 * τ = 0.5 frame scored against a ground truth (`--gt`). main.ts imports this module only once
 * onnxruntime-node has loaded.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseCommandArgs, UsageError } from './args';
import { fitArg, intArg, resolveRunSettings } from './runSettings';
import { releaseLpips } from './score';
import type { RgbaImage } from '../core/image';
import { clipLengthOf } from '../core/manifest';
import { gapFrames } from '../core/sequence/plan';
import {
  interpolate,
  prepareKeyframes,
  scoredFrameIndex,
  type InterpolationResult,
  type PreparedKeyframes,
} from '../core/pipeline';
import {
  loadLpipsGraphs,
  loadVariantGraphs,
  prepareOutputDir,
  readPackManifest,
  readPng,
  writePng,
  type LpipsGraphs,
  releaseVariantGraphs,
} from '../node/nodeRuntime';
import { DEFAULT_LPIPS_DIR, scoreNamedImages, summarizeScores } from '../node/score';

/**
 * run.json's `groundTruth`: the in-between at τ = 0.5 (frame (count + 1) / 2 of an odd count; for a
 * clip pack whose frames miss 0.5, its frame nearest it), read back from disk so the scores are those
 * of the PNG as written, against the ground truth.
 * Releases the LPIPS graphs.
 */
async function scoreMidFrame(
  outDir: string,
  files: string[],
  positions: number[],
  clipLength: number | null,
  gtFile: string,
  groundTruth: RgbaImage,
  lpips: LpipsGraphs,
) {
  try {
    const index = scoredFrameIndex(positions, clipLength);
    const frame = files[index];
    if (frame === undefined) throw new Error('internal error: no in-between at τ = 0.5');
    const written = await readPng(join(outDir, frame));
    const scores = await scoreNamedImages(
      { file: frame, image: written },
      { file: gtFile, image: groundTruth },
      lpips,
    );
    return { file: gtFile, tau: positions[index]!, frame, scores };
  } finally {
    await releaseLpips(lpips);
  }
}

/** The options of `inbetween interpolate` as typed, before the pack is read. */
function readInterpolateArgs(argv: string[]) {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      pack: { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      out: { type: 'string' },
      frames: { type: 'string' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      variant: { type: 'string' },
      'lora-scale': { type: 'string' },
      guidance: { type: 'string' },
      sampler: { type: 'string' },
      scalar: { type: 'string', multiple: true },
      prompt: { type: 'string' },
      text: { type: 'string' },
      fit: { type: 'string' },
      threads: { type: 'string' },
      gt: { type: 'string' },
      lpips: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  for (const req of ['pack', 'start', 'end', 'out'] as const) {
    if (!values[req]) throw new UsageError(`--${req} is required`);
  }
  const fit = fitArg(values.fit, 'auto');
  if (values.lpips !== undefined && values.gt === undefined) {
    throw new UsageError('--lpips is only used with --gt');
  }
  const threads = values.threads ? intArg('threads', values.threads, 0, 1, 64) : undefined;
  return {
    ...values,
    pack: values.pack!,
    start: values.start!,
    end: values.end!,
    out: values.out!,
    fit,
    threads,
  };
}

/** The ground truth (same size as the keyframes) and the LPIPS graphs, read before the run. */
async function readGroundTruth(
  values: ReturnType<typeof readInterpolateArgs>,
  keyframe: RgbaImage,
): Promise<{ groundTruth: RgbaImage; lpips: LpipsGraphs } | undefined> {
  if (values.gt === undefined) return undefined;
  const groundTruth = await readPng(values.gt);
  if (groundTruth.width !== keyframe.width || groundTruth.height !== keyframe.height) {
    throw new Error(
      `the ground truth ${values.gt} is ${groundTruth.width}×${groundTruth.height} but the keyframes are ${keyframe.width}×${keyframe.height} (images are never resized for metrics)`,
    );
  }
  const lpips = await loadLpipsGraphs(values.lpips ?? DEFAULT_LPIPS_DIR, values.threads);
  return { groundTruth, lpips };
}

/**
 * Writes the in-betweens at the keyframes' size, transparent where the keyframes are (as the page
 * and `sequence` make them), as frame_NN.png; returns the names.
 */
async function writeFrames(
  out: string,
  result: InterpolationResult,
  prepared: PreparedKeyframes,
  start: RgbaImage,
  end: RgbaImage,
): Promise<string[]> {
  const frames = gapFrames(result, prepared, start, end);
  const files: string[] = [];
  for (let i = 0; i < frames.length; i++) {
    const name = `frame_${String(i + 1).padStart(2, '0')}.png`;
    await writePng(join(out, name), frames[i]!);
    files.push(name);
  }
  return files;
}

/** What `interpolate` writes into its folder (an earlier run's are removed first). */
const INTERPOLATE_FILES = /^(frame_\d+\.png|run\.json)$/;

/** `inbetween interpolate …`: returns the exit code. */
export async function interpolateCommand(argv: string[]): Promise<number> {
  const values = readInterpolateArgs(argv);
  const manifest = await readPackManifest(values.pack);
  const { variantId, settings } = resolveRunSettings(values, manifest);
  const { fit, threads } = values;
  const [start, end] = await Promise.all([readPng(values.start), readPng(values.end)]);
  const prepared = prepareKeyframes(manifest, start, end, fit);
  // The ground truth and the LPIPS graphs are checked before the run, not after it.
  const gt = await readGroundTruth(values, start);
  // Before any work: a folder that cannot be written fails now, not after the model has run.
  await prepareOutputDir(values.out, INTERPOLATE_FILES);
  const tLoad = performance.now();
  const { variant, graphs, sessionMs } = await loadVariantGraphs(
    values.pack,
    manifest,
    variantId,
    threads,
  );
  const loadMs = performance.now() - tLoad;
  const result = await interpolate({ manifest, variant, graphs, keyframes: prepared, settings });
  const files = await writeFrames(values.out, result, prepared, start, end);
  const gtRecord = gt
    ? await scoreMidFrame(
        values.out,
        files,
        result.positions,
        clipLengthOf(manifest),
        values.gt!,
        gt.groundTruth,
        gt.lpips,
      )
    : undefined;
  const { count, steps, seed } = settings;
  const run = {
    tool: 'inbetween interpolate',
    packId: manifest.id,
    packVersion: manifest.version,
    variant: variant.id,
    precision: variant.precision,
    steps,
    sampler: result.sampler,
    seed,
    loraScale: result.loraScale,
    ...(result.clip
      ? { clip: { frames: result.clip.pickedText, controls: result.clip.controls } }
      : {}),
    fit: prepared.plan.mode,
    fitChoice: fit,
    // Which drawings these are: the paths as given and their contents' sha256.
    keyframes: await Promise.all(
      [values.start, values.end].map(async (file) => ({
        file,
        sha256: createHash('sha256')
          .update(await readFile(file))
          .digest('hex'),
      })),
    ),
    keyframeSize: [start.width, start.height],
    modelSize: [prepared.plan.dstWidth, prepared.plan.dstHeight],
    frames: files.map((file, i) => ({ file, tau: result.positions[i] })),
    ...(gtRecord ? { groundTruth: gtRecord } : {}),
    timesteps: result.timesteps,
    backend: {
      runtime: 'onnxruntime-node',
      version: ort.env.versions.node ?? null,
      executionProvider: 'cpu',
    },
    timings: {
      loadMs,
      sessionMs,
      encodeMs: result.timings.encodeMs,
      denoiseMs: result.timings.denoiseMs,
      decodeMs: result.timings.decodeMs,
      totalMs: result.timings.totalMs,
      msPerInbetween: result.timings.totalMs / count,
      denoiserCallMs: result.timings.denoiserCallMs,
      decodeCallMs: result.timings.decodeCallMs,
    },
    latentStats: result.stepStats,
  };
  await writeFile(join(values.out, 'run.json'), JSON.stringify(run, null, 2) + '\n');
  await releaseVariantGraphs(graphs);
  console.log(
    `wrote ${files.length} in-between${files.length > 1 ? 's' : ''} and run.json to ${values.out} (${variant.id}, ${steps} steps, ${result.timings.totalMs.toFixed(0)} ms)`,
  );
  if (gtRecord) {
    console.log(
      `${gtRecord.frame} (τ = ${+gtRecord.tau.toFixed(3)}) vs ${values.gt}: ${summarizeScores(gtRecord.scores)}`,
    );
    const used = gtRecord.scores.lpipsGraphs;
    if ('unavailable' in used) console.log(used.unavailable);
  }
  return 0;
}
