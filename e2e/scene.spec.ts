import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import type { Page } from '@playwright/test';
import { expect, test, type FilePayload } from './studio';

/** A key drawing: a dark outlined disc at (x, 160) on white, 512×320. */
function key(name: string, x: number): FilePayload {
  const png = new PNG({ width: 512, height: 320 });
  for (let y = 0; y < 320; y++) {
    for (let i = 0; i < 512; i++) {
      const d = Math.hypot(i - x, y - 160);
      const v = d < 36 ? 60 : d < 40 ? 0 : 255;
      png.data.set([v, d < 36 ? 90 : v, d < 36 ? 200 : v, 255], (y * 512 + i) * 4);
    }
  }
  return { name, mimeType: 'image/png', buffer: PNG.sync.write(png) };
}

async function saveSceneExport(page: Page, format: string) {
  await page.getByTestId('scene.exportFormat').selectOption(format);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('scene.exportRun').click(),
  ]);
  return { name: download.suggestedFilename(), bytes: readFileSync((await download.path())!) };
}

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
      key('walk_2.png', 170),
      key('walk_10.png', 380),
      key('walk_1.png', 80),
      key('walk_3.png', 270),
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
  await studio.id('scene.keepNew').click();
  await expect(studio.id('scene.rerollCompare')).toHaveCount(0);
  const after = await studio.id('scene.current').getAttribute('src');
  expect(after).not.toBe(before);

  // The zip: numbered PNGs with exposure applied (key 2 and its in-between on twos): 12 frames.
  const zip = await saveSceneExport(page, 'zip');
  expect(zip.name).toBe('walk.zip');
  const names = Object.keys(unzipSync(new Uint8Array(zip.bytes))).sort();
  expect(names).toEqual(
    Array.from({ length: 12 }, (_, i) => `walk/walk_${String(i + 1).padStart(4, '0')}.png`),
  );
  const files = unzipSync(new Uint8Array(zip.bytes));
  const frame = (i: number) => PNG.sync.read(Buffer.from(files[names[i]!]!)).data;
  expect(frame(3).equals(frame(4))).toBe(true); // key 2, held on twos
  expect(frame(0).equals(PNG.sync.read(key('walk_1.png', 80).buffer).data)).toBe(true);
  expect(frame(11).equals(PNG.sync.read(key('walk_10.png', 380).buffer).data)).toBe(true);

  // The GIF: one image per drawing, delays from the holds at 12 fps.
  const gif = new GifReader(new Uint8Array((await saveSceneExport(page, 'gif')).bytes));
  expect(gif.numFrames()).toBe(10);
  expect(Array.from({ length: 10 }, (_, i) => gif.frameInfo(i).delay)).toEqual([
    8, 9, 8, 17, 16, 9, 8, 8, 9, 8,
  ]);

  // The WebM plays in Chromium for the scene's length: 12 frames at 12 fps.
  const webm = await saveSceneExport(page, 'webm');
  const duration = await page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const video = document.createElement('video');
    video.muted = true;
    video.src = URL.createObjectURL(new Blob([bytes], { type: 'video/webm' }));
    await new Promise<void>((resolve, reject) => {
      video.onloadedmetadata = () => resolve();
      video.onerror = () => reject(new Error(`video error ${video.error?.code}`));
    });
    await video.play();
    return video.duration;
  }, webm.bytes.toString('base64'));
  expect(duration).toBeCloseTo(1, 1);

  // Reload: the scene, its settings and the kept re-roll come back from IndexedDB.
  await page.waitForTimeout(600); // the autosave runs 300 ms after a change
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
