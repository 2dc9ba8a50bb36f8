/**
 * `npm run pack:int8`: the int8 variant of a pack (issue 23) — post-training static quantisation in
 * the QDQ format, calibrated on the pack's own data through the studio's own pipeline.
 *
 * 1. models/training/quantize_int8.py writes calibration copies of the fp32 denoiser and decoder
 *    whose every tensor to be quantised is also a graph output.
 * 2. The studio's pipeline (src/core, onnxruntime-node) runs the baseline on calibration keyframe
 *    pairs — the procedural generator's training clips (never the validation split) and the
 *    project's own sample drawings — with the calibration graphs as its denoiser and decoder, so
 *    every range is seen at every denoising step and every decode of real runs; per tensor the
 *    0.01th and 99.99th percentiles of each call are kept, and their extremes over all calls.
 * 3. quantize_int8.py quantises both with those ranges (int8 per-channel weights, uint8
 *    activations) into denoiser_int8.onnx and decoder_int8.onnx (the denoiser's GroupNorms and
 *    attention reshapes rewritten so that ORT's channels-last int8 convolutions need few Transposes:
 *    `channels_last_norms`; in both graphs each SiLU that feeds an int8 op quantised too, so that ORT
 *    runs it as a lookup table: `quantise_silu`), and the manifest gets the `int8` denoiser, the
 *    `int8` decoder (graphs.decoders) and the variant that runs them.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Feed, FloatTensor, GraphRunner } from '../src/core/graph';
import { variantSteps } from '../src/core/manifest';
import { interpolate, prepareKeyframes } from '../src/core/pipeline';
import {
  createNodeSession,
  loadVariantGraphs,
  readPackManifest,
  readPng,
} from '../src/node/nodeRuntime';
import { count } from './lib/args';

const ROOT = resolve(import.meta.dirname, '..');
const PY = '/usr/bin/python3';

/** The q-th quantile (0…1) of a sample of `data` (every `stride`-th value), by sorting it. */
function quantiles(data: Float32Array, qs: number[], stride: number): number[] {
  const n = Math.ceil(data.length / stride);
  const s = new Float32Array(n);
  for (let i = 0, j = 0; i < data.length; i += stride, j++) s[j] = data[i]!;
  s.sort();
  return qs.map((q) => s[Math.min(n - 1, Math.max(0, Math.round(q * (n - 1))))]!);
}

function calibrationPairs(data: string, limit: number): { start: string; end: string }[] {
  const pairs: { start: string; end: string }[] = [];
  const train = join(data, 'train');
  if (limit > 0) {
    // Without its clips the ranges would come from the sample drawings alone: other int8 graphs.
    if (!existsSync(train))
      throw new Error(
        `no calibration clips in ${train}: make them with ` +
          `/usr/bin/python3 -m models.training.data.procedural --out ${data} --train 40 --val 0 ` +
          `(or pass --data <folder with train/>, or --limit 0 to calibrate on the sample drawings only)`,
      );
    for (const clip of readdirSync(train).sort().slice(0, limit))
      pairs.push({ start: join(train, clip, 'frame1.png'), end: join(train, clip, 'frame3.png') });
  }
  const samples = join(ROOT, 'public/samples');
  pairs.push({ start: join(samples, 'bounce-start.png'), end: join(samples, 'bounce-end.png') });
  const kiosk = join(samples, 'kiosk');
  for (const f of readdirSync(kiosk)
    .filter((f) => f.endsWith('-start.png'))
    .sort())
    pairs.push({ start: join(kiosk, f), end: join(kiosk, f.replace('-start', '-end')) });
  return pairs;
}

/** The two graphs an int8 variant quantises: its denoiser, and the decoder it decodes with. */
type Quantised = 'denoiser' | 'decoder';

/**
 * A graph's calibration copy (every tensor to be quantised also a graph output) as a GraphRunner
 * that passes the float outputs on and keeps each tensor's range over all calls: per call the
 * 0.01th and 99.99th percentiles, and their extremes over the calls.
 */
