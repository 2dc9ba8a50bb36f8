import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import { main as cli } from '../src/cli/main';
import {
  discKey,
  expect,
  parityKeyframes,
  ROOT,
  savedScene,
  Studio,
  test,
  type FilePayload,
} from './studio';

test('an animator’s scene: four keys, three gaps, run all, onion skin, re-roll, exports, reload', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.setNumber('run.steps', 2);
  // A numbered sequence picked in any order is put in order by its numbers.
  await studio
    .id('scene.addKeys')
    .setInputFiles([
      discKey('walk_2.png', 170),
      discKey('walk_10.png', 380),
      discKey('walk_1.png', 80),
      discKey('walk_3.png', 270),
    ]);
  await expect(studio.id('scene.key')).toHaveCount(4);
  await expect(studio.id('scene.key').locator('span').first()).toHaveText('1. walk_1.png');
  await expect(studio.id('scene.key').nth(3).locator('span').first()).toHaveText('4. walk_10.png');

  const gaps = studio.id('scene.gap');
  await expect(gaps).toHaveCount(3);
  await gaps.nth(0).getByTestId('scene.gap.count').fill('2');
  await gaps.nth(0).getByTestId('scene.gap.timing').selectOption('ease-in');
  await gaps.nth(1).getByTestId('scene.gap.count').fill('1');
  await gaps.nth(1).getByTestId('scene.gap.exposure').selectOption('2');
  await gaps.nth(2).getByTestId('scene.gap.timing').selectOption('typed');
  await gaps.nth(2).getByTestId('scene.gap.typed').fill('0.1, 0.5');
  // Two positions for three in-betweens: said, and the gap is not run.
  await expect(gaps.nth(2)).toContainText('3 in-betweens need 3 positions, got 2');
  await gaps.nth(2).getByTestId('scene.gap.typed').fill('0.1, 0.5, 0.9');
  await expect(gaps.nth(2).locator('svg[aria-label="timing: 0.10, 0.50, 0.90"]')).toBeVisible();
  await expect(gaps.nth(0).locator('svg[aria-label="timing: 0.11, 0.44"]')).toBeVisible();

  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 3 gaps to make', { timeout: 60_000 });
  await expect(studio.id('scene.gap.status')).toHaveText([/^done/, /^done/, /^done/]);
  // 4 keys + 2 + 1 + 3 in-betweens, each key once.
  const timeline = studio.id('scene.timeline').locator('li');
  await expect(timeline).toHaveCount(10);
  await expect(timeline.locator('span')).toHaveText([
    'key 1',
    'τ 0.11',
    'τ 0.44',
    'key 2 ×2',
    'τ 0.50 ×2',
    'key 3',
    'τ 0.10',
    'τ 0.50',
    'τ 0.90',
    'key 4',
  ]);

  // Keyboard stepping.
  const viewer = studio.id('scene.viewer');
  await viewer.focus();
  await page.keyboard.press('End');
  await expect(studio.id('scene.position')).toContainText('10 / 10 · key 4');
  await page.keyboard.press('ArrowLeft');
  await expect(studio.id('scene.position')).toContainText('9 / 10 · τ 0.90');
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowRight');
  await expect(studio.id('scene.position')).toContainText('2 / 10 · τ 0.11');

  // Onion skin: the drawing before and after, tinted, over the current one.
  await studio.id('scene.onionSkin').check();
  await expect(studio.id('scene.onion')).toHaveCount(2);
  await page.keyboard.press('f');
  await expect(studio.id('scene.position')).toContainText('(flipped)');
  await page.keyboard.press('f');

  // Re-roll this in-between, compare, keep the new one.
  const before = await studio.id('scene.current').getAttribute('src');
  await studio.id('scene.reroll').click();
  await expect(studio.id('scene.rerollCompare')).toBeVisible({ timeout: 30_000 });
  const rerolled = gaps.nth(0).getByTestId('scene.gap.status');
  await expect(rerolled).toHaveText(/re-rolled with seed \d+$/);
  const rerollSeed = Number(/(\d+)$/.exec((await rerolled.textContent())!)![1]);
  await studio.id('scene.keepNew').click();
  await expect(studio.id('scene.rerollCompare')).toHaveCount(0);
  const after = await studio.id('scene.current').getAttribute('src');
  expect(after).not.toBe(before);

  // The zip: numbered PNGs with exposure applied (key 2 and its in-between on twos): 12 frames.
  const zip = await studio.saveExport('scene', 'zip');
  expect(zip.name).toBe('walk.zip');
  const names = Object.keys(unzipSync(new Uint8Array(zip.bytes))).sort();
  expect(names).toEqual(
    Array.from({ length: 12 }, (_, i) => `walk/walk_${String(i + 1).padStart(4, '0')}.png`),
  );
  const files = unzipSync(new Uint8Array(zip.bytes));
  const frame = (i: number) => PNG.sync.read(Buffer.from(files[names[i]!]!)).data;
  expect(frame(3).equals(frame(4))).toBe(true); // key 2, held on twos
  expect(frame(0).equals(PNG.sync.read(discKey('walk_1.png', 80).buffer).data)).toBe(true);
  expect(frame(11).equals(PNG.sync.read(discKey('walk_10.png', 380).buffer).data)).toBe(true);

  // The GIF: one image per drawing, delays from the holds at 12 fps.
  const gif = new GifReader(new Uint8Array((await studio.saveExport('scene', 'gif')).bytes));
  expect(gif.numFrames()).toBe(10);
  expect(Array.from({ length: 10 }, (_, i) => gif.frameInfo(i).delay)).toEqual([
    8, 9, 8, 17, 16, 9, 8, 8, 9, 8,
  ]);

  // The WebM plays in Chromium for the scene's length: 12 frames at 12 fps.
  const webm = await studio.saveExport('scene', 'webm');
  const { duration } = await studio.playVideo(webm.bytes, 'video/webm');
  expect(duration).toBeCloseTo(1, 1);

  // Reload: the scene, its settings and the kept re-roll come back from IndexedDB (once the
  // autosave, 300 ms after a change, has written the kept re-roll).
  await expect.poll(async () => (await savedScene(page))?.seeds).toContain(rerollSeed);
  await page.reload();
  await expect(studio.id('scene.restored')).toBeVisible();
  await expect(studio.id('scene.timeline').locator('li')).toHaveCount(10);
  await expect(studio.id('scene.gap')).toHaveCount(3);
  await expect(studio.id('scene.gap').nth(2).getByTestId('scene.gap.typed')).toHaveValue(
    '0.1, 0.5, 0.9',
  );
  const restored = await studio.id('scene.timeline').locator('li img').nth(1).getAttribute('src');
  expect(restored).toMatch(/^blob:/);
});

