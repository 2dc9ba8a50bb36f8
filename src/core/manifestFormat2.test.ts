/**
 * Pack format 2: a ToonCrafter-shaped manifest (stages, constants, prompts, a scalar, guidance,
 * a clip) validates, and each malformed wiring is refused with a message naming the field.
 */
import { describe, expect, it } from 'vitest';
import {
  augmentedStages,
  filesForVariant,
  graphsForVariant,
  latentFrameOf,
  latentFrames,
  parseSource,
  sampleFrames,
  stageOrder,
  validateManifest,
} from './manifest';
import { format2Manifest } from '../testing/format2Manifest';

/** The ToonCrafter-shaped manifest made LTX-Video-shaped: flow matching, conditioning by replacement. */
function ltxShaped(m: Record<string, any>): void {
  m.scheduler = {
    type: 'flow',
    shift: 1,
    schedule: 'linear_quadratic',
    thresholdNoise: 0.025,
    defaultSteps: 8,
  };
  const d = m.graphs.denoisers.base;
  delete d.inputs.condition;
  delete d.conditionLatent;
  delete d.unconditionalCondition;
  d.replace = { end: 'appended', noiseScale: 0.15 };
}

function errorsOf(mutate: (m: Record<string, any>) => void): string[] {
  const m = structuredClone(format2Manifest()) as Record<string, any>;
  mutate(m);
  const r = validateManifest(m);
  expect(r.ok, 'the broken manifest validated').toBe(false);
  return r.ok ? [] : r.errors;
}