async function recorder(
  file: string,
  tmp: string,
  what: Quantised,
): Promise<{ runner: GraphRunner; ranges: Map<string, [number, number]>; calls: () => number }> {
  const calibGraph = join(tmp, `calib-${what}.onnx`);
  const names = JSON.parse(
    execFileSync(PY, ['-m', 'models.training.quantize_int8', 'calib-graph', file, calibGraph], {
      cwd: ROOT,
      encoding: 'utf8',
    }),
  ) as string[];
  const calib = await createNodeSession(
    `the ${what}'s calibration graph`,
    readFileSync(calibGraph),
    2,
  );
  const ranges = new Map<string, [number, number]>();
  let calls = 0;
  const runner: GraphRunner = {
    inputNames: calib.inputNames,
    outputNames: calib.outputNames,
    ...(calib.inputShapes ? { inputShapes: calib.inputShapes } : {}),
    async run(feeds: Record<string, Feed>): Promise<Record<string, FloatTensor>> {
      const out = await calib.run(feeds);
      calls++;
      for (const n of names) {
        const t = out[n];
        if (!t) throw new Error(`the ${what}'s calibration graph has no output ${n}`);
        const [lo, hi] = quantiles(t.data, [1e-4, 1 - 1e-4], Math.max(1, t.data.length >> 16));
        const r = ranges.get(n);
        ranges.set(n, r ? [Math.min(r[0], lo!), Math.max(r[1], hi!)] : [lo!, hi!]);
      }
      return out;
    },
    release: () => calib.release(),
  };
  return { runner, ranges, calls: () => calls };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      pack: { type: 'string', default: 'models/cel' },
      data: { type: 'string', default: 'data/calib' },
      limit: { type: 'string', default: '40' },
      steps: { type: 'string' },
    },
  });
  const pairs = calibrationPairs(resolve(values.data), count('limit', values.limit));
  const pack = resolve(values.pack);
  const manifest = await readPackManifest(pack);
  const base = manifest.variants[0]!;
  const files: Record<Quantised, string> = {
    denoiser: manifest.graphs.denoisers[base.denoiser]!.file,
    decoder: manifest.graphs.decoder.file,
  };
  // Calibration copies and the quantised graphs are made in a temporary folder; the pack changes
  // only once both graphs are made (a failure leaves it as it was), and the folder goes either way.
  const tmp = mkdtempSync(join(tmpdir(), 'int8-'));
  const { graphs } = await loadVariantGraphs(pack, manifest, base.id, 2);
  const rec: Partial<Record<Quantised, Awaited<ReturnType<typeof recorder>>>> = {};
  try {
    rec.denoiser = await recorder(join(pack, files.denoiser), tmp, 'denoiser');
    rec.decoder = await recorder(join(pack, files.decoder), tmp, 'decoder');
    const steps = Number(values.steps ?? variantSteps(manifest, base));
    for (const [i, p] of pairs.entries()) {
      const keyframes = prepareKeyframes(
        manifest,
        await readPng(p.start),
        await readPng(p.end),
        'letterbox',
      );
      await interpolate({
        manifest,
        variant: base,
        graphs: { ...graphs, denoiser: rec.denoiser.runner, decoder: rec.decoder.runner },
        keyframes,
        settings: { count: 3, steps, seed: i },
      });
    }
    for (const what of ['denoiser', 'decoder'] as const) {
      const r = rec[what]!;
      console.log(
        `${what}: calibrated ${r.ranges.size} tensors over ${r.calls()} calls (${pairs.length} pairs, ${steps} steps)`,
      );
      const rangesFile = join(tmp, `ranges-${what}.json`);
      writeFileSync(rangesFile, JSON.stringify(Object.fromEntries(r.ranges)));
      console.log(
        execFileSync(
          PY,
          [
            '-m',
            'models.training.quantize_int8',
            'quantise',
            join(pack, files[what]),
            join(tmp, `${what}_int8.onnx`),
            '--ranges',
            rangesFile,
            // The denoiser's GroupNorms sit between int8 convolutions that ORT runs channels-last;
            // the decoder's, at the latent's size, gained nothing measurable (docs/exporting.md).
            ...(what === 'denoiser' ? ['--channels-last'] : []),
            '--silu-int8',
          ],
          { cwd: ROOT, encoding: 'utf8' },
        ).trim(),
      );
    }
    for (const what of ['denoiser', 'decoder'] as const)
      copyFileSync(join(tmp, `${what}_int8.onnx`), join(pack, `${what}_int8.onnx`));
    // The manifest: the int8 denoiser and decoder and their variant, after the fp32 ones; then
    // sizes and hashes.
    const raw = JSON.parse(readFileSync(join(pack, 'manifest.json'), 'utf8'));
    raw.graphs.denoisers.int8 = {
      ...raw.graphs.denoisers[base.denoiser],
      file: 'denoiser_int8.onnx',
    };
    raw.graphs.decoders = {
      ...raw.graphs.decoders,
      int8: { ...raw.graphs.decoder, file: 'decoder_int8.onnx' },
    };
    raw.variants = raw.variants.filter((v: { id: string }) => v.id !== 'int8');
    const at = raw.variants.findIndex((v: { precision: string }) => v.precision === 'fp16');
    raw.variants.splice(at >= 0 ? at + 1 : raw.variants.length, 0, {
      id: 'int8',
      label: 'Baseline int8 (CPU)',
      description:
        'The baseline with its denoiser and decoder quantised to int8 after training (QDQ, calibrated on the pack’s own data): for computers without a GPU.',
      precision: 'int8',
      denoiser: 'int8',
      decoder: 'int8',
    });
    writeFileSync(join(pack, 'manifest.json'), JSON.stringify(raw, null, 2) + '\n');
    execFileSync(PY, ['-m', 'models.training.export', 'hashes', pack], {
      cwd: ROOT,
      stdio: 'inherit',
    });
  } finally {
    await graphs.denoiser.release();
    for (const g of [graphs.encoder, graphs.decoder, graphs.motion]) await g?.release();
    await rec.denoiser?.runner.release();
    await rec.decoder?.runner.release();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
