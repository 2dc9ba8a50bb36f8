/**
 * Failures that used to leave the page silent or stuck: a "keyframes every" value on its way to a
 * valid one, a dropped folder with a file that cannot be read, worst-item frames or heatmaps that
 * fail (a read refused, the metrics worker crashing), and a server that never answers for the
 * LPIPS manifest. Each ends in words on the page and a panel that still works.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { expect, test } from './studio';

/** A box moving across a light ground: frame f, 256×160. */
function frame(f: number): Buffer {
  const w = 256;
  const h = 160;
  const png = new PNG({ width: w, height: h });
  const bx = 60 + f * 30;
  const by = 50 + f * 12;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const box = Math.abs(x - bx) < 24 && Math.abs(y - by) < 18;
      png.data.set(
        box ? [40, 60 + ((x * 3) % 50), 215, 255] : [230, 220, 200, 255],
        (y * w + x) * 4,
      );
    }
  return PNG.sync.write(png);
}

/** Temporary folders made by a test, removed after it. */
const made: string[] = [];
test.afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** `<root>/<name>/<sub>/<file>` for each file name, each a frame; returns `<root>/<name>`. */
function makeFolder(name: string, sub: string, files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'robustness-e2e-'));
  made.push(root);
  const dir = join(root, name, sub);
  mkdirSync(dir, { recursive: true });
  files.forEach((file, i) => writeFileSync(join(dir, file), frame(i + 1)));
  return join(root, name);
}

const EVERY_HINT = 'a whole number of frames, 2 or more';

test('"keyframes every" short of a whole number ≥ 2 shows its hint and reads no folder; a valid one describes it', async ({
  studio,
}) => {
  const data = makeFolder(
    'seqs',
    'scene',
    [1, 2, 3, 4, 5].map((i) => `frame_0${i}.png`),
  );
  await studio.open();
  await studio.id('dataset.folder-input').setInputFiles(data);
  await expect(studio.id('dataset.folder')).toContainText('seqs: 3 items (sequence) from 5 files');
  await expect(studio.id('dataset.every-hint')).toHaveCount(0);

  // Each used to throw in the field's change handler (describeDataset refuses K < 2 or not whole).
  for (const typed of ['1', '0', '2.5', '-3']) {
    await studio.id('dataset.every').fill(typed);
    await expect(studio.id('dataset.every-hint')).toHaveText(EVERY_HINT);
    await expect(studio.id('dataset.folder')).toContainText('seqs: 3 items (sequence)');
  }
  // A folder dropped or picked now is not read, with a word instead of a failure.
  await studio.dropFiles(studio.id('dataset.panel'), [
    { name: 'frame_01.png', mimeType: 'image/png', buffer: frame(1) },
  ]);
  await expect(studio.errors()).toContainText(
    `The folder was not read: keyframes every needs ${EVERY_HINT}.`,
  );
  await studio.id('dataset.folder-input').setInputFiles(data);
  await expect(studio.errors()).toContainText(
    `The folder was not read: keyframes every needs ${EVERY_HINT}.`,
  );
  await expect(studio.id('dataset.folder')).toContainText('seqs: 3 items (sequence)');

  await studio.id('dataset.every').fill('2');
  await expect(studio.id('dataset.every-hint')).toHaveCount(0);
  await expect(studio.id('dataset.folder')).toContainText('seqs: 2 items (sequence) from 5 files');
  await studio.id('dataset.every').fill('4');
  await expect(studio.id('dataset.folder')).toContainText('seqs: 1 items (sequence) from 5 files');
  // The folder read again with a valid value clears the earlier word.
  await studio.id('dataset.folder-input').setInputFiles(data);
  await expect(studio.errors()).toHaveCount(0);
});

test('a dropped folder holding a file that cannot be read says so', async ({ studio }) => {
  await studio.open();
  // A folder whose file the browser cannot read (deleted or locked since it was dragged): the
  // entry's file() fails as Chromium's does.
  await studio.id('dataset.panel').evaluate((panel) => {
    const unreadable = {
      isFile: true,
      isDirectory: false,
      name: 'frame2.png',
      file: (_ok: (f: File) => void, fail: (e: DOMException) => void) =>
        fail(
          new DOMException(
            'A requested file or directory could not be found at the time an operation was processed.',
            'NotFoundError',
          ),
        ),
    };
    let listed = false;
    const folder = {
      isFile: false,
      isDirectory: true,
      name: 'triplets',
      createReader: () => ({
        readEntries: (ok: (entries: unknown[]) => void) => {
          ok(listed ? [] : [unreadable]);
          listed = true;
        },
      }),
    };
    const dataTransfer = {
      types: ['Files'],
      files: [],
      items: [{ kind: 'file', webkitGetAsEntry: () => folder }],
    };
    const drop = new DragEvent('drop', { bubbles: true, cancelable: true });
    Object.defineProperty(drop, 'dataTransfer', { value: dataTransfer });
    panel.dispatchEvent(drop);
  });
  await expect(studio.errors()).toContainText(
    'The dropped files cannot be read: A requested file or directory could not be found',
  );
  await expect(studio.id('dataset.folder')).toHaveCount(0);
});

