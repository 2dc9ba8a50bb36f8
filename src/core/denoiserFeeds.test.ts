import { describe, expect, it } from 'vitest';
import type { DenoiserSpec } from './manifest';
import { denoiserFeeds } from './pipeline';

const spec = (extra: Partial<DenoiserSpec['inputs']> = {}): DenoiserSpec =>
  ({
    file: 'denoiser.onnx',
    sizeBytes: 1,
    sha256: '0'.repeat(64),
    inputs: {
      sample: 'x',
      timestep: 't',
      startLatent: 's',
      endLatent: 'e',
      position: 'tau',
      ...extra,
    },
    outputs: { prediction: 'v' },
  }) as DenoiserSpec;

const latent = (b: number, v: number) => ({
  data: new Float32Array(b * 4 * 2 * 3).fill(v),
  dims: [b, 4, 2, 3],
});

describe('the denoiser feeds', () => {
  const batch = {
    sample: latent(2, 0),
    timestep: 999,
    startLatents: latent(2, 1),
    endLatents: latent(2, 2),
    positions: [0.25, 0.75],
    loraScale: null,
  };

  it('names each input as the manifest does, one timestep and position per frame', () => {
    const f = denoiserFeeds(spec(), batch);
    expect(Object.keys(f).sort()).toEqual(['e', 's', 't', 'tau', 'x']);
    expect(Array.from(f.t!.data)).toEqual([999, 999]);
    expect(Array.from(f.tau!.data)).toEqual([0.25, 0.75]);
  });

  it("passes one copy of the motion graph's output to a denoiser that takes it", () => {
    const motion = { data: new Float32Array(4 * 16 * 24).fill(3), dims: [1, 4, 16, 24] };
    const f = denoiserFeeds(spec({ motion: 'flows' }), { ...batch, motion });
    expect(f.flows).toBe(motion);
    // a denoiser without the input does not get it
    expect(Object.keys(denoiserFeeds(spec(), { ...batch, motion }))).not.toContain('flows');
  });

  it('says so when a denoiser that takes the motion estimate is given none', () => {
    expect(() => denoiserFeeds(spec({ motion: 'flows' }), batch)).toThrow(
      /takes the motion graph's output/,
    );
  });
});