/** Three keys in, every gap made with the defaults (2 in-betweens, 2 steps, seed 42). */
async function threeKeyScene(studio: Studio): Promise<FilePayload[]> {
  const keys = [discKey('walk_1.png', 80), discKey('walk_2.png', 200), discKey('walk_3.png', 330)];
  await studio.open();
  await studio.setNumber('run.steps', 2);
  await studio.id('scene.addKeys').setInputFiles(keys);
  await studio.id('scene.default.count').fill('2');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 2 gaps to make', { timeout: 60_000 });
  return keys;
}

test('`inbetween sequence` writes the same frames and GIF timing as the page', async ({
  studio,
}) => {
  const keys = await threeKeyScene(studio);
  const zip = unzipSync(new Uint8Array((await studio.saveExport('scene', 'zip')).bytes));
  const gifBytes = (await studio.saveExport('scene', 'gif')).bytes;

  const dir = mkdtempSync(join(tmpdir(), 'scene-cli-'));
  const files = keys.map((k) => {
    writeFileSync(join(dir, k.name), k.buffer);
    return join(dir, k.name);
  });
  const out = join(dir, 'out');
  const code = await cli([
    'sequence',
    '--pack',
    resolve(ROOT, process.env.TEST_PACK ?? 'models/tiny'),
    '--keys',
    ...files,
    '--out',
    out,
    '--frames',
    '2',
    '--steps',
    '2',
    '--seed',
    '42',
    '--fps',
    '12',
    '--name',
    'walk',
    '--gif',
  ]);
  expect(code).toBe(0);
  const written = readdirSync(out)
    .filter((f) => f.endsWith('.png'))
    .sort();
  expect(written).toEqual(
    Object.keys(zip)
      .sort()
      .map((n) => n.replace('walk/', '')),
  );
  for (const f of written) {
    const a = PNG.sync.read(Buffer.from(zip[`walk/${f}`]!));
    const b = PNG.sync.read(readFileSync(join(out, f)));
    let max = 0;
    for (let k = 0; k < a.data.length; k++) max = Math.max(max, Math.abs(a.data[k]! - b.data[k]!));
    // Same graphs, same core code: WASM and native differ only in the last float bits.
    expect(max, f).toBeLessThanOrEqual(2);
  }
  const page_ = new GifReader(new Uint8Array(gifBytes));
  const cli_ = new GifReader(new Uint8Array(readFileSync(join(out, 'walk.gif'))));
  expect(cli_.numFrames()).toBe(page_.numFrames());
  const delays = (g: GifReader) =>
    Array.from({ length: g.numFrames() }, (_, i) => g.frameInfo(i).delay);
  expect(delays(cli_)).toEqual(delays(page_));
  const a = new Uint8Array(512 * 320 * 4);
  const b = new Uint8Array(512 * 320 * 4);
  for (let i = 0; i < page_.numFrames(); i++) {
    page_.decodeAndBlitFrameRGBA(i, a);
    cli_.decodeAndBlitFrameRGBA(i, b);
    let sum = 0;
    for (let k = 0; k < a.length; k++) sum += Math.abs(a[k]! - b[k]!);
    expect(sum / a.length, `GIF frame ${i + 1}`).toBeLessThan(1);
  }
});

