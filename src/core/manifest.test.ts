import { describe, expect, it } from 'vitest';
import { ISSUE20_FLOW } from './farnebackOpenCV';
import {
  filesForVariant,
  graphsForVariant,
  parseManifest,
  validateManifest,
  variantSizeBytes,
  type DdimSchedulerSpec,
  type PackManifest,
} from './manifest';
import { createDdimPlan, ddimStep } from './scheduler';
import { format2Manifest } from '../testing/format2Manifest';

const sha = (c: string) => c.repeat(64);

/** A valid manifest; each malformed case below changes one thing. */
function validManifest(): PackManifest {
  return {
    format: 'inbetween-pack',
    formatVersion: 1,
    id: 'test-pack',
    name: 'Test pack',
    version: '1.0.0',
    trained: false,
    image: { defaultSize: [192, 128], multipleOf: 64, valueRange: [-1, 1], channels: 3 },
    latent: { channels: 4, downsample: 8, scaleFactor: 1 },
    scheduler: {
      type: 'ddim',
      trainTimesteps: 1000,
      betaSchedule: 'scaled_linear',
      betaStart: 0.00085,
      betaEnd: 0.012,
      predictionType: 'v_prediction',
      timestepSpacing: 'trailing',
      stepsOffset: 0,
      rescaleZeroTerminalSnr: true,
      setAlphaToOne: true,
      defaultSteps: 8,
      eta: 0,
    },
    frames: { mode: 'position', maxBatch: 16 },
    graphs: {
      encoder: {
        file: 'encoder.onnx',
        sizeBytes: 100,
        sha256: sha('a'),
        inputs: { image: 'image' },
        outputs: { latent: 'latent' },
      },
      decoder: {
        file: 'decoder.onnx',
        sizeBytes: 100,
        sha256: sha('b'),
        inputs: { latent: 'latent' },
        outputs: { image: 'image' },
      },
      denoisers: {
        fp32: {
          file: 'denoiser.onnx',
          sizeBytes: 100,
          sha256: sha('c'),
          inputs: {
            sample: 'sample',
            timestep: 'timestep',
            startLatent: 's',
            endLatent: 'e',
            position: 'position',
          },
          outputs: { prediction: 'prediction' },
        },
        lora: {
          file: 'weights/lora.onnx',
          sizeBytes: 100,
          sha256: sha('d'),
          externalData: [{ file: 'weights/lora.onnx.data', sizeBytes: 5000, sha256: sha('e') }],
          inputs: {
            sample: 'sample',
            timestep: 'timestep',
            startLatent: 's',
            endLatent: 'e',
            position: 'position',
            loraScale: 'lora_scale',
          },
          outputs: { prediction: 'prediction' },
        },
      },
    },
    variants: [
      { id: 'baseline', label: 'Baseline', precision: 'fp32', denoiser: 'fp32' },
      {
        id: 'lora',
        label: 'LoRA',
        precision: 'fp32',
        denoiser: 'lora',
        loraScale: { default: 0.15, min: 0, max: 1 },
      },
    ],
  };
}

function broken(mutate: (m: Record<string, any>) => void): string[] {
  const m = structuredClone(validManifest()) as Record<string, any>;
  mutate(m);
  const r = validateManifest(m);
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.errors;
}

