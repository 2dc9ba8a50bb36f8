/**
 * What every run shares, whatever its frame mode: the errors a run throws, the one check every
 * graph output gets, the per-step noise of DDIM with η > 0, and the pause between steps that lets
 * a cancel through. Used by pipeline.ts (position mode) and clip.ts (clip mode).
 */
import type { FloatTensor } from './graph';
import { frameNoise } from './rng';
import { isAllZero } from './stats';

/** Thrown when a run is cancelled between steps; sessions stay loaded. */
export class RunCancelledError extends Error {
  constructor() {
    super('Run cancelled');
    this.name = 'RunCancelledError';
  }
}

/** Thrown when a graph returns non-finite values or all zeros, instead of showing garbage. */
export class ModelOutputError extends Error {
  constructor(
    message: string,
    readonly graph: 'encoder' | 'denoiser' | 'decoder' | 'motion' | 'stage',
    readonly step?: number,
  ) {
    super(message);
    this.name = 'ModelOutputError';
  }
}

/**
 * Lets queued messages (a cancel request) be handled between steps. An ORT run can resolve through
 * microtasks alone, which would starve the worker's message queue for the whole run.
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (fn: () => void) => void };
  if (g.setImmediate) return new Promise((resolve) => g.setImmediate!(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

export function now(): number {
  return performance.now();
}

export function countNonFinite(data: Float32Array): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) n++;
  return n;
}

/** Same shape; a null in `want` takes any size on that axis. */
export function sameDims(a: readonly number[], want: readonly (number | null)[]): boolean {
  return a.length === want.length && want.every((d, i) => d === null || d === a[i]);
}

/**
 * The one check every graph output gets before it is used: its shape (`want`, null = any size on
 * that axis), then non-finite values, then — for the denoiser and the decoder, whose outputs are
 * never all zeros in a working model — all zeros, which is what fp16 graphs return on a WebGPU
 * adapter without shader-f16. `step` (1-based, of `steps`) says where a denoising run stopped.
 */
export function checkOutput(
  t: FloatTensor,
  want: readonly (number | null)[],
  graph: ModelOutputError['graph'],
  step?: { at: number; of: number },
): void {
  const what =
    graph === 'motion'
      ? 'the motion graph'
      : graph === 'stage'
        ? 'a conditioning stage'
        : `the ${graph}`;
  if (!sameDims(t.dims, want)) {
    throw new Error(
      `${what} returned shape [${t.dims.join(', ')}], expected [${want.map((d) => d ?? 'any').join(', ')}] — is it the right graph for this pack?`,
    );
  }
  const where = step ? ` at step ${step.at} of ${step.of} — the run was stopped` : '';
  const bad = countNonFinite(t.data);
  if (bad)
    throw new ModelOutputError(
      `${what} returned ${bad} non-finite values${where}`,
      graph,
      step?.at,
    );
  if ((graph === 'denoiser' || graph === 'decoder') && isAllZero(t.data)) {
    throw new ModelOutputError(
      `${what} returned all zeros${where} (on WebGPU this happens when fp16 graphs run on an adapter without shader-f16)`,
      graph,
      step?.at,
    );
  }
}

export function pick(out: Record<string, FloatTensor>, name: string, what: string): FloatTensor {
  const t = out[name];
  if (!t) throw new Error(`${what} returned no output "${name}"`);
  return t;
}

/** Per-step noise for eta > 0: a stream per (seed, frame, step), independent of batching. */
export function stepNoise(
  seed: number,
  frameIndex: number,
  stepIndex: number,
  length: number,
): Float32Array {
  const mixed = (seed + Math.imul(0x9e3779b1, stepIndex + 1)) >>> 0;
  return frameNoise(mixed, frameIndex, length);
}
