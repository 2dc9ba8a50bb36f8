/**
 * The sampler reference packs (models/reference: SVD/Framer-shaped EDM, flow matching, LCM, Wan 2.1
 * first-last-frame with a temporally compressed latent and Wan's UniPC, LTX-Video keyframes by latent
 * replacement) in the
 * studio: each loaded from its folder as a researcher picks an export, run through the real worker
 * on WASM with its own sampler, and held to the frames the independent numpy samplers made around
 * the same graphs (parity/frame_k.png, written by models/training/reference_packs.py).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, parityKeyframes, ROOT, test, worstDiffToParityFrames } from './studio';

interface ExpectedRun {
  sampler: string;
  steps: number;
  seed: number;
  controls: Record<string, number>;
}

// count: every in-between of the pack's clip, so the frames shown are parity/frame_1… in order.
// choose: how many samplers the Run panel offers (0: the family has one, shown fixed).
const packs = [
  { id: 'svd-tiny', sampler: 'Euler (Karras σ)', choose: 3, count: 4 },
  { id: 'flow-tiny', sampler: 'Flow matching (Euler)', choose: 3, count: 4 },
  { id: 'lcm-tiny', sampler: 'LCM', choose: 0, count: 4 },
  // Wan 2.1 shape: 9 frames from 3 latent frames (a causal video VAE's 4× temporal compression),
  // sampled with Wan's default solver, UniPC.
  { id: 'wan-tiny', sampler: 'Flow matching (UniPC, Wan)', choose: 3, count: 7 },
  // LTX-Video shape: 9 frames from 2 latent frames, the keyframes’ latents kept in the sample;
  // UniPC is not offered on its linear-quadratic grid.
  { id: 'ltx-tiny', sampler: 'Flow matching (Euler)', choose: 2, count: 7 },
] as const;

for (const pack of packs) {
  test(`${pack.id} runs with its own sampler and matches the reference frames`, async ({
    studio,
  }) => {
    const dir = resolve(ROOT, 'models/reference', pack.id);
    const run = (
      JSON.parse(readFileSync(resolve(dir, 'parity/expected.json'), 'utf8')) as {
        runs: ExpectedRun[];
      }
    ).runs[0]!;
    await studio.open();
    await studio.id('pack.folder').setInputFiles(dir);
    await expect(studio.id('pack.select').locator('option:checked')).toContainText('local folder');
    await studio.dropKeyframes(parityKeyframes(dir));
    if (pack.choose) {
      await expect(studio.id('run.sampler').locator('option:checked')).toContainText(pack.sampler);
      await expect(studio.id('run.sampler').locator('option')).toHaveCount(pack.choose);
    } else {
      await expect(studio.id('run.sampler.fixed')).toHaveText(pack.sampler);
    }
    await studio.id('run.backend').selectOption('wasm');
    await studio.setNumber('run.count', pack.count);
    if (pack.id === 'wan-tiny')
      await expect(studio.id('run.positions')).toContainText(
        'The model works on 3 latent frames: its VAE compresses time 4×.',
      );
    await studio.setNumber('run.steps', run.steps);
    await studio.setNumber('run.seed', run.seed);
    if (run.controls['guidance'] !== undefined)
      await expect(studio.id('run.guidance.value')).toHaveText(run.controls['guidance'].toFixed(1));
    await studio.run();
    await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 60_000 });
    await expect(studio.id('viewer.frame')).toHaveCount(pack.count);
    if (pack.choose) await expect(studio.id('viewer.summary')).toContainText(`of ${pack.sampler}`);
    const worst = worstDiffToParityFrames(await studio.shownFrames(), dir);
    console.log(`${pack.id} (Chromium WASM): worst pixel difference ${worst} levels`);
    expect(worst).toBeLessThanOrEqual(2);
  });
}

test('an EDM pack runs DPM-Solver++(2M) when a researcher picks it', async ({ studio }) => {
  const dir = resolve(ROOT, 'models/reference/svd-tiny');
  await studio.open();
  await studio.id('pack.folder').setInputFiles(dir);
  await studio.dropKeyframes(parityKeyframes(dir));
  await studio.id('run.sampler').selectOption('dpmpp_2m');
  await expect(studio.id('run.scalar.fps')).toHaveValue('7');
  await studio.setNumber('run.count', 2);
  await studio.setNumber('run.steps', 3);
  await studio.run();
  await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 60_000 });
  await expect(studio.id('viewer.summary')).toContainText('of DPM-Solver++(2M) Karras');
});

test("a Wan pack runs Wan's DPM-Solver++(2M) when a researcher picks it", async ({ studio }) => {
  const dir = resolve(ROOT, 'models/reference/wan-tiny');
  const run = (
    JSON.parse(readFileSync(resolve(dir, 'parity/expected.json'), 'utf8')) as {
      runs: ExpectedRun[];
    }
  ).runs.find((r) => r.sampler === 'flow_dpmpp_2m')!;
  await studio.open();
  await studio.id('pack.folder').setInputFiles(dir);
  await studio.dropKeyframes(parityKeyframes(dir));
  await studio.id('run.sampler').selectOption('flow_dpmpp_2m');
  await studio.id('run.backend').selectOption('wasm');
  await studio.setNumber('run.count', 7);
  await studio.setNumber('run.steps', run.steps);
  await studio.setNumber('run.seed', run.seed);
  await studio.run();
  await expect(studio.id('run.status')).toHaveText(/^Done:/, { timeout: 60_000 });
  await expect(studio.id('viewer.summary')).toContainText(
    'of Flow matching (DPM-Solver++(2M), Wan)',
  );
});