describe('validateManifest', () => {
  it('accepts a valid manifest and fills defaults', () => {
    const m = validManifest() as Record<string, any>;
    delete m.scheduler.stepsOffset;
    const r = validateManifest(m);
    expect(r.ok).toBe(true);
    if (r.ok && r.manifest.scheduler.type === 'ddim')
      expect(r.manifest.scheduler.stepsOffset).toBe(0);
  });

  it('lists the files a variant needs, external data included', () => {
    const files = filesForVariant(validManifest(), 'lora').map((f) => f.file);
    expect(files).toEqual([
      'encoder.onnx',
      'decoder.onnx',
      'weights/lora.onnx',
      'weights/lora.onnx.data',
    ]);
    expect(() => filesForVariant(validManifest(), 'nope')).toThrow(/no variant "nope"/);
  });

  it('sums the bytes a variant loads from the same list', () => {
    const m = validManifest();
    const sum = filesForVariant(m, 'lora').reduce((n, f) => n + f.sizeBytes, 0);
    expect(variantSizeBytes(m, 'lora')).toBe(sum);
    expect(sum).toBeGreaterThan(m.graphs.encoder!.sizeBytes + m.graphs.decoder.sizeBytes);
  });

  it('accepts a decoder that takes both keyframes as references', () => {
    const m = validManifest() as Record<string, any>;
    m.graphs.decoder.inputs = {
      latent: 'latent',
      startImage: 'start_image',
      endImage: 'end_image',
    };
    const r = validateManifest(m);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.manifest.graphs.decoder.inputs.endImage).toBe('end_image');
  });

  const withMotion = (m: Record<string, any>) => {
    m.graphs.decoder.inputs = {
      latent: 'latent',
      startImage: 'start_image',
      endImage: 'end_image',
      motion: 'motion',
    };
    m.graphs.motion = {
      file: 'motion.onnx',
      sizeBytes: 1000,
      sha256: 'c'.repeat(64),
      inputs: { startImage: 'start_image', endImage: 'end_image' },
      outputs: { motion: 'motion' },
    };
  };

  it('accepts a motion graph whose output the decoder takes, and lists its file', () => {
    const m = validManifest() as Record<string, any>;
    withMotion(m);
    m.graphs.decoder.inputs.position = 'position';
    const r = validateManifest(m);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.manifest.graphs.motion?.outputs.motion).toBe('motion');
      expect(filesForVariant(r.manifest, 'lora').map((f) => [f.role, f.file])).toEqual([
        ['encoder', 'encoder.onnx'],
        ['decoder', 'decoder.onnx'],
        ['motion', 'motion.onnx'],
        ['denoiser', 'weights/lora.onnx'],
        ['denoiser', 'weights/lora.onnx.data'],
      ]);
    }
  });

  const withClassical = (m: Record<string, any>) => {
    withMotion(m);
    m.graphs.motion.inputs.classicalMotion = 'classical_motion';
    m.graphs.motion.classicalFlow = { method: 'opencv-farneback', ...ISSUE20_FLOW };
  };

  it('accepts a motion graph that takes the classical flows the studio computes', () => {
    const m = validManifest() as Record<string, any>;
    withClassical(m);
    const r = validateManifest(m);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.manifest.graphs.motion?.inputs.classicalMotion).toBe('classical_motion');
      expect(r.manifest.graphs.motion?.classicalFlow?.winsize).toBe(21);
    }
  });

  it("accepts a denoiser that takes the motion graph's output too", () => {
    const m = validManifest() as Record<string, any>;
    withMotion(m);
    m.graphs.denoisers.fp32.inputs.motion = 'motion';
    const r = validateManifest(m);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.manifest.graphs.denoisers.fp32!.inputs.motion).toBe('motion');
  });

  const withInt8Decoder = (m: Record<string, any>) => {
    m.graphs.decoders = {
      int8: { ...m.graphs.decoder, file: 'decoder_int8.onnx', sizeBytes: 400, sha256: sha('d') },
    };
    m.variants.push({
      id: 'int8',
      label: 'Baseline int8',
      precision: 'int8',
      denoiser: 'fp32',
      decoder: 'int8',
    });
  };

  it('gives a variant that names another decoder that file, and the others the default', () => {
    const m = validManifest() as Record<string, any>;
    withInt8Decoder(m);
    const r = validateManifest(m);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const decoderOf = (v: string) =>
      graphsForVariant(r.manifest, v).find((g) => g.role === 'decoder')!;
    expect(decoderOf('int8')).toMatchObject({
      key: 'decoder:int8',
      spec: { file: 'decoder_int8.onnx' },
      what: 'the decoder of variant "int8" (decoder_int8.onnx)',
    });
    expect(decoderOf('baseline')).toMatchObject({ key: 'decoder', spec: { file: 'decoder.onnx' } });
    expect(filesForVariant(r.manifest, 'int8').map((f) => f.file)).toEqual([
      'encoder.onnx',
      'decoder_int8.onnx',
      'denoiser.onnx',
    ]);
  });

  const cases: [string, (m: Record<string, any>) => void, RegExp][] = [
    [
      'a variant naming a decoder that is not in graphs.decoders',
      (m) => {
        withInt8Decoder(m);
        m.variants.at(-1).decoder = 'int4';
      },
      /^variants\[2\]\.decoder: names decoder "int4", which is not in graphs\.decoders/,
    ],
    [
      'an alternative decoder that takes other tensors than the decoder',
      (m) => {
        withInt8Decoder(m);
        m.graphs.decoders.int8.inputs = { latent: 'z' };
      },
      /^graphs\.decoders\.int8: must take and give the same tensors as graphs\.decoder/,
    ],
    [
      'a motion graph that nothing uses',
      (m) => {
        withMotion(m);
        delete m.graphs.decoder.inputs.motion;
      },
      /^graphs\.decoder\.inputs\.motion: is required: the pack has a motion graph/,
    ],
    [
      'a classical motion input without the settings of its flow',
      (m) => {
        withClassical(m);
        delete m.graphs.motion.classicalFlow;
      },
      /^graphs\.motion\.classicalFlow: a motion graph with a classicalMotion input names the classical flow/,
    ],
    [
      'classical flow settings for a motion graph that takes no classical input',
      (m) => {
        withClassical(m);
        delete m.graphs.motion.inputs.classicalMotion;
      },
      /^graphs\.motion\.classicalFlow: a motion graph with a classicalMotion input names the classical flow/,
    ],
    [
      'a classical flow the studio does not compute',
      (m) => {
        withClassical(m);
        m.graphs.motion.classicalFlow.method = 'raft';
      },
      /^graphs\.motion\.classicalFlow\.method: /,
    ],
    [
      'classical flow settings that would take minutes a pair',
      (m) => {
        withClassical(m);
        m.graphs.motion.classicalFlow.iterations = 1000;
      },
      /^graphs\.motion\.classicalFlow\.iterations: /,
    ],
    [
      'an OpenCV polynomial size OpenCV does not document',
      (m) => {
        withClassical(m);
        m.graphs.motion.classicalFlow.polyN = 6;
      },
      /^graphs\.motion\.classicalFlow\.polyN: /,
    ],
    [
      'a decoder motion input without a motion graph',
      (m) => {
        withMotion(m);
        delete m.graphs.motion;
      },
      /^graphs\.motion: is required: the decoder declares a motion input/,
    ],
    [
      'a denoiser motion input without a motion graph',
      (m) => {
        m.graphs.denoisers.fp32.inputs.motion = 'motion';
      },
      /^graphs\.motion: is required: denoiser "fp32" declares a motion input/,
    ],
    [
      "a denoiser input under another input's tensor name",
      (m) => {
        withMotion(m);
        m.graphs.denoisers.fp32.inputs.motion = m.graphs.denoisers.fp32.inputs.startLatent;
      },
      /^graphs\.denoisers\.fp32\.inputs: names the tensor "[^"]+" for more than one input: each input needs its own/,
    ],
    [
      'a decoder that takes both keyframes under one name',
      (m) => (m.graphs.decoder.inputs = { latent: 'latent', startImage: 'ref', endImage: 'ref' }),
      /^graphs\.decoder\.inputs: names the tensor "ref" for more than one input/,
    ],
    [
      'a decoder motion input without keyframe references',
      (m) => {
        withMotion(m);
        m.graphs.decoder.inputs = { latent: 'latent', motion: 'motion' };
      },
      /^graphs\.decoder\.inputs\.motion: a decoder with a motion input also takes startImage/,
    ],
    [
      'a motion graph with an unknown output role',
      (m) => {
        withMotion(m);
        m.graphs.motion.outputs = { flow: 'motion' };
      },
      /^graphs\.motion\.outputs: unknown field "flow"/,
    ],
    [
      'one decoder reference without the other',
      (m) => (m.graphs.decoder.inputs = { latent: 'latent', startImage: 'start_image' }),
      /^graphs\.decoder\.inputs: startImage and endImage must be given together/,
    ],
    ['missing encoder file', (m) => delete m.graphs.encoder.file, /^graphs\.encoder\.file: /],
    [
      'size given as a string',
      (m) => (m.graphs.decoder.sizeBytes = '100'),
      /^graphs\.decoder\.sizeBytes: .*number/,
    ],
    [
      'unknown variant field',
      (m) => (m.variants[0].lorascale = 0.5),
      /^variants\[0\]: unknown field "lorascale"/,
    ],
    [
      'path traversal in a file name',
      (m) => (m.graphs.encoder.file = '../../etc/passwd'),
      /^graphs\.encoder\.file: must not contain "\.\."/,
    ],
    [
      'absolute file name',
      (m) => (m.graphs.decoder.file = '/tmp/decoder.onnx'),
      /^graphs\.decoder\.file: must be relative/,
    ],
    [
      'URL as file name',
      (m) => (m.graphs.denoisers.fp32.file = 'https://evil.example/x.onnx'),
      /^graphs\.denoisers\.fp32\.file: must be a file name, not a URL/,
    ],
    ['backslash traversal', (m) => (m.graphs.denoisers.fp32.file = '..\\x.onnx'), /backslashes/],
    [
      'absurd image size',
      (m) => (m.image.defaultSize = [100000, 64]),
      /^image\.defaultSize\[0\]: /,
    ],
    [
      'absurd file size',
      (m) => (m.graphs.encoder.sizeBytes = 1e12),
      /^graphs\.encoder\.sizeBytes: is larger than 2 GiB/,
    ],
    [
      'bad sha256',
      (m) => (m.graphs.encoder.sha256 = 'xyz'),
      /^graphs\.encoder\.sha256: must be 64 lowercase hex/,
    ],
    [
      'variant names a missing denoiser',
      (m) => (m.variants[0].denoiser = 'ghost'),
      /^variants\[0\]\.denoiser: names denoiser "ghost"/,
    ],
    [
      'LoRA scale without a loraScale input',
      (m) => (m.variants[0].loraScale = { default: 0.5, min: 0, max: 1 }),
      /^variants\[0\]\.loraScale: has a LoRA scale/,
    ],
    [
      'loraScale input without a scale range',
      (m) => delete m.variants[1].loraScale,
      /^variants\[1\]\.loraScale: is required/,
    ],
    [
      'LoRA default outside its range',
      (m) => (m.variants[1].loraScale.default = 3),
      /^variants\[1\]\.loraScale: needs min < max/,
    ],
    [
      'recommended steps past the scheduler',
      (m) => (m.variants[0].recommendedSteps = m.scheduler.trainTimesteps + 1),
      /^variants\[0\]\.recommendedSteps: \d+ is more than the scheduler allows/,
    ],
    [
      'duplicate variant id',
      (m) => (m.variants[1].id = 'baseline'),
      /^variants\[1\]\.id: duplicate variant id/,
    ],
    [
      'unknown prediction type',
      (m) => (m.scheduler.predictionType = 'sample'),
      /^scheduler\.predictionType: /,
    ],
    ['wrong format', (m) => (m.format = 'something-else'), /^format: /],
    ['future format version', (m) => (m.formatVersion = 3), /^formatVersion: /],
    [
      'unknown top-level field',
      (m) => (m.script = 'alert(1)'),
      /^manifest: unknown field "script"/,
    ],
    [
      'size not a multiple',
      (m) => (m.image.defaultSize = [200, 128]),
      /^image\.defaultSize: must be a multiple of multipleOf/,
    ],
    ['no variants', (m) => (m.variants = []), /^variants: /],
    [
      'position mode without a position input',
      (m) => delete m.graphs.denoisers.fp32.inputs.position,
      /^graphs\.denoisers\.fp32\.inputs\.position: is required/,
    ],
    [
      'beta start above end',
      (m) => (m.scheduler.betaStart = 0.5),
      /^scheduler\.betaStart: betaStart must be smaller/,
    ],
    [
      'invalid variant id',
      (m) => (m.variants[0].id = 'Has Spaces'),
      /^variants\[0\]\.id: must be 1–64 characters/,
    ],
    [
      'unknown denoiser input role',
      (m) => (m.graphs.denoisers.fp32.inputs.mask = 'mask'),
      /^graphs\.denoisers\.fp32\.inputs: unknown field "mask"/,
    ],
  ];
  it.each(cases)('rejects a manifest with %s, naming the field', (_name, mutate, pattern) => {
    const errors = broken(mutate);
    expect(
      errors.some((e) => pattern.test(e)),
      `errors were: ${errors.join(' | ')}`,
    ).toBe(true);
  });

  it('reports JSON syntax errors as one message', () => {
    const r = parseManifest('{ "format": ');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]).toMatch(/^manifest\.json is not valid JSON/);
  });

  it('rejects non-objects', () => {
    expect(validateManifest(null).ok).toBe(false);
    expect(validateManifest([1, 2]).ok).toBe(false);
  });
});

