/**
 * A format-2 manifest shaped like the tiny ToonCrafter pack's (models/training/tooncrafter/
 * build_pack.py writes the real one), for tests that need valid format-2 wiring.
 */
import type { PackManifest } from '../core/manifest';

const sha = (c: string) => c.repeat(64);
const file = (name: string, c: string) => ({ file: name, sizeBytes: 100, sha256: sha(c) });

export function format2Manifest(): PackManifest {
  return {
    format: 'inbetween-pack',
    formatVersion: 2,
    id: 'tooncrafter-tiny',
    name: 'ToonCrafter architecture (tiny)',
    version: '0.1.0',
    trained: false,
    image: {
      defaultSize: [128, 64],
      multipleOf: 64,
      valueRange: [-1, 1],
      channels: 3,
      fixedSize: true,
    },
    latent: { channels: 4, downsample: 8, scaleFactor: 0.18215 },
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
      setAlphaToOne: false,
      previousTimestep: 'plan',
      dynamicRescale: { baseScale: 0.7, turningStep: 400 },
      defaultSteps: 10,
      eta: 1,
    },
    frames: { mode: 'clip', clipLength: 16 },
    guidance: { scale: { default: 7.5, min: 1, max: 15 }, rescale: 0.7 },
    scalars: { fs: { label: 'Frame stride', default: 24, min: 1, max: 60, integer: true } },
    constants: {
      emptyPrompt: {
        ...file('constants/empty_prompt.npy', 'a'),
        dtype: 'float32',
        shape: [1, 77, 64],
      },
    },
    prompts: [{ id: 'none', label: 'No prompt', constant: 'emptyPrompt' }],
    text: {
      tokenizer: file('tokenizer.json', 'f'),
      contextLength: 77,
      padId: 0,
      embedding: 'stage:text/embedding',
    },
    stages: {
      text: {
        ...file('text_encoder.onnx', '9'),
        inputs: { tokens: 'text' },
        outputs: ['embedding'],
      },
      vae: {
        ...file('vae_encoder.onnx', 'b'),
        inputs: { images: 'keyframes:pair' },
        outputs: ['latents', 'ref0'],
      },
      imageTokens: {
        ...file('image_tokens.onnx', 'c'),
        inputs: { image: 'keyframes:start' },
        outputs: ['tokens'],
      },
      blankImageTokens: {
        ...file('image_tokens.onnx', 'c'),
        inputs: { image: 'keyframes:blank' },
        outputs: ['tokens'],
      },
    },
    keyframeLatents: 'stage:vae/latents',
    graphs: {
      decoder: {
        ...file('decoder.onnx', 'd'),
        inputs: { latent: 'latent' },
        feeds: { ref0: 'stage:vae/ref0' },
        outputs: { image: 'frames' },
      },
      denoisers: {
        base: {
          ...file('unet.onnx', 'e'),
          inputs: { sample: 'sample', timestep: 'timestep', condition: 'condition' },
          feeds: {
            text: 'prompt',
            image_tokens: 'stage:imageTokens/tokens',
            fs: 'scalar:fs',
          },
          unconditional: {
            image_tokens: 'stage:blankImageTokens/tokens',
            text: 'constant:emptyPrompt',
          },
          maxBatch: 2,
          outputs: { prediction: 'v' },
        },
      },
    },
    variants: [{ id: 'base', label: 'Baseline', precision: 'fp32', denoiser: 'base' }],
  };
}
