/**
 * A runtime-neutral view of one ONNX graph, so the denoising pipeline in src/core runs unchanged
 * on onnxruntime-web (worker, browser) and onnxruntime-node (CLI, tests, bench). Both runtimes
 * share onnxruntime-common's API; `wrapSession` adapts either to `GraphRunner`.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { LinearStep } from './samplers';
import type { LatentStats } from './stats';

/**
 * Session options every studio session shares, in the browser worker and in Node alike: full graph
 * optimisation, and intra-op threads that stop spinning when a run ends. An in-between alternates
 * between sessions (encoder, denoiser steps, decoder), each with its own thread pool; by default a
 * pool's threads spin on for a while after its run and take the cores from the next session's pool.
 * Measured with onnxruntime-node on 2 cores (cel pack, 512×320): the 4-step student's in-between
 * took 101–108 ms with ORT's default spinning and 72–75 ms with spinning stopped after each run.
 */
export const SESSION_TUNING = {
  graphOptimizationLevel: 'all',
  extra: { session: { force_spinning_stop: '1' } },
} as const satisfies InferenceSession.SessionOptions;

/** A float32 tensor as plain data. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

/**
 * Token ids (a tokenised prompt), fed as the integer type the graph declares for the input: int64
 * as exported from PyTorch (the default), or int32.
 */
export interface TokenTensor {
  tokens: Int32Array;
  dims: readonly number[];
}

/** What a graph input takes: a float32 tensor or token ids. */
export type Feed = FloatTensor | TokenTensor;

export function isTokenTensor(t: Feed): t is TokenTensor {
  return 'tokens' in t;
}

/** Runs one graph: named float32 inputs (or token ids) in, named float32 outputs out. */
export interface GraphRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * The shape the graph declares for each tensor input (a number per fixed axis, a string for a
   * named dynamic one), where the runtime reports it.
   */
  readonly inputShapes?: Readonly<Record<string, readonly (number | string)[]>>;
  /**
   * The element type the graph declares for each input and output ('float32', 'int64', …;
   * 'non-tensor' for a sequence or map), where the runtime reports it (`inputMetadata` and
   * `outputMetadata`, onnxruntime ≥ 1.21, web and node alike).
   */
  readonly inputTypes?: Readonly<Record<string, string>>;
  readonly outputTypes?: Readonly<Record<string, string>>;
  run(feeds: Record<string, Feed>): Promise<Record<string, FloatTensor>>;
  release(): Promise<void>;
  /**
   * Where the runtime can keep a denoiser's sample on its device between denoising steps
   * (WebGPU): the sampler's updates run there too, and only the statistics come back per step.
   */
  readonly resident?: ResidentRunner;
}

/** A denoiser that runs whole denoising loops with the sample on its device (see GraphRunner). */
export interface ResidentRunner {
  /**
   * A loop over one batch: `sample` and `output` name the graph's sample input and prediction
   * output, `dims` their shape [B, …], `constants` the inputs that stay the same at every step
   * (the keyframe latents), uploaded once.
   */
  begin(batch: {
    sample: string;
    output: string;
    dims: readonly number[];
    constants: Record<string, FloatTensor>;
  }): Promise<ResidentLoop>;
}

export interface ResidentLoop {
  /** Uploads the first sample; returns each frame's statistics of `statScale`·sample. */
  start(sample: Float32Array, statScale: number): Promise<LatentStats[]>;
  /**
   * One step: the model on `inputScale`·sample (with `feeds`, the small per-step inputs), then
   * next = x·sample + out·output + noise·z + prev·p (and p = keep.x·sample + keep.out·output);
   * returns each frame's statistics of `statScale`·next.
   */
  step(req: {
    feeds: Record<string, FloatTensor>;
    inputScale: number;
    linear: LinearStep;
    noise?: Float32Array;
    statScale: number;
  }): Promise<LatentStats[]>;
  /** The sample, read back once at the end. */
  read(): Promise<Float32Array<ArrayBuffer>>;
  release(): void;
}

