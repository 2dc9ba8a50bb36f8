/**
 * The Scene panel as a keyboard and screen-reader user and an animator checking a pose meet it:
 * the onion skin's colours, gap settings that follow the "Every gap" row, where the focus goes
 * after an action, playback that follows a changed exposure, and the viewer's options kept with
 * the scene.
 */
import { readFileSync } from 'node:fs';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { PNG } from 'pngjs';
import { discKey, expect, savedScene, test, type Studio } from './studio';

const THREE_KEYS = () => [
  discKey('walk_1.png', 80),
  discKey('walk_2.png', 256),
  discKey('walk_3.png', 430),
];

/** Saves the project file and returns its entries. */
async function projectFiles(studio: Studio): Promise<Record<string, Uint8Array>> {
  const [download] = await Promise.all([
    studio.page.waitForEvent('download'),
    studio.id('scene.saveProject').click(),
  ]);
  return unzipSync(new Uint8Array(readFileSync((await download.path())!)));
}

test('onion skin: the lines of the drawing before are red, after green, the paper stays white', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.id('scene.addKeys').setInputFiles(THREE_KEYS());
  await studio.id('scene.default.count').fill('1');
  // No gap made: key 2's ghosts two drawings away are keys 1 and 3, clear of key 2's disc.
  await studio.id('scene.viewer').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await expect(studio.id('scene.position')).toContainText('3 / 5 · key 2');
  await studio.id('scene.onionSkin').check();
  await studio.id('scene.onion.before').fill('2');
  await studio.id('scene.onion.after').fill('2');
  await page.getByRole('slider', { name: 'Onion skin opacity' }).focus();
  await page.keyboard.press('End');
  await expect(studio.id('scene.onion')).toHaveCount(2);
  await page.mouse.move(0, 0);

  const shot = PNG.sync.read(await studio.id('scene.stage').screenshot());
  // The drawing as laid out (object-fit: contain).
  const scale = Math.min(shot.width / 512, shot.height / 320);
  const at = (x: number, y: number) => {
    const sx = Math.round((shot.width - 512 * scale) / 2 + x * scale);
    const sy = Math.round((shot.height - 320 * scale) / 2 + y * scale);
    const o = (sy * shot.width + sx) * 4;
    return [shot.data[o]!, shot.data[o + 1]!, shot.data[o + 2]!] as const;
  };
  /** The darkest pixel of the disc drawn at x: its black outline. */
  const line = (cx: number) => {
    let best = [255, 255, 255] as readonly [number, number, number];
    for (let y = 110; y <= 210; y++)
      for (let x = cx - 50; x <= cx + 50; x++) {
        const p = at(x, y);
        if (p[0] + p[1] + p[2] < best[0] + best[1] + best[2]) best = p;
      }
    return best;
  };
  const [r1, g1, b1] = line(80);
  expect(r1 - g1, `before ghost's line ${[r1, g1, b1]}`).toBeGreaterThan(60);
  expect(r1 - b1).toBeGreaterThan(60);
  const [r3, g3, b3] = line(430);
  expect(g3 - r3, `after ghost's line ${[r3, g3, b3]}`).toBeGreaterThan(60);
  expect(g3 - b3).toBeGreaterThan(60);
  for (const c of at(256, 20)) expect(c).toBeGreaterThanOrEqual(250);
});

