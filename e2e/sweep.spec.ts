import { readFileSync } from 'node:fs';
import { expect, sampleKeyframes, solidPng, test } from './studio';

test.describe('sweeps', () => {
  test('a 3-scale LoRA sweep runs with one seed and exports CSV and a contact sheet', async ({
    studio,
    page,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.startLoraSweep(2, '0, 0.5, 1', '3');
    await expect(studio.id('sweep.status')).toHaveText('Done: 3 runs, seed 42.', {
      timeout: 60_000,
    });
    await expect(studio.id('sweep.row')).toHaveCount(3);
    await expect(studio.id('sweep.cell')).toHaveCount(6);
    await expect(studio.id('sweep.chart')).toBeVisible();
    const [csvDl] = await Promise.all([
      page.waitForEvent('download'),
      studio.id('sweep.csv').click(),
    ]);
    const csv = readFileSync((await csvDl.path())!, 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe(
      'variant,lora_scale,guidance_scale,steps,seed,frames,final_latent_std,psnr_db,ssim,lpips_alex,scored_tau',
    );
    expect(csv.slice(1).map((r) => r.split(',').slice(0, 6).join(','))).toEqual([
      'lora,0,,3,42,2',
      'lora,0.5,,3,42,2',
      'lora,1,,3,42,2',
    ]);
    const [pngDl] = await Promise.all([
      page.waitForEvent('download'),
      studio.id('sweep.png').click(),
    ]);
    const png = readFileSync((await pngDl.path())!);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  test('cancelling a sweep midway keeps the finished rows', async ({ studio }) => {
    await studio.open();
    await studio.dropKeyframes();
    // Every row slow (300 steps), so that one row done and the next still running lasts seconds.
    await studio.startLoraSweep(15, '0, 0.5, 1', '300');
    await expect(studio.id('sweep.status')).toHaveText('1 / 3 runs', { timeout: 60_000 });
    await studio.id('sweep.cancel').click();
    await expect(studio.id('sweep.status')).toHaveText(/^Cancelled: [12] of 3 runs kept\.$/, {
      timeout: 30_000,
    });
    const kept = Number(/(\d+) of 3/.exec((await studio.id('sweep.status').textContent())!)![1]);
    await expect(studio.id('sweep.row')).toHaveCount(kept);
    // The studio still runs afterwards.
    await studio.setNumber('run.count', 1);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(1);
  });
  test('steps out of range are refused before any run; a row that cannot be scored stays', async ({
    studio,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    // The ground truth is 512×320, as the keyframes; then keyframes of another size come.
    await studio.id('evaluate.gt.input').setInputFiles(sampleKeyframes()[1]);
    await expect(studio.id('evaluate.gt.meta')).toContainText('512×320');
    await studio.dropKeyframes([
      solidPng('a.png', 64, 40, [200, 0, 0]),
      solidPng('b.png', 64, 40, [0, 0, 200]),
    ]);
    await studio.startLoraSweep(1, '0, 1', '2, 5000');
    await expect(studio.errors()).toContainText(
      'Step counts must be whole numbers from 1 to 1000 for this pack; 5000 is not.',
    );
    await expect(studio.id('sweep.row')).toHaveCount(0);
    await studio.id('sweep.steps').fill('2');
    await studio.id('sweep.start').click();
    await expect(studio.id('sweep.status')).toHaveText('Done: 2 runs, seed 42.', {
      timeout: 60_000,
    });
    await expect(studio.id('sweep.row')).toHaveCount(2);
    await expect(studio.id('message.warning').first()).toContainText('was not scored');
  });
});
