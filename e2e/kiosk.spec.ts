/**
 * The demo booth (`?kiosk`): it runs offline after one visit (also after the browser restarts), its
 * attract loop plays and hands control to a touch, it survives a worker that stops answering or
 * crashes, and a new version waits for a person instead of reloading under a visitor. Runs the
 * trained `cel` pack's student, as a booth does.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '../scripts/lib/chromium';
import { startStaticServer } from './servers';
import { expect, pasteImage, ROOT, sampleKeyframes, solidPng, test } from './studio';

const DIST = resolve(ROOT, 'dist');
const STUDENT_LOOP = '?kiosk&pack=cel&acts=student&dwell=0&frames=1';

// The player redraws six times a second: a trace's screencast of it would take a core of its own.
test.use({ trace: { mode: 'retain-on-failure', screenshots: false } });

function status(page: Page) {
  return page.getByTestId('kiosk.status');
}

async function runs(page: Page): Promise<number> {
  return Number(await status(page).getAttribute('data-runs'));
}

/** Waits until the booth has finished `n` more runs than `from`. */
async function moreRuns(page: Page, from: number, n = 1, timeout = 60_000): Promise<void> {
  await expect.poll(() => runs(page), { timeout }).toBeGreaterThanOrEqual(from + n);
}

/** Whether the service worker is active with everything precached (its install has finished). */
async function offlineReady(page: Page): Promise<void> {
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await expect(page.getByTestId('pwa.offline-ready').first()).toBeVisible();
}

test('one visit online: a new version waits for a person; then the booth runs offline after a restart', async () => {
  test.setTimeout(180_000);
  const server = await startStaticServer(DIST);
  const profile = mkdtempSync(join(tmpdir(), 'inbetween-kiosk-'));
  const launch = () =>
    chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      args: CHROMIUM_ARGS,
      serviceWorkers: 'allow',
    });
  try {
    let context = await launch();
    let page = context.pages()[0] ?? (await context.newPage());
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`${server.url}${STUDENT_LOOP}&idle=600`);
    await offlineReady(page);
    await moreRuns(page, 0);
    await page.evaluate(() => ((window as unknown as { booth: string }).booth = 'still here'));
    // A new version of the studio appears on the server; the page checks for it.
    server.override('sw.js', `${readFileSync(join(DIST, 'sw.js'), 'utf8')}\n// a new version\n`);
    await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.getRegistration();
      await reg?.update();
    });
    await expect(page.getByTestId('pwa.update')).toBeVisible({ timeout: 30_000 });
    // The booth keeps running on the old version: no reload, the loop goes on.
    const from = await runs(page);
    await moreRuns(page, from, 2);
    expect(await page.evaluate(() => (window as unknown as { booth?: string }).booth)).toBe(
      'still here',
    );
    expect(loads).toBe(1);
    // A person presses Update: the new version takes over and the booth starts again.
    await page.getByTestId('pwa.update.apply').click();
    await expect.poll(() => loads, { timeout: 30_000 }).toBe(2);
    await expect(page.getByTestId('pwa.update')).toBeHidden();
    await moreRuns(page, 0);
    await context.close();

    // The network is gone for good: the server is closed, and the browser restarts offline.
    await server.close();
    context = await launch();
    await context.setOffline(true);
    page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /failed to draw/.test(m.text())) pageErrors.push(m.text());
    });
    await page.goto(`${server.url}${STUDENT_LOOP}&idle=600`);
    await expect(page.getByTestId('kiosk')).toBeVisible();
    expect(await page.evaluate(() => crossOriginIsolated), 'threads need isolation offline').toBe(
      true,
    );
    await moreRuns(page, 0, 2);
    // A visitor runs the student on another pair, offline.
    const before = await runs(page);
    await page.getByTestId('kiosk.variant.student').click();
    await page.getByTestId('kiosk.pair.pendulum').click();
    await expect(status(page)).toHaveAttribute('data-mode', 'visitor');
    await moreRuns(page, before);
    await expect(page.getByTestId('kiosk.player.label')).toHaveText(/Student/);
    await expect(page.getByTestId('kiosk.player.time')).toHaveText(/\d+ ms per in-between/);
    expect(Number(await status(page).getAttribute('data-failures'))).toBe(0);
    // The installed app's "Booth" shortcut (its web app manifest) opens the kiosk, offline too.
    const shortcut = await page.evaluate(async () => {
      const href = document.querySelector<HTMLLinkElement>('link[rel="manifest"]')!.href;
      const m = (await (await fetch(href)).json()) as {
        shortcuts?: { short_name?: string; url: string }[];
      };
      const booth = m.shortcuts?.find((x) => x.short_name === 'Booth');
      return booth ? new URL(booth.url, href).href : null;
    });
    expect(shortcut, 'the manifest has a Booth shortcut').not.toBeNull();
    await page.goto(`${server.url}?kiosk=0`);
    await expect(page.getByTestId('kiosk')).toBeHidden();
    await page.goto(shortcut!);
    await expect(page.getByTestId('kiosk')).toBeVisible();
    expect(pageErrors).toEqual([]);
    await context.close();
  } finally {
    await server.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  }
});

