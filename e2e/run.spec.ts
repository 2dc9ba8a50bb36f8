import { expect, pasteImage, sampleKeyframes, solidPng, test } from './studio';

test.describe('running the studio end to end', () => {
  test('drop two keyframes, run, see N in-betweens at the keyframes size', async ({
    studio,
    page,
  }) => {
    const ortFiles: string[] = [];
    const lpipsGraphs: string[] = [];
    page.context().on('request', (r) => {
      const path = new URL(r.url()).pathname;
      const m = /\/ort\/([^/?]+)$/.exec(path);
      if (m) ortFiles.push(m[1]!);
      if (/\/models\/lpips\/.*\.onnx$/.test(path)) lpipsGraphs.push(path);
    });
    await studio.open();
    await expect(studio.id('pack.untrained')).toBeVisible();
    await studio.dropKeyframes();
    await expect(studio.id('keyframes.start.meta')).toContainText('512×320');
    await studio.setNumber('run.count', 4);
    await studio.setNumber('run.steps', 4);
    await studio.run();
    await studio.expectDone(4);
    await expect(studio.id('backend.name')).toHaveText(/WASM \(\d threads?\)/);
    // WASM sessions use ONNX Runtime's WASM-only build (the browser optimises it sooner than the
    // WebGPU-capable JSEP build, which is not fetched at all here).
    expect(ortFiles).toContain('ort-wasm-simd-threaded.wasm');
    expect(ortFiles.filter((f) => f.includes('jsep'))).toEqual([]);
    // Nothing was scored, so no LPIPS graph was fetched (it would compete for the cores).
    expect(lpipsGraphs).toEqual([]);
    // Each in-between is mapped back to the keyframes' size.
    const sizes = await studio.frameSizes();
    expect(sizes).toEqual(['512×320', '512×320', '512×320', '512×320']);
    await expect(studio.id('viewer.filmstrip').locator('span')).toHaveText([
      'start',
      'τ 0.20',
      'τ 0.40',
      'τ 0.60',
      'τ 0.80',
      'end',
    ]);
    await expect(studio.id('viewer.player').locator('img')).toBeVisible();
    // Latent statistics: the initial noise plus one row per step, all finite.
    await studio.id('viewer.stats').locator('summary').click();
    const rows = studio.id('viewer.stats').locator('tbody tr');
    await expect(rows).toHaveCount(5);
    await expect(rows.first().locator('td').nth(6)).toHaveText('0');
    const noiseStd = Number(await rows.first().locator('td').nth(3).textContent());
    expect(noiseStd).toBeGreaterThan(0.9);
    expect(noiseStd).toBeLessThan(1.1);
    await expect(page.getByTestId('message.error')).toHaveCount(0);
  });

  test('auto runs small keyframes natively; native size pads to a multiple of 64; too large is refused', async ({
    studio,
    page,
  }) => {
    await studio.open();
    // Auto, the default: keyframes whose own frame is no bigger than the pack's 192×128 run natively,
    // larger ones are letterboxed.
    await studio.dropKeyframes([
      solidPng('s.png', 150, 90, [200, 40, 40]),
      solidPng('t.png', 150, 90, [40, 40, 200]),
    ]);
    await expect(studio.id('keyframes.fit.auto')).toBeChecked();
    await expect(studio.id('keyframes.fit-preview')).toContainText(
      'Auto: Run at 192×128: the keyframes keep their 150×90 pixels',
    );
    await studio.dropKeyframes([
      solidPng('a.png', 200, 100, [200, 40, 40]),
      solidPng('b.png', 200, 100, [40, 40, 200]),
    ]);
    await expect(studio.id('keyframes.fit-preview')).toContainText(
      "Auto: Letterboxed into the model's 192×128 frame",
    );
    await studio.id('keyframes.fit.native').check();
    await expect(studio.id('keyframes.fit-preview')).toContainText(
      'Run at 256×128: the keyframes keep their 200×100 pixels',
    );
    await studio.setNumber('run.count', 2);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(2);
    const sizes = await studio.frameSizes();
    expect(sizes).toEqual(['200×100', '200×100']);
    await expect(page.getByTestId('message.error')).toHaveCount(0);
    // 1400×900 would be a 1408×960 model frame: the preview warns, Run refuses with a message and
    // keeps the last result on screen.
    await studio.dropKeyframes([
      solidPng('c.png', 1400, 900, [200, 40, 40]),
      solidPng('d.png', 1400, 900, [40, 40, 200]),
    ]);
    await expect(studio.id('keyframes.fit-warning')).toContainText('1408×960');
    await studio.id('run.start').click();
    await expect(studio.errors()).toContainText('Choose Letterbox or Centre-crop');
    await expect(studio.id('viewer.frame')).toHaveCount(2);
    await studio.id('keyframes.fit.letterbox').check();
    await expect(studio.id('keyframes.fit-warning')).toHaveCount(0);
  });

  test('the same seed gives the same frames; another seed differs', async ({ studio }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.count', 1);
    await studio.setNumber('run.steps', 3);
    const framePixels = async () =>
      studio
        .id('viewer.frame')
        .first()
        .evaluate(async (img: HTMLImageElement) => {
          await img.decode();
          const c = document.createElement('canvas');
          c.width = img.naturalWidth;
          c.height = img.naturalHeight;
          const ctx = c.getContext('2d')!;
          ctx.drawImage(img, 0, 0);
          const d = ctx.getImageData(0, 0, c.width, c.height).data;
          let h = 0;
          for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]!) >>> 0;
          return h;
        });
    await studio.setNumber('run.seed', 7);
    await studio.run();
    await studio.expectDone(1);
    const a = await framePixels();
    await studio.setNumber('run.seed', 8);
    await studio.run();
    await expect(studio.id('viewer.summary')).toContainText('seed 8');
    const b = await framePixels();
    await studio.setNumber('run.seed', 7);
    await studio.run();
    await expect(studio.id('viewer.summary')).toContainText('seed 7');
    const c = await framePixels();
    expect(c).toBe(a);
    expect(b).not.toBe(a);
  });

  test('cancel mid-run keeps the model loaded, and the next run works', async ({
    studio,
    page,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.startLongRun();
    const onnxRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('.onnx')) onnxRequests.push(r.url());
    });
    await studio.id('run.cancel').click();
    await expect(studio.id('run.status')).toHaveText('Cancelled.');
    await expect(studio.id('viewer.frame')).toHaveCount(0);
    await studio.setNumber('run.count', 2);
    await studio.setNumber('run.steps', 3);
    await studio.run();
    await studio.expectDone(2);
    // The status names a loading part only when the run had to load the model.
    await expect(studio.id('run.status')).toHaveText(
      /^Done: 2 in-betweens in \d+\.\d\d s \(model \d+\.\d\d s, images \d+\.\d\d s\)\.$/,
    );
    expect(onnxRequests, 'nothing downloaded again').toEqual([]);
  });

  test('switching variants runs each one (baseline, LoRA with a scale, fp16)', async ({
    studio,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.count', 2);
    for (const variant of ['baseline', 'lora', 'fp16']) {
      await studio.chooseVariant(variant);
      if (variant === 'lora') {
        await expect(studio.id('run.lora')).toBeVisible();
        await studio.id('run.lora').fill('0.5');
        await expect(studio.id('run.lora.value')).toHaveText('0.50');
      } else {
        await expect(studio.id('run.lora')).toHaveCount(0);
      }
      await studio.setNumber('run.steps', 3);
      await studio.run();
      await expect(studio.id('viewer.summary')).toContainText(`${variant} · 3 steps`);
      await studio.expectDone(2);
      if (variant === 'lora') await expect(studio.id('viewer.summary')).toContainText('LoRA 0.50');
    }
  });

  test('a reload starts from the IndexedDB cache without downloading', async ({ studio, page }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    await studio.id('cache.panel').locator('summary').click();
    // The pack's three graphs (the LPIPS graphs, if found, have a row of their own).
    const packRow = studio.id('cache.row').filter({ hasText: 'Tiny random pack' });
    await expect(packRow).toHaveCount(1);
    await expect(packRow.locator('td').nth(1)).toHaveText('3');

    const onnxRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('.onnx')) onnxRequests.push(r.url());
    });
    await page.reload();
    await expect(studio.id('variant.select')).toBeVisible();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    expect(onnxRequests).toEqual([]);

    // Clearing the cache makes the next load download again.
    await studio.id('cache.panel').locator('summary').click();
    await studio.id('cache.clear').click();
    await expect(studio.id('cache.row')).toHaveCount(0);
  });

  test('pasting an image fills the first empty slot', async ({ studio, page }) => {
    await studio.open();
    const [start] = sampleKeyframes();
    await pasteImage(page, { ...start, name: 'pasted.png' });
    await expect(studio.id('keyframes.start.meta')).toContainText('pasted.png · 512×320');
    await expect(studio.id('keyframes.end.meta')).toHaveCount(0);
  });

  test('the sample pair button loads the bundled keyframes', async ({ studio }) => {
    await studio.open();
    await studio.id('keyframes.sample').click();
    await expect(studio.id('keyframes.start.meta')).toContainText('bounce-start.png · 512×320');
    await expect(studio.id('keyframes.end.meta')).toContainText('bounce-end.png');
    await expect(studio.id('keyframes.fit-preview')).toBeVisible();
  });
});

test('a number field keeps what is typed: emptied, it does not jump to its minimum', async ({
  studio,
}) => {
  await studio.open();
  const steps = studio.id('run.steps');
  await steps.fill('8');
  await steps.press('Backspace');
  await expect(steps).toHaveValue('');
  await steps.pressSequentially('4');
  await expect(steps).toHaveValue('4');
  // Past the maximum (200): clamped when the field is left.
  await steps.fill('900');
  await steps.blur();
  await expect(steps).toHaveValue('200');
  await steps.fill('');
  await steps.blur();
  await expect(steps).toHaveValue('200');
  await studio.dropKeyframes();
  await studio.setNumber('run.count', 1);
  await steps.fill('3');
  await studio.run();
  await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 60_000 });
  await expect(studio.id('viewer.summary')).toContainText('3 steps');
});
