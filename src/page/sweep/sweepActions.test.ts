import { describe, expect, it } from 'vitest';
import { parseNumberList, planSweep, sweepCsv } from './sweepActions';

const variants = [
  { id: 'baseline' },
  { id: 'lora', loraScale: { min: 0, max: 1 } },
  { id: 'fp16' },
];

describe('planSweep', () => {
  it('expands LoRA scales only for variants that have one, within their range, for each step count', () => {
    const plan = planSweep(variants, {
      variants: ['baseline', 'lora'],
      scales: [0, 0.5, 2],
      steps: [4, 8],
    });
    // Grouped by variant, so each variant's graphs load once.
    expect(plan.map((p) => p.key)).toEqual([
      'baseline||4|',
      'baseline||8|',
      'lora|0|4|',
      'lora|0.5|4|',
      'lora|0|8|',
      'lora|0.5|8|',
    ]);
  });
  it('runs every guidance scale of a pack with guidance, for each variant and step count', () => {
    const plan = planSweep(variants, {
      variants: ['baseline', 'lora'],
      scales: [0.5],
      steps: [4],
      guidance: [1, 4, 7.5],
    });
    expect(plan.map((p) => [p.variantId, p.loraScale, p.guidanceScale])).toEqual([
      ['baseline', null, 1],
      ['baseline', null, 4],
      ['baseline', null, 7.5],
      ['lora', 0.5, 1],
      ['lora', 0.5, 4],
      ['lora', 0.5, 7.5],
    ]);
  });
  it('is empty when no variant is chosen', () => {
    expect(planSweep(variants, { variants: [], scales: [0], steps: [4] })).toEqual([]);
  });
});

describe('parseNumberList', () => {
  it('reads commas and spaces', () => {
    expect(parseNumberList('0, 0.15 0.5,1', 'scales')).toEqual([0, 0.15, 0.5, 1]);
  });
  it('refuses anything else', () => {
    expect(() => parseNumberList('0, abc', 'LoRA scales')).toThrow(
      /LoRA scales: "0, abc" is not a list of numbers/,
    );
    expect(() => parseNumberList('', 'Steps')).toThrow(/Steps/);
  });
});

describe('sweepCsv', () => {
  it('writes one line per row, infinite PSNR as inf', () => {
    const csv = sweepCsv(
      [
        {
          key: 'a',
          variantId: 'lora',
          loraScale: 0.5,
          steps: 4,
          guidanceScale: 7.5,
          frames: [],
          psnr: Infinity,
          ssim: 1,
          lpipsAlex: 0,
          scoredTau: 7 / 15,
          finalStd: 0.8,
        },
        {
          key: 'b',
          variantId: 'baseline',
          loraScale: null,
          steps: 4,
          guidanceScale: null,
          frames: [],
          psnr: null,
          ssim: null,
          lpipsAlex: null,
          scoredTau: null,
          finalStd: 0.7,
        },
      ],
      42,
    ).split('\n');
    expect(csv[0]).toContain('variant,lora_scale,guidance_scale,steps');
    expect(csv[0]).toMatch(/,scored_tau$/);
    expect(csv[1]).toBe(`lora,0.5,7.5,4,42,0,0.8,inf,1,0,${7 / 15}`);
    expect(csv[2]).toBe('baseline,,,4,42,0,0.7,,,,');
  });
});
