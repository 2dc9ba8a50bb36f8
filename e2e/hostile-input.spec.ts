/**
 * The hostile-input battery (issue 16), kept as tests: what a careless or hostile person can drop
 * in, type or serve must give a clear message, keep what is on screen and stored, leave the page
 * usable (a normal run works afterwards) and never hang (every wait here is bounded). Stalling,
 * silent and CORS-less servers are started on the loopback address by the tests themselves.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { bigWhitePng } from '../src/testing/bigPng';
import { startPackServer, startSilentServer, type TestServer } from './servers';
import {
  expect,
  ROOT,
  sampleKeyframes,
  solidPng,
  test,
  type FilePayload,
  type Studio,
} from './studio';

const PACK_DIR = process.env.TEST_PACK ?? 'models/tiny';
const TINY = resolve(ROOT, PACK_DIR);
const tinyManifest = () => JSON.parse(readFileSync(resolve(TINY, 'manifest.json'), 'utf8'));

const png = (name: string, buffer: Buffer): FilePayload => ({
  name,
  mimeType: 'image/png',
  buffer,
});

/** Keyframes in, a short run done: what a person has on screen before the bad input arrives. */
async function haveResult(studio: Studio): Promise<void> {
  await studio.dropKeyframes();
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(3);
}

/** A normal run still works: the page is usable. */
async function runStillWorks(studio: Studio, frames = 3): Promise<void> {
  await studio.setNumber('run.count', frames);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(frames);
}

/**
 * A copy of the tiny pack on a server that stalls every graph download after 1000 bytes, loaded
 * by URL, and Run pressed on the sample keyframes: the download is under way when this returns.
 */
async function runOnStalledPack(studio: Studio): Promise<TestServer> {
  const server = await serve(
    startPackServer({
      dir: TINY,
      manifest: { ...tinyManifest(), id: 'tiny-stall' },
      stallAfterBytes: 1000,
    }),
  );
  await studio.open();
  await studio.dropKeyframes();
  await studio.loadPackUrl(server.url);
  await expect(studio.id('variant.select')).toBeVisible();
  await studio.run();
  return server;
}

let servers: TestServer[] = [];
test.afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
async function serve(server: Promise<TestServer>): Promise<TestServer> {
  const s = await server;
  servers.push(s);
  return s;
}

