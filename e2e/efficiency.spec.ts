import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, ROOT, test } from './studio';

test('the efficiency table measures every variant and exports CSV and Markdown', async ({
  studio,
  page,
}) => {
  // Each variant is loaded in a fresh worker, warmed up for 2 s and timed.
  test.setTimeout(180_000);
  await studio.open();
  await studio.id('efficiency.panel').locator('summary').click();
  await studio.id('efficiency.measure').click();
  await expect(studio.id('efficiency.row')).toHaveCount(3, { timeout: 150_000 });
  await expect(studio.id('efficiency.measure')).toBeEnabled({ timeout: 150_000 });
  await expect(studio.id('efficiency.table')).toContainText('fp16 (fp16)');

  const [csvDownload] = await Promise.all([
    page.waitForEvent('download'),
    studio.id('efficiency.csv').click(),
  ]);
  const csv = readFileSync((await csvDownload.path())!, 'utf8')
    .trim()
    .split('\n');
  expect(csv[0]).toContain('ms / denoiser step');
  expect(csv.slice(1).map((r) => r.split(',')[0])).toEqual(['baseline', 'lora', 'fp16']);
  const header = csv[0]!.split(',');
  const heapCol = header.indexOf('WASM heap MB');
  const gpuCol = header.indexOf('WebGPU buffers peak MB');
  expect(heapCol).toBeGreaterThan(0);
  expect(gpuCol).toBeGreaterThan(0);
  for (const row of csv.slice(1)) {
    const cols = row.split(',');
    expect(Number(cols[6])).toBeGreaterThan(0);
    // Each variant runs in a fresh worker: its WASM memory holds at least the runtime and the
    // tiny pack's weights, and stays far below the 4 GB wasm32 limit.
    const heapMb = Number(cols[heapCol]);
    expect(heapMb).toBeGreaterThan(1);
    expect(heapMb).toBeLessThan(4096);
    if (cols[2] === 'wasm') expect(cols[gpuCol]).toBe('');
  }
  await expect(studio.id('efficiency.wasmHeap').first()).toContainText('MB');
  const [mdDownload] = await Promise.all([
    page.waitForEvent('download'),
    studio.id('efficiency.md').click(),
  ]);
  const md = readFileSync((await mdDownload.path())!, 'utf8');
  expect(md).toMatch(/^\| variant \| precision \| backend \|/);
  expect(md.split('\n').filter((l) => l.startsWith('| lora |'))).toHaveLength(1);

  // A run afterwards loads its own variant again and works.
  await studio.dropKeyframes();
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(3);

  // Another pack chosen (a clip pack, timed per clip): the table still speaks of its own.
  await studio.id('pack.folder').setInputFiles(resolve(ROOT, 'models/reference/svd-tiny'));
  await expect(studio.id('pack.select').locator('option:checked')).toContainText('local folder');
  await expect(studio.id('efficiency.timeHeader')).toHaveText('ms/in-between');
  await expect(studio.id('efficiency.hint')).toContainText('pack tiny-random');
});

test('measuring can be cancelled at once; the rows so far stay and runs still work', async ({
  studio,
}) => {
  test.setTimeout(120_000);
  await studio.open();
  await studio.id('efficiency.panel').locator('summary').click();
  await studio.id('efficiency.measure').click();
  // Cancel while the first variant is being timed: the benchmark cannot stop between its timed
  // runs, so the worker is stopped, and the page is free again at once.
  await expect(studio.id('efficiency.status')).toContainText('timing', { timeout: 60_000 });
  await studio.id('efficiency.cancel').click();
  await expect(studio.id('efficiency.measure')).toBeEnabled({ timeout: 5_000 });
  await expect(studio.id('efficiency.cancel')).toHaveCount(0);
  await expect(
    studio.page.locator('[data-testid="message.info"][data-scope="efficiency"]'),
  ).toContainText(/Measuring was cancelled; [0-2] of 3 variants were measured/);
  await expect(studio.errors()).toHaveCount(0);

  await studio.dropKeyframes();
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(3);
});
