/**
 * The trained bundled pack (models/cel) in the browser: it is what the studio opens by default,
 * its student proposes its 4 steps, and its keyframe-referencing decoder produces an in-between
 * that is closer to the true middle frame than either keyframe is.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, ROOT, sampleKeyframes, test } from './studio';

test.describe('the trained bundled pack', () => {
  test('opens by default, labelled trained, with baseline, LoRA, fp16, int8 and student', async ({
    studio,
    page,
  }) => {
    await page.goto('/');
    await expect(studio.id('variant.select')).toBeVisible();
    await expect(studio.id('pack.untrained')).toHaveCount(0);
    await expect(studio.id('variant.select').locator('option')).toHaveCount(5);
    await studio.chooseVariant('student');
    await expect(studio.id('run.steps')).toHaveValue('4');
  });

  test('the student makes an in-between closer to the true middle than the keyframes', async ({
    studio,
    page,
  }) => {
    test.setTimeout(180_000);
    await studio.open('cel');
    await studio.chooseVariant('student');
    await studio.dropKeyframes();
    await studio.setNumber('run.count', 1);
    await studio.run();
    await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 150_000 });
    await expect(studio.id('viewer.frame')).toHaveCount(1);
    await expect(page.getByTestId('message.error')).toHaveCount(0);
    const middle = readFileSync(resolve(ROOT, 'public/samples/bounce-middle.png')).toString(
      'base64',
    );
    const [start] = sampleKeyframes();
    const d = await studio
      .id('viewer.frame')
      .first()
      .evaluate(
        async (img: HTMLImageElement, { middle, start }) => {
          const pixels = async (src: string) => {
            const el = new Image();
            el.src = src;
            await el.decode();
            const c = document.createElement('canvas');
            c.width = el.naturalWidth;
            c.height = el.naturalHeight;
            const ctx = c.getContext('2d')!;
            ctx.drawImage(el, 0, 0);
            return ctx.getImageData(0, 0, c.width, c.height).data;
          };
          const f = await pixels(img.src);
          const m = await pixels(`data:image/png;base64,${middle}`);
          const s = await pixels(`data:image/png;base64,${start}`);
          const mad = (a: Uint8ClampedArray, b: Uint8ClampedArray) => {
            let sum = 0;
            for (let i = 0; i < a.length; i++) if ((i & 3) !== 3) sum += Math.abs(a[i]! - b[i]!);
            return sum / ((a.length / 4) * 3);
          };
          return {
            frame: mad(f, m),
            start: mad(s, m),
            size: `${img.naturalWidth}×${img.naturalHeight}`,
          };
        },
        { middle, start: start.buffer.toString('base64') },
      );
    expect(d.size).toBe('512×320');
    expect(d.frame).toBeLessThan(d.start);
  });
});
