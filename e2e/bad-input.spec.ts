import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, ROOT, sampleKeyframes, solidPng, test, type FilePayload } from './studio';

const TINY = resolve(ROOT, process.env.TEST_PACK ?? 'models/tiny');

function packFiles(overrides: Record<string, Buffer | string> = {}): FilePayload[] {
  const manifest = JSON.parse(readFileSync(resolve(TINY, 'manifest.json'), 'utf8'));
  const names = [
    'manifest.json',
    manifest.graphs.encoder.file,
    manifest.graphs.decoder.file,
    ...Object.values<{ file: string }>(manifest.graphs.denoisers).map((d) => d.file),
  ];
  return names.map((name) => {
    const o = overrides[name];
    const buffer =
      o === undefined ? readFileSync(resolve(TINY, name)) : Buffer.isBuffer(o) ? o : Buffer.from(o);
    return {
      name,
      mimeType: name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      buffer,
    };
  });
}

test.describe('bad input gets a clear message and loses nothing', () => {
  test('a non-image file is refused and the keyframe already there stays', async ({ studio }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.dropFiles(studio.id('keyframes.end'), [
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') },
    ]);
    await expect(studio.errors()).toContainText('"notes.txt" is not an image');
    await expect(studio.id('keyframes.end.meta')).toContainText('bounce-end.png');
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
  });

  test('a corrupt PNG is refused with a message', async ({ studio }) => {
    await studio.open();
    const good = sampleKeyframes()[0];
    const corrupt = {
      name: 'broken.png',
      mimeType: 'image/png',
      buffer: good.buffer.subarray(0, 200),
    };
    await studio.dropFiles(studio.id('keyframes.start'), [corrupt]);
    await expect(studio.errors()).toContainText(
      '"broken.png" starts like a PNG image but could not be decoded',
    );
    await expect(studio.id('keyframes.start.meta')).toHaveCount(0);
    await studio.dropKeyframes();
    await expect(studio.errors()).toHaveCount(0);
  });

  test('keyframes of different sizes are refused until fixed', async ({ studio }) => {
    await studio.open();
    await studio.dropFiles(studio.id('keyframes.start'), [
      solidPng('a.png', 320, 200, [200, 40, 40]),
    ]);
    await studio.dropFiles(studio.id('keyframes.end'), [
      solidPng('b.png', 300, 300, [40, 40, 200]),
    ]);
    await expect(studio.errors()).toContainText(
      'different sizes: start is 320×200, end is 300×300',
    );
    await studio.dropFiles(studio.id('keyframes.end'), [
      solidPng('c.png', 320, 200, [40, 40, 200]),
    ]);
    await expect(studio.errors()).toHaveCount(0);
    await studio.setNumber('run.count', 1);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(1);
  });

  test('a malformed manifest lists its problems by field; the bundled pack still works', async ({
    studio,
  }) => {
    await studio.open();
    const manifest = JSON.parse(readFileSync(resolve(TINY, 'manifest.json'), 'utf8'));
    manifest.graphs.encoder.file = '../../secret.onnx';
    manifest.variants[0].steps = 4;
    await studio
      .id('pack.files')
      .setInputFiles(packFiles({ 'manifest.json': JSON.stringify(manifest) }));
    await expect(studio.id('pack.errors')).toContainText(
      'graphs.encoder.file: must not contain ".."',
    );
    await expect(studio.id('pack.errors')).toContainText('variants[0]: unknown field "steps"');
    await expect(studio.id('run.start')).toBeDisabled();
    // Going back to the bundled pack leaves the page usable.
    await studio.id('pack.select').selectOption({ index: 0 });
    await expect(studio.id('variant.select')).toBeVisible();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
  });

  test('a manifest that is not JSON says so', async ({ studio }) => {
    await studio.open();
    await studio
      .id('pack.files')
      .setInputFiles(packFiles({ 'manifest.json': '{ "format": "inbetween-pack", ' }));
    await expect(studio.id('pack.errors')).toContainText('manifest.json is not valid JSON');
  });

  test('a truncated ONNX file is caught before it runs; the page stays usable', async ({
    studio,
  }) => {
    await studio.open();
    const manifest = JSON.parse(readFileSync(resolve(TINY, 'manifest.json'), 'utf8'));
    const denoiser = manifest.graphs.denoisers.fp32.file as string;
    const truncated = readFileSync(resolve(TINY, denoiser)).subarray(0, 1000);
    await studio.id('pack.files').setInputFiles(packFiles({ [denoiser]: truncated }));
    await expect(studio.id('variant.select')).toBeVisible();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await expect(studio.errors()).toContainText(`${denoiser} is 1000 bytes but the manifest says`);
    await expect(studio.id('run.status')).toContainText('The run failed');
    await studio.id('pack.select').selectOption({ index: 0 });
    await studio.run();
    await studio.expectDone(3);
  });

  test('a corrupt ONNX file whose manifest matches it gives a load error, not a hang', async ({
    studio,
  }) => {
    await studio.open();
    const manifest = JSON.parse(readFileSync(resolve(TINY, 'manifest.json'), 'utf8'));
    const garbage = Buffer.alloc(4096, 7);
    const { createHash } = await import('node:crypto');
    manifest.graphs.denoisers.fp32.sizeBytes = garbage.byteLength;
    manifest.graphs.denoisers.fp32.sha256 = createHash('sha256').update(garbage).digest('hex');
    manifest.id = 'tiny-corrupt';
    await studio.id('pack.files').setInputFiles(
      packFiles({
        'manifest.json': JSON.stringify(manifest),
        [manifest.graphs.denoisers.fp32.file]: garbage,
      }),
    );
    await expect(studio.id('variant.select')).toBeVisible();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await expect(studio.errors()).toContainText('is not a valid ONNX model');
  });
});

test('a crashed worker gives a message, and the next run starts a fresh one', async ({
  studio,
  page,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.startLongRun();
  const worker = page.workers().find((w) => w.url().includes('inference.worker'));
  expect(worker, 'the inference worker').toBeTruthy();
  // An uncaught error inside the worker, as a runtime abort would raise.
  await worker!.evaluate(() => {
    setTimeout(() => {
      throw new Error('simulated crash');
    });
  });
  await expect(studio.errors()).toContainText('The inference worker stopped unexpectedly');
  await expect(studio.id('run.status')).toContainText('The run failed');
  await studio.setNumber('run.count', 2);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await studio.expectDone(2);
});