test('a scene saved as a project file opens on another machine; a bad file is refused', async ({
  studio,
  page,
  browser,
}) => {
  await threeKeyScene(studio);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    studio.id('scene.saveProject').click(),
  ]);
  const project = readFileSync((await download.path())!);
  // Another machine: a fresh browser profile with nothing saved.
  const other = await browser.newContext();
  const page2 = await other.newPage();
  const studio2 = new Studio(page2);
  await studio2.open();
  await studio2.setNumber('run.steps', 2);
  await expect(studio2.id('scene.key')).toHaveCount(0);
  await studio2.id('scene.openProject').setInputFiles({
    name: 'scene.inbetween.zip',
    mimeType: 'application/zip',
    buffer: project,
  });
  await expect(studio2.id('scene.key')).toHaveCount(3);
  await expect(studio2.id('scene.timeline').locator('li')).toHaveCount(7);
  // Made with the same pack and settings as here: nothing to make again.
  await expect(studio2.id('scene.todo')).toHaveText('0 of 2 gaps to make');
  await expect(studio2.id('scene.timeline').locator('li img')).toHaveCount(7);
  // Not a project: said in one line, the scene on screen stays.
  await studio2.id('scene.openProject').setInputFiles({
    name: 'broken.zip',
    mimeType: 'application/zip',
    buffer: Buffer.from('PK\u0003\u0004 not really a zip'),
  });
  await expect(page2.getByText(/This project file could not be opened/)).toBeVisible();
  await expect(studio2.id('scene.key')).toHaveCount(3);
  // A zip bomb: an entry declaring 1 GB is refused from the zip's directory, before inflating.
  const bomb = Buffer.from(project);
  for (let i = bomb.indexOf('PK\u0001\u0002'); i >= 0; i = bomb.indexOf('PK\u0001\u0002', i + 4)) {
    const name = bomb.subarray(i + 46, i + 46 + bomb.readUInt16LE(i + 28)).toString();
    if (name === 'keys/01.png') bomb.writeUInt32LE(2 ** 30, i + 24);
  }
  await studio2.id('scene.openProject').setInputFiles({
    name: 'bomb.zip',
    mimeType: 'application/zip',
    buffer: bomb,
  });
  await expect(
    page2.getByText(/could not be opened: keys\/01\.png would unpack to 1024 MB/),
  ).toBeVisible();
  await expect(studio2.id('scene.key')).toHaveCount(3);
  // A project whose second key is a PNG cut short (its header passes, its pixels do not decode): refused,
  // and the scene on screen is untouched — its keys still show and it still saves whole.
  const files = unzipSync(new Uint8Array(project));
  const key2 = files['keys/02.png']!;
  files['keys/02.png'] = key2.subarray(0, 120);
  await studio2.id('scene.openProject').setInputFiles({
    name: 'cut.zip',
    mimeType: 'application/zip',
    buffer: Buffer.from(zipSync(files)),
  });
  await expect(page2.getByText(/could not be opened: "walk_2\.png" .* cut short/)).toBeVisible();
  await expect(studio2.id('scene.key')).toHaveCount(3);
  await expect(studio2.id('scene.timeline').locator('li img')).toHaveCount(7);
  for (const img of await studio2.id('scene.key').locator('img').all())
    expect(await img.evaluate((e: HTMLImageElement) => e.decode().then(() => e.naturalWidth))).toBe(
      512,
    );
  const [again] = await Promise.all([
    page2.waitForEvent('download'),
    studio2.id('scene.saveProject').click(),
  ]);
  const saved = unzipSync(new Uint8Array(readFileSync((await again.path())!)));
  expect(Object.keys(saved).filter((f) => f.startsWith('keys/'))).toHaveLength(3);
  expect(saved['keys/02.png']).toEqual(key2);
  await other.close();
});

