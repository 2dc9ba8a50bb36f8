import { describe, expect, it } from 'vitest';
import {
  applyGuidance,
  clipCondition,
  clipFrame,
  clipMask,
  conditionLatents,
  describePick,
  chosenClipFrames,
  pickClipFrames,
  resolveControls,
} from './clip';
import { format2Manifest } from '../testing/format2Manifest';
import { readNpyFloat32, readPackConstant, writeNpyFloat32 } from './npy';
import { modelFrameSize } from './pipeline';
import { createDdimPlan, ddimStep } from './scheduler';
import type { DdimSchedulerSpec, DenoiserSpec, PackManifest } from './manifest';

const ddimOf = (m: PackManifest): DdimSchedulerSpec => {
  if (m.scheduler.type !== 'ddim') throw new Error('expected a DDIM pack');
  return m.scheduler;
};

describe('clip frames', () => {
  it('returns the frames nearest the asked positions, each once', () => {
    // 16 frames: in-betweens at k/15, k = 1…14. One asked at ½ → 7/15 or 8/15 (nearest first found).
    const one = pickClipFrames(16, 1);
    expect(one.map((p) => p.index)).toEqual([7]);
    expect(one[0]!.position).toBeCloseTo(7 / 15, 12);
    expect(pickClipFrames(16, 14).map((p) => p.index)).toEqual(
      Array.from({ length: 14 }, (_, i) => i + 1),
    );
    // 4 frames: exactly the in-betweens at 1/3 and 2/3 when 2 are asked.
    const exact = pickClipFrames(4, 2);
    expect(exact.map((p) => p.index)).toEqual([1, 2]);
    expect(describePick(exact, 4)).toBe('frames 2, 3 of the 4-frame clip (τ 0.33, 0.67)');
    expect(describePick(one, 16)).toMatch(/frame 8 of the 16-frame clip \(τ 0\.47\), the nearest/);
    expect(() => pickClipFrames(16, 15)).toThrow(/1 to 14 in-betweens; got 15/);
  });

  it('takes the clip frame an evaluation protocol names (KDQ: index T/2 = 8 of 16, τ 8/15)', () => {
    const kdq = chosenClipFrames(16, [16 / 2]);
    expect(kdq).toEqual([{ index: 8, position: 8 / 15, asked: 8 / 15 }]);
    expect(describePick(kdq, 16)).toBe('frame 9 of the 16-frame clip (τ 0.53)');
    expect(chosenClipFrames(16, [9, 3, 9]).map((p) => p.index)).toEqual([3, 9]);
    expect(() => chosenClipFrames(16, [15])).toThrow(
      /clip frame 15 is not an in-between .* \(1 to 14\)/,
    );
    expect(() => chosenClipFrames(16, [0])).toThrow(/clip frame 0/);
  });

  it('puts the keyframe latents at frames 0 and T−1 and zeros between', () => {
    const start = { data: Float32Array.from([1, 2, 3, 4]), dims: [1, 2, 1, 2] };
    const end = { data: Float32Array.from([5, 6, 7, 8]), dims: [1, 2, 1, 2] };
    const c = clipCondition(start, end, 3);
    expect(c.dims).toEqual([1, 2, 3, 1, 2]);
    // [C=2][T=3][h·w=2]
    expect(Array.from(c.data)).toEqual([1, 2, 0, 0, 5, 6, 3, 4, 0, 0, 7, 8]);
    expect(Array.from(clipFrame(c.data, c.dims, 2))).toEqual([5, 6, 7, 8]);
    expect(Array.from(clipFrame(c.data, c.dims, 1))).toEqual([0, 0, 0, 0]);
  });

  it("builds Framer's conditioning: unscaled latents, the mask token between, its mask", () => {
    // Framer (pipeline_stable_video_diffusion_interp_control.py): VAE posterior modes unscaled at
    // frames 0 and T−1, unet.mask_token at every frame between, a mask of 1 at the frames to
    // generate; the negative pass zeroes the keyframes' latents only.
    const s = 0.5;
    // The keyframe latents as the VAE stage gives them (unscaled), [2, C=2, 1, 2].
    const keys = { data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), dims: [2, 2, 1, 2] };
    const token = Float32Array.from([0.25, -1.5]);
    const spec = {
      conditionLatent: { latents: 'unscaled', between: 'constant:mask_token', mask: 'inbetweens' },
      unconditionalCondition: 'zeros',
    } as unknown as DenoiserSpec;
    const { cond, uncond } = conditionLatents(spec, keys, 4, s, (text) => {
      expect(text).toBe('constant:mask_token');
      return { data: token, dims: [2] };
    });
    expect(cond.dims).toEqual([1, 2, 4, 1, 2]);
    // [C=2][T=4][h·w=2]
    expect(Array.from(cond.data)).toEqual([
      1, 2, 0.25, 0.25, 0.25, 0.25, 5, 6, 3, 4, -1.5, -1.5, -1.5, -1.5, 7, 8,
    ]);
    expect(Array.from(uncond.data)).toEqual([
      0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0, -1.5, -1.5, -1.5, -1.5, 0, 0,
    ]);
    expect(Array.from(clipMask(cond.dims, 'inbetweens').data)).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
    expect(Array.from(clipMask(cond.dims).data)).toEqual([1, 1, 0, 0, 0, 0, 1, 1]);
    // "unscaled" takes the stage's output as it is (no float rounding).
    const raw = {
      data: Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
      dims: [2, 2, 1, 2],
    };
    const fromRaw = conditionLatents(spec, raw, 4, s, () => ({ data: token, dims: [2] }));
    expect(Array.from(clipFrame(fromRaw.cond.data, fromRaw.cond.dims, 0))).toEqual(
      Array.from(raw.data.subarray(0, 4)),
    );
    expect(Array.from(clipFrame(fromRaw.cond.data, fromRaw.cond.dims, 3))).toEqual(
      Array.from(raw.data.subarray(4, 8)),
    );
    // ToonCrafter's defaults: scaled latents, zeros between, the same condition in both passes.
    const plain = conditionLatents({} as DenoiserSpec, keys, 4, s, () => {
      throw new Error('no constant is needed');
    });
    const start = { data: Float32Array.from([1, 2, 3, 4]).map((v) => v * s), dims: [1, 2, 1, 2] };
    const end = { data: Float32Array.from([5, 6, 7, 8]).map((v) => v * s), dims: [1, 2, 1, 2] };
    expect(Array.from(plain.cond.data)).toEqual(Array.from(clipCondition(start, end, 4).data));
    expect(plain.uncond).toBe(plain.cond);
    const short = { data: Float32Array.from([1]), dims: [1] };
    expect(() => conditionLatents(spec, keys, 4, s, () => short)).toThrow(
      /conditionLatent\.between \(constant:mask_token\) has 1 values, the latent 2 channels/,
    );
  });
});