describe('pack format 2', () => {
  it('validates the ToonCrafter-shaped manifest', () => {
    const r = validateManifest(format2Manifest());
    expect(r.ok ? [] : r.errors).toEqual([]);
  });

  it('lists each stage file once, with constants, and orders stages by dependency', () => {
    const m = format2Manifest();
    const graphs = graphsForVariant(m, 'base');
    expect(graphs.map((g) => g.key)).toEqual([
      'stage:text_encoder.onnx',
      'stage:vae_encoder.onnx',
      'stage:image_tokens.onnx',
      'decoder',
      'denoiser:base',
    ]);
    expect(graphs[2]!.stages).toEqual(['imageTokens', 'blankImageTokens']);
    // The denoiser's declared inputs include its feeds, so checkGraphNames expects them.
    expect(Object.values(graphs[4]!.inputs)).toEqual(
      expect.arrayContaining(['sample', 'timestep', 'condition', 'text', 'image_tokens', 'fs']),
    );
    expect(filesForVariant(m, 'base').map((f) => [f.role, f.file])).toEqual([
      ['stage', 'text_encoder.onnx'],
      ['stage', 'vae_encoder.onnx'],
      ['stage', 'image_tokens.onnx'],
      ['decoder', 'decoder.onnx'],
      ['denoiser', 'unet.onnx'],
      ['constant', 'constants/empty_prompt.npy'],
      ['tokenizer', 'tokenizer.json'],
    ]);
    const chained = structuredClone(m);
    chained.stages!.vae!.inputs = { images: 'keyframes:pair', tokens: 'stage:imageTokens/tokens' };
    expect(validateManifest(chained).ok).toBe(true);
    const order = stageOrder(chained);
    expect(order.indexOf('imageTokens')).toBeLessThan(order.indexOf('vae'));
  });

  it('parses sources and refuses anything else', () => {
    expect(parseSource('stage:vae/ref0')).toEqual({ kind: 'stage', stage: 'vae', output: 'ref0' });
    expect(parseSource('keyframes:blank')).toEqual({ kind: 'keyframes', which: 'blank' });
    expect(parseSource('scalar:fs')).toEqual({ kind: 'scalar', name: 'fs' });
    expect(parseSource('text')).toEqual({ kind: 'text' });
    expect(parseSource('https://example.com/x')).toHaveProperty('error');
  });

  type Case = [string, (m: Record<string, any>) => void, RegExp];
  const cases: Case[] = [
    [
      'an input routed from a missing stage',
      (m) => (m.graphs.denoisers.base.feeds.image_tokens = 'stage:clip/tokens'),
      /^graphs\.denoisers\.base\.feeds\.image_tokens: names stage "clip", which is not in stages/,
    ],
    [
      'an output a stage does not list',
      (m) => (m.graphs.decoder.feeds.ref0 = 'stage:vae/ref9'),
      /^graphs\.decoder\.feeds\.ref0: names output "ref9" of stage "vae"/,
    ],
    [
      'a cycle between stages',
      (m) => {
        m.stages.vae.inputs.tokens = 'stage:imageTokens/tokens';
        m.stages.imageTokens.inputs.latents = 'stage:vae/latents';
      },
      /^stages\.\w+\.inputs\.\w+: forms a cycle: (vae → imageTokens → vae|imageTokens → vae → imageTokens)/,
    ],
    [
      'a stage fed by its own output',
      (m) => (m.stages.vae.inputs.again = 'stage:vae/latents'),
      /^stages\.vae\.inputs\.again: forms a cycle: vae → vae/,
    ],
    [
      'an unknown source kind',
      (m) => (m.graphs.denoisers.base.feeds.fs = 'random:fs'),
      /^graphs\.denoisers\.base\.feeds\.fs: "random:fs" is not a source/,
    ],
    [
      'an unknown role input',
      (m) => (m.graphs.denoisers.base.inputs.mask = 'mask'),
      /^graphs\.denoisers\.base\.inputs: unknown field "mask"/,
    ],
    [
      'a CFG-distilled denoiser with an unconditional condition it never runs',
      (m) => {
        const d = m.graphs.denoisers.base;
        d.inputs.guidance = 'guidance';
        delete d.unconditional;
        d.unconditionalCondition = 'zeros';
      },
      /^graphs\.denoisers\.base\.unconditionalCondition: is not used: this denoiser takes the guidance scale as an input/,
    ],
    [
      'a guidance rescale when every denoiser takes the scale as an input',
      (m) => {
        m.graphs.denoisers.base.inputs.guidance = 'guidance';
        delete m.graphs.denoisers.base.unconditional;
      },
      /^guidance\.rescale: is not used: every denoiser takes the guidance scale as an input/,
    ],
    [
      'a guidance frame ramp when every denoiser takes the scale as an input',
      (m) => {
        m.graphs.denoisers.base.inputs.guidance = 'guidance';
        delete m.graphs.denoisers.base.unconditional;
        m.guidance.rescale = 0;
        m.guidance.frameRamp = { from: 1 };
      },
      /^guidance\.frameRamp: is not used: every denoiser takes the guidance scale as an input/,
    ],
    [
      "a denoiser fed straight from the typed prompt's stage in a pack that lists prompts",
      (m) => (m.graphs.denoisers.base.feeds.text = 'stage:text/embedding'),
      /^graphs\.denoisers\.base\.feeds\.text: takes stage "text", which encodes the typed prompt and does not run without one/,
    ],
    [
      'guidance without an unconditional definition',
      (m) => delete m.graphs.denoisers.base.unconditional,
      /^graphs\.denoisers\.base\.unconditional: is required with guidance/,
    ],
    [
      'an unconditional input that is not a feed',
      (m) => (m.graphs.denoisers.base.unconditional.context = 'constant:emptyPrompt'),
      /^graphs\.denoisers\.base\.unconditional\.context: is not one of this denoiser's feeds/,
    ],
    [
      'an unconditional definition without guidance',
      (m) => delete m.guidance,
      /^graphs\.denoisers\.base\.unconditional: is only used with guidance/,
    ],
    [
      'a constant of another dtype',
      (m) => (m.constants.emptyPrompt.dtype = 'float64'),
      /^constants\.emptyPrompt\.dtype: /,
    ],
    [
      'a constant without a shape',
      (m) => (m.constants.emptyPrompt.shape = []),
      /^constants\.emptyPrompt\.shape: /,
    ],
    [
      'a constant that is not a .npy file',
      (m) => (m.constants.emptyPrompt.file = 'constants/empty_prompt.pt'),
      /^constants\.emptyPrompt\.file: must be a NumPy \.npy file/,
    ],
    [
      'a constant file escaping the pack',
      (m) => (m.constants.emptyPrompt.file = '../../etc/empty.npy'),
      /^constants\.emptyPrompt\.file: must not contain "\.\."/,
    ],
    [
      'a stage file escaping the pack',
      (m) => (m.stages.vae.file = '/etc/vae.onnx'),
      /^stages\.vae\.file: must be relative to the pack folder/,
    ],
    [
      'a feed naming a missing constant',
      (m) => (m.graphs.denoisers.base.unconditional.text = 'constant:nothing'),
      /^graphs\.denoisers\.base\.unconditional\.text: names constant "nothing", which is not in constants/,
    ],
    [
      'a feed naming a missing scalar',
      (m) => (m.graphs.denoisers.base.feeds.fs = 'scalar:fps'),
      /^graphs\.denoisers\.base\.feeds\.fs: names scalar "fps", which is not in scalars/,
    ],
    [
      'a prompt naming a missing constant',
      (m) => (m.prompts[0].constant = 'walk'),
      /^prompts\[0\]\.constant: names constant "walk", which is not in constants/,
    ],
    [
      'the prompt as a feed in a pack without prompts or a text encoder',
      (m) => {
        delete m.prompts;
        delete m.text;
        delete m.stages.text;
      },
      /^graphs\.denoisers\.base\.feeds\.text: takes the prompt, but the pack lists no prompts and has no text encoder/,
    ],
    [
      'keyframe pixels fed straight to the denoiser',
      (m) => (m.graphs.denoisers.base.feeds.image_tokens = 'keyframes:start'),
      /^graphs\.denoisers\.base\.feeds\.image_tokens: takes keyframe pixels/,
    ],
    [
      'a feed that is also a role input',
      (m) => (m.graphs.denoisers.base.feeds.sample = 'constant:emptyPrompt'),
      /^graphs\.denoisers\.base\.feeds\.sample: is already an input the studio fills by role/,
    ],
    [
      'a clip pack without keyframeLatents',
      (m) => delete m.keyframeLatents,
      /^keyframeLatents: is required when frames\.mode is "clip"/,
    ],
    [
      'keyframeLatents that are not a stage output',
      (m) => (m.keyframeLatents = 'constant:emptyPrompt'),
      /^keyframeLatents: must name a stage output/,
    ],
    [
      'a clip denoiser without the condition input',
      (m) => delete m.graphs.denoisers.base.inputs.condition,
      /^graphs\.denoisers\.base\.inputs\.condition: is required when frames\.mode is "clip"/,
    ],
    [
      'a clip length the studio cannot take',
      (m) => (m.frames.clipLength = 2),
      /^frames\.clipLength: /,
    ],
    [
      'a scalar whose default is outside its range',
      (m) => (m.scalars.fs.default = 100),
      /^scalars\.fs: needs min < max and min ≤ default ≤ max/,
    ],
    [
      'a fractional default for a whole-number scalar',
      (m) => (m.scalars.fs.default = 2.5),
      /^scalars\.fs\.default: must be a whole number/,
    ],
    ['a guidance rescale above 1', (m) => (m.guidance.rescale = 1.5), /^guidance\.rescale: /],
    [
      'format-2 fields in a format-1 manifest',
      (m) => (m.formatVersion = 1),
      /^stages: needs formatVersion 2/,
    ],
    [
      'a duplicate prompt id',
      (m) => m.prompts.push({ id: 'none', label: 'Again', constant: 'emptyPrompt' }),
      /^prompts\[1\]\.id: duplicate prompt id "none"/,
    ],
    [
      'token ids fed to the denoiser',
      (m) => (m.graphs.denoisers.base.feeds.text = 'text'),
      /^graphs\.denoisers\.base\.feeds\.text: takes token ids \("text"\); only stages take them/,
    ],
    [
      'a stage taking token ids in a pack without a tokenizer',
      (m) => {
        delete m.text;
      },
      /^stages\.text\.inputs\.tokens: takes the typed prompt's token ids, but the pack has no "text"/,
    ],
    [
      'a text embedding that is not a stage output',
      (m) => (m.text.embedding = 'constant:emptyPrompt'),
      /^text\.embedding: must name a stage output/,
    ],
    [
      'a text embedding from a stage that does not take the token ids',
      (m) => (m.text.embedding = 'stage:imageTokens/tokens'),
      /^text\.embedding: names stage "imageTokens", which does not take the token ids/,
    ],
    [
      'a tokenizer that is not a .json file',
      (m) => (m.text.tokenizer.file = 'tokenizer.model'),
      /^text\.tokenizer\.file: must be a Hugging Face tokenizer\.json/,
    ],
    [
      'a tokenizer file escaping the pack',
      (m) => (m.text.tokenizer.file = '../../etc/tokenizer.json'),
      /^text\.tokenizer\.file: /,
    ],
    [
      'an unconditional pass that depends on the typed prompt',
      (m) => (m.graphs.denoisers.base.unconditional.text = 'stage:text/embedding'),
      /^graphs\.denoisers\.base\.unconditional\.text: depends on the typed prompt/,
    ],
    [
      'a context length too short for start and end tokens',
      (m) => (m.text.contextLength = 1),
      /^text\.contextLength: /,
    ],
    [
      'a condition fill that is not a constant',
      (m) => (m.graphs.denoisers.base.conditionLatent = { between: 'scalar:fs' }),
      /^graphs\.denoisers\.base\.conditionLatent\.between: must be "zeros" or "constant:<name>"/,
    ],
    [
      'a condition fill of the wrong size',
      (m) => (m.graphs.denoisers.base.conditionLatent = { between: 'constant:emptyPrompt' }),
      /^graphs\.denoisers\.base\.conditionLatent\.between: constant "emptyPrompt" has 4928 values; .* one per latent channel \(4\)/,
    ],
    [
      'a condition fill naming a missing constant',
      (m) => (m.graphs.denoisers.base.conditionLatent = { between: 'constant:mask_token' }),
      /^graphs\.denoisers\.base\.conditionLatent\.between: names constant "mask_token", which is not in constants/,
    ],
    [
      'a denoiser motion input in clip mode',
      (m) => (m.graphs.denoisers.base.inputs.motion = 'motion'),
      /^graphs\.denoisers\.base\.inputs\.motion: is used only when frames\.mode is "position"/,
    ],
    [
      'a mask polarity without a concatenated mask',
      (m) => (m.graphs.denoisers.base.conditionLatent = { mask: 'inbetweens' }),
      /^graphs\.denoisers\.base\.conditionLatent\.mask: is used only when concat includes "mask"/,
    ],
    [
      'a condition source that is not a stage output',
      (m) => (m.graphs.denoisers.base.conditionLatent = { source: 'constant:emptyPrompt' }),
      /^graphs\.denoisers\.base\.conditionLatent\.source: must name a stage output/,
    ],
    [
      'a fill between the keyframes next to a whole condition from a stage',
      (m) =>
        (m.graphs.denoisers.base.conditionLatent = {
          source: 'stage:vae/latents',
          between: 'zeros',
        }),
      /^graphs\.denoisers\.base\.conditionLatent\.between: is not used with source/,
    ],
    [
      'noise augmentation of a stage that does not exist',
      (m) => (m.augmentation = { scalar: 'fs', stages: ['vae', 'clipVision'] }),
      /^augmentation\.stages\[1\]: names stage "clipVision", which is not in stages/,
    ],
    [
      'noise augmentation of a stage that takes no keyframes',
      (m) => (m.augmentation = { scalar: 'fs', stages: ['text'] }),
      /^augmentation\.stages\[0\]: stage "text" takes no keyframes to add noise to/,
    ],
    [
      'a temporally compressed latent whose condition is not given whole',
      (m) => (m.latent.temporalDownsample = 5),
      /^graphs\.denoisers\.base\.conditionLatent\.source: is required with latent\.temporalDownsample 5/,
    ],
    [
      'an unconditional pass that zeroes a condition given whole',
      (m) => {
        m.graphs.denoisers.base.conditionLatent = { source: 'stage:vae/latents' };
        m.graphs.denoisers.base.unconditionalCondition = 'zeros';
      },
      /^graphs\.denoisers\.base\.unconditionalCondition: "zeros" clears the keyframes' latents, which a condition from source does not single out/,
    ],
    [
      'a temporal compression that does not divide the clip',
      (m) => (m.latent.temporalDownsample = 4),
      /^latent\.temporalDownsample: 4 does not divide clipLength − 1 \(15\)/,
    ],
    [
      'latent replacement on a DDIM pack',
      (m) => {
        ltxShaped(m);
        m.scheduler = format2Manifest().scheduler;
      },
      /^graphs\.denoisers\.base\.replace: needs scheduler\.type "flow" \(LTX-Video's rectified flow\), not "ddim"/,
    ],
    [
      'latent replacement beside a condition input',
      (m) => {
        ltxShaped(m);
        m.graphs.denoisers.base.inputs.condition = 'cond';
      },
      /^graphs\.denoisers\.base\.inputs\.condition: is not used with replace/,
    ],
    [
      'an end keyframe in a latent frame that holds several frames',
      (m) => {
        ltxShaped(m);
        m.latent.temporalDownsample = 5;
        m.graphs.denoisers.base.replace.end = 'last';
      },
      /^graphs\.denoisers\.base\.replace\.end: "last" needs one latent frame per frame; with latent\.temporalDownsample 5/,
    ],
    [
      "UniPC on LTX-Video's linear-quadratic grid",
      (m) => {
        ltxShaped(m);
        m.scheduler.sampler = 'flow_unipc';
      },
      /^scheduler\.sampler: UniPC runs on Wan's own σ grid, not on schedule "linear_quadratic"/,
    ],
    [
      'a threshold for the linear σ grid',
      (m) => {
        ltxShaped(m);
        delete m.scheduler.schedule;
      },
      /^scheduler\.thresholdNoise: is used only with schedule "linear_quadratic"/,
    ],
    [
      'an unknown way of scaling the condition latents',
      (m) => (m.graphs.denoisers.base.conditionLatent = { latents: 'half' }),
      /^graphs\.denoisers\.base\.conditionLatent\.latents: /,
    ],
  ];

  it("takes LTX-Video's latent replacement, with the end keyframe appended or in the last frame", () => {
    const m = structuredClone(format2Manifest()) as Record<string, any>;
    ltxShaped(m);
    m.latent.temporalDownsample = 5; // 16 frames → 4 latent frames, and the appended end keyframe
    let r = validateManifest(m);
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (r.ok) expect(sampleFrames(r.manifest, r.manifest.graphs.denoisers['base']!)).toBe(5);
    delete m.latent.temporalDownsample;
    m.graphs.denoisers.base.replace = { end: 'last' };
    r = validateManifest(m);
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (r.ok) expect(sampleFrames(r.manifest, r.manifest.graphs.denoisers['base']!)).toBe(16);
  });

  it("takes LTX-Video's 128-channel latent and Wan's 81-frame clip", () => {
    const m = structuredClone(format2Manifest());
    m.latent.channels = 128;
    m.frames = { mode: 'clip', clipLength: 81 };
    m.latent.temporalDownsample = 4; // 81 frames: the first, then 20 latent frames of 4
    m.graphs.denoisers.base!.conditionLatent = { source: 'stage:vae/latents', latents: 'unscaled' };
    const r = validateManifest(m);
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (r.ok) expect(latentFrames(r.manifest)).toBe(21);
  });

  it("runs the typed prompt's stage before a stage that takes the prompt", () => {
    const m = structuredClone(format2Manifest());
    // A projection of the prompt listed before the text encoder.
    m.stages = {
      proj: { ...m.stages!.text!, file: 'proj.onnx', inputs: { emb: 'prompt' }, outputs: ['ctx'] },
      ...m.stages,
    };
    m.graphs.denoisers.base!.feeds!.text = 'stage:proj/ctx';
    m.graphs.denoisers.base!.unconditional!.text = 'constant:emptyPrompt';
    const r = validateManifest(m);
    expect(r.ok ? [] : r.errors).toEqual([]);
    const order = stageOrder(m);
    expect(order.indexOf('text')).toBeLessThan(order.indexOf('proj'));
  });

  it('takes a causal video VAE whose temporal compression divides the clip', () => {
    const m = structuredClone(format2Manifest());
    m.latent.temporalDownsample = 5; // 16 frames: the first, then 3 latent frames of 5
    m.graphs.denoisers.base!.conditionLatent = { source: 'stage:vae/latents', latents: 'unscaled' };
    const r = validateManifest(m);
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (r.ok) {
      expect(latentFrames(r.manifest)).toBe(4);
      expect([0, 1, 5, 6, 10, 11, 15].map((i) => latentFrameOf(r.manifest, i))).toEqual([
        0, 1, 1, 2, 2, 3, 3,
      ]);
    }
  });

  it("adds SVD's noise augmentation to the VAE stage only, unless the pack names others", () => {
    const m = structuredClone(format2Manifest());
    expect(augmentedStages(m)).toEqual(new Set());
    m.augmentation = { scalar: 'fs' };
    expect(augmentedStages(m)).toEqual(new Set(['vae'])); // the stage holding keyframeLatents
    m.augmentation = { scalar: 'fs', stages: ['vae', 'imageTokens'] };
    expect(validateManifest(m).ok).toBe(true);
    expect(augmentedStages(m)).toEqual(new Set(['vae', 'imageTokens']));
  });

  it.each(cases)('refuses %s, naming the field', (_name, mutate, pattern) => {
    const errors = errorsOf(mutate);
    expect(
      errors.some((e) => pattern.test(e)),
      `errors were: ${errors.join(' | ')}`,
    ).toBe(true);
  });
});
