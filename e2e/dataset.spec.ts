/**
 * Evaluate dataset (issue 19): a folder of six triplets picked in the page, two variants run in the
 * workers, cancelled part-way, the page reloaded, the folder picked again and the run resumed; the
 * exports checked, and the page's aggregate compared with `inbetween eval` + `inbetween report` on
 * the same folder and plan.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import type { Download, Page } from '@playwright/test';
import { bigWhitePng } from '../src/testing/bigPng';
import { expect, ROOT, test } from './studio';

/** A box moving across a light ground: frame f of clip c, 256×160. */
function frame(c: number, f: number): Buffer {
  const w = 256;
  const h = 160;
  const png = new PNG({ width: w, height: h });
  const bx = 60 + f * 30 + c * 7;
  const by = 50 + f * 12;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const k = (y * w + x) * 4;
      const box = Math.abs(x - bx) < 24 && Math.abs(y - by) < 18;
      const px = box ? [40 * c, 60 + ((x * 3) % 50), 255 - 40 * c, 255] : [230, 220, 200, 255];
      png.data.set(px, k);
    }
  return PNG.sync.write(png);
}

/** Temporary folders made by a test, removed after it. */
const made: string[] = [];
test.afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Six triplets in ATD-12K's layout: `<root>/test/<Category>_clip_<c>/frame{1,2,3}.png`. */
function makeDataset(): string {
  const root = mkdtempSync(join(tmpdir(), 'dataset-e2e-'));
  made.push(root);
  const data = join(root, 'triplets');
  for (let c = 0; c < 6; c++) {
    const dir = join(data, 'test', `${c % 2 ? 'Disney' : 'Japan'}_clip_${c}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 1; f <= 3; f++) writeFileSync(join(dir, `frame${f}.png`), frame(c, f));
  }
  return data;
}

const PLAN = { variants: 'baseline,lora', steps: '3' };

/**
 * Makes the inference worker stop answering for `ms` (blocked in Atomics.wait, without taking a
 * core), so that a Cancel or Pause pressed now lands while an item is in progress, however fast
 * the machine gets through the rest.
 */
async function holdInference(page: Page, ms: number): Promise<void> {
  const worker = page.workers().find((w) => w.url().includes('inference.worker'));
  expect(worker, 'the inference worker').toBeTruthy();
  await worker!.evaluate((wait) => {
    setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait));
  }, ms);
}

async function download(page: Page, testId: string): Promise<string> {
  const [dl]: [Download, void] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId(testId).click(),
  ]);
  return readFileSync((await dl.path())!, 'utf8');
}

test('a dataset folder is evaluated, cancelled, resumed after a reload, exported, and agrees with the CLI', async ({
  studio,
  page,
}) => {
  test.setTimeout(240_000);
  const data = makeDataset();

  // The CLI's table for the same folder and plan.
  const out = join(data, '..', 'cli-run');
  const bin = resolve(ROOT, 'bin/inbetween.mjs');
  const pack = resolve(ROOT, 'models/tiny');
  const run = spawnSync(
    'node',
    [
      bin,
      'eval',
      '--pack',
      pack,
      '--data',
      data,
      '--out',
      out,
      '--quiet',
      '--variants',
      PLAN.variants,
      '--steps',
      PLAN.steps,
    ],
    { cwd: ROOT, encoding: 'utf8', timeout: 180_000 },
  );
  expect(run.status, run.stderr).toBe(0);
  const rep = spawnSync('node', [bin, 'report', out, '--format', 'json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(rep.status, rep.stderr).toBe(0);
  const cliReport = JSON.parse(rep.stdout) as {
    rows: { config: string; category: string | null; metrics: Record<string, { mean: number }> }[];
  };

  await studio.open();
  await expect(studio.id('evaluate.lpips')).toContainText('LPIPS ready');
  await studio.id('dataset.folder-input').setInputFiles(data);
  await expect(studio.id('dataset.folder')).toContainText(
    'triplets: 6 items (triplets) from 18 files',
  );
  await expect(studio.id('dataset.folder')).toContainText('categories Disney, Japan');
  await studio.id('dataset.variant.fp16').uncheck();
  await studio.id('dataset.steps').fill(PLAN.steps);
  // The fits it offers are the ones the pipeline knows; the protocol's letterbox is the default.
  await expect(studio.id('dataset.fit').locator('option')).toHaveText([
    'auto',
    'letterbox',
    'crop',
    'native',
  ]);
  await expect(studio.id('dataset.fit')).toHaveValue('letterbox');
  await studio.id('dataset.start').click();
  // The pack and variant stay put while the evaluation has the workers.
  await expect(studio.id('pack.select')).toBeDisabled();
  await expect(studio.id('variant.select')).toBeDisabled();
  await expect(studio.id('pack.locked')).toBeVisible();

  // Cancel part-way: some lines written, not all.
  const progress = studio.id('dataset.progress');
  await expect(progress).toHaveAttribute('data-total', '30');
  await expect
    .poll(async () => Number(await progress.getAttribute('data-done')), {
      timeout: 60_000,
      intervals: [100],
    })
    .toBeGreaterThanOrEqual(3);
  await holdInference(page, 2000);
  await studio.id('dataset.cancel').click();
  await expect(studio.id('dataset.start')).toBeEnabled();
  await expect(studio.id('pack.select')).toBeEnabled();
  await expect(studio.id('pack.locked')).toHaveCount(0);
  const cut = Number(await progress.getAttribute('data-done'));
  expect(cut).toBeGreaterThanOrEqual(3);
  expect(cut).toBeLessThan(30);
  await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'paused');

  // Reload: the run is kept; resuming needs the folder again.
  await page.reload();
  await expect(studio.id('dataset.run')).toHaveCount(1);
  await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'paused');
  await studio.id('dataset.run.resume').click();
  await expect(studio.errors()).toContainText('pick the folder triplets again');
  await studio.id('dataset.folder-input').setInputFiles(data);
  await studio.id('dataset.run.resume').click();
  await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'done', {
    timeout: 120_000,
  });
  await expect(progress).toHaveAttribute('data-done', '30');

  // Every line once: 6 items × (2 configurations + blend + repeat + flow warp).
  const [lines] = await Promise.all([download(page, 'dataset.export.jsonl')]);
  const keys = lines
    .trim()
    .split('\n')
    .map((l) => {
      const x = JSON.parse(l) as { item: string; config: string };
      return `${x.item}|${x.config}`;
    });
  expect(keys).toHaveLength(30);
  expect(new Set(keys).size).toBe(30);

  // The page's aggregate equals the CLI's (ONNX Runtime Web vs Node: float rounding only).
  const json = JSON.parse(await download(page, 'dataset.export.json')) as typeof cliReport;
  expect(json.rows.map((r) => r.config)).toEqual(cliReport.rows.map((r) => r.config));
  const worst: Record<string, number> = { psnr: 0, ssim: 0, lpipsAlex: 0 };
  for (const [i, row] of json.rows.entries()) {
    const cliRow = cliReport.rows[i]!;
    for (const m of ['psnr', 'ssim', 'lpipsAlex']) {
      const a = row.metrics[m]!.mean;
      const b = cliRow.metrics[m]!.mean;
      worst[m] = Math.max(worst[m]!, Math.abs(a - b));
      expect(Math.abs(a - b), `${row.config} ${m}: page ${a}, CLI ${b}`).toBeLessThan(
        m === 'psnr' ? 1e-3 : 1e-4,
      );
    }
  }
  console.log(`page − CLI, largest |difference| of a mean: ${JSON.stringify(worst)}`);
  const shown = studio
    .id('dataset.aggregate.row')
    .and(page.locator('[data-config="variant=baseline;steps=3;seed=1"][data-category=""]'))
    .locator('[data-metric="psnr"]');
  expect(Number(await shown.getAttribute('data-value'))).toBeCloseTo(
    json.rows[0]!.metrics['psnr']!.mean,
    9,
  );

  const csv = await download(page, 'dataset.export.csv');
  const rows = csv.trim().split('\n');
  expect(rows[0]).toBe('table,configuration,category,metric,mean,low,high,n,excluded');
  const blendPsnr = rows.find((r) => /^[a-z]+,anchor:blend,,psnr,/.test(r))!.split(',');
  const blendRow = json.rows.find((r) => r.config === 'anchor:blend' && r.category === null)!;
  expect(Number(blendPsnr[4])).toBeCloseTo(blendRow.metrics['psnr']!.mean, 6);
  const md = await download(page, 'dataset.export.md');
  expect(md).toContain('## studio protocol');
  expect(md).toContain('| variant=lora;lora=');
  const tex = await download(page, 'dataset.export.tex');
  expect(tex).toContain('\\toprule');
  expect(tex).toContain('\\bottomrule');

  // Per-item table sorts; the worst items carry their frames and heatmaps.
  await studio.id('dataset.items').locator('summary').click();
  await expect(studio.id('dataset.item')).toHaveCount(6);
  const psnrs = () =>
    studio
      .id('dataset.item')
      .locator('[data-metric="psnr"]')
      .evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-value'))));
  // Worst first by default; a click on the heading turns the order round.
  const up = await psnrs();
  expect(up).toEqual([...up].sort((a, b) => a - b));
  await studio.id('dataset.items.sort.psnr').click();
  expect(await psnrs()).toEqual([...up].reverse());
  await expect(studio.id('dataset.worst.card')).toHaveCount(6);
  await studio.id('dataset.worst.heatmaps').first().click();
  await expect(studio.id('dataset.worst.heatmap')).toBeVisible();
  await expect(page.getByTestId('message.error')).toHaveCount(0);
});

test('bad items are reported and skipped; KDQ without LPIPS-VGG says how to get it', async ({
  studio,
}) => {
  const data = makeDataset();
  // A frame that is not an image, and a triplet whose frames differ in size.
  writeFileSync(join(data, 'test', 'Disney_clip_1', 'frame2.png'), 'not a png');
  const small = new PNG({ width: 64, height: 40 });
  writeFileSync(join(data, 'test', 'Disney_clip_3', 'frame3.png'), PNG.sync.write(small));
  // A frame of a few KB that declares 12000×12000 pixels: refused by its header, never decoded.
  writeFileSync(join(data, 'test', 'Japan_clip_2', 'frame2.png'), bigWhitePng(12000, 12000));
  // A folder with a missing frame gives no item at all.
  mkdirSync(join(data, 'test', 'Japan_clip_9'));
  writeFileSync(join(data, 'test', 'Japan_clip_9', 'frame1.png'), frame(0, 1));

  await studio.open();
  await expect(studio.id('evaluate.lpips')).toContainText('LPIPS ready');
  await studio.id('dataset.folder-input').setInputFiles(data);
  await expect(studio.id('dataset.folder')).toContainText('6 items');
  await expect(studio.id('dataset.folder')).toContainText('1 folder gives no item');
  await studio.id('dataset.protocol').selectOption('kdq');
  await expect(studio.id('dataset.protocol-definition')).toContainText('512×320');
  await studio.id('dataset.variant.lora').uncheck();
  await studio.id('dataset.variant.fp16').uncheck();
  await studio.id('dataset.steps').fill('2');
  await studio.id('dataset.start').click();
  await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'done', {
    timeout: 120_000,
  });
  await expect(studio.id('message.warning')).toContainText('LPIPS-VGG is not measured');
  await expect(studio.id('dataset.problems')).toContainText('3 items could not be read');
  await studio.id('dataset.problems').locator('summary').click();
  await expect(studio.id('dataset.problems')).toContainText(
    'test/Disney_clip_1/frame2.png is not an image this browser can read',
  );
  await expect(studio.id('dataset.problems')).toContainText('sizes differ within the item');
  await expect(studio.id('dataset.problems')).toContainText(
    'test/Japan_clip_2/frame2.png is 12000×12000 pixels (144.0 megapixels)',
  );
  const row = studio.id('dataset.aggregate.row').first();
  await expect(row).toHaveAttribute('data-config', 'variant=baseline;steps=2;seed=1');
  await expect(row.locator('td').nth(1)).toHaveText('3');
  await expect(row.locator('[data-metric="ssimGray7"]')).not.toHaveText('—');
  await expect(row.locator('[data-metric="lpipsVgg"]')).toHaveText('—');
  await expect(studio.id('dataset.report.definition')).toContainText('ToonCrafter-KDQ');
});

test('where the browser has a folder picker, a resume after a reload reads the remembered folder', async ({
  studio,
  page,
}) => {
  // A real directory handle without a native dialog: the dataset is written to the origin's
  // private file system, and the folder picker answers with that folder.
  await page.addInitScript(() => {
    (
      window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }
    ).showDirectoryPicker = async () =>
      (await navigator.storage.getDirectory()).getDirectoryHandle('triplets');
  });
  await studio.open();
  const files: { path: string[]; data: number[] }[] = [];
  for (let c = 0; c < 6; c++)
    for (let f = 1; f <= 3; f++)
      files.push({ path: ['test', `Japan_clip_${c}`, `frame${f}.png`], data: [...frame(c, f)] });
  await page.evaluate(async (all) => {
    const root = await (
      await navigator.storage.getDirectory()
    ).getDirectoryHandle('triplets', {
      create: true,
    });
    for (const f of all) {
      let dir = root;
      for (const p of f.path.slice(0, -1)) dir = await dir.getDirectoryHandle(p, { create: true });
      const w = await (await dir.getFileHandle(f.path.at(-1)!, { create: true })).createWritable();
      await w.write(new Uint8Array(f.data));
      await w.close();
    }
  }, files);

  await expect(studio.id('evaluate.lpips')).toContainText('LPIPS ready');
  await studio.id('dataset.choose').click();
  await expect(studio.id('dataset.folder')).toContainText(
    'triplets: 6 items (triplets) from 18 files',
  );
  await studio.id('dataset.variant.lora').uncheck();
  await studio.id('dataset.variant.fp16').uncheck();
  // Enough steps that Pause lands before the sixth item is done.
  await studio.id('dataset.steps').fill('20');
  await studio.id('dataset.start').click();
  const progress = studio.id('dataset.progress');
  await expect(progress).toHaveAttribute('data-total', '24');
  await expect
    .poll(async () => Number(await progress.getAttribute('data-done')), {
      timeout: 60_000,
      intervals: [100],
    })
    .toBeGreaterThanOrEqual(2);
  await holdInference(page, 2000);
  await studio.id('dataset.pause').click();
  await expect(studio.id('dataset.start')).toBeEnabled();
  const cut = Number(await progress.getAttribute('data-done'));
  expect(cut).toBeLessThan(24);

  await page.reload();
  await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'paused');
  // No folder picked this time: the run's remembered handle is read.
  await studio.id('dataset.run.resume').click();
  await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'done', {
    timeout: 120_000,
  });
  await expect(progress).toHaveAttribute('data-done', '24');
  await expect(studio.id('dataset.folder')).toContainText('triplets: 6 items');
  await expect(page.getByTestId('message.error')).toHaveCount(0);
});