test('cancelling keeps the gaps made; a changed gap runs again alone', async ({ studio }) => {
  await studio.open();
  await studio.setNumber('run.steps', 200);
  await studio
    .id('scene.addKeys')
    .setInputFiles([discKey('a_1.png', 80), discKey('a_2.png', 200), discKey('a_3.png', 330)]);
  await studio.id('scene.default.count').fill('4');
  // The second gap is long (15 in-betweens × 200 steps at the keys' own 512×320, some 15 s): time
  // to cancel it once the first is made.
  await studio.id('keyframes.fit.native').check();
  await studio.id('scene.gap').nth(1).getByTestId('scene.gap.count').fill('15');
  await studio.id('scene.runAll').click();
  const status = studio.id('scene.gap.status');
  await studio.waitForText('scene.gap.status', /^done/);
  await studio.id('scene.cancel').click();
  await expect(studio.id('scene.runAll')).toBeVisible({ timeout: 30_000 });
  await expect(status.nth(1)).toHaveText(/^cancelled/);
  await expect(studio.id('scene.todo')).toHaveText('1 of 2 gaps to make');
  // The first gap's four in-betweens stay on the timeline.
  await expect(studio.id('scene.timeline').locator('li img')).toHaveCount(3 + 4);

  await studio.setNumber('run.steps', 2);
  // Other steps: both gaps are out of date now; make them, then change gap 2 only.
  await expect(studio.id('scene.todo')).toHaveText('2 of 2 gaps to make');
  await studio.id('scene.gap').nth(1).getByTestId('scene.gap.count').fill('4');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 2 gaps to make', { timeout: 60_000 });
  const first = await studio.id('scene.timeline').locator('li img').nth(1).getAttribute('src');
  await studio.id('scene.gap').nth(1).getByTestId('scene.gap.count').fill('2');
  await expect(studio.id('scene.todo')).toHaveText('1 of 2 gaps to make');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 2 gaps to make', { timeout: 60_000 });
  await expect(studio.id('scene.timeline').locator('li')).toHaveCount(3 + 4 + 2);
  // Gap 1 was not made again: its frames are the same objects.
  expect(await studio.id('scene.timeline').locator('li img').nth(1).getAttribute('src')).toBe(
    first,
  );
});

