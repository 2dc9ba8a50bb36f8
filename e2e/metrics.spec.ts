/**
 * The metrics worker in Chromium against the reference values (scikit-image, official LPIPS) in
 * ../shared/data/metrics-reference.json, for every pair there: PSNR within 1e-3 dB, SSIM and
 * LPIPS within 1e-4. Fails (never skips) when the shared data is missing.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, ROOT, test } from './studio';
import type {} from '../bench/testApi';

const SHARED = resolve(ROOT, '..', 'shared');

interface RefPair {
  a: string;
  b: string;
  size: number[];
  psnr_rgb_uint8: number;
  ssim_rgb_gauss: number;
  ssim_y_gauss: number;
  'lpips_alex_v0.1': number;
  'lpips_squeeze_v0.1': number;
}

test('PSNR, SSIM and LPIPS in the browser worker match the reference implementations', async ({
  page,
}) => {
  const ref = JSON.parse(readFileSync(resolve(SHARED, 'data/metrics-reference.json'), 'utf8')) as {
    pairs: RefPair[];
  };
  expect(ref.pairs.length).toBeGreaterThan(0);
  await page.goto('/bench.html');
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
  for (const pair of ref.pairs) {
    const a = [...readFileSync(resolve(SHARED, pair.a))];
    const b = [...readFileSync(resolve(SHARED, pair.b))];
    const got = await page.evaluate((req) => window.inbetweenTest!.scorePair(req), { a, b });
    const what = `${pair.a} vs ${pair.b}`;
    expect([got.height, got.width], what).toEqual(pair.size.slice(0, 2));
    expect(Math.abs(got.psnr - pair.psnr_rgb_uint8), what).toBeLessThan(1e-3);
    expect(Math.abs(got.ssim - pair.ssim_rgb_gauss), what).toBeLessThan(1e-4);
    expect(Math.abs(got.ssimLuma - pair.ssim_y_gauss), what).toBeLessThan(1e-4);
    expect(Math.abs(got.lpipsAlex! - pair['lpips_alex_v0.1']), what).toBeLessThan(1e-4);
    expect(Math.abs(got.lpipsSqueeze! - pair['lpips_squeeze_v0.1']), what).toBeLessThan(1e-4);
  }
});
