/**
 * The page stays responsive while a run streams progress and frames (its own file: the trace
 * recorder is switched off for it, which Playwright allows only per file).
 */
import { expect, test } from './studio';

test.use({ trace: 'off' });

// The page must not freeze while a run streams progress and frames. The budget is 400 ms, not
// RAIL's 100 ms: on the shared 2-core CI machines the same code measured long tasks of 110-183 ms
// (once 327 ms) from scheduling noise alone, while a real freeze (frames encoded or scored on
// the main thread) costs seconds. Playwright's trace recorder snapshots the DOM inside the page
// on every action and poll, which shows up as the page's own long tasks, so this test records no
// trace; it starts observing once the first run's plot is drawn and the page is idle, so only
// the measured run's work counts.
test('no main-thread long task over 400 ms during a run', async ({ studio, page }) => {
  await studio.open();
  await studio.dropKeyframes();
  // Load the model once so the measured run is pure inference.
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(3);
  await expect(studio.id('plot.chart').locator('.recharts-line')).toHaveCount(1);
  await page.evaluate(() => new Promise((done) => requestIdleCallback(done, { timeout: 5000 })));
  await page.evaluate(() => {
    const w = window as unknown as { __longTasks: number[] };
    const since = performance.now();
    w.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        if (e.startTime >= since) w.__longTasks.push(Math.round(e.duration));
    }).observe({ type: 'longtask' });
  });
  await studio.setNumber('run.count', 8);
  await studio.setNumber('run.steps', 30);
  await studio.run();
  await expect(studio.id('run.status')).toHaveText(/^Step/);
  await studio.expectDone(8);
  // The new trace joins the plot in a deferred render after the frames show.
  await expect(studio.id('plot.chart').locator('.recharts-line')).toHaveCount(2);
  const longTasks = await page.evaluate(
    () => (window as unknown as { __longTasks: number[] }).__longTasks,
  );
  expect(
    longTasks.filter((d) => d > 400),
    `long tasks: ${longTasks.join(', ')}`,
  ).toEqual([]);
});