test.describe('images', () => {
  test('an over-large image is refused from its header; the keyframes and results stay', async ({
    studio,
  }) => {
    await studio.open();
    await haveResult(studio);
    // A valid 20000×1000 PNG of a few KB once blanked the whole page.
    await studio.dropFiles(studio.id('keyframes.start'), [
      png('wide.png', bigWhitePng(20000, 1000)),
    ]);
    await expect(studio.errors()).toContainText(
      '"wide.png" is 20000×1000 pixels (20.0 megapixels); images may have at most 16.8 megapixels and 16384 pixels a side. Save it smaller',
    );
    await expect(studio.id('keyframes.start.meta')).toContainText('bounce-start.png');
    await expect(studio.id('viewer.frame')).toHaveCount(3);
    await expect(studio.id('panel.crashed')).toHaveCount(0);
    // Swap, and the bombs that took 9 GB and half a minute: refused before decoding.
    await studio.page.getByRole('button', { name: 'Swap' }).click();
    for (const side of [16000, 12000]) {
      await studio.dropFiles(studio.id('keyframes.end'), [
        png(`bomb${side}.png`, bigWhitePng(side, side)),
      ]);
      await expect(studio.errors()).toContainText(`"bomb${side}.png" is ${side}×${side} pixels`, {
        timeout: 10_000,
      });
    }
    await expect(studio.id('keyframes.end.meta')).toContainText('bounce-start.png');
    await runStillWorks(studio);
  });

  test('an SVG drawing and an empty file are called what they are', async ({ studio }) => {
    await studio.open();
    await studio.dropKeyframes();
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="red"/></svg>';
    await studio.dropFiles(studio.id('keyframes.end'), [
      { name: 'drawing.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(svg) },
    ]);
    await expect(studio.errors()).toContainText(
      '"drawing.svg" is an SVG drawing; keyframes must be pixel images',
    );
    await studio.dropFiles(studio.id('keyframes.end'), [png('empty.png', Buffer.alloc(0))]);
    await expect(studio.errors()).toContainText('"empty.png" is empty (0 bytes)');
    await expect(studio.id('keyframes.end.meta')).toContainText('bounce-end.png');
    await runStillWorks(studio, 1);
  });

  test('a wrong-size ground truth is refused; the good one and its scores stay', async ({
    studio,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.count', 1);
    await studio.setNumber('run.steps', 2);
    const [, end] = sampleKeyframes();
    await studio.id('evaluate.gt.input').setInputFiles([{ ...end, name: 'good-gt.png' }]);
    await studio.run();
    await studio.expectDone(1);
    await expect(studio.id('evaluate.row')).toHaveCount(1);
    await studio
      .id('evaluate.gt.input')
      .setInputFiles([solidPng('bad-gt.png', 100, 80, [0, 0, 0])]);
    await expect(studio.errors()).toContainText(
      '"bad-gt.png" is 100×80 but the keyframes are 512×320: a ground-truth frame must have their size',
    );
    await expect(studio.errors()).toContainText(
      'The ground truth "good-gt.png" and its scores are kept.',
    );
    await expect(studio.id('evaluate.gt.meta')).toContainText('good-gt.png');
    await expect(studio.id('evaluate.row')).toHaveCount(1);
    await studio.run();
    await studio.expectDone(1);
    await expect(studio.id('evaluate.row')).toHaveCount(2);
  });
});

test('an error while a panel draws replaces that panel only, and it can be drawn again', async ({
  studio,
  page,
}) => {
  // A render-time failure from inside the page (as a bad value once made planFit throw): every
  // toFixed call throws while the flag is set.
  await page.addInitScript(() => {
    const toFixed = Number.prototype.toFixed;
    Number.prototype.toFixed = function (this: number, digits?: number) {
      if ((window as unknown as { breakRender?: boolean }).breakRender)
        throw new Error('simulated render failure');
      return toFixed.call(this, digits);
    };
  });
  await studio.open();
  await haveResult(studio);
  await page.evaluate(() => ((window as unknown as { breakRender?: boolean }).breakRender = true));
  await studio.setNumber('run.count', 4); // the Run panel draws τ with toFixed
  await expect(studio.id('panel.crashed').first()).toContainText(
    'This panel could not be drawn: simulated render failure',
  );
  await page.evaluate(() => ((window as unknown as { breakRender?: boolean }).breakRender = false));
  // The rest of the page and the person's work are still there.
  await expect(studio.id('keyframes.start.meta')).toContainText('bounce-start.png');
  await expect(studio.id('viewer.frame')).toHaveCount(3);
  // Each click redraws one panel (and the list of crashed panels with it).
  while ((await studio.id('panel.crashed').count()) > 0)
    await page.getByRole('button', { name: 'Draw it again' }).first().click();
  await expect(studio.id('panel.crashed')).toHaveCount(0);
  await runStillWorks(studio);
});

test.describe('servers that stall, stay silent or refuse', () => {
  test('Cancel aborts a stalled download at once; the bundled pack then runs', async ({
    studio,
  }) => {
    const server = await runOnStalledPack(studio);
    await expect(studio.id('run.status')).toContainText('waiting for the server', {
      timeout: 10_000,
    });
    await studio.id('run.cancel').click();
    await expect(studio.id('run.status')).toHaveText('Cancelled.', { timeout: 5_000 });
    await expect.poll(() => server.aborted.length, { timeout: 5_000 }).toBeGreaterThan(0);
    await studio.chooseBundledPack();
    await runStillWorks(studio);
  });

  test('a download that stalls gives up with a message after 20 s', async ({ studio }) => {
    await runOnStalledPack(studio);
    await expect(studio.errors()).toContainText('stalled: the server sent nothing for 20 s', {
      timeout: 40_000,
    });
    await expect(studio.id('run.status')).toContainText('The run failed');
    await studio.chooseBundledPack();
    await runStillWorks(studio);
  });

  test('Force stop is offered when a load does not answer Cancel', async ({ studio, page }) => {
    await runOnStalledPack(studio);
    await expect(studio.id('run.status')).toContainText('Downloading', { timeout: 10_000 });
    // The worker stops answering (as a runtime stuck in a long synchronous call would).
    const worker = page.workers().find((w) => w.url().includes('inference.worker'));
    expect(worker, 'the inference worker').toBeTruthy();
    await worker!.evaluate(() => {
      setTimeout(() => {
        const until = Date.now() + 60_000;
        while (Date.now() < until);
      });
    });
    await studio.id('run.cancel').click();
    await expect(studio.id('run.status')).toHaveText('Stopping the load…');
    await expect(studio.id('run.force-stop')).toBeVisible({ timeout: 10_000 });
    await studio.id('run.force-stop').click();
    await expect(studio.id('run.status')).toHaveText('Cancelled.');
    await studio.chooseBundledPack();
    await runStillWorks(studio);
  });

  test('reloading mid-download leaves a working studio', async ({ studio, page }) => {
    await runOnStalledPack(studio);
    await expect(studio.id('run.status')).toContainText('Downloading', { timeout: 10_000 });
    await page.reload();
    await studio.open();
    await studio.dropKeyframes();
    await runStillWorks(studio);
  });

  test('a manifest that never arrives times out with a message', async ({ studio }) => {
    const server = await serve(startSilentServer());
    await studio.open();
    await studio.loadPackUrl(server.url);
    await expect(studio.id('pack.reading')).toContainText('Reading the manifest of');
    await expect(studio.errors()).toContainText(
      `${server.url}manifest.json did not send the pack's manifest.json within 15 s: the server is not answering`,
      { timeout: 30_000 },
    );
    await expect(studio.id('pack.reading')).toHaveCount(0);
    await studio.chooseBundledPack();
    await studio.dropKeyframes();
    await runStillWorks(studio);
  });

  test('a server without CORS headers is named as the likely cause', async ({ studio }) => {
    const server = await serve(startPackServer({ dir: TINY, cors: false }));
    await studio.open();
    await studio.loadPackUrl(server.url);
    await expect(studio.errors()).toContainText('Access-Control-Allow-Origin');
    await expect(studio.errors()).toContainText(
      `nothing usable came back from ${new URL(server.url).host}`,
    );
  });

  test("a wrong URL on the studio's own server is not parsed as JSON", async ({
    studio,
    baseURL,
  }) => {
    await studio.open();
    await studio.loadPackUrl(`${baseURL}/no-such-pack/`);
    await expect(studio.errors()).toContainText('no-such-pack/manifest.json');
    await expect(studio.errors()).not.toContainText('Unexpected token');
    await expect(studio.id('pack.errors')).toBeVisible();
  });
});

test.describe('packs and links', () => {
  test('?pack=<unknown id> warns, and the warning stays', async ({ studio, page }) => {
    await studio.open('does-not-exist');
    const warning = studio.id('message.warning');
    await expect(warning).toContainText(
      'The link asks for pack "does-not-exist", which is not available here',
    );
    await page.waitForTimeout(1500);
    await expect(warning).toContainText('does-not-exist');
  });

  test("a pack that takes a bundled pack's id with other files is refused", async ({ studio }) => {
    await studio.open();
    const manifest = tinyManifest();
    const other = Buffer.alloc(2048, 3);
    manifest.graphs.denoisers.fp32.sizeBytes = other.byteLength;
    manifest.graphs.denoisers.fp32.sha256 = createHash('sha256').update(other).digest('hex');
    const files = [manifest.graphs.encoder.file, manifest.graphs.decoder.file].map((f: string) => ({
      name: f,
      mimeType: 'application/octet-stream',
      buffer: readFileSync(resolve(TINY, f)),
    }));
    await studio.id('pack.files').setInputFiles([
      {
        name: 'manifest.json',
        mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify(manifest)),
      },
      {
        name: manifest.graphs.denoisers.fp32.file,
        mimeType: 'application/octet-stream',
        buffer: other,
      },
      ...files,
    ]);
    await expect(studio.id('pack.errors')).toContainText(
      `gives it the id "${manifest.id}", which the bundled pack`,
    );
    await expect(studio.id('pack.errors')).toContainText('give yours an id of its own');
    await studio.chooseBundledPack();
    await studio.dropKeyframes();
    await runStillWorks(studio);
  });
});

test.describe('runs', () => {
  test('the status says what the time includes', async ({ studio }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await expect(studio.id('run.status')).toHaveText(
      /^Done: 3 in-betweens in \d+\.\d\d s \(model \d+\.\d\d s, images \d+\.\d\d s, loading \d+\.\d\d s\)\.$/,
      { timeout: 60_000 },
    );
    await studio.run();
    // Loaded already: no loading part.
    await expect(studio.id('run.status')).toHaveText(
      /^Done: 3 in-betweens in \d+\.\d\d s \(model \d+\.\d\d s, images \d+\.\d\d s\)\.$/,
      { timeout: 60_000 },
    );
  });

  test('cancel and run again, five times in a row', async ({ studio }) => {
    await studio.open();
    await studio.dropKeyframes();
    for (let i = 0; i < 5; i++) {
      await studio.startLongRun();
      await studio.id('run.cancel').click();
      await expect(studio.id('run.status')).toHaveText('Cancelled.', { timeout: 10_000 });
    }
    await runStillWorks(studio);
  });
});