test('a gap keeps only the settings set on its row; the rest follow "Every gap" until reset', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.id('scene.addKeys').setInputFiles(THREE_KEYS());
  const gap2 = studio.id('scene.gap').nth(1);
  await gap2.getByTestId('scene.gap.seed').fill('7');
  await studio.id('scene.default.count').fill('4');
  await studio.id('scene.default.exposure').selectOption('2');
  await expect(gap2.getByTestId('scene.gap.count')).toHaveValue('4');
  await expect(gap2.getByTestId('scene.gap.exposure')).toHaveValue('2');
  await expect(gap2.getByTestId('scene.gap.seed')).toHaveValue('7');
  // Saved as what was set on the row only.
  await expect.poll(async () => (await savedScene(page))?.specs).toEqual([{ seed: 7 }]);

  // A count of its own stays when the row above changes; reset takes it back to the row above.
  await gap2.getByTestId('scene.gap.count').fill('2');
  await studio.id('scene.default.count').fill('5');
  await expect(gap2.getByTestId('scene.gap.count')).toHaveValue('2');
  await expect(studio.id('scene.gap').first().getByTestId('scene.gap.count')).toHaveValue('5');
  await gap2.getByTestId('scene.gap.reset').focus();
  await page.keyboard.press('Enter');
  await expect(gap2.getByTestId('scene.gap.count')).toHaveValue('5');
  await expect(gap2.getByTestId('scene.gap.seed')).toHaveValue('');
  await expect(gap2.getByTestId('scene.gap.reset')).toHaveCount(0);
  await expect(gap2).toContainText('defaults');
  await expect(gap2.getByTestId('scene.gap.count')).toBeFocused();

  // Over a reload: the seed set on gap 2 is its own, the count still the row above's.
  await gap2.getByTestId('scene.gap.seed').fill('9');
  await expect.poll(async () => (await savedScene(page))?.specs).toEqual([{ seed: 9 }]);
  await page.reload();
  await expect(studio.id('scene.restored')).toBeVisible();
  await studio.id('scene.default.count').fill('3');
  await expect(gap2.getByTestId('scene.gap.count')).toHaveValue('3');
  await expect(gap2.getByTestId('scene.gap.seed')).toHaveValue('9');
});

test('a project saved with whole gap settings and no onion skin opens with its gaps made', async ({
  studio,
}) => {
  await studio.open();
  await studio.setNumber('run.steps', 2);
  await studio.id('scene.addKeys').setInputFiles(THREE_KEYS());
  await studio.id('scene.default.count').fill('2');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 2 gaps to make', { timeout: 60_000 });
  await studio.id('scene.onionSkin').check();
  const files = await projectFiles(studio);
  const json = JSON.parse(strFromU8(files['scene.json']!)) as Record<string, unknown>;
  expect(json.onion).toEqual({ on: true, before: 1, after: 1, opacity: 0.35 });
  // As saved before gaps kept only their own fields: gap 1 whole, the same as it was made with.
  const [k1, k2] = json.keys as { id: string }[];
  json.specs = {
    [`${k1!.id}>${k2!.id}`]: {
      count: 2,
      timing: 'even',
      typed: '',
      exposure: 1,
      seed: 42,
      variantId: null,
    },
  };
  delete json.onion;
  files['scene.json'] = strToU8(JSON.stringify(json));
  await studio.id('scene.openProject').setInputFiles({
    name: 'old.inbetween.zip',
    mimeType: 'application/zip',
    buffer: Buffer.from(zipSync(files)),
  });
  await expect(studio.id('scene.key')).toHaveCount(3);
  await expect(studio.id('scene.todo')).toHaveText('0 of 2 gaps to make');
  await expect(studio.id('scene.onionSkin')).not.toBeChecked();
  // The whole settings are the gap's own: the row above no longer changes its count.
  const gaps = studio.id('scene.gap');
  await expect(gaps.getByTestId('scene.gap.reset')).toHaveCount(1);
  await studio.id('scene.default.count').fill('3');
  await expect(gaps.nth(0).getByTestId('scene.gap.count')).toHaveValue('2');
  await expect(gaps.nth(1).getByTestId('scene.gap.count')).toHaveValue('3');
  await expect(studio.id('scene.todo')).toHaveText('1 of 2 gaps to make');
  await expect(studio.errors()).toHaveCount(0);
});