describe('zero terminal SNR and the prediction type', () => {
  const withScheduler = (patch: Record<string, unknown>) => {
    const m = structuredClone(validManifest()) as Record<string, any>;
    Object.assign(m.scheduler, patch);
    return validateManifest(m);
  };

  it('refuses ε-prediction with the rescale, saying why and what to give instead', () => {
    for (const timestepSpacing of ['trailing', 'leading']) {
      const r = withScheduler({
        predictionType: 'epsilon',
        rescaleZeroTerminalSnr: true,
        timestepSpacing,
      });
      expect(r.ok ? [] : r.errors).toEqual([
        expect.stringMatching(
          /^scheduler\.rescaleZeroTerminalSnr: needs predictionType "v_prediction", not "epsilon": .*ᾱ is 0 at the last training timestep.*diffusers .* pair the rescale with v-prediction/,
        ),
      ]);
    }
  });

  it('takes v-prediction with the rescale, and ε-prediction without it', () => {
    expect(withScheduler({ predictionType: 'v_prediction', rescaleZeroTerminalSnr: true }).ok).toBe(
      true,
    );
    expect(withScheduler({ predictionType: 'epsilon', rescaleZeroTerminalSnr: false }).ok).toBe(
      true,
    );
  });

  it('is refused because the first trailing step would divide by √ᾱ = 0', () => {
    const spec = {
      ...(validManifest().scheduler as DdimSchedulerSpec),
      predictionType: 'epsilon' as const,
    };
    const plan = createDdimPlan(spec, 4);
    expect(plan.timesteps[0]).toBe(spec.trainTimesteps - 1);
    expect(plan.alphasCumprod[plan.timesteps[0]!]).toBe(0);
    const x = new Float32Array([0.5, -0.25]);
    const eps = ddimStep(plan, 0, new Float32Array([0.1, 0.2]), x);
    expect([...eps.prevSample].every(Number.isFinite)).toBe(false);
    const v = ddimStep({ ...plan, predictionType: 'v_prediction' }, 0, new Float32Array(2), x);
    expect([...v.prevSample].every(Number.isFinite)).toBe(true);
  });
});

