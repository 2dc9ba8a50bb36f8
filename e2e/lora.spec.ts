import { expect, test } from './studio';

test('moving the LoRA slider re-runs with the same seed; the latest position wins', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.chooseVariant('lora');
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 3);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('viewer.summary')).toContainText('LoRA 0.15');
  const onnx: string[] = [];
  page.on('request', (r) => {
    if (r.url().endsWith('.onnx')) onnx.push(r.url());
  });
  // Several positions in quick succession: intermediate ones are dropped, the last one is shown.
  for (const v of ['0.3', '0.5', '0.7', '0.9']) await studio.id('run.lora').fill(v);
  await expect(studio.id('viewer.summary')).toContainText('LoRA 0.90');
  await expect(studio.id('run.status')).toHaveText(/^Done:/);
  await expect(studio.id('viewer.summary')).toContainText('seed 42');
  // Each finished run adds a line to the latent plot: the first, and at most 4 more.
  // Polled: recharts draws a finished run's line a frame or two after the status says Done.
  const lines = studio.id('plot.chart').locator('.recharts-line');
  await expect.poll(() => lines.count()).toBeGreaterThanOrEqual(2);
  expect(await lines.count()).toBeLessThanOrEqual(5);
  expect(onnx, 'sessions stay loaded').toEqual([]);
});
