import { describe, expect, it } from 'vitest';
import { efficiencyCsv, efficiencyMarkdown } from './efficiencyActions';
import type { EfficiencyRow } from './efficiencySlice';

const row: EfficiencyRow = {
  variantId: 'baseline',
  precision: 'fp32',
  backend: 'wasm',
  denoiserBytes: 2e6,
  totalBytes: 5e6,
  sessionMs: 12.5,
  stepMs: 3.25,
  decodeMs: 8,
  inbetweenMs: 140,
  steps: 25,
  size: [512, 320],
  wasmHeapBytes: 7.2e7,
  gpuPeakBytes: null,
};

describe('the efficiency table exports', () => {
  it('label the time per in-between for position packs', () => {
    const [header, line] = efficiencyCsv([row]).trim().split('\n');
    expect(header!.split(',')[9]).toBe('ms / in-between');
    expect(line!.split(',')[9]).toBe('140.0');
    expect(efficiencyMarkdown([row], 'here')).toContain(
      "ms / in-between is one in-between's denoiser steps and decode",
    );
  });

  it('label it per clip for clip packs, with the in-betweens a clip holds', () => {
    const [header] = efficiencyCsv([row], 16).split('\n');
    expect(header!.split(',')[9]).toBe('ms / clip (14 in-betweens)');
    const md = efficiencyMarkdown([row], 'here', 16);
    expect(md).toContain('| ms / clip (14 in-betweens) |');
    expect(md).toContain("ms / clip is one 16-frame clip's denoiser steps and decode");
    expect(md).not.toContain('ms / in-between');
  });
});