test('a gap changed since it was made, or with timing not valid, stops the export with its reason', async ({
  studio,
}) => {
  await studio.open();
  await studio.setNumber('run.steps', 2);
  await studio.id('scene.addKeys').setInputFiles([discKey('b_1.png', 80), discKey('b_2.png', 330)]);
  await studio.id('scene.default.count').fill('3');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 1 gaps to make', { timeout: 60_000 });
  const made = await studio.saveExport('scene', 'zip');
  expect(
    Object.keys(unzipSync(new Uint8Array(made.bytes))).filter((f) => f.endsWith('.png')),
  ).toHaveLength(2 + 3);

  // Ease in: the frames on screen are still the even ones, so the file would not match the timing.
  const gap = studio.id('scene.gap').first();
  await gap.getByTestId('scene.gap.timing').selectOption('ease-in');
  await studio.id('scene.exportFormat').selectOption('gif');
  await studio.id('scene.exportRun').click();
  await expect(studio.errors()).toContainText(
    'Export failed: gap 1 is out of date (its settings changed since it was made). Press Run all, then export.',
  );
  await gap.getByTestId('scene.gap.timing').selectOption('typed');
  await gap.getByTestId('scene.gap.typed').fill('0.2, 0.4');
  await studio.id('scene.exportRun').click();
  await expect(studio.errors()).toContainText(
    'Export failed: gap 1: typed timing: 3 in-betweens need 3 positions, got 2. Correct the timing, press Run all, then export.',
  );
  await expect(studio.id('scene.exportDone')).toHaveCount(0);
  // Made again with the typed timing, it exports.
  await gap.getByTestId('scene.gap.typed').fill('0.2, 0.4, 0.6');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 1 gaps to make', { timeout: 60_000 });
  const again = await studio.saveExport('scene', 'gif');
  expect(again.bytes.subarray(0, 6).toString()).toBe('GIF89a');
});