test('past its heap limit the memory watch gives the booth a fresh worker, and the loop goes on', async ({
  page,
}) => {
  test.setTimeout(120_000);
  const restarts: string[] = [];
  page.on('console', (m) => {
    if (/WASM heap grew; starting a fresh worker/.test(m.text())) restarts.push(m.text());
  });
  // heap=16: a loaded model's WASM heap (about 50–75 MB here) is past it, so every act ends with
  // a fresh worker.
  await page.goto(`/?kiosk&pack=cel&acts=student&frames=1&dwell=0&heap=16`);
  await expect(status(page)).toHaveAttribute('data-mode', 'attract');
  await expect
    .poll(async () => Number(await status(page).getAttribute('data-restarts')), { timeout: 60_000 })
    .toBeGreaterThanOrEqual(2);
  expect(restarts.length).toBeGreaterThanOrEqual(2);
  // Read again until a worker with the model loaded answers: right after a restart there is no
  // worker (an empty reading), then one that has not loaded the model yet.
  await expect
    .poll(async () => Number(await status(page).getAttribute('data-wasm-heap')), {
      timeout: 30_000,
    })
    .toBeGreaterThan(16 * 2 ** 20);
  // Each fresh worker loads the model again from the cache and the runs go on, without failures.
  await moreRuns(page, await runs(page), 2);
  await expect(status(page)).toHaveAttribute('data-failures', '0');
  await expect(status(page)).toHaveAttribute('data-mode', 'attract');
});

