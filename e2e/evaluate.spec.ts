import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main as cli } from '../src/cli/main';
import { expect, parityKeyframes, ROOT, solidPng, test, type FilePayload } from './studio';

function triplet(): FilePayload[] {
  const f = (name: string, file: string) => ({
    name,
    mimeType: 'image/png',
    buffer: readFileSync(resolve(ROOT, 'public/samples', file)),
  });
  return [
    f('frame3.png', 'bounce-end.png'),
    f('frame1.png', 'bounce-start.png'),
    f('frame2.png', 'bounce-middle.png'),
  ];
}

test('a dropped triplet is scored; the page shows the same scores as the CLI for that frame', async ({
  studio,
  page,
}) => {
  const lpipsGraphs: string[] = [];
  page.on('request', (r) => {
    if (/\/models\/lpips\/.*\.onnx$/.test(new URL(r.url()).pathname)) lpipsGraphs.push(r.url());
  });
  await studio.open();
  // Found at start-up, loaded only when something is scored.
  await expect(studio.id('evaluate.lpips')).toContainText(
    'LPIPS ready (alex, squeeze): its graphs load when a frame is first scored.',
  );
  await studio.dropFiles(studio.id('evaluate.panel'), triplet());
  await expect(studio.id('keyframes.start.meta')).toContainText('frame1.png');
  await expect(studio.id('keyframes.end.meta')).toContainText('frame3.png');
  await expect(studio.id('evaluate.gt.meta')).toContainText('frame2.png · 512×320');
  await expect(studio.id('run.count')).toHaveValue('1');
  await studio.setNumber('run.steps', 3);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('evaluate.row')).toHaveCount(1);
  await expect(studio.id('evaluate.lpips-alex')).not.toHaveText('—');
  await expect(studio.id('evaluate.lpips')).toHaveText('LPIPS ready (alex, squeeze).');
  expect(lpipsGraphs).toHaveLength(2);
  await expect(studio.id('evaluate.conventions')).toContainText('PSNR (RGB, uint8, peak 255)');
  await expect(studio.id('evaluate.heatmap')).toBeVisible();
  await expect(studio.id('evaluate.lpips-map')).toBeVisible();
  await expect(studio.id('evaluate.compare.slider')).toBeVisible();

  const shown = {
    psnr: Number(await studio.id('evaluate.psnr').getAttribute('data-value')),
    ssim: Number(await studio.id('evaluate.ssim').getAttribute('data-value')),
    ssimLuma: Number(await studio.id('evaluate.ssim-luma').getAttribute('data-value')),
    lpipsAlex: Number(await studio.id('evaluate.lpips-alex').getAttribute('data-value')),
    lpipsSqueeze: Number(await studio.id('evaluate.lpips-squeeze').getAttribute('data-value')),
  };
  // The CLI scores the very PNG the page shows.
  const bytes = await studio
    .id('viewer.frame')
    .evaluate(async (img: HTMLImageElement) => [
      ...new Uint8Array(await (await fetch(img.src)).arrayBuffer()),
    ]);
  const dir = mkdtempSync(join(tmpdir(), 'evaluate-'));
  writeFileSync(join(dir, 'frame.png'), Buffer.from(bytes));
  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => void lines.push(s);
  let code: number;
  try {
    code = await cli([
      'score',
      join(dir, 'frame.png'),
      resolve(ROOT, 'public/samples/bounce-middle.png'),
      '--json',
    ]);
  } finally {
    console.log = log;
  }
  expect(code).toBe(0);
  const { metrics } = JSON.parse(lines.join('\n')) as {
    metrics: Record<string, { value: number }>;
  };
  expect(Math.abs(shown.psnr - metrics.psnr!.value)).toBeLessThan(1e-3);
  expect(Math.abs(shown.ssim - metrics.ssim!.value)).toBeLessThan(1e-4);
  expect(Math.abs(shown.ssimLuma - metrics.ssimLuma!.value)).toBeLessThan(1e-4);
  expect(Math.abs(shown.lpipsAlex - metrics.lpipsAlex!.value)).toBeLessThan(1e-4);
  expect(Math.abs(shown.lpipsSqueeze - metrics.lpipsSqueeze!.value)).toBeLessThan(1e-4);
  await expect(page.getByTestId('message.error')).toHaveCount(0);
});