test('Run all and the other jobs wait for each other; the keys stay put while it runs', async ({
  studio,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.setNumber('run.steps', 200);
  await studio
    .id('scene.addKeys')
    .setInputFiles([discKey('c_1.png', 80), discKey('c_2.png', 200), discKey('c_3.png', 330)]);
  // Gaps of 15 in-betweens × 200 steps at the keys' own 512×320: some 15 s each.
  await studio.id('keyframes.fit.native').check();
  await studio.id('scene.default.count').fill('15');
  await studio.id('scene.runAll').click();
  await studio.waitForText('scene.gap.status', /step \d+ of 200/);
  // The gap's job holds the worker: a run, a sweep or a measurement would take it from under it.
  await expect(studio.id('run.start')).toBeDisabled();
  await expect(studio.id('efficiency.measure')).toBeDisabled();
  await expect(studio.id('sweep.start')).toBeDisabled();
  // Its keys cannot be moved, removed or added to until it ends.
  await expect(studio.page.getByRole('button', { name: 'Remove key 3' })).toBeDisabled();
  await expect(studio.page.getByRole('button', { name: 'Move key 1 right' })).toBeDisabled();
  await expect(studio.id('scene.addKeys')).toBeDisabled();
  await studio.id('scene.cancel').click();
  await expect(studio.id('scene.runAll')).toBeVisible({ timeout: 30_000 });
  await expect(studio.id('run.start')).toBeEnabled();
  await expect(studio.page.getByRole('button', { name: 'Remove key 3' })).toBeEnabled();

  // And the other way round: a run in the Run panel keeps Run all waiting.
  await studio.startLongRun();
  await expect(studio.id('scene.runAll')).toBeDisabled();
  await studio.id('run.cancel').click();
  await expect(studio.id('run.status')).toHaveText('Cancelled.', { timeout: 30_000 });
  await expect(studio.id('scene.runAll')).toBeEnabled();
  await expect(studio.errors()).toHaveCount(0);
});

test('a removed key takes its gaps along; the viewer keeps its controls’ keys; 32-bit gap seeds', async ({
  studio,
  page,
}) => {
  await threeKeyScene(studio);
  // A gap seed pasted from elsewhere is held to 32 bits, as a saved scene's must be.
  const gap2 = studio.id('scene.gap').nth(1);
  await gap2.getByTestId('scene.gap.seed').fill('1125899906842624');
  await expect(gap2.getByTestId('scene.gap.seed')).toHaveValue('4294967295');
  await gap2.getByTestId('scene.gap.seed').fill('');
  await expect(studio.id('scene.todo')).toHaveText('0 of 2 gaps to make');

  // A setting outside the scene (steps) makes every gap old: the rows say "to make", not "done".
  await studio.setNumber('run.steps', 3);
  await expect(studio.id('scene.gap.status')).toHaveText(['to make', 'to make']);
  await studio.setNumber('run.steps', 2);
  // Gap 2's seed was edited (and put back): its "done" went with the edit.
  await expect(studio.id('scene.gap.status')).toHaveText([/^done/, 'made']);

  // The viewer's keys do not take over its own controls: Space ticks the onion-skin box, and
  // the arrows move the opacity slider, not the frame.
  await studio.id('scene.onionSkin').focus();
  await page.keyboard.press('Space');
  await expect(studio.id('scene.onionSkin')).toBeChecked();
  await expect(studio.id('scene.position')).toContainText('1 / 7');
  const opacity = page.getByRole('slider', { name: 'Onion skin opacity' });
  await opacity.focus();
  await page.keyboard.press('ArrowRight');
  await expect(opacity).toHaveValue('0.4');
  await expect(studio.id('scene.position')).toContainText('1 / 7');
  // A flip ends when the person steps on.
  await studio.id('scene.viewer').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('f');
  await expect(studio.id('scene.position')).toContainText('(flipped)');
  await page.keyboard.press('ArrowRight');
  await expect(studio.id('scene.position')).toHaveText('3 / 7 · τ 0.67');

  // The frame rate field keeps what is typed: 12 → Backspace twice → 24.
  await studio.id('scene.fps').focus();
  await page.keyboard.press('End');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('24');
  await expect(studio.id('scene.fps')).toHaveValue('24');

  // Key 3 removed, the page reloaded, a new third key drawn: its gap is to make, not the old one's.
  await studio.page.getByRole('button', { name: 'Remove key 3' }).click();
  await expect(studio.id('scene.gap')).toHaveCount(1);
  // The autosave runs 300 ms after a change: reload once it holds the removal.
  await expect
    .poll(async () => {
      const saved = await savedScene(page);
      return saved && { keys: saved.keys, fps: saved.fps };
    })
    .toEqual({ keys: ['walk_1.png', 'walk_2.png'], fps: 24 });
  await page.reload();
  await expect(studio.id('scene.restored')).toBeVisible();
  await expect(studio.id('scene.fps')).toHaveValue('24');
  await studio.setNumber('run.steps', 2); // the Run panel's settings are not kept over a reload
  await studio.id('scene.addKeys').setInputFiles([discKey('walk_4.png', 430)]);
  await expect(studio.id('scene.gap')).toHaveCount(2);
  await expect(studio.id('scene.todo')).toHaveText('1 of 2 gaps to make');
  await expect(studio.id('scene.timeline').locator('li img')).toHaveCount(3 + 2);
  await expect(studio.errors()).toHaveCount(0);
});

test('a re-roll waiting to be kept goes when its gap is made again', async ({ studio }) => {
  await threeKeyScene(studio);
  await studio.id('scene.viewer').focus();
  await studio.page.keyboard.press('ArrowRight');
  await studio.id('scene.reroll').click();
  await expect(studio.id('scene.rerollCompare')).toBeVisible({ timeout: 30_000 });
  // Gap 1 made again with one in-between: the re-roll was of a frame that is gone.
  await studio.id('scene.gap').first().getByTestId('scene.gap.count').fill('1');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 2 gaps to make', { timeout: 60_000 });
  await expect(studio.id('scene.rerollCompare')).toHaveCount(0);
  await expect(studio.id('scene.timeline').locator('li img')).toHaveCount(3 + 1 + 2);
  await expect(studio.errors()).toHaveCount(0);
});

test('changing the sampler of a pack makes its gaps again', async ({ studio }) => {
  const dir = resolve(ROOT, 'models/reference/svd-tiny');
  await studio.open();
  await studio.id('pack.folder').setInputFiles(dir);
  await expect(studio.id('pack.select').locator('option:checked')).toContainText('local folder');
  await studio.setNumber('run.steps', 2);
  const [a, b] = parityKeyframes(dir);
  await studio.id('scene.addKeys').setInputFiles([
    { ...a, name: 'k_1.png' },
    { ...b, name: 'k_2.png' },
  ]);
  await studio.id('scene.default.count').fill('1');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 1 gaps to make', { timeout: 60_000 });
  await studio.id('run.sampler').selectOption('dpmpp_2m');
  await expect(studio.id('scene.todo')).toHaveText('1 of 1 gaps to make');
  await expect(studio.id('scene.gap.status')).toHaveText('to make');
});