describe('fixed-size packs', () => {
  it('refuse the native fit with a message, and fit other sizes to the pack frame', () => {
    const m = format2Manifest();
    expect(() => modelFrameSize(m, 640, 360, 'native')).toThrow(
      /take exactly 128×64 frames, so Native size cannot run them; choose Letterbox or Centre-crop/,
    );
    expect(modelFrameSize(m, 640, 360, 'letterbox')).toEqual([128, 64]);
    // Auto never picks native for them, however small the keyframes.
    expect(modelFrameSize(m, 64, 32, 'auto')).toEqual([128, 64]);
  });
});

describe('guidance', () => {
  it('equals ToonCrafter rescale_noise_cfg after u + s·(c − u)', () => {
    const c = Float32Array.from([0.5, -1.0, 2.0, 0.25, -0.75, 1.5]);
    const u = Float32Array.from([0.1, 0.2, -0.3, 0.4, 0.0, -0.5]);
    // Printed by ToonCrafter's lvdm/models/utils_diffusion.py rescale_noise_cfg (torch, float32).
    const torchOut = [1.1753619, -3.3365114, 6.4265766, -0.2748831, -2.1327133, 5.4976611];
    const out = applyGuidance(c, u, 7.5, 0.7);
    out.forEach((v, i) => expect(v).toBeCloseTo(torchOut[i]!, 5));
    // Scale 1 and no rescale is the conditional prediction itself.
    expect(Array.from(applyGuidance(c, u, 1, 0))).toEqual(Array.from(c));
  });

  it('resolves the controls from the manifest and refuses values out of range', () => {
    const m = format2Manifest();
    expect(resolveControls(m)).toEqual({
      guidanceScale: 7.5,
      guidanceRescale: 0.7,
      guidanceFrom: null,
      scalars: { fs: 24 },
      augmentation: 0,
      promptId: 'none',
      promptText: null,
    });
    expect(resolveControls(m, { guidanceScale: 3, scalars: { fs: 10 } }).guidanceScale).toBe(3);
    expect(() => resolveControls(m, { guidanceScale: 20 })).toThrow(
      /guidance scale 20 is outside this pack's range 1…15/,
    );
    expect(() => resolveControls(m, { scalars: { fs: 2.5 } })).toThrow(
      /Frame stride \(fs\) must be a whole number from 1 to 60, got 2\.5/,
    );
    expect(() => resolveControls(m, { scalars: { fps: 2 } })).toThrow(/has no scalar "fps"/);
    expect(() => resolveControls(m, { promptId: 'walk' })).toThrow(/has no prompt "walk"/);
    // A typed prompt takes the place of the chosen one; packs without a text encoder refuse it.
    expect(resolveControls(m, { promptText: 'a ball', promptId: 'none' })).toMatchObject({
      promptId: null,
      promptText: 'a ball',
    });
    const noText = structuredClone(m);
    delete noText.text;
    expect(() => resolveControls(noText, { promptText: 'a ball' })).toThrow(
      /has no text encoder, so it takes no typed prompt; choose one of its prompts \(none\)/,
    );
    // A pack with a text encoder and no precomputed prompts encodes the empty prompt by default.
    const textOnly = structuredClone(m);
    delete textOnly.prompts;
    expect(resolveControls(textOnly)).toMatchObject({ promptId: null, promptText: '' });
  });
});