test('a triplet dropped after a run of other keyframes waits for its own run to be scored', async ({
  studio,
}) => {
  await studio.open();
  await studio.dropKeyframes([
    solidPng('a.png', 512, 320, [200, 40, 40]),
    solidPng('b.png', 512, 320, [40, 40, 200]),
  ]);
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
  // The triplet's keys replace the pair; the in-between on screen is not theirs: not scored.
  await studio.dropFiles(studio.id('evaluate.panel'), triplet());
  await expect(studio.id('evaluate.gt.meta')).toContainText('frame2.png');
  await expect(studio.id('message.info')).toContainText('Run to score its in-between.');
  await expect(studio.id('evaluate.row')).toHaveCount(0);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('evaluate.row')).toHaveCount(1);
  await expect(studio.errors()).toHaveCount(0);
});

test('a triplet that cannot be used whole changes nothing: keys, ground truth and scores stay', async ({
  studio,
}) => {
  await studio.open();
  await studio.dropFiles(studio.id('evaluate.panel'), triplet());
  await expect(studio.id('evaluate.gt.meta')).toContainText('frame2.png');
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('evaluate.row')).toHaveCount(1);
  const [end, start, middle] = triplet();
  const damaged = (f: FilePayload, name: string) => ({
    ...f,
    name,
    buffer: f.buffer.subarray(0, 60),
  });
  const rename = (f: FilePayload, name: string) => ({ ...f, name });
  // Its middle frame damaged; then one of its keyframes; then a middle frame of another size.
  const tries: [FilePayload[], string][] = [
    [[rename(start!, 'b1.png'), damaged(middle!, 'b2.png'), rename(end!, 'b3.png')], '"b2.png"'],
    [
      [damaged(start!, 'c1.png'), rename(middle!, 'c2.png'), rename(end!, 'c3.png')],
      '"start-c1.png"',
    ],
    [
      [rename(start!, 'd1.png'), solidPng('d2.png', 64, 40, [9, 9, 9]), rename(end!, 'd3.png')],
      'not all the same size (d1.png 512×320, d2.png 64×40, d3.png 512×320)',
    ],
  ];
  for (const [files, why] of tries) {
    await studio.dropFiles(studio.id('evaluate.panel'), files);
    await expect(studio.errors()).toContainText(`The triplet was not loaded: `);
    await expect(studio.errors()).toContainText(why);
    await expect(studio.errors()).toContainText('Nothing was changed.');
    await expect(studio.id('keyframes.start.meta')).toContainText('start-frame1.png');
    await expect(studio.id('keyframes.end.meta')).toContainText('end-frame3.png');
    await expect(studio.id('evaluate.gt.meta')).toContainText('frame2.png');
    await expect(studio.id('evaluate.row')).toHaveCount(1);
  }
});

test('a ground truth of another size is refused with a message; nothing is resized', async ({
  studio,
}) => {
  await studio.open();
  // Set before the keyframes (nothing to compare its size with yet), so it is taken; the run's
  // scoring then refuses it. Set after them, it is refused at once (hostile-input.spec.ts).
  await studio.id('evaluate.gt.input').setInputFiles([solidPng('gt.png', 100, 80, [10, 20, 30])]);
  await expect(studio.id('evaluate.gt.meta')).toContainText('gt.png · 100×80');
  await studio.dropKeyframes();
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.errors()).toContainText(
    'The ground truth is 100×80 but the in-between is 512×320',
  );
  await expect(studio.id('evaluate.row')).toHaveCount(0);
});

