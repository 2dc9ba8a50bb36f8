import { readFileSync } from 'node:fs';
import { expect, test } from './studio';

test('runs are overlaid in the latent plot and its data exports as CSV', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.setNumber('run.count', 2);
  await studio.setNumber('run.steps', 3);
  await studio.run();
  await studio.expectDone(2);
  await studio.chooseVariant('lora');
  // Not live: this test starts each run itself.
  await studio.id('run.lora.live').uncheck();
  await studio.id('run.lora').fill('1');
  await studio.setNumber('run.steps', 3);
  await studio.run();
  await expect(studio.id('viewer.summary')).toContainText('lora · 3 steps');
  await studio.expectDone(2);
  await expect(studio.id('plot.chart').locator('.recharts-legend-item')).toHaveCount(2);
  await expect(studio.id('plot.chart').locator('.recharts-line')).toHaveCount(2);
  // A healthy tiny pack: no collapse warnings.
  await expect(studio.id('plot.warning')).toHaveCount(0);

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    studio.id('plot.csv').click(),
  ]);
  const csv = readFileSync((await download.path())!, 'utf8')
    .trim()
    .split('\n');
  expect(csv[0]).toBe(
    'run,variant,lora_scale,seed,step,timestep,frame,mean,std,min,max,non_finite',
  );
  // 2 runs × (noise + 3 steps) × 2 in-betweens.
  expect(csv).toHaveLength(1 + 2 * 4 * 2);
  const loraRows = csv.filter((r) => r.split(',')[1] === 'lora');
  expect(loraRows).toHaveLength(8);
  expect(loraRows.every((r) => r.split(',')[2] === '1')).toBe(true);
  const noiseStd = Number(csv[1]!.split(',')[8]);
  expect(noiseStd).toBeGreaterThan(0.9);
  expect(noiseStd).toBeLessThan(1.1);
});