test('the onion skin’s options come back after a reload and go into the project file', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.id('scene.addKeys').setInputFiles(THREE_KEYS());
  // Saved with the keys first: the changes below are saved on their own.
  await expect
    .poll(async () => (await savedScene(page))?.onion)
    .toEqual({ on: false, before: 1, after: 1, opacity: 0.35 });
  await studio.id('scene.onionSkin').check();
  await studio.id('scene.onion.before').fill('2');
  await studio.id('scene.onion.after').fill('0');
  await page.getByRole('slider', { name: 'Onion skin opacity' }).focus();
  await page.keyboard.press('End');
  const onion = { on: true, before: 2, after: 0, opacity: 0.8 };
  await expect.poll(async () => (await savedScene(page))?.onion).toEqual(onion);
  await page.reload();
  await expect(studio.id('scene.restored')).toBeVisible();
  await expect(studio.id('scene.onionSkin')).toBeChecked();
  await expect(studio.id('scene.onion.before')).toHaveValue('2');
  await expect(studio.id('scene.onion.after')).toHaveValue('0');
  await expect(page.getByRole('slider', { name: 'Onion skin opacity' })).toHaveValue('0.8');
  const json = JSON.parse(strFromU8((await projectFiles(studio))['scene.json']!)) as {
    onion: unknown;
  };
  expect(json.onion).toEqual(onion);
});

test('the focus stays put when keys move or go', async ({ studio, page }) => {
  await studio.open();
  await studio.id('scene.addKeys').setInputFiles(THREE_KEYS());
  const button = (name: string) => page.getByRole('button', { name, exact: true });
  const names = () => studio.id('scene.key').locator('img');
  await button('Move key 1 right').focus();
  await page.keyboard.press('Enter');
  await expect(names().nth(1)).toHaveAttribute('alt', 'key 2: walk_1.png');
  await expect(button('Move key 2 right')).toBeFocused();
  // At the end of the row → is disabled: the focus goes to the same key's ←.
  await page.keyboard.press('Enter');
  await expect(names().nth(2)).toHaveAttribute('alt', 'key 3: walk_1.png');
  await expect(button('Move key 3 left')).toBeFocused();
  // Removed: the next key's ×, else the previous one's, else Add keys.
  await button('Remove key 1').focus();
  await page.keyboard.press('Enter');
  await expect(studio.id('scene.key')).toHaveCount(2);
  await expect(button('Remove key 1')).toBeFocused();
  await button('Remove key 2').focus();
  await page.keyboard.press('Enter');
  await expect(studio.id('scene.key')).toHaveCount(1);
  await expect(button('Remove key 1')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(studio.id('scene.key')).toHaveCount(0);
  await expect(studio.id('scene.addKeys')).toBeFocused();
});

test('the focus stays on Run all ↔ Cancel, Save ↔ Cancel, and moves to Re-roll after Keep', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.setNumber('run.steps', 200);
  await studio.id('scene.addKeys').setInputFiles([discKey('c_1.png', 80), discKey('c_2.png', 330)]);
  // 15 in-betweens × 200 steps at the keys' own 512×320: long enough to cancel from the keyboard.
  await studio.id('keyframes.fit.native').check();
  await studio.id('scene.default.count').fill('15');
  await studio.id('scene.runAll').focus();
  await page.keyboard.press('Enter');
  await expect(studio.id('scene.cancel')).toBeFocused();
  await studio.waitForText('scene.gap.status', /step \d+ of 200/);
  await page.keyboard.press('Enter');
  await expect(studio.id('scene.runAll')).toBeVisible({ timeout: 30_000 });
  await expect(studio.id('scene.runAll')).toBeFocused();

  await studio.setNumber('run.steps', 2);
  await studio.id('scene.default.count').fill('2');
  await studio.id('scene.runAll').click();
  await expect(studio.id('scene.todo')).toHaveText('0 of 1 gaps to make', { timeout: 60_000 });

  // Save turns into Cancel while it writes, and back.
  await studio.id('scene.exportRun').focus();
  await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  await expect(studio.id('scene.exportDone')).toBeVisible();
  await expect(studio.id('scene.exportRun')).toBeFocused();

  // Keep new / Keep before: the comparison goes, the focus goes to Re-roll.
  await studio.id('scene.viewer').focus();
  await page.keyboard.press('ArrowRight');
  for (const keep of ['scene.keepNew', 'scene.keepOld']) {
    await studio.id('scene.reroll').click();
    await expect(studio.id(keep)).toBeVisible({ timeout: 30_000 });
    await studio.id(keep).focus();
    await page.keyboard.press('Enter');
    await expect(studio.id('scene.rerollCompare')).toHaveCount(0);
    await expect(studio.id('scene.reroll')).toBeFocused();
  }
  await expect(studio.errors()).toHaveCount(0);
});