/** The constructor half of an ORT module (web or node): enough to build input tensors. */
export interface OrtTensorFactory {
  Tensor: {
    new (type: 'float32', data: Float32Array, dims: readonly number[]): Tensor;
    new (type: 'int64', data: BigInt64Array, dims: readonly number[]): Tensor;
    new (type: 'int32', data: Int32Array, dims: readonly number[]): Tensor;
  };
}

/** Copies any float tensor (fp32, or fp16 arriving as Float16Array / Uint16Array) to float32. */
export function toFloat32(tensor: Tensor): Float32Array {
  const data = tensor.data as unknown;
  if (data instanceof Float32Array) return data;
  if (tensor.type === 'float16') {
    if (data instanceof Uint16Array) return halfBitsToFloat32(data);
    // Chromium ≥ 135 hands fp16 outputs over as Float16Array: a numeric array view.
    return Float32Array.from(data as ArrayLike<number>);
  }
  throw new Error(`expected a float tensor, got ${tensor.type}`);
}

/** IEEE 754 binary16 bit patterns → float32 values. */
export function halfBitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * 2 ** -14 * (frac / 1024);
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return out;
}

/**
 * Adapts an ORT session (web or node) to `GraphRunner`. Output tensors are disposed after copy.
 * `what` names the graph ("the VAE decoder (decoder.onnx)") in the error a failed run throws, so
 * a runtime's bare "invalid dimensions" says which graph and what to check.
 */
export function wrapSession(
  session: InferenceSession,
  ort: OrtTensorFactory,
  what = 'a graph',
): GraphRunner {
  const inputShapes: Record<string, readonly (number | string)[]> = {};
  const inputTypes: Record<string, string> = {};
  const outputTypes: Record<string, string> = {};
  // Older runtimes have no metadata at all: the types stay unknown and unchecked.
  for (const m of session.inputMetadata ?? []) {
    inputTypes[m.name] = m.isTensor ? m.type : 'non-tensor';
    if (m.isTensor) inputShapes[m.name] = m.shape;
  }
  for (const m of session.outputMetadata ?? [])
    outputTypes[m.name] = m.isTensor ? m.type : 'non-tensor';
  const toOrt = (name: string, t: Feed): Tensor => {
    if (!isTokenTensor(t)) return new ort.Tensor('float32', t.data, t.dims);
    if (inputTypes[name] === 'int32') return new ort.Tensor('int32', t.tokens, t.dims);
    return new ort.Tensor(
      'int64',
      BigInt64Array.from(t.tokens, (v) => BigInt(v)),
      t.dims,
    );
  };
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    inputShapes,
    inputTypes,
    outputTypes,
    async run(feeds) {
      const ortFeeds: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(name, t);
      let results: InferenceSession.OnnxValueMapType;
      try {
        results = await session.run(ortFeeds);
      } catch (e) {
        throw new GraphRunError(what, feeds, e);
      }
      const out: Record<string, FloatTensor> = {};
      for (const [name, t] of Object.entries(results)) {
        try {
          const data = toFloat32(t);
          // Copy when the runtime owns the buffer (it may be reused by the next run).
          out[name] = { data: data === t.data ? data.slice() : data, dims: [...t.dims] };
        } finally {
          t.dispose();
        }
      }
      return out;
    },
    release: () => session.release(),
  };
}

/** A graph that refused to run: names the graph and the shapes it was given. */
export class GraphRunError extends Error {
  constructor(what: string, feeds: Record<string, Feed>, cause: unknown) {
    const detail = (cause instanceof Error ? cause.message : String(cause))
      .split('\n')[0]!
      .slice(0, 300);
    const shapes = Object.entries(feeds)
      .map(([name, t]) => `${name} [${t.dims.join(', ')}]`)
      .join(', ');
    const about = /dimension|shape|rank|size/i.test(detail)
      ? " The shapes do not fit the graph: check the manifest's image size, latent channels and downsample factor against the exported model."
      : '';
    super(`${what} failed to run on inputs ${shapes}: ${detail}.${about}`, { cause });
    this.name = 'GraphRunError';
  }
}

