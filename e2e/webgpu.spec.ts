/**
 * The WebGPU code path, on Chromium's software adapter (SwiftShader; launched with
 * --enable-unsafe-webgpu by the "webgpu" project in playwright.config.ts). Real GPUs are not
 * available here, so this checks behaviour, not speed.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cliLoraRun, expect, parityKeyframes, ROOT, test, worstDiffToParityFrames } from './studio';

/** How long a run on WebGPU may take: the software adapter is many times slower than WASM. */
const WEBGPU_RUN_MS = 150_000;

test('automatic backend skips a software WebGPU adapter; WebGPU can still be chosen and runs', async ({
  studio,
}) => {
  test.setTimeout(240_000);
  await studio.open();
  await studio.dropKeyframes();
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('backend.info')).toContainText('software fallback');
  await expect(studio.id('backend.name')).toContainText('WASM');

  await studio.id('run.backend').selectOption('webgpu');
  await studio.run();
  await studio.expectDone(1, WEBGPU_RUN_MS);
  await expect(studio.id('backend.name')).toHaveText('WebGPU');
  await expect(studio.id('viewer.summary')).toContainText('WEBGPU');
});

test('an fp16 variant on an adapter without shader-f16 runs on WASM and says why', async ({
  studio,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.id('run.backend').selectOption('webgpu');
  await studio.chooseVariant('fp16');
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('backend.info')).toContainText('lacks shader-f16');
  await expect(studio.id('backend.name')).toContainText('WASM');
});

test('the efficiency table reports WebGPU buffer bytes for a variant that ran on WebGPU', async ({
  studio,
}) => {
  test.setTimeout(180_000);
  await studio.open();
  await studio.id('run.backend').selectOption('webgpu');
  await studio.id('efficiency.panel').locator('summary').click();
  await studio.id('efficiency.measure').click();
  // The software adapter is slow (seconds per in-between), so only the first variant is awaited.
  const first = studio.id('efficiency.row').first();
  await expect(first).toBeVisible({ timeout: 150_000 });
  await expect(first).toContainText('baseline (fp32)');
  await expect(first).toContainText('webgpu');
  // Its weights and activations live in GPU buffers: a figure in KB or MB, not "—".
  await expect(studio.id('efficiency.gpuPeak').first()).toHaveText(/^\d+(\.\d)? (KB|MB)$/);
  await expect(studio.id('efficiency.wasmHeap').first()).toHaveText(/^\d+(\.\d)? MB$/);
});

test('the native WebGPU execution provider gives the reference frames of an EDM pack', async ({
  studio,
}) => {
  test.setTimeout(180_000);
  const dir = resolve(ROOT, 'models/reference/svd-tiny');
  const run = JSON.parse(readFileSync(resolve(dir, 'parity/expected.json'), 'utf8')).runs[0];
  await studio.open();
  await studio.id('pack.folder').setInputFiles(dir);
  await studio.dropKeyframes(parityKeyframes(dir));
  await studio.id('run.backend').selectOption('webgpu');
  await studio.setNumber('run.count', 4);
  await studio.setNumber('run.steps', run.steps);
  await studio.setNumber('run.seed', run.seed);
  await studio.run();
  await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: WEBGPU_RUN_MS });
  await expect(studio.id('backend.name')).toHaveText('WebGPU');
  const worst = worstDiffToParityFrames(await studio.shownFrames(), dir);
  console.log(
    `svd-tiny on the native WebGPU EP (software adapter): worst pixel difference ${worst}`,
  );
  expect(worst).toBeLessThanOrEqual(3);
});