test('an exposure changed while the scene plays applies at once', async ({ studio, page }) => {
  await studio.open();
  await studio.id('scene.addKeys').setInputFiles([discKey('p_1.png', 80), discKey('p_2.png', 330)]);
  await studio.id('scene.default.count').fill('1');
  await studio.id('scene.fps').fill('5');
  await studio.id('scene.play').click();
  await studio.id('scene.default.exposure').selectOption('3');
  // On threes at 5 fps a drawing shows for 600 ms (on ones, 200 ms).
  const intervalsMs = await studio.id('scene.position').evaluate(
    (el) =>
      new Promise<number[]>((resolve) => {
        const times: number[] = [];
        const observer = new MutationObserver(() => times.push(performance.now()));
        observer.observe(el, { childList: true, subtree: true, characterData: true });
        setTimeout(() => {
          observer.disconnect();
          resolve(times.slice(1).map((t, i) => t - times[i]!));
        }, 3000);
      }),
  );
  await page.getByTestId('scene.play').click();
  expect(intervalsMs.length).toBeGreaterThanOrEqual(2);
  const sorted = [...intervalsMs].sort((a, b) => a - b);
  expect(sorted[Math.floor(sorted.length / 2)]!, intervalsMs.join(', ')).toBeGreaterThan(450);
});

test('the viewer tells its keys; the current frame is marked and kept in sight; F or f flips', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.id('scene.addKeys').setInputFiles(THREE_KEYS());
  await studio.id('scene.default.count').fill('15');
  const viewer = studio.id('scene.viewer');
  await expect(viewer).toHaveAttribute('role', 'group');
  await expect(viewer).toHaveAttribute('aria-keyshortcuts', /ArrowLeft.*F/);
  await expect(studio.id('scene.viewer.keys')).toBeVisible();
  await expect(studio.id('scene.viewer.keys')).toContainText('F flips');
  await expect(studio.id('scene.todo')).toHaveAttribute('aria-live', 'polite');
  // Not each gap's status: it changes on every denoising step, which a reader would read out.
  await expect(studio.id('scene.gap.status').first()).not.toHaveAttribute('aria-live', /.*/);

  const frames = studio.id('scene.timeline').getByRole('button');
  await expect(frames).toHaveCount(33);
  await expect(frames.first()).toHaveAttribute('aria-current', 'true');
  await viewer.focus();
  await page.keyboard.press('End');
  await expect(studio.id('scene.position')).toContainText('33 / 33');
  await expect(frames.last()).toHaveAttribute('aria-current', 'true');
  await expect(frames.first()).not.toHaveAttribute('aria-current', /./);
  // The strip scrolled to it: the last frame lies within the strip's visible width.
  const inSight = () =>
    studio.id('scene.timeline').evaluate((strip) => {
      const s = strip.getBoundingClientRect();
      const b = strip.querySelector('[aria-current="true"]')!.getBoundingClientRect();
      return b.left >= s.left - 1 && b.right <= s.right + 1;
    });
  await expect.poll(inSight).toBe(true);
  await page.keyboard.press('Home');
  await expect.poll(inSight).toBe(true);

  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Shift+F');
  await expect(studio.id('scene.position')).toContainText('(flipped)');
  await page.keyboard.press('f');
  await expect(studio.id('scene.position')).not.toContainText('(flipped)');
});
