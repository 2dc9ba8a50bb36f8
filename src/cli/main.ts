/**
 * `inbetween` — the studio's command line, over the same src/core as the page, with
 * onnxruntime-node. Bad arguments and bad files exit non-zero with a one-line reason.
 *
 *   inbetween interpolate --pack DIR --start A.png --end B.png --out DIR
 *                         [--frames N] [--steps S] [--seed K] [--variant ID] [--lora-scale X] [--fit letterbox|crop]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import type { FitMode } from '../core/image';
import { interpolate, MAX_INBETWEENS, prepareKeyframes, restoreFrame } from '../core/pipeline';
import { loadVariantGraphs, readPackManifest, readPng, writePng } from './nodeRuntime';

const USAGE = `usage:
  inbetween interpolate --pack DIR --start A.png --end B.png --out DIR
                        [--frames N] [--steps S] [--seed K] [--variant ID] [--lora-scale X] [--fit letterbox|crop]
  inbetween --help`;

/** An error whose message is the whole one-line reason shown to the person. */
export class UsageError extends Error {}

function intArg(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value))
    throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name} must be from ${min} to ${max}, got ${n}`);
  return n;
}

async function interpolateCommand(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
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
        fit: { type: 'string' },
        threads: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
  for (const req of ['pack', 'start', 'end', 'out'] as const) {
    if (!values[req]) throw new UsageError(`--${req} is required`);
  }
  const fit = (values.fit ?? 'letterbox') as FitMode;
  if (fit !== 'letterbox' && fit !== 'crop')
    throw new UsageError(`--fit must be letterbox or crop, got "${values.fit}"`);
  const manifest = await readPackManifest(values.pack!);
  const variantId = values.variant ?? manifest.variants[0]!.id;
  const variantSpec = manifest.variants.find((v) => v.id === variantId);
  if (!variantSpec) {
    throw new UsageError(
      `pack "${manifest.id}" has no variant "${variantId}" (it has ${manifest.variants.map((v) => v.id).join(', ')})`,
    );
  }
  const count = intArg('frames', values.frames, 1, 1, MAX_INBETWEENS);
  const steps = intArg(
    'steps',
    values.steps,
    variantSpec.recommendedSteps ?? manifest.scheduler.defaultSteps,
    1,
    manifest.scheduler.trainTimesteps,
  );
  const seed = intArg('seed', values.seed, 42, 0, 0xffffffff);
  const threads = values.threads ? intArg('threads', values.threads, 0, 1, 64) : undefined;
  let loraScale: number | undefined;
  if (values['lora-scale'] !== undefined) {
    loraScale = Number(values['lora-scale']);
    if (!Number.isFinite(loraScale))
      throw new UsageError(`--lora-scale must be a number, got "${values['lora-scale']}"`);
    if (!variantSpec.loraScale) throw new UsageError(`variant "${variantId}" has no LoRA scale`);
  }

  const [start, end] = await Promise.all([readPng(values.start!), readPng(values.end!)]);
  const prepared = prepareKeyframes(manifest, start, end, fit);
  const tLoad = performance.now();
  const { variant, graphs, sessionMs } = await loadVariantGraphs(
    values.pack!,
    manifest,
    variantId,
    threads,
  );
  const loadMs = performance.now() - tLoad;
  const result = await interpolate(manifest, variant, graphs, prepared, {
    count,
    steps,
    seed,
    ...(loraScale !== undefined ? { loraScale } : {}),
  });
  await mkdir(values.out!, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < result.modelFrames.length; i++) {
    const name = `frame_${String(i + 1).padStart(2, '0')}.png`;
    await writePng(
      join(values.out!, name),
      restoreFrame(result.modelFrames[i]!, prepared.plan, start),
    );
    files.push(name);
  }
  const run = {
    tool: 'inbetween interpolate',
    packId: manifest.id,
    packVersion: manifest.version,
    variant: variant.id,
    precision: variant.precision,
    steps,
    seed,
    loraScale: result.loraScale,
    fit,
    keyframeSize: [start.width, start.height],
    modelSize: manifest.image.defaultSize,
    frames: files.map((file, i) => ({ file, tau: result.positions[i] })),
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
    latentStats: result.steps,
  };
  await writeFile(join(values.out!, 'run.json'), JSON.stringify(run, null, 2) + '\n');
  for (const g of Object.values(graphs)) await g.release();
  console.log(
    `wrote ${files.length} in-between${files.length > 1 ? 's' : ''} and run.json to ${values.out} (${variant.id}, ${steps} steps, ${result.timings.totalMs.toFixed(0)} ms)`,
  );
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === '--help' || command === '-h') {
      console.log(USAGE);
      return command ? 0 : 2;
    }
    if (command === 'interpolate') {
      await interpolateCommand(rest);
      return 0;
    }
    throw new UsageError(`unknown command "${command}" (try: inbetween --help)`);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    console.error(`inbetween: ${msg}`);
    return e instanceof UsageError ? 2 : 1;
  }
}