const TOKEN_IDS_ROLE = 'token ids → ';

/**
 * The role under which a graph's input that takes the typed prompt's token ids is declared to
 * `checkGraphNames` (`graphsForVariant` uses it for stage inputs whose source is `text`): such an
 * input is fed int64 or int32, as the graph declares; every other input is fed float32.
 */
export function tokenIdsRole(tensor: string): string {
  return `${TOKEN_IDS_ROLE}${tensor}`;
}

/** What to do about a graph input or output that is not float32 (messages of `checkGraphNames`). */
const FLOAT32_ADVICE =
  "export the graph with float32 inputs and outputs (an fp16 model keeps them: onnxconverter-common's convert_float_to_float16(..., keep_io_types=True), or models.training.export fp16; an integer input such as a timestep is cast to float inside the graph)";

/**
 * Checks a loaded graph against the tensor names the manifest promises, so a wrong or mislabelled
 * ONNX file fails at load with a message naming the missing tensors, not mid-run; and, where the
 * runtime reports element types, that each input takes what the studio feeds it (float32; token
 * ids int64 or int32) and each output the manifest names is float32 (other outputs float32 or
 * float16, which `run` converts), so an fp16-I/O export or an int64 timestep is refused here
 * instead of failing its first call with the runtime's own message.
 */
export function checkGraphNames(
  what: string,
  runner: Pick<GraphRunner, 'inputNames' | 'outputNames' | 'inputTypes' | 'outputTypes'>,
  inputs: Record<string, string | undefined>,
  outputs: Record<string, string | undefined>,
): void {
  const problems: string[] = [];
  const want = (
    names: Record<string, string | undefined>,
    have: readonly string[],
    kind: string,
  ) => {
    for (const [role, name] of Object.entries(names)) {
      if (name !== undefined && !have.includes(name)) {
        problems.push(
          `${kind} "${name}" (${role}) is missing — the graph has ${kind}s ${have.map((n) => `"${n}"`).join(', ') || 'none'}`,
        );
      }
    }
  };
  want(inputs, runner.inputNames, 'input');
  want(outputs, runner.outputNames, 'output');
  const declared = new Set(Object.values(inputs).filter(Boolean));
  for (const name of runner.inputNames) {
    if (!declared.has(name))
      problems.push(`the graph needs input "${name}", which the manifest does not declare`);
  }
  let float32Problem = false;
  for (const [role, name] of Object.entries(inputs)) {
    const type = name === undefined ? undefined : runner.inputTypes?.[name];
    if (type === undefined) continue;
    if (role.startsWith(TOKEN_IDS_ROLE)) {
      if (type !== 'int64' && type !== 'int32')
        problems.push(
          `input "${name}" (${role}) is ${type}, but the studio feeds token ids as int64 or int32: export it with an integer input`,
        );
    } else if (type !== 'float32') {
      problems.push(`input "${name}" (${role}) is ${type}, but the studio feeds it float32`);
      float32Problem = true;
    }
  }
  const named = new Set(Object.values(outputs).filter(Boolean));
  for (const [role, name] of Object.entries(outputs)) {
    const type = name === undefined ? undefined : runner.outputTypes?.[name];
    if (type !== undefined && type !== 'float32') {
      problems.push(`output "${name}" (${role}) is ${type}, but the studio reads it as float32`);
      float32Problem = true;
    }
  }
  for (const name of runner.outputNames) {
    const type = runner.outputTypes?.[name];
    if (!named.has(name) && type !== undefined && type !== 'float32' && type !== 'float16') {
      problems.push(
        `output "${name}" is ${type}, but the studio reads every output of a graph as float32`,
      );
      float32Problem = true;
    }
  }
  if (float32Problem) problems.push(FLOAT32_ADVICE);
  if (problems.length)
    throw new Error(`${what} does not match the manifest: ${problems.join('; ')}`);
}