test('the attract loop plays, hands control to a touch, comes back, and survives a stuck or crashed worker', async ({
  page,
}) => {
  test.setTimeout(150_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /failed to draw/.test(m.text())) pageErrors.push(m.text());
  });
  // A result stays 1 s on screen (dwell), so its finished curve can be read.
  await page.goto(`/?kiosk&pack=cel&acts=student&frames=1&dwell=1&idle=3&stall=5`);
  await expect(status(page)).toHaveAttribute('data-mode', 'attract');
  await moreRuns(page, 0, 2);
  await expect(page.getByTestId('kiosk.attract')).toBeVisible();
  await expect(page.getByTestId('kiosk.caption')).toHaveText(/\S{3,}/);
  // The player draws the keyframes and the in-between (3 frames) at the pair's size.
  const canvas = page.getByTestId('kiosk.player').first().locator('canvas');
  await expect(canvas).toHaveAttribute('data-frames', '3');
  expect(await canvas.evaluate((c: HTMLCanvasElement) => [c.width, c.height])).toEqual([512, 320]);
  // The latent plot has a curve with a point for every step (4 student steps + the noise).
  await expect(page.getByTestId('kiosk.plot.trace').first()).toHaveAttribute('data-points', '5');
  // The first in-between was timed from opening the page.
  expect(Number(await status(page).getAttribute('data-first-inbetween-ms'))).toBeGreaterThan(0);
  // A touch: the visitor has the booth; the loop stops.
  await page.mouse.click(400, 400);
  await expect(status(page)).toHaveAttribute('data-mode', 'visitor');
  await expect(page.getByTestId('kiosk.attract')).toBeHidden();
  // Idle for 3 s: the loop comes back.
  await expect(status(page)).toHaveAttribute('data-mode', 'attract', { timeout: 15_000 });

  const inference = async () => {
    for (const w of page.workers())
      if (/inference\.worker/.test(w.url()) && (await w.evaluate(() => self.name)) === 'inference')
        return w;
    throw new Error('no inference worker');
  };
  // Stuck: the worker closes itself silently, so no call to it ever answers.
  let w = await inference();
  await w.evaluate(() => setTimeout(() => self.close(), 50)).catch(() => undefined);
  await expect(status(page)).toHaveAttribute('data-restarts', '1', { timeout: 30_000 });
  let from = await runs(page);
  await moreRuns(page, from, 2);
  // Crashed: an uncaught error in the worker.
  w = await inference();
  await w
    .evaluate(() =>
      setTimeout(() => {
        throw new Error('a crash made by the test');
      }, 50),
    )
    .catch(() => undefined);
  await expect(status(page)).toHaveAttribute('data-restarts', '2', { timeout: 30_000 });
  from = await runs(page);
  await moreRuns(page, from, 2);
  await expect(status(page)).toHaveAttribute('data-mode', 'attract');

  // A visitor's own drawings: two of another size (picked) are refused in one line.
  await page
    .getByTestId('kiosk.own.input')
    .setInputFiles([solidPng('a.png', 64, 64, [200, 0, 0]), sampleKeyframes()[1]]);
  await expect(status(page)).toHaveAttribute('data-mode', 'visitor');
  await expect(page.getByTestId('kiosk.line')).toHaveText(/different sizes/);
  // Pasted (the start), then dropped on the booth (the end): the pair runs at once.
  from = await runs(page);
  const [start, end] = sampleKeyframes();
  await pasteImage(page, { ...start, name: 'pasted.png' });
  await expect(page.getByTestId('kiosk.line')).toHaveText(/second drawing/);
  await page.getByTestId('kiosk').evaluate(
    (el, bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'dropped.png', { type: 'image/png' }));
      el.dispatchEvent(
        new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }),
      );
    },
    [...end.buffer],
  );
  await moreRuns(page, from);
  await expect(page.getByTestId('kiosk.line')).toBeHidden();
  await expect(page.getByTestId('kiosk.player.label')).toHaveText(/Student/);
  await expect(page.getByRole('dialog')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

test('a booth whose pack cannot be read at first says so, tries again, and starts', async ({
  page,
}) => {
  test.setTimeout(120_000);
  // The pack's manifest cannot be read at first (the server was not up yet after a reboot).
  let down = true;
  let refused = 0;
  await page.route('**/models/cel/manifest.json', (route) => {
    if (!down) return route.continue();
    refused++;
    return route.abort('connectionrefused');
  });
  await page.goto(`/?kiosk&pack=cel&acts=student&frames=1&dwell=0`);
  // Before the first in-between the booth's line stands where the players will be.
  // (The first wait is 5 s, the next 10 s: a check that comes late may see the second.)
  await expect(page.getByText(/Trying again in \d+ s\./)).toBeVisible();
  down = false;
  await moreRuns(page, 0, 1, 90_000);
  expect(refused).toBeGreaterThanOrEqual(1);
  await expect(status(page)).toHaveAttribute('data-failures', '0');
});

test('a visitor who leaves after one drawing does not hand it to the next visitor', async ({
  page,
}) => {
  test.setTimeout(120_000);
  await page.goto(`/?kiosk&pack=cel&acts=student&frames=1&dwell=0&idle=3`);
  await expect(status(page)).toHaveAttribute('data-mode', 'attract', { timeout: 60_000 });
  // Past its start (the first in-between and the warm-up): the loop is playing.
  await moreRuns(page, 0, 2);
  const [start, end] = sampleKeyframes();
  await page.getByTestId('kiosk.own.input').setInputFiles([start]);
  await expect(status(page)).toHaveAttribute('data-mode', 'visitor');
  await expect(page.getByText('Now the second drawing')).toBeVisible();
  // Nobody there for 3 s: the loop comes back, and with it a fresh start for the next visitor.
  await expect(status(page)).toHaveAttribute('data-mode', 'attract', { timeout: 15_000 });
  await page.getByTestId('kiosk.own.input').setInputFiles([end]);
  await expect(status(page)).toHaveAttribute('data-mode', 'visitor');
  await expect(page.getByText('Now the second drawing')).toBeVisible();
  const from = await runs(page);
  await page.getByTestId('kiosk.own.input').setInputFiles([start]);
  await moreRuns(page, from);
  await expect(page.getByTestId('kiosk.line')).toBeHidden();
});