test('without LPIPS graphs on the server the page says how to get them, and loads them from a folder', async ({
  studio,
  page,
}) => {
  await page.route('**/models/lpips/**', (route) =>
    route.fulfill({ status: 404, body: 'not here' }),
  );
  await studio.open();
  await expect(studio.id('evaluate.lpips')).toContainText(
    'LPIPS is unavailable: build its graphs with',
  );
  const dir = resolve(ROOT, 'models/lpips');
  const manifest = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8')) as {
    graphs: Record<string, { file: string }>;
  };
  const files = ['manifest.json', ...Object.values(manifest.graphs).map((g) => g.file)].map(
    (name) => ({
      name,
      mimeType: name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      buffer: readFileSync(resolve(dir, name)),
    }),
  );
  await studio.id('evaluate.lpips.input').setInputFiles(files);
  await expect(studio.id('evaluate.lpips')).toContainText('LPIPS ready (alex, squeeze)');
  // Cached: after a reload (server still without graphs) LPIPS comes from IndexedDB.
  await page.reload();
  await expect(studio.id('evaluate.lpips')).toContainText('LPIPS ready (alex, squeeze)');
});

test('LPIPS graphs listed but missing on the server: the frame is scored without them and the page says why', async ({
  studio,
  page,
}) => {
  await page.route('**/models/lpips/*.onnx', (route) =>
    route.fulfill({ status: 404, body: 'not here' }),
  );
  await studio.open();
  await expect(studio.id('evaluate.lpips')).toContainText('LPIPS ready (alex, squeeze)');
  await studio.dropFiles(studio.id('evaluate.panel'), triplet());
  await expect(studio.id('evaluate.gt.meta')).toContainText('frame2.png');
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
  await expect(studio.id('evaluate.row')).toHaveCount(1);
  await expect(studio.id('evaluate.psnr')).not.toHaveText('—');
  await expect(studio.id('evaluate.lpips-alex')).toHaveText('—');
  await expect(studio.id('evaluate.lpips')).toContainText(
    'LPIPS is unavailable: build its graphs with',
  );
  await expect(studio.id('evaluate.panel')).toContainText('404');
});

test('a result scored against itself shows infinite PSNR, SSIM 1 and LPIPS 0', async ({
  studio,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(1);
  const bytes = await studio
    .id('viewer.frame')
    .evaluate(async (img: HTMLImageElement) => [
      ...new Uint8Array(await (await fetch(img.src)).arrayBuffer()),
    ]);
  await studio
    .id('evaluate.gt.input')
    .setInputFiles([{ name: 'same.png', mimeType: 'image/png', buffer: Buffer.from(bytes) }]);
  await expect(studio.id('evaluate.psnr')).toHaveText('∞');
  await expect(studio.id('evaluate.psnr')).toHaveAttribute('data-value', 'Infinity');
  await expect(studio.id('evaluate.ssim')).toHaveText('1.0000');
  await expect(studio.id('evaluate.lpips-alex')).toHaveText('0.0000');
});

test('a clip pack with no frame at τ = 0.5 is scored by its clip frame nearest it, and says so', async ({
  studio,
}) => {
  const dir = resolve(ROOT, 'models/reference/svd-tiny'); // 6 frames: τ = k/5
  const [start, end] = parityKeyframes(dir);
  await studio.open();
  await studio.id('pack.folder').setInputFiles(dir);
  await expect(studio.id('pack.select').locator('option:checked')).toContainText('local folder');
  await studio.dropFiles(studio.id('evaluate.panel'), [
    { ...start, name: 'frame1.png' },
    { ...end, name: 'frame2.png' },
    { ...end, name: 'frame3.png' },
  ]);
  await expect(studio.id('evaluate.gt.meta')).toContainText(
    'frame2.png · 64×64 — compared with the in-between at τ = 0.5 (this clip pack: its frame nearest 0.5)',
  );
  await studio.setNumber('run.count', 1);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 60_000 });
  await expect(studio.id('evaluate.row')).toHaveCount(1);
  await expect(studio.id('evaluate.psnr')).not.toHaveText('—');
  await expect(studio.id('message.info')).toContainText(
    'Scored the clip frame at τ 0.400, the nearest to 0.5 (a 6-frame clip has none at 0.5).',
  );
});
