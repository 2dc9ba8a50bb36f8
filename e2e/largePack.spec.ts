/**
 * Packs of real size in the browser (issue 23), with the synthetic pack of
 * models/training/synthetic_large_pack.py: flow-tiny's student plus weight tables in external-data
 * files. Downloaded from a URL, each file streams into the IndexedDB cache in 16 MiB chunks as it
 * arrives and is verified on the way; the run's frames are flow-tiny's reference frames (the
 * tables add only below float32 precision), and a reload runs from the cache without a download.
 * A pack that declares 5 GB of weights is refused for WASM before anything downloads.
 */
import { resolve } from 'node:path';
import { buildSyntheticPack } from '../src/testing/syntheticPack';
import { startPackServer, type TestServer } from './servers';
import { cacheKeys, expect, parityKeyframes, ROOT, test, worstDiffToParityFrames } from './studio';

const FLOW = resolve(ROOT, 'models/reference/flow-tiny');
const keyframes = () => parityKeyframes(FLOW);

let cleanups: (() => void | Promise<void>)[] = [];
test.afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

test('external data streams into the cache, runs, and runs again from the cache', async ({
  studio,
  page,
}) => {
  // Building the pack, then two runs that may each take up to 90 s on a loaded machine.
  test.setTimeout(240_000);
  const pack = buildSyntheticPack({ bytes: 40e6, files: 2 });
  const server: TestServer = await startPackServer({ dir: pack.dir });
  cleanups.push(pack.cleanup, () => server.close());
  await studio.open();
  await studio.dropKeyframes(keyframes());
  await studio.loadPackUrl(server.url);
  await expect(studio.id('variant.select')).toBeVisible();
  await studio.id('run.backend').selectOption('wasm');
  await studio.setNumber('run.count', 4);
  await studio.setNumber('run.steps', 8);
  await studio.setNumber('run.seed', 11);
  await studio.run();
  await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 90_000 });
  const shown = await studio.shownFrames();
  expect(shown).toHaveLength(4);
  const worst = worstDiffToParityFrames(shown, FLOW);
  expect(worst).toBeLessThanOrEqual(2);

  // Each 20 MB weight file sits in the cache as two chunks (16 MiB and the rest) under its meta.
  const stored = (await cacheKeys(page)).filter((k) => k.includes(':flow-big:'));
  const chunks = stored.filter((k) => k.startsWith('chunk:'));
  const metas = stored.filter((k) => k.startsWith('file:'));
  // vae_encoder.onnx, decoder.onnx, student.onnx (a chunk each) and the two weight files (two each).
  expect(metas).toHaveLength(5);
  expect(chunks).toHaveLength(7);

  const binRequests = server.requests.length;
  await page.reload();
  await studio.dropKeyframes(keyframes());
  const cached = studio.id('pack.select').locator('option', { hasText: 'synthetic weights' });
  await studio.id('pack.select').selectOption((await cached.getAttribute('value'))!);
  await expect(studio.id('variant.select')).toBeVisible();
  await studio.id('run.backend').selectOption('wasm');
  await studio.setNumber('run.count', 2);
  await studio.setNumber('run.steps', 2);
  await studio.run();
  await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 90_000 });
  expect(server.requests.slice(binRequests).filter((r) => r.endsWith('.bin'))).toEqual([]);
});

test('a pack too big for WASM is refused with the reason before any download', async ({
  studio,
}) => {
  const pack = buildSyntheticPack({ bytes: 5e9, files: 2, declareOnly: true });
  const server: TestServer = await startPackServer({ dir: pack.dir });
  cleanups.push(pack.cleanup, () => server.close());
  await studio.open();
  await studio.dropKeyframes(keyframes());
  await studio.loadPackUrl(server.url);
  await expect(studio.id('variant.select')).toBeVisible();
  await studio.id('run.backend').selectOption('wasm');
  await studio.run();
  await expect(studio.id('message.error').filter({ hasText: '4 GiB' })).toContainText(
    'This variant needs 4.7 GB of weights on the CPU backend — more than the 4 GiB WebAssembly can address',
  );
  expect(server.requests.filter((r) => r.endsWith('.bin') || r.endsWith('.onnx'))).toEqual([]);
});
