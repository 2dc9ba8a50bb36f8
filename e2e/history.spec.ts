import { expect, solidPng, test } from './studio';

test('runs are kept across a reload and can be reopened, compared and deleted', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.setNumber('run.count', 2);
  await studio.setNumber('run.steps', 2);
  await studio.setNumber('run.seed', 5);
  await studio.run();
  await studio.expectDone(2);
  await studio.setNumber('run.seed', 6);
  await studio.run();
  await expect(studio.id('viewer.summary')).toContainText('seed 6');
  await studio.id('history.panel').locator('summary').click();
  await expect(studio.id('history.row')).toHaveCount(2);

  await page.reload();
  await expect(studio.id('variant.select')).toBeVisible();
  await studio.id('history.panel').locator('summary').click();
  await expect(studio.id('history.row')).toHaveCount(2);
  // Newest first: the seed-6 run, then seed 5. Reopen the older one.
  await expect(studio.id('history.row').nth(1)).toContainText('seed 5');
  await studio.id('history.open').nth(1).click();
  await expect(studio.id('viewer.summary')).toContainText('seed 5');
  await expect(studio.id('viewer.frame')).toHaveCount(2);
  await expect(studio.id('plot.chart').locator('.recharts-line')).toHaveCount(1);

  await studio.id('history.row').nth(0).getByRole('checkbox').check();
  await studio.id('history.row').nth(1).getByRole('checkbox').check();
  await studio.id('history.compare').click();
  await expect(studio.id('history.comparison').locator('img')).toHaveCount(4);

  await studio.id('history.delete').first().click();
  await expect(studio.id('history.row')).toHaveCount(1);
});

test('a run reopened from the history is framed by its own keyframes only', async ({ studio }) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.setNumber('run.count', 2);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(2);
  await expect(studio.id('viewer.keyframe')).toHaveCount(2);

  // Other keyframes of another size: the old in-betweens are not framed by them.
  await studio.dropKeyframes([
    solidPng('a.png', 64, 40, [200, 0, 0]),
    solidPng('b.png', 64, 40, [0, 0, 200]),
  ]);
  await expect(studio.id('keyframes.start.meta')).toContainText('a.png');
  await expect(studio.id('viewer.frame')).toHaveCount(2);
  await expect(studio.id('viewer.keyframe')).toHaveCount(0);
  await studio.id('history.panel').locator('summary').click();
  await studio.id('history.open').first().click();
  await expect(studio.id('viewer.frame')).toHaveCount(2);
  await expect(studio.id('viewer.keyframe')).toHaveCount(0);
  // The export holds the run's in-betweens alone (no keys of another size to refuse).
  const zip = await studio.saveExport('viewer', 'zip');
  expect(zip.bytes.length).toBeGreaterThan(0);

  // The run's own keyframes loaded again (the same files): reopened, it is framed by them.
  await studio.dropKeyframes();
  await studio.id('history.open').first().click();
  await expect(studio.id('viewer.keyframe')).toHaveCount(2);
  await expect(studio.errors()).toHaveCount(0);
});