describe('inputs.guidance in format 1', () => {
  it('is refused: only format 2 feeds the guidance scale to a denoiser', () => {
    const errors = broken((m) => (m.graphs.denoisers.fp32.inputs.guidance = 'guidance'));
    expect(errors).toContainEqual(
      expect.stringMatching(/^graphs\.denoisers\.fp32\.inputs\.guidance: needs formatVersion 2/),
    );
  });
});

describe('frames.mode "clip"', () => {
  it('needs formatVersion 2, with the advice the first run used to give', () => {
    const m = structuredClone(validManifest()) as Record<string, any>;
    m.frames = { mode: 'clip', clipLength: 16 };
    const r = validateManifest(m);
    expect(r.ok ? [] : r.errors).toEqual([
      expect.stringMatching(
        /^frames\.mode: "clip" needs formatVersion 2: a format-1 pack has no stages or keyframeLatents to run a clip from; re-export it as format 2$/,
      ),
    ]);
  });
});

describe('format-2 fields in a pack of positions', () => {
  /** The valid position-mode manifest as format 2 (which it may be: it uses nothing new). */
  const positions2 = () => {
    const m = structuredClone(validManifest()) as Record<string, any>;
    m.formatVersion = 2;
    return m;
  };
  const errorsOf = (m: Record<string, any>) => {
    const r = validateManifest(m);
    return r.ok ? [] : r.errors;
  };
  const clipOnly = /: is used only when frames\.mode is "clip"/;

  it('validates without them', () => {
    expect(errorsOf(positions2())).toEqual([]);
  });

  it('refuses guidance, which position-mode denoising never reads', () => {
    const m = positions2();
    m.guidance = { scale: { default: 5, min: 1, max: 10 } };
    const errors = errorsOf(m);
    expect(errors).toEqual([expect.stringMatching(/^guidance: is used only when frames\.mode/)]);
    expect(errors[0]).toMatch(/remove it$/);
  });

  it('refuses scalars', () => {
    const m = positions2();
    m.scalars = { fs: { label: 'Frame stride', default: 24, min: 1, max: 60 } };
    expect(errorsOf(m)).toEqual([expect.stringMatching(/^scalars: is used only when/)]);
  });

  it('refuses prompts and the constants they name', () => {
    const m = positions2();
    m.constants = {
      empty: { file: 'empty.npy', sizeBytes: 100, sha256: sha('f'), dtype: 'float32', shape: [4] },
    };
    m.prompts = [{ id: 'none', label: 'No prompt', constant: 'empty' }];
    const errors = errorsOf(m);
    expect(errors).toHaveLength(2);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^prompts: is used only when/),
        expect.stringMatching(/^constants: is used only when/),
      ]),
    );
  });

  it("refuses a denoiser's unconditionalCondition, with or without guidance", () => {
    const m = positions2();
    m.graphs.denoisers.fp32.unconditionalCondition = 'zeros';
    expect(errorsOf(m)).toEqual([
      expect.stringMatching(/^graphs\.denoisers\.fp32\.unconditionalCondition: is used only when/),
    ]);
    m.guidance = { scale: { default: 5, min: 1, max: 10 } };
    const errors = errorsOf(m);
    expect(errors).toHaveLength(2);
    expect(errors.every((e) => clipOnly.test(e))).toBe(true);
  });

  it('accepts the same fields in clip mode', () => {
    const m = format2Manifest() as Record<string, any>;
    m.graphs.denoisers.base.unconditionalCondition = 'zeros';
    expect(errorsOf(m)).toEqual([]);
  });
});
