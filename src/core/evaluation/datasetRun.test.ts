/**
 * A dataset evaluation's plan and per-item values, on the tiny test pack's manifest: repeated
 * values make one configuration each, LoRA scales with no LoRA variant are refused, and an exact
 * frame among a sequence item's frames does not make the whole item exact.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest, type PackManifest } from '../manifest';
import { itemMetrics, planDatasetRun } from './datasetRun';

const REPO = resolve(import.meta.dirname, '..', '..', '..');

function tinyManifest(): PackManifest {
  const r = parseManifest(readFileSync(join(REPO, 'models', 'tiny', 'manifest.json'), 'utf8'));
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.manifest;
}

describe('planDatasetRun', () => {
  const manifest = tinyManifest();

  it('makes one configuration of a value given twice, in the order first given', () => {
    const configs = planDatasetRun(manifest, {
      variants: ['lora', 'baseline', 'lora'],
      loraScales: [0.5, 0.5, 1],
      steps: [2, 2],
      seeds: [3, 1, 3],
    });
    expect(configs.map((c) => c.id)).toEqual([
      'variant=lora;lora=0.5;steps=2;seed=3',
      'variant=lora;lora=0.5;steps=2;seed=1',
      'variant=lora;lora=1;steps=2;seed=3',
      'variant=lora;lora=1;steps=2;seed=1',
      'variant=baseline;steps=2;seed=3',
      'variant=baseline;steps=2;seed=1',
    ]);
  });

  it('refuses LoRA scales when no variant of the plan has a LoRA, as it refuses guidance', () => {
    expect(() =>
      planDatasetRun(manifest, { variants: ['baseline', 'fp16'], loraScales: [0.5] }),
    ).toThrow(
      'LoRA scales were given, but none of the variants evaluated (baseline, fp16) has a LoRA',
    );
    expect(() => planDatasetRun(manifest, { variants: ['baseline'], guidance: [3] })).toThrow(
      /has no classifier-free guidance/,
    );
    // A LoRA variant among them takes the scales; an unknown variant is named first.
    expect(
      planDatasetRun(manifest, { variants: ['baseline', 'lora'], loraScales: [1] }).map(
        (c) => c.loraScale,
      ),
    ).toEqual([null, 1]);
    expect(() => planDatasetRun(manifest, { variants: ['nope'], loraScales: [1] })).toThrow(
      /has no variant "nope"/,
    );
  });
});

describe('itemMetrics', () => {
  const frames = (psnrs: number[]) =>
    psnrs.map((psnr, i) => ({ tau: (i + 1) / 4, metrics: { psnr, ssim: 0.9 } }));

  it("averages a sequence item's finite frames and counts the exact ones", () => {
    expect(itemMetrics(frames([30, Infinity, 32]), ['psnr', 'ssim'])).toEqual({
      metrics: { psnr: 31, ssim: 0.9 },
      exactFrames: { psnr: 1 },
    });
  });

  it('keeps ∞ for an item whose frames are all exact, and null for a metric a frame lacks', () => {
    expect(itemMetrics(frames([Infinity, Infinity]), ['psnr'])).toEqual({
      metrics: { psnr: Infinity },
      exactFrames: {},
    });
    const lacking = [{ tau: 0.5, metrics: { psnr: 30, lpipsAlex: null } }];
    expect(itemMetrics(lacking, ['psnr', 'lpipsAlex']).metrics).toEqual({
      psnr: 30,
      lpipsAlex: null,
    });
  });
});