test('on WebGPU the sample stays on the GPU between steps and the frames match the CLI', async ({
  studio,
}) => {
  test.setTimeout(180_000);
  await studio.open();
  await studio.dropKeyframes();
  await studio.id('run.backend').selectOption('webgpu');
  await studio.chooseVariant('lora');
  await studio.id('run.lora').fill('0.5');
  await studio.setNumber('run.count', 2);
  await studio.setNumber('run.steps', 4);
  await studio.setNumber('run.seed', 77);
  await studio.run();
  await studio.expectDone(2, WEBGPU_RUN_MS);
  await expect(studio.id('backend.name')).toHaveText('WebGPU');
  await expect(studio.id('viewer.summary')).toContainText('latents kept on the GPU');

  const { frames: cliFrames, dir: out } = await cliLoraRun();
  const frames = await studio.shownFrames();
  expect(frames).toHaveLength(2);
  for (let i = 0; i < 2; i++) {
    const a = frames[i]!;
    const b = cliFrames[i]!;
    expect([a.width, a.height]).toEqual([b.width, b.height]);
    let max = 0;
    for (let k = 0; k < a.data.length; k++) max = Math.max(max, Math.abs(a.data[k]! - b.data[k]!));
    // Other kernels (GPU arithmetic, the update in f32 on the GPU): a level or two, never more.
    console.log(`in-between ${i + 1}, WebGPU with resident latents against the CLI: worst ${max}`);
    expect(max).toBeLessThanOrEqual(4);
  }
  // The statistics of every step come from the GPU's reduction: the same as the CPU's in Node.
  const cpu = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).latentStats as {
    frames: { mean: number; std: number; min: number; max: number }[];
  }[];
  await studio.id('viewer.stats').locator('summary').click();
  const rows = await studio
    .id('viewer.stats')
    .locator('tbody tr')
    .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')));
  expect(rows).toHaveLength(cpu.length);
  rows.forEach((cells, s) => {
    const want = cpu[s]!.frames[0]!;
    const [mean, std, min, max] = cells.slice(2, 6).map(Number);
    expect(Math.abs(mean! - want.mean), `step ${s} mean`).toBeLessThan(2e-3);
    expect(Math.abs(std! - want.std), `step ${s} std`).toBeLessThan(2e-3);
    expect(Math.abs(min! - want.min), `step ${s} min`).toBeLessThan(5e-3);
    expect(Math.abs(max! - want.max), `step ${s} max`).toBeLessThan(5e-3);
  });
});

test('a denoiser that returns all zeros on WebGPU stops the run with the reason', async ({
  studio,
}) => {
  // The test pack with its fp32 denoiser's prediction multiplied by zero (as fp16 graphs come out
  // on an adapter without shader-f16): the sample stays on the GPU, yet the output is checked.
  test.setTimeout(180_000);
  const tiny = resolve(ROOT, 'models/tiny');
  const manifest = JSON.parse(readFileSync(join(tiny, 'manifest.json'), 'utf8'));
  const den = manifest.graphs.denoisers.fp32;
  const dir = mkdtempSync(join(tmpdir(), 'zero-denoiser-'));
  const made = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      `import sys, onnx
from onnx import helper, numpy_helper
import numpy as np
m = onnx.load(sys.argv[1])
g = m.graph
for n in g.node:
    n.output[:] = ['pred_raw' if o == 'prediction' else o for o in n.output]
g.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), 'zero'))
g.node.append(helper.make_node('Mul', ['pred_raw', 'zero'], ['prediction']))
onnx.save(m, sys.argv[2])`,
      join(tiny, den.file),
      join(dir, den.file),
    ],
    { encoding: 'utf8' },
  );
  expect(made.status, made.stderr).toBe(0);
  const bytes = readFileSync(join(dir, den.file));
  den.sizeBytes = bytes.byteLength;
  den.sha256 = createHash('sha256').update(bytes).digest('hex');
  manifest.id = 'tiny-zero';
  const file = (name: string, buffer: Buffer) => ({
    name,
    mimeType: 'application/octet-stream',
    buffer,
  });
  await studio.open();
  await studio
    .id('pack.files')
    .setInputFiles([
      file('manifest.json', Buffer.from(JSON.stringify(manifest))),
      file(manifest.graphs.encoder.file, readFileSync(join(tiny, manifest.graphs.encoder.file))),
      file(manifest.graphs.decoder.file, readFileSync(join(tiny, manifest.graphs.decoder.file))),
      ...Object.values<{ file: string }>(manifest.graphs.denoisers).map((d) =>
        file(d.file, d === den ? bytes : readFileSync(join(tiny, d.file))),
      ),
    ]);
  await expect(studio.id('variant.select')).toBeVisible();
  await studio.dropKeyframes();
  await studio.id('run.backend').selectOption('webgpu');
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 3);
  await studio.run();
  await expect(studio.errors()).toContainText('the denoiser returned all zeros', {
    timeout: WEBGPU_RUN_MS,
  });
  await expect(studio.id('backend.name')).toHaveText('WebGPU');
  rmSync(dir, { recursive: true, force: true });
});
