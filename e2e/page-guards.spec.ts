/**
 * The page's own guards: a file dropped where no panel takes it is refused with a word instead of
 * replacing the studio; the Keyframes panel takes two files anywhere on it; a failure nothing caught
 * is said; a manifest far too big to be one is refused before it is read; a new version of the
 * studio waits for the run in progress before it reloads the page.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startStaticServer } from './servers';
import { expect, ROOT, sampleKeyframes, Studio, test } from './studio';

test('a file dropped where no panel takes it is refused; the Keyframes panel takes two anywhere', async ({
  studio,
  page,
}) => {
  await studio.open();
  const url = page.url();
  await studio.dropFiles(page.locator('header.top'), sampleKeyframes());
  await expect(page.locator('[data-testid="message.info"][data-scope="page"]')).toContainText(
    'Nothing here takes files',
  );
  expect(page.url()).toBe(url);
  await expect(studio.id('keyframes.start.meta')).toHaveCount(0);
  // On the panel's title, outside both slots: the two files fill both.
  const [a, b] = sampleKeyframes();
  await studio.dropFiles(studio.id('keyframes.panel').locator('h2'), [a, b]);
  await expect(studio.id('keyframes.start.meta')).toContainText(a.name);
  await expect(studio.id('keyframes.end.meta')).toContainText(b.name);
  await expect(studio.errors()).toHaveCount(0);
});

test('a failure that nothing caught is said on the page', async ({ page }) => {
  // Not the `studio` fixture: it fails a test on any uncaught error, and this one makes one.
  const studio = new Studio(page);
  await studio.open();
  await page.evaluate(() => {
    void Promise.reject(new Error('the disk went away'));
  });
  await expect(page.locator('[data-testid="message.error"][data-scope="page"]')).toContainText(
    'Something failed without being handled: the disk went away',
  );
});

test('a manifest.json far too big to be one is refused before it is read', async ({ studio }) => {
  await studio.open();
  const dir = mkdtempSync(join(tmpdir(), 'inbetween-bigmanifest-'));
  writeFileSync(join(dir, 'manifest.json'), `{"pad": "${'x'.repeat(3 * 2 ** 20)}"}`);
  await studio.id('pack.folder').setInputFiles(dir);
  await expect(studio.errors().first()).toContainText(
    "The folder's manifest.json is 3.1 MB; a manifest is a few KB",
  );
});

test('a new version of the studio waits for the run in progress before it reloads', async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const server = await startStaticServer(resolve(ROOT, 'dist'));
  const context = await browser.newContext({ serviceWorkers: 'allow' });
  try {
    const page = await context.newPage();
    const studio = new Studio(page);
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`${server.url}?pack=tiny-random`);
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await expect(studio.id('pwa.offline-ready')).toBeVisible({ timeout: 30_000 });
    await studio.dropKeyframes();
    await studio.startLongRun();
    // A new version appears on the server while the run goes on.
    server.override('sw.js', `${await (await fetch(`${server.url}sw.js`)).text()}\n// new\n`);
    await page.evaluate(async () => {
      await (await navigator.serviceWorker.getRegistration())?.update();
    });
    await expect(studio.id('pwa.update')).toBeVisible({ timeout: 30_000 });
    await expect(studio.id('pwa.update.apply')).toBeDisabled();
    await expect(studio.id('pwa.update.waits')).toHaveText('(after the run)');
    await studio.id('run.cancel').click();
    await expect(studio.id('run.status')).toContainText('Cancelled', { timeout: 30_000 });
    await expect(studio.id('pwa.update.apply')).toBeEnabled();
    expect(loads).toBe(1);
    await studio.id('pwa.update.apply').click();
    await expect.poll(() => loads, { timeout: 30_000 }).toBe(2);
  } finally {
    await context.close();
    await server.close();
  }
});
