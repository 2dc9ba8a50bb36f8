import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, ROOT, test, type FilePayload } from './studio';

const PACK_DIR = process.env.TEST_PACK ?? 'models/tiny';
const TINY = resolve(ROOT, PACK_DIR);

function packFolder(folder: string, manifestOverride?: object): FilePayload[] {
  const manifest = JSON.parse(readFileSync(resolve(TINY, 'manifest.json'), 'utf8'));
  const files = new Set<string>([manifest.graphs.encoder.file, manifest.graphs.decoder.file]);
  for (const d of Object.values<{ file: string }>(manifest.graphs.denoisers)) files.add(d.file);
  return [
    {
      name: `${folder}/manifest.json`,
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(manifestOverride ?? manifest)),
    },
    ...[...files].map((f) => ({
      name: `${folder}/${f}`,
      mimeType: 'application/octet-stream',
      buffer: readFileSync(resolve(TINY, f)),
    })),
  ];
}

test.describe('loading packs', () => {
  test('a pack from a URL downloads, loads and runs', async ({ studio, page, baseURL }) => {
    await studio.open();
    await studio
      .id('pack.url')
      .evaluate((el) => ((el.closest('details') as HTMLDetailsElement).open = true));
    await studio
      .id('pack.url')
      .fill(`${baseURL}/${PACK_DIR.replace(/^models\//, 'models/')}/manifest.json`);
    const downloads: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('.onnx')) downloads.push(r.url());
    });
    await studio.id('pack.url-load').click();
    await expect(studio.id('pack.select').locator('option:checked')).toContainText('127.0.0.1');
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    expect(downloads.length).toBeGreaterThanOrEqual(3);
  });

  test('a local pack folder (picked with the folder input) loads and runs', async ({ studio }) => {
    await studio.open();
    // Playwright hands the files over as a directory upload; the folder holding manifest.json is the root.
    await studio
      .id('pack.files')
      .setInputFiles(packFolder('mypack').map((f) => ({ ...f, name: f.name.split('/').pop()! })));
    await expect(studio.id('pack.select').locator('option:checked')).toContainText('local folder');
    await studio.dropKeyframes();
    await studio.setNumber('run.count', 2);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(2);
  });

  test('a graph whose inputs do not match the manifest is refused at load', async ({ studio }) => {
    await studio.open();
    const manifest = JSON.parse(readFileSync(resolve(TINY, 'manifest.json'), 'utf8'));
    // Point the baseline denoiser at the decoder graph (right size and hash, wrong signature).
    manifest.id = 'tiny-wrong-graph';
    manifest.graphs.denoisers.fp32 = {
      ...manifest.graphs.denoisers.fp32,
      file: manifest.graphs.decoder.file,
      sizeBytes: manifest.graphs.decoder.sizeBytes,
      sha256: manifest.graphs.decoder.sha256,
    };
    await studio
      .id('pack.files')
      .setInputFiles(
        packFolder('wrong', manifest).map((f) => ({ ...f, name: f.name.split('/').pop()! })),
      );
    await expect(studio.id('variant.select')).toBeVisible();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await expect(studio.errors()).toContainText('does not match the manifest');
    await expect(studio.errors()).toContainText('input "sample" (sample) is missing');
  });
});
