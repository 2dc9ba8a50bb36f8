/**
 * The WebGPU code path, on Chromium's software adapter (SwiftShader; launched with
 * --enable-unsafe-webgpu by the "webgpu" project in playwright.config.ts). Real GPUs are not
 * available here, so this checks behaviour, not speed.
 */
import { expect, test } from './studio';

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