describe("ToonCrafter's DDIM schedule", () => {
  // Printed by ToonCrafter's own make_ddim_timesteps / make_ddim_sampling_parameters ('uniform_trailing',
  // zero-terminal-SNR betas of linear_start 0.00085, linear_end 0.012) and its scale_arr (base 0.7, turn 400).
  const golden = {
    3: {
      timesteps: [999, 666, 332],
      alphaPrev: [0.0754345059, 0.5083494782, 0.9991499782],
      rescale: [1.0, 1.0719655752, 1.0],
    },
    4: {
      timesteps: [999, 749, 499, 249],
      alphaPrev: [0.0331714824, 0.2423591614, 0.6541889906, 0.9991499782],
      rescale: [1.0, 1.0, 1.1611170769, 1.0],
    },
  } as const;

  it.each([3, 4] as const)('matches its %i-step timesteps, ᾱ_prev and dynamic rescale', (steps) => {
    const plan = createDdimPlan(ddimOf(format2Manifest()), steps);
    const g = golden[steps];
    expect(plan.timesteps).toEqual(g.timesteps);
    // In visiting order: ᾱ of the next timestep visited, ᾱ_0 after the last (ToonCrafter's alphas_prev).
    plan.alphaPrev.forEach((a, i) => expect(a).toBeCloseTo(g.alphaPrev[i]!, 6));
    plan.x0Scale.forEach((s, i) => expect(s).toBeCloseTo(g.rescale[i]!, 6));
    // diffusers' stride rule steps 666 → 333 where ToonCrafter steps 666 → 332.
    if (steps === 3) {
      const stride = createDdimPlan(
        { ...ddimOf(format2Manifest()), previousTimestep: 'stride' },
        3,
      );
      expect(stride.alphaPrev[1]).not.toBeCloseTo(g.alphaPrev[1]!, 6);
    }
  });

  it('scales x₀ by the dynamic rescale factor in a step', () => {
    const spec = ddimOf(format2Manifest());
    const plan = createDdimPlan({ ...spec, eta: 0 }, 3);
    const noRescale = createDdimPlan({ ...spec, eta: 0, dynamicRescale: undefined }, 3);
    const x = Float32Array.of(0.3);
    const v = Float32Array.of(-0.2);
    const a = ddimStep(plan, 1, v, x).predOriginal[0]!;
    const b = ddimStep(noRescale, 1, v, x).predOriginal[0]!;
    expect(a / b).toBeCloseTo(1.0719655752, 5);
  });
});

describe('.npy constants', () => {
  it('round-trips float32 tensors and checks them against the manifest', () => {
    const t = { data: Float32Array.from([1.5, -2, 3.25, 0, 7, 8]), dims: [1, 2, 3] };
    const bytes = writeNpyFloat32(t);
    // numpy pads the header so the data starts on a 64-byte boundary.
    expect((bytes.length - 24) % 64).toBe(0);
    const back = readNpyFloat32(bytes, 'x.npy');
    expect(back.dims).toEqual([1, 2, 3]);
    expect(Array.from(back.data)).toEqual(Array.from(t.data));
    expect(() => readPackConstant('p', { file: 'p.npy', shape: [1, 3, 2] }, bytes)).toThrow(
      /^constants\.p\.shape: the manifest says \[1, 3, 2\] but p\.npy holds \[1, 2, 3\]/,
    );
  });

  it('refuses other dtypes, Fortran order, truncation and junk', () => {
    const good = writeNpyFloat32({ data: new Float32Array(4), dims: [4] });
    const text = new TextDecoder('latin1').decode(good);
    const patch = (from: string, to: string) =>
      Uint8Array.from(text.replace(from, to), (ch) => ch.charCodeAt(0));
    expect(() => readNpyFloat32(patch("'<f4'", "'<f8'"), 'c.npy')).toThrow(/dtype "<f8"/);
    expect(() => readNpyFloat32(patch('False', 'True '), 'c.npy')).toThrow(/Fortran order/);
    expect(() => readNpyFloat32(good.subarray(0, good.length - 4), 'c.npy')).toThrow(
      /should hold 16 bytes of data for shape \(4\) but holds 12/,
    );
    expect(() => readNpyFloat32(new TextEncoder().encode('not numpy at all'), 'c.npy')).toThrow(
      /not a NumPy \.npy file/,
    );
    const nan = writeNpyFloat32({ data: Float32Array.of(NaN), dims: [1] });
    expect(() => readPackConstant('n', { file: 'n.npy', shape: [1] }, nan)).toThrow(/non-finite/);
  });
});
