/**
 * The tiny ToonCrafter-architecture pack (format 2, clip mode; `npm run pack:tooncrafter`) in the
 * studio: loaded from a folder, run through the real worker on WASM, held to ToonCrafter's own
 * sampler's frames, and driven with the guidance and LoRA sliders and a guidance sweep.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PNG } from 'pngjs';
import { clipFrame } from '../src/core/clip';
import { tensorToRgba } from '../src/core/image';
import { readNpyFloat32, readNpz } from '../src/core/npy';
import { expect, ROOT, test, type FilePayload } from './studio';

const PACK = process.env.TOONCRAFTER_PACK ?? resolve(ROOT, 'models/tooncrafter-tiny');
const built = existsSync(resolve(PACK, 'parity', 'settings.json'));
if (process.env.CI && !built) {
  throw new Error(`${PACK} is not built: CI runs npm run pack:tooncrafter first`);
}

function parityKeyframes(): [FilePayload, FilePayload] {
  return (['start', 'end'] as const).map((k) => ({
    name: `${k}.png`,
    mimeType: 'image/png',
    buffer: readFileSync(resolve(PACK, 'parity', `${k}.png`)),
  })) as [FilePayload, FilePayload];
}

test.describe('the tiny ToonCrafter pack', () => {
  test.skip(!built, 'models/tooncrafter-tiny is not built (npm run pack:tooncrafter)');
  test.describe.configure({ timeout: 240_000 });

  test.beforeEach(async ({ studio }) => {
    await studio.open();
    // A pack folder, as a person picks it (with its constants/ sub-folder).
    await studio.id('pack.folder').setInputFiles(PACK);
    await expect(studio.id('pack.select').locator('option:checked')).toContainText('local folder');
    await expect(studio.id('run.guidance')).toBeVisible();
    await studio.dropKeyframes(parityKeyframes());
  });

  test("runs the clip in the worker and matches ToonCrafter's own sampler", async ({ studio }) => {
    const settings = JSON.parse(readFileSync(resolve(PACK, 'parity', 'settings.json'), 'utf8'));
    await studio.id('run.backend').selectOption('wasm');
    await studio.setNumber('run.count', 14);
    await studio.setNumber('run.steps', settings.steps);
    await studio.setNumber('run.seed', settings.seed);
    await expect(studio.id('run.guidance.value')).toHaveText('7.5');
    await expect(studio.id('run.scalar.fs')).toHaveValue('24');
    await expect(studio.id('run.positions')).toContainText('of the 16-frame clip');
    await studio.run();
    await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 180_000 });
    await expect(studio.id('viewer.frame')).toHaveCount(14);
    await expect(studio.id('run.clip-picked')).toContainText(
      'frames 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 of the 16-frame clip',
    );
    await expect(studio.id('viewer.summary')).toContainText('guidance 7.5');

    // The pack's η is 1: compare with ToonCrafter's η = 1 run, frame by frame.
    const ref = readNpz(readFileSync(resolve(PACK, 'parity', 'eta1.npz')), 'eta1.npz');
    const frames = readNpyFloat32(ref['frames']!, 'frames');
    const [, , , H, W] = frames.dims as [number, number, number, number, number];
    const shown = await studio.shownFrames();
    let worst = 0;
    for (let i = 0; i < shown.length; i++) {
      const got = shown[i]!;
      const want = tensorToRgba(clipFrame(frames.data, frames.dims, i + 1), W, H, [-1, 1]);
      for (let p = 0; p < want.data.length; p++) {
        if ((p & 3) !== 3) worst = Math.max(worst, Math.abs(got.data[p]! - want.data[p]!));
      }
    }
    console.log(`tooncrafter parity (Chromium WASM): worst pixel difference ${worst} levels`);
    expect(worst).toBeLessThanOrEqual(2);
  });

  test('a typed prompt is encoded in the browser and runs as the same precomputed prompt', async ({
    studio,
  }) => {
    await studio.setNumber('run.count', 3);
    await studio.setNumber('run.steps', 2);
    const framesShown = () =>
      studio
        .id('viewer.frame')
        .evaluateAll(async (imgs) =>
          Promise.all(
            (imgs as HTMLImageElement[]).map(async (img) => [
              ...new Uint8Array(await (await fetch(img.src)).arrayBuffer()),
            ]),
          ),
        );
    await studio.id('run.prompt').selectOption('ball');
    await studio.run();
    await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 180_000 });
    const chosen = await framesShown();

    await studio.id('run.prompt-text').fill('a bouncing ball');
    await expect(studio.id('run.prompt')).toBeDisabled();
    await studio.run();
    await expect(studio.id('viewer.summary')).toContainText('prompt “a bouncing ball”', {
      timeout: 180_000,
    });
    await expect(studio.id('run.clip-picked')).toContainText('prompt “a bouncing ball”');
    const typed = await framesShown();
    expect(typed).toHaveLength(3);
    let worst = 0;
    for (let i = 0; i < typed.length; i++) {
      const a = PNG.sync.read(Buffer.from(typed[i]!)).data;
      const b = PNG.sync.read(Buffer.from(chosen[i]!)).data;
      for (let p = 0; p < a.length; p++) worst = Math.max(worst, Math.abs(a[p]! - b[p]!));
    }
    expect(worst).toBeLessThanOrEqual(1);

    // Another text gives other frames.
    await studio.id('run.prompt-text').fill('a cartoon character walking');
    await studio.run();
    await expect(studio.id('viewer.summary')).toContainText(
      'prompt “a cartoon character walking”',
      {
        timeout: 180_000,
      },
    );
    const other = await framesShown();
    expect(other.map((f) => f.join())).not.toEqual(typed.map((f) => f.join()));
    await expect(studio.errors()).toHaveCount(0);
  });

  test('the guidance and LoRA sliders re-run live; a guidance sweep; the plot shows every run', async ({
    studio,
  }) => {
    // Three in-betweens at τ = ¼, ½, ¾: the 16-frame clip has frames at k/15, so the nearest are shown.
    await studio.setNumber('run.count', 3);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 180_000 });
    await expect(studio.id('viewer.frame')).toHaveCount(3);
    await expect(studio.id('run.clip-picked')).toContainText(
      'frames 5, 8, 12 of the 16-frame clip (τ 0.27, 0.47, 0.73), the nearest to the positions asked',
    );
    // Retrying assertions: recharts draws its lines a frame or two after the run's status says Done.
    const lines = studio.id('plot.chart').locator('.recharts-line');
    await expect(lines).toHaveCount(1);

    await studio.id('run.guidance').fill('3');
    await expect(studio.id('viewer.summary')).toContainText('guidance 3.0', { timeout: 120_000 });
    await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 120_000 });
    await expect(lines).toHaveCount(2);

    await studio.chooseVariant('lora');
    await expect(studio.id('run.lora')).toBeVisible();
    await studio.run();
    await expect(studio.id('viewer.summary')).toContainText('LoRA', { timeout: 120_000 });
    await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 120_000 });
    await studio.id('run.lora').fill('0.5');
    await expect(studio.id('viewer.summary')).toContainText('LoRA 0.50', { timeout: 120_000 });
    await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 120_000 });
    await expect(lines).toHaveCount(4);

    await studio.id('sweep.panel').locator('summary').click();
    await studio.id('sweep.variant.lora').uncheck();
    await studio.id('sweep.variant.fp16').uncheck();
    await studio.id('sweep.guidance').fill('1, 4, 7.5');
    await studio.id('sweep.start').click();
    await expect(studio.id('sweep.status')).toHaveText(/^Done: 3 runs/, { timeout: 180_000 });
    await expect(studio.id('sweep.row')).toHaveCount(3);
    await expect(studio.id('sweep.row').nth(0)).toContainText('cfg 1');
    await expect(studio.id('sweep.row').nth(2)).toContainText('cfg 7.5');
    await expect(studio.id('sweep.cell')).toHaveCount(9);
    await expect(studio.errors()).toHaveCount(0);
  });
});
