/**
 * The WebGPU code path, on Chromium's software adapter (SwiftShader; launched with
 * --enable-unsafe-webgpu by the "webgpu" project in playwright.config.ts). Real GPUs are not
 * available here, so this checks behaviour, not speed.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, parityKeyframes, ROOT, test, worstDiffToParityFrames } from './studio';

test('automatic backend skips a software WebGPU adapter; WebGPU can still be chosen and runs', async ({
  studio,
}) => {
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
  await studio.expectDone(1);
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
  test.setTimeout(120_000);
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
  await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 100_000 });
  await expect(studio.id('backend.name')).toHaveText('WebGPU');
  const worst = worstDiffToParityFrames(await studio.shownFrames(), dir);
  console.log(
    `svd-tiny on the native WebGPU EP (software adapter): worst pixel difference ${worst}`,
  );
  expect(worst).toBeLessThanOrEqual(3);
});
