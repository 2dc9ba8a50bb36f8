/**
 * Force stop outside the Run panel: a sweep, a scene and a dataset evaluation whose worker stops
 * answering (as a runtime stuck in one long synchronous call would) offer Force stop a few seconds
 * after Cancel, stop cleanly with it, and the next job runs in a fresh worker. And a metrics worker
 * that crashed loads its LPIPS graphs again instead of scoring without them.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, ROOT, test, type Studio } from './studio';

/**
 * Makes the inference worker (and the metrics worker, when `metrics`) stop answering for 60 s:
 * blocked in Atomics.wait, which holds its thread without a core (a busy loop would take both of
 * a two-core machine's cores from the page that must draw "Stopping…" and time Force stop).
 */
async function hangWorkers(page: Page, metrics: boolean): Promise<void> {
  const names = metrics ? ['inference.worker', 'metrics.worker'] : ['inference.worker'];
  for (const name of names) {
    const worker = page.workers().find((w) => w.url().includes(name));
    expect(worker, name).toBeTruthy();
    await worker!.evaluate(() => {
      setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000));
    });
  }
  // Whatever the job was doing between two calls, it now waits on a worker that does not answer.
  await page.waitForTimeout(1000);
}

async function runStillWorks(studio: Studio): Promise<void> {
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
}

const sample = (file: string) => readFileSync(resolve(ROOT, 'public/samples', file));

test('a sweep that does not answer Cancel is stopped by force; its finished rows stay', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  // Every row slow (300 steps), so that one row done and the next still running lasts seconds.
  await studio.startLoraSweep(15, '0, 0.5, 1', '300');
  await expect(studio.id('sweep.row')).toHaveCount(1, { timeout: 60_000 });
  await hangWorkers(page, true);
  await studio.id('sweep.cancel').click();
  await expect(studio.id('sweep.status')).toHaveText('Stopping…');
  await expect(studio.id('sweep.force-stop')).toBeVisible({ timeout: 10_000 });
  await studio.id('sweep.force-stop').click();
  await expect(studio.id('sweep.status')).toHaveText(/^Cancelled: [12] of 3 runs kept\.$/);
  await expect(studio.id('sweep.force-stop')).toHaveCount(0);
  await expect(studio.id('message.info')).toContainText('The worker was stopped');
  await expect(studio.errors()).toHaveCount(0);
  await runStillWorks(studio);
});

test('a scene whose gap does not answer Cancel is stopped by force; made gaps stay', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.setNumber('run.steps', 200);
  await studio.id('scene.addKeys').setInputFiles([
    { name: 'k_1.png', mimeType: 'image/png', buffer: sample('bounce-start.png') },
    { name: 'k_2.png', mimeType: 'image/png', buffer: sample('bounce-end.png') },
  ]);
  // A gap of 15 in-betweens × 200 steps at the keys' own 512×320: some 15 s, still running when
  // the worker is made to hang.
  await studio.id('keyframes.fit.native').check();
  await studio.id('scene.default.count').fill('15');
  await studio.id('scene.runAll').click();
  await studio.waitForText('scene.gap.status', /step \d+ of 200/);
  await hangWorkers(page, false);
  await studio.id('scene.cancel').click();
  await expect(studio.id('scene.cancel')).toHaveText('Stopping…');
  await expect(studio.id('scene.cancel')).toBeDisabled();
  await expect(studio.id('scene.force-stop')).toBeVisible({ timeout: 10_000 });
  await studio.id('scene.force-stop').click();
  await expect(studio.id('scene.runAll')).toBeVisible();
  await expect(studio.id('scene.gap.status').first()).toHaveText(/^cancelled/);
  await expect(studio.id('scene.todo')).toHaveText('1 of 1 gaps to make');
  await expect(studio.errors()).toHaveCount(0);
  // The next Run all starts a fresh worker.
  await studio.setNumber('run.steps', 2);
  await studio.id('scene.default.count').fill('2');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 1 gaps to make', { timeout: 60_000 });
});

test('a dataset evaluation that does not answer Cancel is stopped by force and resumes', async ({
  studio,
  page,
}) => {
  test.setTimeout(180_000);
  const root = mkdtempSync(join(tmpdir(), 'force-stop-e2e-'));
  try {
    const data = join(root, 'triplets');
    for (let c = 0; c < 8; c++) {
      const dir = join(data, 'test', `clip_${c}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'frame1.png'), sample('bounce-start.png'));
      writeFileSync(join(dir, 'frame2.png'), sample('bounce-middle.png'));
      writeFileSync(join(dir, 'frame3.png'), sample('bounce-end.png'));
    }
    await studio.open();
    await expect(studio.id('evaluate.lpips')).toContainText('LPIPS ready');
    await studio.id('dataset.folder-input').setInputFiles(data);
    await expect(studio.id('dataset.folder')).toContainText('8 items');
    await studio.id('dataset.variant.fp16').uncheck();
    await studio.id('dataset.steps').fill('20');
    await studio.id('dataset.start').click();
    const progress = studio.id('dataset.progress');
    await expect
      .poll(async () => Number(await progress.getAttribute('data-done')), { timeout: 60_000 })
      .toBeGreaterThanOrEqual(1);
    await hangWorkers(page, true);
    await studio.id('dataset.cancel').click();
    await expect(progress).toContainText('cancelling');
    await expect(studio.id('dataset.force-stop')).toBeVisible({ timeout: 10_000 });
    await studio.id('dataset.force-stop').click();
    await expect(studio.id('dataset.start')).toBeEnabled();
    await expect(studio.id('dataset.force-stop')).toHaveCount(0);
    await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'paused');
    await expect(studio.id('message.info')).toContainText('The run can be resumed.');
    await expect(studio.errors()).toHaveCount(0);
    const cut = Number(await progress.getAttribute('data-done'));
    await expect(progress).toHaveAttribute('data-total', '40');
    expect(cut).toBeLessThan(40);

    // Resumed in fresh workers: the run finishes with every result.
    await studio.id('dataset.run.resume').click();
    await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'done', {
      timeout: 120_000,
    });
    await expect(progress).toHaveAttribute('data-done', '40');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('after the metrics worker crashes, the next frame is scored with LPIPS again', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.dropFiles(studio.id('evaluate.panel'), [
    { name: 'frame1.png', mimeType: 'image/png', buffer: sample('bounce-start.png') },
    { name: 'frame2.png', mimeType: 'image/png', buffer: sample('bounce-middle.png') },
    { name: 'frame3.png', mimeType: 'image/png', buffer: sample('bounce-end.png') },
  ]);
  await expect(studio.id('evaluate.gt.meta')).toContainText('frame2.png');
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('evaluate.lpips-alex')).not.toHaveText('—');
  const metrics = page.workers().find((w) => w.url().includes('metrics.worker'));
  expect(metrics, 'the metrics worker').toBeTruthy();
  const gone = new Promise<void>((res) => metrics!.once('close', () => res()));
  await metrics!.evaluate(() => {
    setTimeout(() => {
      throw new Error('a crash made by the test');
    });
  });
  await gone;
  await studio.setNumber('run.seed', 7);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('evaluate.row')).toHaveCount(2);
  // Both rows scored with LPIPS (after the crash without the reload: "—" and a note).
  await expect(studio.id('evaluate.lpips-alex')).toHaveText([/^0\.\d{4}$/, /^0\.\d{4}$/]);
  await expect(studio.id('evaluate.lpips')).toHaveText('LPIPS ready (alex, squeeze).');
});