test('worst items: a crashed metrics worker or a refused read shows a message, and Heatmaps works again', async ({
  studio,
  page,
}) => {
  test.setTimeout(180_000);
  const data = makeFolder('triplet', 'test/Japan_clip_0', [
    'frame1.png',
    'frame2.png',
    'frame3.png',
  ]);
  await studio.open();
  await expect(studio.id('evaluate.lpips')).toContainText('LPIPS ready');
  await studio.id('dataset.folder-input').setInputFiles(data);
  await expect(studio.id('dataset.folder')).toContainText('triplet: 1 items (triplets)');
  await studio.id('dataset.variant.lora').uncheck();
  await studio.id('dataset.variant.fp16').uncheck();
  await studio.id('dataset.steps').fill('2');
  await studio.id('dataset.start').click();
  await expect(studio.id('dataset.run')).toHaveAttribute('data-state', 'done', {
    timeout: 120_000,
  });
  await expect(studio.id('dataset.worst.card')).toHaveCount(1);
  await expect(studio.id('dataset.worst.slider')).toBeVisible();

  // The metrics worker is busy for 5 s, then crashes: the heatmaps asked for meanwhile never come.
  const metrics = page.workers().find((w) => w.url().includes('metrics.worker'));
  expect(metrics, 'the metrics worker').toBeTruthy();
  await metrics!.evaluate(() => {
    setTimeout(() => {
      const until = Date.now() + 5000;
      while (Date.now() < until);
      throw new Error('a crash made by the test');
    });
  });
  await studio.id('dataset.worst.heatmaps').click();
  await expect(studio.id('dataset.worst.heatmaps')).toBeDisabled();
  await expect(studio.id('dataset.worst.error')).toContainText(
    'The heatmaps could not be made: The metrics worker stopped unexpectedly',
  );
  // Not busy any more: a second try runs in a fresh worker.
  await expect(studio.id('dataset.worst.heatmaps')).toBeEnabled();
  await studio.id('dataset.worst.heatmaps').click();
  await expect(studio.id('dataset.worst.heatmap')).toBeVisible();
  await expect(studio.id('dataset.worst.error')).toHaveCount(0);

  // The stored frames cannot be read (IndexedDB refuses): the cards of another configuration say so.
  await page.evaluate(() => {
    const get = IDBObjectStore.prototype.get;
    IDBObjectStore.prototype.get = function (this: IDBObjectStore, key: IDBValidKey | IDBKeyRange) {
      if (typeof key === 'string' && key.startsWith('frames:'))
        throw new DOMException('The read was refused by the test.', 'UnknownError');
      return get.call(this, key);
    };
  });
  const select = studio.id('dataset.worst.config');
  const shown = await select.inputValue();
  const configs = await select.locator('option').allTextContents();
  await select.selectOption(configs.find((c) => c !== shown)!);
  await expect(studio.id('dataset.worst.error')).toContainText(
    'The stored frames cannot be read: The read was refused by the test.',
  );
});

test('a server that never answers for the LPIPS manifest: after 15 s LPIPS is unavailable, says why, and offers a folder', async ({
  studio,
  page,
}) => {
  // The request is accepted and never answered: the handler neither fulfils nor continues it.
  await page.route('**/models/lpips/manifest.json', () => undefined);
  await studio.open();
  await expect(studio.id('evaluate.lpips')).toContainText('Looking for LPIPS graphs…');
  await expect(studio.id('evaluate.lpips')).toContainText('the server did not answer within 15 s', {
    timeout: 40_000,
  });
  await expect(studio.id('evaluate.lpips')).toContainText('LPIPS is unavailable');
  await expect(
    studio.id('evaluate.lpips').getByRole('button', { name: 'load them from a folder' }),
  ).toBeVisible();
  await page.unrouteAll({ behavior: 'ignoreErrors' });
});
